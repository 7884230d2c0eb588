// SPDX-License-Identifier: Apache-2.0
#include "dataplane/engine/flow_table.h"

#include <cstring>
#include <new>

namespace sluice::engine {
namespace {

// A bucket is kWays adjacent lines; aligning it whole keeps it from
// straddling a 128-byte adjacent-line prefetch pair more than it must.
constexpr std::align_val_t kBucketAlign{FlowTable::kWays * sizeof(FlowEntry)};

constexpr uint8_t kIpProtoTcp = 6;

uint32_t bucket_count_for(uint32_t capacity) {
  const uint64_t wanted = (static_cast<uint64_t>(capacity) + FlowTable::kWays - 1) /
                          FlowTable::kWays;
  uint64_t n = 1;
  while (n < wanted && n < FlowTable::kMaxBuckets) n <<= 1;
  return static_cast<uint32_t>(n);
}

bool same_key(const sluice_flow_key& a, const sluice_flow_key& b) {
  // Fixed size: the compiler turns this into five 8-byte compares.
  return std::memcmp(&a, &b, sizeof(sluice_flow_key)) == 0;
}

}  // namespace

uint32_t flow_timeout_ms(FlowState state, const FlowTimeouts& t) {
  switch (state) {
    case FlowState::kSynSent:
      return t.tcp_syn_ms;
    case FlowState::kEstablished:
      return t.tcp_established_ms;
    case FlowState::kClosing:
      return t.tcp_closing_ms;
    case FlowState::kUdp:
      return t.udp_ms;
    case FlowState::kEmpty:
      break;
  }
  return 0;
}

void FlowTable::AlignedDelete::operator()(FlowEntry* p) const {
  ::operator delete[](p, kBucketAlign);
}

FlowTable::FlowTable(uint32_t capacity) {
  const uint32_t buckets = bucket_count_for(capacity);
  const size_t n = static_cast<size_t>(buckets) * kWays;
  void* raw = ::operator new[](n * sizeof(FlowEntry), kBucketAlign);
  // Zeroing writes every page now, so the hot path never takes a page fault;
  // all-zero is a valid kEmpty entry.
  std::memset(raw, 0, n * sizeof(FlowEntry));
  entries_.reset(static_cast<FlowEntry*>(raw));
  mask_ = buckets - 1;
}

FlowEntry* FlowTable::lookup(const sluice_flow_key& key, uint64_t hash, uint32_t now_ms,
                             const FlowTimeouts& t) {
  ++stats_.lookups;
  FlowEntry* b = bucket(hash);
  for (uint32_t w = 0; w < kWays; ++w) {
    FlowEntry& e = b[w];
    if (e.state == FlowState::kEmpty || !same_key(e.key, key)) continue;
    // A key is stored at most once per bucket (insert reuses its slot), so
    // the first match decides.
    if (flow_expired(e, now_ms, t)) return nullptr;
    ++stats_.hits;
    return &e;
  }
  return nullptr;
}

FlowEntry* FlowTable::insert(const sluice_flow_key& key, uint64_t hash, uint32_t now_ms,
                             const FlowTimeouts& t) {
  ++stats_.inserts;
  FlowEntry* b = bucket(hash);
  FlowEntry* slot = nullptr;
  FlowEntry* empty = nullptr;
  FlowEntry* expired = nullptr;
  FlowEntry* stalest = nullptr;
  uint32_t stalest_age = 0;
  for (uint32_t w = 0; w < kWays; ++w) {
    FlowEntry& e = b[w];
    if (e.state == FlowState::kEmpty) {
      if (empty == nullptr) empty = &e;
      continue;
    }
    if (same_key(e.key, key)) {
      slot = &e;
      break;
    }
    if (flow_expired(e, now_ms, t)) {
      if (expired == nullptr) expired = &e;
      continue;
    }
    // Age, not last_seen itself, so the choice is right across the wrap.
    const uint32_t age = now_ms - e.last_seen_ms;
    if (stalest == nullptr || age > stalest_age) {
      stalest = &e;
      stalest_age = age;
    }
  }
  if (slot != nullptr) {
    if (flow_expired(*slot, now_ms, t)) ++stats_.expirations;
  } else if (empty != nullptr) {
    slot = empty;
    ++occupied_;
  } else if (expired != nullptr) {
    slot = expired;
    ++stats_.expirations;
  } else {
    slot = stalest;
    ++stats_.evictions;
  }
  slot->key = key;
  slot->backend_fingerprint = 0;
  slot->last_seen_ms = now_ms;
  slot->state_since_ms = now_ms;
  slot->generation = 0;
  slot->backend_index = 0;
  slot->pool = 0;
  slot->state = key.proto == kIpProtoTcp ? FlowState::kSynSent : FlowState::kUdp;
  return slot;
}

void FlowTable::erase(FlowEntry* e) {
  if (e == nullptr || e->state == FlowState::kEmpty) return;
  e->state = FlowState::kEmpty;
  --occupied_;
  ++stats_.erases;
}

}  // namespace sluice::engine
