// SPDX-License-Identifier: Apache-2.0
#include "dataplane/engine/flow_table.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>

namespace sluice::engine {
namespace {

constexpr uint32_t kNoSlot = UINT32_MAX;
constexpr uint8_t kIpProtoTcp = 6;
// Transparent huge pages are 2 MiB on x86-64 (and on arm64 with 4 KiB pages).
constexpr size_t kHugePage = size_t{2} << 20;

uint32_t bucket_count_for(uint32_t capacity) {
  const uint64_t wanted = (static_cast<uint64_t>(capacity) + FlowTable::kWays - 1) /
                          FlowTable::kWays;
  uint64_t n = 1;
  while (n < wanted && n < FlowTable::kMaxBuckets) n <<= 1;
  return static_cast<uint32_t>(n);
}

// Zeroed memory for one of the table's arrays. A table of a million flows
// spans 72 MiB: with 4 KiB pages nearly every lookup would also miss the TLB,
// so large arrays start on a huge-page boundary and ask for transparent huge
// pages. madvise fails harmlessly where THP is off; the table works either way.
void* table_memory(size_t bytes, size_t* align) {
  *align = bytes >= kHugePage ? kHugePage : 64;
  void* p = ::operator new[](bytes, std::align_val_t{*align});
  if (*align == kHugePage) (void)madvise(p, bytes, MADV_HUGEPAGE);
  // Zeroing writes every page now, so the hot path never takes a page
  // fault; all-zero signatures mark every way free. It is also the pages'
  // first touch, which places them on the NUMA node of the thread that
  // constructs the table: DpdkRuntime constructs each worker on its lcore.
  std::memset(p, 0, bytes);
  return p;
}

bool same_key(const sluice_flow_key& a, const sluice_flow_key& b) {
  // Fixed size: the compiler turns this into five 8-byte compares.
  return std::memcmp(&a, &b, sizeof(sluice_flow_key)) == 0;
}

// Set bits of an 8-bit mask (without -mpopcnt, __builtin_popcount is a
// libgcc call).
uint32_t popcount8(uint32_t x) {
  x = x - ((x >> 1) & 0x55);
  x = (x & 0x33) + ((x >> 2) & 0x33);
  return (x + (x >> 4)) & 0x0f;
}

uint32_t min_timeout_ms(const FlowTimeouts& t) {
  return std::min({t.tcp_syn_ms, t.tcp_established_ms, t.tcp_closing_ms, t.udp_ms, t.probation_ms});
}

struct WayAge {
  uint32_t way;  // 0..15: ways of the first line, then of the second
  uint32_t age;
};

// The way of two lines whose last-seen copy is oldest: the largest
// now - seen (an age, so the order is right across the wrap of the clock),
// the first one on a tie. Branch-free: on a table full of new flows this runs
// for every one of them, and the winner's position is random.
WayAge oldest_way(const uint32_t* seen1, const uint32_t* seen2, uint32_t now_ms) {
  static_assert(FlowTable::kWays == 8, "oldest_way reads two 128-bit halves per line");
#if defined(__SSE2__)
  const __m128i now = _mm_set1_epi32(static_cast<int>(now_ms));
  // Ages with the top bit flipped: signed compares then order them unsigned.
  const __m128i flip = _mm_set1_epi32(INT32_MIN);
  const auto age = [&](const uint32_t* p) {
    const __m128i seen = _mm_load_si128(reinterpret_cast<const __m128i*>(p));
    return _mm_xor_si128(_mm_sub_epi32(now, seen), flip);
  };
  const auto max = [](__m128i a, __m128i b) {
    const __m128i a_gt = _mm_cmpgt_epi32(a, b);
    return _mm_or_si128(_mm_and_si128(a_gt, a), _mm_andnot_si128(a_gt, b));
  };
  const auto mask = [](__m128i a, __m128i b) {
    return static_cast<uint32_t>(_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(a, b))));
  };
  const __m128i a0 = age(seen1), a1 = age(seen1 + 4), a2 = age(seen2), a3 = age(seen2 + 4);
  __m128i m = max(max(a0, a1), max(a2, a3));
  m = max(m, _mm_shuffle_epi32(m, _MM_SHUFFLE(1, 0, 3, 2)));
  m = max(m, _mm_shuffle_epi32(m, _MM_SHUFFLE(2, 3, 0, 1)));
  const uint32_t at = mask(a0, m) | mask(a1, m) << 4 | mask(a2, m) << 8 | mask(a3, m) << 12;
  return {static_cast<uint32_t>(__builtin_ctz(at)),
          static_cast<uint32_t>(_mm_cvtsi128_si32(m)) ^ 0x80000000u};
#else
  WayAge best{0, now_ms - seen1[0]};
  for (uint32_t w = 1; w < 2 * FlowTable::kWays; ++w) {
    const uint32_t a = now_ms - (w < FlowTable::kWays ? seen1[w] : seen2[w - FlowTable::kWays]);
    if (a > best.age) best = {w, a};
  }
  return best;
#endif
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
    case FlowState::kProbation:
      return t.probation_ms;
    case FlowState::kEmpty:
      break;
  }
  return 0;
}

void FlowTable::AlignedDelete::operator()(void* p) const {
  if (align != 0) ::operator delete[](p, std::align_val_t{align});
}

uint32_t FlowTable::bucket_count(uint32_t capacity) { return bucket_count_for(capacity); }

FlowTable::FlowTable(const FlowTableMemory& memory, bool keep)
    : sigs_(static_cast<SignatureLine*>(memory.signatures), AlignedDelete{0}),
      entries_(static_cast<FlowEntry*>(memory.entries), AlignedDelete{0}),
      mask_(memory.buckets - 1) {
  const uint32_t b = memory.buckets;
  if (b == 0 || (b & (b - 1)) != 0 || b > kMaxBuckets || !memory.signatures || !memory.entries) {
    throw std::invalid_argument("FlowTable: caller memory needs a power-of-two bucket count up to "
                                "kMaxBuckets and both arrays");
  }
  if (keep) return;  // adopt() rebuilds the rest
  // As in table_memory: every page written now (first touch, and no page
  // fault on the hot path); all-zero signatures mark every way free.
  std::memset(memory.signatures, 0, signature_bytes(memory.buckets));
  std::memset(memory.entries, 0, entry_bytes(memory.buckets));
}

FlowTable::FlowTable(uint32_t capacity) {
  const uint32_t buckets = bucket_count_for(capacity);
  size_t align = 0;
  void* sigs = table_memory(size_t{buckets} * sizeof(SignatureLine), &align);
  sigs_ = {static_cast<SignatureLine*>(sigs), AlignedDelete{align}};
  void* entries = table_memory(size_t{buckets} * kWays * sizeof(FlowEntry), &align);
  entries_ = {static_cast<FlowEntry*>(entries), AlignedDelete{align}};
  mask_ = buckets - 1;
}

// The slot of key in `bucket`, or kNoSlot. Inlined: it is most of lookup.
[[gnu::always_inline]] inline uint32_t FlowTable::find(uint32_t bucket, uint32_t sig,
                                                       const sluice_flow_key& key) const {
  for (uint32_t m = ways_matching(sigs_[bucket].sig, sig); m != 0; m &= m - 1) {
    const uint32_t slot = bucket * kWays + static_cast<uint32_t>(__builtin_ctz(m));
    if (same_key(entries_[slot].key, key)) return slot;
  }
  return kNoSlot;
}

FlowEntry* FlowTable::lookup(const sluice_flow_key& key, uint64_t hash, uint32_t now_ms,
                             const FlowTimeouts& t, FlowEntry** expired) {
  ++stats_.lookups;
  const uint32_t sig = signature(hash);
  const auto b1 = static_cast<uint32_t>(hash) & mask_;
  uint32_t slot = find(b1, sig, key);
  // A key is stored at most once in its two buckets (insert looks in both
  // before it takes a way), so the first match decides. When the buckets
  // coincide the second look is a repeat that finds nothing new.
  if (slot == kNoSlot) slot = find(other_bucket(b1, sig), sig, key);
  if (slot == kNoSlot) return nullptr;
  FlowEntry& e = entries_[slot];
  if (flow_expired(e, now_ms, t)) {
    if (expired != nullptr) *expired = &e;
    return nullptr;
  }
  sigs_[slot / kWays].seen[slot % kWays] = now_ms;
  ++stats_.hits;
  return &e;
}

FlowEntry* FlowTable::insert(const sluice_flow_key& key, uint64_t hash, uint32_t now_ms,
                             const FlowTimeouts& t, FlowEntry* expired) {
  ++stats_.inserts;
  if (expired != nullptr) expired->state = FlowState::kEmpty;
  const uint32_t sig = signature(hash);
  const auto b1 = static_cast<uint32_t>(hash) & mask_;
  const uint32_t b2 = other_bucket(b1, sig);
  uint32_t slot = find(b1, sig, key);
  if (slot == kNoSlot && b2 != b1) slot = find(b2, sig, key);
  if (slot != kNoSlot) {
    if (flow_expired(entries_[slot], now_ms, t)) {
      ++stats_.expirations;
      if (expired != nullptr) *expired = entries_[slot];
    }
    return claim(slot, sig, key, now_ms);
  }
  slot = free_slot(b1, b2);
  if (slot != kNoSlot) {
    ++occupied_;
    return claim(slot, sig, key, now_ms);
  }
  // Both buckets are full.
  const SlotAge oldest = stalest(b1, b2, now_ms);
  slot = reclaim_expired(b1, b2, oldest, now_ms, t);
  if (slot != kNoSlot && expired != nullptr) *expired = entries_[slot];
  if (slot == kNoSlot) slot = try_make_room(b1, b2);
  if (slot == kNoSlot) {
    slot = stalest_unconfirmed(b1, b2, now_ms);
    if (slot == kNoSlot) {
      ++stats_.full;
      return nullptr;
    }
    ++stats_.evictions;
  }
  return claim(slot, sig, key, now_ms);
}

// A free way of the bucket with more of them (b1 on a tie, so that at low
// load most flows are found in the first line a lookup reads).
uint32_t FlowTable::free_slot(uint32_t b1, uint32_t b2) const {
  const uint32_t f1 = ways_matching(sigs_[b1].sig, 0);
  const uint32_t f2 = b2 != b1 ? ways_matching(sigs_[b2].sig, 0) : 0;
  if ((f1 | f2) == 0) return kNoSlot;
  if (popcount8(f2) > popcount8(f1)) {
    return b2 * kWays + static_cast<uint32_t>(__builtin_ctz(f2));
  }
  return b1 * kWays + static_cast<uint32_t>(__builtin_ctz(f1));
}

// The slot of b1 or b2 whose last-seen copy is oldest (b1's on a tie).
FlowTable::SlotAge FlowTable::stalest(uint32_t b1, uint32_t b2, uint32_t now_ms) const {
  // When the buckets coincide the line is read twice, and the first copy wins ties.
  const WayAge o = oldest_way(sigs_[b1].seen, sigs_[b2].seen, now_ms);
  const uint32_t bucket = o.way < kWays ? b1 : b2;
  return {bucket * kWays + o.way % kWays, o.age};
}

// The unconfirmed entry of b1 or b2 (both full of live entries) whose
// last-seen copy is oldest, or kNoSlot when every entry is confirmed. Reads
// only the two signature lines: the confirmed bit is in the signature.
// Scalar: it runs only when insert must evict (a table kept full, as by a
// flood), and then 16 compares are a few ns beside the lines it reads.
uint32_t FlowTable::stalest_unconfirmed(uint32_t b1, uint32_t b2, uint32_t now_ms) const {
  uint32_t best = kNoSlot;
  uint32_t best_age = 0;
  const uint32_t buckets[2] = {b1, b2};
  const uint32_t n = b2 != b1 ? 2 : 1;
  for (uint32_t i = 0; i < n; ++i) {
    const SignatureLine& line = sigs_[buckets[i]];
    for (uint32_t w = 0; w < kWays; ++w) {
      if ((line.sig[w] & kConfirmedBit) != 0) continue;
      const uint32_t age = now_ms - line.seen[w];
      if (best == kNoSlot || age > best_age) {
        best = buckets[i] * kWays + w;
        best_age = age;
      }
    }
  }
  return best;
}

// An expired entry of the two (full) buckets, or kNoSlot. The last-seen
// copies choose which entries to read: one idle for less than the shortest
// timeout is alive whatever its state (exact while the caller refreshes
// last_seen_ms on every hit, as the engine does); the decision itself is
// always made on the entry.
uint32_t FlowTable::reclaim_expired(uint32_t b1, uint32_t b2, SlotAge oldest, uint32_t now_ms,
                                    const FlowTimeouts& t) {
  const uint32_t min_timeout = min_timeout_ms(t);
  // Nothing has been idle that long: every entry is alive (a table full of
  // new flows, and most inserts into a table under heavy load).
  if (oldest.age < min_timeout) return kNoSlot;
  // The oldest first, alone: in a table full of flows that ended it is the
  // one that expired, and it is the line insert writes next anyway (and the
  // one prefetch_entry loaded).
  if (flow_expired(entries_[oldest.slot], now_ms, t)) {
    ++stats_.expirations;
    return oldest.slot;
  }
  // It is alive (a long-lived state), but younger entries may have expired
  // in a shorter-lived one: read every entry that could have.
  const uint32_t buckets[2] = {b1, b2};
  const uint32_t n = b2 != b1 ? 2 : 1;
  uint32_t candidates[2 * kWays];
  uint32_t count = 0;
  for (uint32_t i = 0; i < n; ++i) {
    const SignatureLine& line = sigs_[buckets[i]];
    for (uint32_t w = 0; w < kWays; ++w) {
      const uint32_t slot = buckets[i] * kWays + w;
      if (now_ms - line.seen[w] < min_timeout || slot == oldest.slot) continue;
      candidates[count++] = slot;
      __builtin_prefetch(&entries_[slot]);
    }
  }
  for (uint32_t i = 0; i < count; ++i) {
    if (flow_expired(entries_[candidates[i]], now_ms, t)) {
      ++stats_.expirations;
      return candidates[i];
    }
  }
  return kNoSlot;
}

// make_room, unless it is known or likely to fail. A completely full table
// has no free way to move anyone into. A nearly full one has a few, which a
// search finds less and less often: after k failed searches in a row, the
// next 2^(k-2) are skipped (at most kMaxRoomSkips), so that a table kept full
// by a flood of new flows does not pay 16 line reads per new flow. Below
// about 95% load searches do not fail, and up to 100% most succeed, so a
// single failure skips nothing.
uint32_t FlowTable::try_make_room(uint32_t b1, uint32_t b2) {
  if (occupied_ >= capacity()) return kNoSlot;
  if (room_skips_ > 0) {
    --room_skips_;
    return kNoSlot;
  }
  const uint32_t slot = make_room(b1, b2);
  if (slot != kNoSlot) {
    room_failures_ = 0;
  } else {
    room_failures_ = std::min(room_failures_ + 1, 31u);
    room_skips_ = std::min((1u << room_failures_) >> 2, kMaxRoomSkips);
  }
  return slot;
}

// Frees a way of b1 or b2 (both full of live entries) by moving one of their
// residents to its other bucket, if that has a free way; returns the freed
// slot or kNoSlot. One level of moves only: it reads at most 16 signature
// lines (all prefetched together) and keeps every live flow up to about 90%
// load; deeper searches would cost hundreds of lines for the last few percent.
uint32_t FlowTable::make_room(uint32_t b1, uint32_t b2) {
  const uint32_t buckets[2] = {b1, b2};
  const uint32_t n = b2 != b1 ? 2 : 1;
  uint32_t others[2 * kWays];
  for (uint32_t i = 0; i < n; ++i) {
    for (uint32_t w = 0; w < kWays; ++w) {
      const uint32_t o = other_bucket(buckets[i], sigs_[buckets[i]].sig[w]);
      others[i * kWays + w] = o;
      __builtin_prefetch(&sigs_[o], 1, 3);
    }
  }
  for (uint32_t i = 0; i < n * kWays; ++i) {
    const uint32_t from_bucket = buckets[i / kWays];
    if (others[i] == from_bucket) continue;
    const uint32_t free = ways_matching(sigs_[others[i]].sig, 0);
    if (free == 0) continue;
    const uint32_t w = i % kWays;
    const uint32_t from = from_bucket * kWays + w;
    const uint32_t to_way = static_cast<uint32_t>(__builtin_ctz(free));
    SignatureLine& src = sigs_[from_bucket];
    SignatureLine& dst = sigs_[others[i]];
    entries_[others[i] * kWays + to_way] = entries_[from];
    dst.sig[to_way] = src.sig[w];
    dst.seen[to_way] = src.seen[w];
    ++occupied_;  // the way it moved to was free; the new key takes `from`
    ++stats_.displacements;
    return from;
  }
  return kNoSlot;
}

// What insert would take for a new key in the common cases: a free way, or
// else the stalest entry (which is also the one it checks first for expiry).
uint32_t FlowTable::likely_insert_slot(Buckets b, uint32_t now_ms) const {
  const uint32_t slot = free_slot(b.first, b.second);
  return slot != kNoSlot ? slot : stalest(b.first, b.second, now_ms).slot;
}

FlowEntry* FlowTable::claim(uint32_t slot, uint32_t sig, const sluice_flow_key& key,
                            uint32_t now_ms) {
  SignatureLine& line = sigs_[slot / kWays];
  line.sig[slot % kWays] = sig;
  line.seen[slot % kWays] = now_ms;
  FlowEntry& e = entries_[slot];
  e.key = key;
  e.backend_fingerprint = 0;
  e.last_seen_ms = now_ms;
  e.first_seen_ms = now_ms;
  e.generation = 0;
  e.backend_index = 0;
  e.pool = 0;
  // Unconfirmed (the signature carries no confirmed bit) until set_state.
  e.state = key.proto == kIpProtoTcp ? FlowState::kSynSent : FlowState::kProbation;
  return &e;
}

void FlowTable::erase(FlowEntry* e) {
  if (e == nullptr) return;
  const auto slot = static_cast<uint32_t>(e - entries_.get());
  uint32_t& sig = sigs_[slot / kWays].sig[slot % kWays];
  if (sig == 0) return;
  sig = 0;
  e->state = FlowState::kEmpty;
  --occupied_;
  ++stats_.erases;
}

}  // namespace sluice::engine
