// SPDX-License-Identifier: Apache-2.0
// The per-core flow table: which backend each live flow was sent to.
//
// One table per worker core, touched by that core only, so there are no locks
// and no atomics. All memory is one aligned allocation made by the
// constructor; lookup, insert and erase never allocate and do bounded work.
//
// Layout: set-associative. The table is a power-of-two number of buckets of
// kWays entries; a flow may live only in the bucket picked by the low bits of
// its hash. Why this and not open addressing or chaining:
//  - bounded work per packet: a lookup reads exactly one bucket (kWays cache
//    lines, adjacent, prefetchable in one go), a full bucket costs one
//    eviction, never a probe sequence or a rehash;
//  - eviction is local: when a bucket is full the stalest entry of that
//    bucket goes, an LRU approximation that needs no global list;
//  - the caller's hash is a keyed SipHash (flow_hash.h), so a client cannot
//    aim many flows at one bucket to evict others.
// The low hash bits are used because the Maglev lookup uses the high 32 bits
// (sluice_hash_to_range): bucket and backend stay independent.
//
// Expiry is lazy: an entry whose idle time reached the timeout of its state
// is treated as absent by lookup and reused first by insert. Timeouts are per
// service, so they are passed on each call rather than stored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "dataplane/engine/config.h"
#include "dataplane/engine/flow_hash.h"

namespace sluice::engine {

enum class FlowState : uint8_t {
  kEmpty,        // free slot
  kSynSent,      // TCP SYN seen, handshake not completed
  kEstablished,  // TCP handshake completed (client's first non-SYN packet)
  kClosing,      // TCP FIN or RST seen
  kUdp,          // UDP (and other connectionless) flows
};

// One flow; exactly one cache line so a lookup touches one line per way.
struct alignas(64) FlowEntry {
  sluice_flow_key key;           // 40 bytes, compared whole (pad included)
  uint64_t backend_fingerprint;  // keyed hash of the backend address; 0 is a valid value
  uint32_t last_seen_ms;         // wrapping milliseconds of the last packet
  uint32_t state_since_ms;       // kSynSent: first SYN; otherwise entry into the state
  uint32_t generation;           // config generation backend_index is valid for
  uint16_t backend_index;        // index into the service's backends in that generation
  uint8_t pool;                  // pool index
  FlowState state;               // kEmpty marks a free slot (not the fingerprint)
};
static_assert(sizeof(FlowEntry) == 64, "a flow entry is one cache line");
static_assert(alignof(FlowEntry) == 64, "a flow entry starts a cache line");

struct FlowTableStats {
  uint64_t lookups = 0;
  uint64_t hits = 0;         // lookups that found a live entry
  uint64_t inserts = 0;      // calls to insert, whatever slot they got
  uint64_t evictions = 0;    // live entries overwritten because their bucket was full
  uint64_t expirations = 0;  // expired entries reclaimed by insert
  uint64_t erases = 0;
};

// The timeout of an entry's state. kEmpty has none (returns 0).
uint32_t flow_timeout_ms(FlowState state, const FlowTimeouts& t);

// True when the entry has been idle for at least the timeout of its state.
//
// Why an unsigned modular age and not a signed difference: now and last_seen
// come from one core's monotonic clock, so now - last_seen (mod 2^32) is the
// true idle time, wrap-around included. For idle times below 2^31 ms this
// gives the same answer as the signed comparison "last_seen + timeout <= now";
// beyond 24.8 days of idleness the signed form would call a long-dead entry
// alive again for half of every 49.7-day cycle, the unsigned form only for
// `timeout` ms of each cycle.
inline bool flow_expired(const FlowEntry& e, uint32_t now_ms, const FlowTimeouts& t) {
  return now_ms - e.last_seen_ms >= flow_timeout_ms(e.state, t);
}

class FlowTable {
 public:
  static constexpr uint32_t kWays = 4;  // entries per bucket (4 cache lines)
  // Largest bucket count (2^28 buckets = 2^30 entries = 64 GiB); larger
  // requested capacities are clamped to it.
  static constexpr uint32_t kMaxBuckets = 1u << 28;

  // Capacity is rounded up so the bucket count is a power of two (at least
  // one bucket). Allocates and zeroes all memory now; throws std::bad_alloc
  // if it cannot (start-up only, never on the hot path).
  explicit FlowTable(uint32_t capacity);

  FlowTable(FlowTable&&) noexcept = default;
  FlowTable& operator=(FlowTable&&) noexcept = default;
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  // The live entry for key, or nullptr (absent or expired). `hash` must be
  // sluice_flow_hash(&key, seed): the table never hashes by itself. Does not
  // refresh last_seen_ms: the caller does, once it knows what the packet means.
  FlowEntry* lookup(const sluice_flow_key& key, uint64_t hash, uint32_t now_ms,
                    const FlowTimeouts& t);

  // A slot for key in its bucket, re-initialised: the existing entry for key
  // if any (live or expired), else an empty slot, else an expired one, else
  // the stalest entry of the bucket (evicted). The entry comes back with key
  // set, last_seen_ms = state_since_ms = now_ms, backend fields zero, and
  // state kSynSent for TCP or kUdp otherwise; the caller fills the backend
  // and sets the state it means. Never fails.
  FlowEntry* insert(const sluice_flow_key& key, uint64_t hash, uint32_t now_ms,
                    const FlowTimeouts& t);

  // Frees an entry returned by lookup or insert of this table.
  void erase(FlowEntry* e);

  // Starts loading the bucket of `hash` into the cache (write intent, since a
  // hit refreshes last_seen_ms). Call a few packets ahead of lookup.
  void prefetch(uint64_t hash) const {
    const FlowEntry* b = bucket(hash);
    for (uint32_t w = 0; w < kWays; ++w) __builtin_prefetch(b + w, 1, 3);
  }

  uint32_t capacity() const { return (mask_ + 1) * kWays; }
  static constexpr size_t bytes_per_entry() { return sizeof(FlowEntry); }
  // Slots not kEmpty, counting expired entries that insert has not reused yet.
  uint32_t occupied() const { return occupied_; }
  FlowTableStats stats() const { return stats_; }

 private:
  struct AlignedDelete {
    void operator()(FlowEntry* p) const;
  };

  FlowEntry* bucket(uint64_t hash) const {
    return entries_.get() + static_cast<size_t>(hash & mask_) * kWays;
  }

  std::unique_ptr<FlowEntry[], AlignedDelete> entries_;
  uint32_t mask_ = 0;  // bucket count - 1
  uint32_t occupied_ = 0;
  FlowTableStats stats_;
};

}  // namespace sluice::engine
