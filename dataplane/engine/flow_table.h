// SPDX-License-Identifier: Apache-2.0
// The per-core flow table: which backend each live flow was sent to.
//
// One table per worker core, touched by that core only, so there are no locks
// and no atomics. The memory is two allocations made by the constructor;
// lookup, insert, erase and sweep never allocate and do bounded work.
//
// Layout: two candidate buckets per flow, 8 ways each, and a signature array.
//  - b1 comes from the low bits of the flow hash, b2 = b1 xor (the 32-bit
//    signature spread by a multiply, masked to the bucket count).
//  - Per bucket, one 64-byte signature line holds 8 non-zero 32-bit
//    signatures (the high half of the hash; 0 marks a free way) and 8 copies
//    of last_seen_ms. The 64-byte FlowEntry records sit in a parallel array
//    at bucket * 8 + way.
//  - A lookup compares signatures in b1's line, then b2's, and reads an entry
//    only on a signature match: a hit costs one or two signature lines and
//    one entry line (the 4-way table this replaces read four entry lines),
//    and a false signature match has odds of about 2^-27 per lookup (31-bit
//    signatures; bit 0 marks confirmed entries).
//  - The last-seen copies let insert pick the stalest of 16 entries, and
//    tell which entries cannot have expired yet, without reading entries.
// Why two choices with moves, and not one bigger bucket: with one bucket per
// key the fullest bucket overflows long before the table is full (the 4-way
// table evicted live flows at 13% load, and 14% of them at 50%). A new flow
// goes to the less loaded of its two buckets, and when both are full of live
// flows one resident moves to its own other bucket if that has a free way.
// That keeps every live flow of a table filled to 90% (tested; the first
// losses appear near 93%). Beyond that only unconfirmed entries are evicted
// (FlowState): an evicted established flow would be rescheduled and could
// break if weights changed, which the product promises never to do, so when
// both buckets hold only confirmed flows the new flow is not entered at all
// (insert returns nullptr) and the engine forwards it statelessly.
// Why b2 is derived from the signature and not from the full hash: a resident
// being moved must know its other bucket, and the table has only the bucket
// it sits in and its signature (the key is there, the seeded hash is not).
// b1 uses hash bits 0..26 and the signature bits 33..63, so b2 is uniform
// and independent of b1. For one key in 2^(bucket bits) the two coincide
// (always, in a one-bucket table); such a key simply has 8 ways.
// The caller's hash is a keyed SipHash (flow_hash.h), so a client cannot aim
// many flows at one bucket pair to evict others.
//
// Expiry: an entry whose idle time reached the timeout of its state is
// treated as absent by lookup and may be reused by insert. Timeouts are per
// service, so they are passed on each call rather than stored. Expired
// entries keep their way until insert reuses it or sweep frees it; the
// caller should sweep continuously (see sweep) so that dead flows do not
// crowd out live ones.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "dataplane/engine/config.h"
#include "dataplane/engine/flow_hash.h"

namespace sluice::engine {

// Confirmed and unconfirmed entries (README "Flow state under attack").
// A flow is confirmed by a second packet from its client, the only
// direction a direct-server-return balancer sees: a TCP flow by the
// client's first non-SYN packet after its SYN (the handshake completed) or
// by any second packet after a mid-stream first one; a UDP flow by its
// second datagram. Spoofed packets from random sources (a SYN flood, an ACK
// flood, backscatter) are each the first and only packet of their flow, so
// they never confirm anything.
// Confirmed: kEstablished, kUdp. Unconfirmed: kSynSent, kProbation,
// kClosing (a flow that is ending). A full table evicts only unconfirmed
// entries: a confirmed flow leaves by its own expiry, close or
// reconfiguration, never to make room for a new flow (FlowTable::insert).
enum class FlowState : uint8_t {
  kEmpty,        // free slot
  kSynSent,      // TCP SYN seen, handshake not completed (unconfirmed)
  kEstablished,  // TCP, confirmed (handshake completed, or a second packet)
  kClosing,      // TCP FIN or RST seen (unconfirmed: evictable)
  kUdp,          // UDP (and other connectionless) flows, confirmed
  kProbation,    // first packet was not a TCP SYN; waiting for a second
};

// Whether entries in `s` are protected from eviction.
inline bool flow_confirmed(FlowState s) {
  return s == FlowState::kEstablished || s == FlowState::kUdp;
}

// One flow; exactly one cache line so a hit touches one entry line.
struct alignas(64) FlowEntry {
  sluice_flow_key key;           // 40 bytes, compared whole (pad included)
  uint64_t backend_fingerprint;  // keyed hash of the backend address; 0 is a valid value
  uint32_t last_seen_ms;         // wrapping milliseconds of the last packet
  // The flow's first packet (its first SYN for TCP): set when the entry is
  // created and never changed (not by a SYN retry, not by a state change).
  // Handshake time and flow age are measured from it (signal_list.h).
  uint32_t first_seen_ms;
  uint32_t generation;           // config generation backend_index is valid for
  uint16_t backend_index;        // index into the service's backends in that generation
  uint8_t pool;                  // pool index
  FlowState state;               // kEmpty after erase; the signature marks free slots
};
static_assert(sizeof(FlowEntry) == 64, "a flow entry is one cache line");
static_assert(alignof(FlowEntry) == 64, "a flow entry starts a cache line");

// The version of the table's memory layout (FlowEntry, FlowState values,
// the signature line, kWays, how buckets and signatures derive from the
// hash). A table kept in a file outlives the process (DPDK restart,
// dataplane/dpdk/flow_store.h), and a restarted sluiced adopts it only when
// this number matches: bump it with any change to the layout. The asserts
// below pin what the version stands for, so a change breaks the build
// here, next to the number.
inline constexpr uint32_t kFlowTableLayoutVersion = 1;
static_assert(offsetof(FlowEntry, backend_fingerprint) == 40 &&
                  offsetof(FlowEntry, last_seen_ms) == 48 &&
                  offsetof(FlowEntry, first_seen_ms) == 52 &&
                  offsetof(FlowEntry, generation) == 56 &&
                  offsetof(FlowEntry, backend_index) == 60 && offsetof(FlowEntry, pool) == 62 &&
                  offsetof(FlowEntry, state) == 63,
              "FlowEntry layout changed: bump kFlowTableLayoutVersion and fix this assert");
static_assert(static_cast<int>(FlowState::kProbation) == 5,
              "FlowState values changed: bump kFlowTableLayoutVersion and fix this assert");

// Memory for a table placed by the caller (a file mapping that outlives the
// process: dataplane/dpdk/flow_store.h), `buckets` a power of two no larger
// than kMaxBuckets, each array 64-byte aligned (2 MiB for huge pages) and
// at least signature_bytes / entry_bytes long. The table does not own it.
struct FlowTableMemory {
  void* signatures = nullptr;
  void* entries = nullptr;
  uint32_t buckets = 0;
};

// What FlowTable::adopt found in a table kept from an earlier process.
struct FlowAdoptReport {
  uint32_t kept = 0;     // entries adopted
  uint32_t dropped = 0;  // damaged ones freed (torn by a crash, or not this seed's)
  uint32_t clamped = 0;  // stamped ahead of the clock (its rate estimate): made "seen now"
};

struct FlowTableStats {
  uint64_t lookups = 0;
  uint64_t hits = 0;           // lookups that found a live entry
  uint64_t inserts = 0;        // calls to insert, whatever slot they got
  uint64_t evictions = 0;      // live unconfirmed entries overwritten (both buckets full)
  uint64_t full = 0;           // inserts refused: both buckets full of live confirmed entries
  uint64_t expirations = 0;    // expired entries reclaimed by insert
  uint64_t erases = 0;
  uint64_t displacements = 0;  // live entries moved to their other bucket to make room
  uint64_t swept = 0;          // expired entries freed by sweep
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
  static constexpr uint32_t kWays = 8;  // entries per bucket (one signature line)
  // Largest bucket count (2^27 buckets = 2^30 entries = 72 GiB); larger
  // requested capacities are clamped to it.
  static constexpr uint32_t kMaxBuckets = 1u << 27;

  // The two buckets a hash may live in; equal for a few hashes.
  struct Buckets {
    uint32_t first;
    uint32_t second;
  };

  // Capacity is rounded up so the bucket count is a power of two (at least
  // one bucket). Allocates and zeroes all memory now, asking for transparent
  // huge pages on large tables; throws std::bad_alloc if it cannot
  // (start-up only, never on the hot path).
  explicit FlowTable(uint32_t capacity);

  // A table in the caller's memory (FlowTableMemory), which must outlive
  // it. keep = false: zeroed now (an empty table; the zeroing is the pages'
  // first touch). keep = true: the contents are taken as they are, and the
  // caller must call adopt() before any other use. Throws
  // std::invalid_argument on a bucket count that is not a power of two up
  // to kMaxBuckets, or a missing array (start-up only).
  FlowTable(const FlowTableMemory& memory, bool keep);

  // The bucket count a capacity rounds to, and the bytes of the two arrays
  // for it (for callers that place the table themselves).
  static uint32_t bucket_count(uint32_t capacity);
  static size_t signature_bytes(uint32_t buckets) { return size_t{buckets} * sizeof(SignatureLine); }
  static size_t entry_bytes(uint32_t buckets) {
    return size_t{buckets} * kWays * sizeof(FlowEntry);
  }

  // Makes a table kept from an earlier process (FlowTable(memory, true))
  // safe to use with the current clock and configuration, in one pass over
  // it (flow_table_adopt.cc): every entry must sit where `seed` hashes its
  // key, with a valid state, else it is freed (a crash may have torn one
  // write); every entry forgets its cached backend index (its generation
  // is set to kStaleGeneration, so the first packet finds the backend
  // again by fingerprint in whatever configuration is in force); last-seen
  // times ahead of now_ms by at most max_ahead_ms become now_ms; the
  // occupancy count is rebuilt. Timeouts go on applying: an entry idle for
  // longer than its timeout (downtime included) has expired.
  FlowAdoptReport adopt(uint32_t now_ms, const sluice_hash_seed& seed, uint32_t max_ahead_ms);
  // The generation adopt gives every entry: no snapshot has it until
  // 2^32 - 1 configuration changes (and 0, which a fresh state directory
  // publishes, is not it).
  static constexpr uint32_t kStaleGeneration = UINT32_MAX;

  FlowTable(FlowTable&&) noexcept = default;
  FlowTable& operator=(FlowTable&&) noexcept = default;
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  // The live entry for key, or nullptr (absent or expired). `hash` must be
  // sluice_flow_hash(&key, seed): the table never hashes by itself. Does not
  // refresh last_seen_ms: the caller does, once it knows what the packet
  // means. The table's own copy of it is set to now_ms on a hit; insert and
  // sweep trust that copy to skip entries idle for less than a timeout
  // without reading them, which is exact when the caller sets last_seen_ms
  // to now_ms after every hit, as the engine does.
  // When the key's entry exists but has expired and `expired` is not null,
  // *expired is set to it (else left as it was): the entry stays in the
  // table, for the caller to read (what ended?) and usually erase. That is
  // how the engine counts a handshake that expired exactly once.
  FlowEntry* lookup(const sluice_flow_key& key, uint64_t hash, uint32_t now_ms,
                    const FlowTimeouts& t, FlowEntry** expired = nullptr);

  // A slot for key in one of its two buckets, re-initialised: the existing
  // entry for key if any (live or expired), else a free way of the less
  // loaded bucket, else an expired entry (judged, like lookup, by the
  // timeouts passed), else a way freed by moving a live entry to its other
  // bucket, else the stalest unconfirmed entry of the two buckets (evicted).
  // nullptr when all 16 entries are live and confirmed (counted in `full`):
  // no confirmed flow is evicted for a new one; the caller forwards the new
  // flow statelessly. The entry comes back with key set, last_seen_ms =
  // first_seen_ms = now_ms, backend fields zero, and state kSynSent for TCP
  // or kProbation otherwise (unconfirmed); the caller fills the backend and
  // sets the state it means with set_state.
  // If `expired` is not null it receives a copy of the expired entry the
  // slot held (the key's own, or another key's reclaimed), or an entry with
  // state kEmpty when the slot held none (free, live, or evicted live).
  // Moving a resident invalidates pointers to it: a FlowEntry* from an
  // earlier lookup or insert is valid only until the next insert.
  FlowEntry* insert(const sluice_flow_key& key, uint64_t hash, uint32_t now_ms,
                    const FlowTimeouts& t, FlowEntry* expired = nullptr);

  // Frees an entry returned by lookup or insert of this table (and not moved
  // since: see insert). nullptr and already-free entries are ignored.
  void erase(FlowEntry* e);

  // Sets the state of an entry returned by lookup or insert (not moved
  // since), and the confirmed mark its signature carries for insert's
  // choice of a victim: every state change goes through here.
  void set_state(FlowEntry* e, FlowState state) {
    e->state = state;
    const auto slot = static_cast<uint32_t>(e - entries_.get());
    uint32_t& sig = sigs_[slot / kWays].sig[slot % kWays];
    sig = (sig & ~kConfirmedBit) | (flow_confirmed(state) ? kConfirmedBit : 0u);
  }

  // Frees the expired entries of the next `buckets` buckets (at most one
  // pass) of a cursor that walks the table round and round; returns how many
  // it freed. An entry idle for at least min_idle_ms is judged by the
  // timeouts of its own flow, timeouts_of(key) (a `const FlowTimeouts*`;
  // nullptr leaves the entry alone); younger ones are skipped without being
  // read, so min_idle_ms should be the shortest timeout in use. Like insert,
  // it invalidates pointers to the entries it frees. Bounded work: one
  // signature line per bucket, plus the entries old enough to be judged.
  // Why a sweep: expiry is otherwise lazy, and a table whose free ways have
  // all been taken by flows that ended has nothing left to balance with:
  // insert finds both buckets of a new flow full and must evict a live flow
  // whenever none of their 16 entries has expired (in a simulation of flows
  // coming and going, 0.7% of new flows at 70% live load, 5% at 80%; none
  // when the table was swept about once a second). Swept, the table keeps
  // free ways for its dead flows, and new flows are placed and moved as in a
  // fresh table. Timeouts are per service, and only the caller can tell an
  // entry's service (from its key), hence the callback.
  // on_freed(const FlowEntry&) sees each entry just before it is freed (the
  // engine counts the handshakes that expired); the overload without it
  // ignores them.
  template <typename TimeoutsOf>
  uint32_t sweep(uint32_t now_ms, uint32_t buckets, uint32_t min_idle_ms,
                 TimeoutsOf&& timeouts_of) {
    return sweep(now_ms, buckets, min_idle_ms, timeouts_of, [](const FlowEntry&) {});
  }
  template <typename TimeoutsOf, typename OnFreed>
  uint32_t sweep(uint32_t now_ms, uint32_t buckets, uint32_t min_idle_ms,
                 TimeoutsOf&& timeouts_of, OnFreed&& on_freed) {
    uint32_t freed = 0;
    for (uint32_t i = 0; i < buckets && i <= mask_; ++i) {
      const uint32_t b = sweep_cursor_;
      sweep_cursor_ = (b + 1) & mask_;
      __builtin_prefetch(&sigs_[sweep_cursor_], 1, 3);
      SignatureLine& line = sigs_[b];
      for (uint32_t w = 0; w < kWays; ++w) {
        if (line.sig[w] == 0 || now_ms - line.seen[w] < min_idle_ms) continue;
        FlowEntry& e = entries_[b * kWays + w];
        const sluice_flow_key& key = e.key;
        const FlowTimeouts* t = timeouts_of(key);
        if (t == nullptr || !flow_expired(e, now_ms, *t)) continue;
        on_freed(static_cast<const FlowEntry&>(e));
        line.sig[w] = 0;
        e.state = FlowState::kEmpty;
        --occupied_;
        ++freed;
      }
    }
    stats_.swept += freed;
    return freed;
  }

  // Starts loading the two signature lines of `hash` into the cache (write
  // intent, since a hit refreshes the last-seen copy). Call a few packets
  // ahead of lookup.
  // Why always_inline: GCC treats __builtin_prefetch as touching no memory,
  // so an out-of-line function made only of prefetches counts as `const` and
  // its calls are deleted as dead code (seen with gcc 12 -O1..-O3 when
  // buckets_of was not inlined early). Inlined into the caller, the
  // prefetches stay.
  [[gnu::always_inline]] void prefetch(uint64_t hash) const {
    const Buckets b = buckets_of(hash);
    __builtin_prefetch(&sigs_[b.first], 1, 3);
    __builtin_prefetch(&sigs_[b.second], 1, 3);
  }

  // The second prefetch stage, for when prefetch(hash) has had time to land:
  // reads the two signature lines and starts loading the entry line that
  // lookup or insert will touch. For a known flow that is its entry; for a
  // new one, the slot insert will most likely take (a free way, else the
  // stalest entry). Without this stage the entry line is a cache miss inside
  // lookup or insert, with nothing to overlap it: per burst, call prefetch
  // for every packet, then prefetch_entry for every packet, then look up.
  // (always_inline for the reason given at prefetch.)
  [[gnu::always_inline]] void prefetch_entry(uint64_t hash, uint32_t now_ms) const {
    const uint32_t sig = signature(hash);
    const Buckets b = buckets_of(hash);
    // Where lookup will find the key: the first signature match, b1 first (a
    // second match is a 2^-32 accident, and lookup compares keys anyway).
    if (const uint32_t m = ways_matching(sigs_[b.first].sig, sig); m != 0) {
      __builtin_prefetch(&entries_[b.first * kWays + __builtin_ctz(m)], 1, 3);
    } else if (const uint32_t m2 = ways_matching(sigs_[b.second].sig, sig); m2 != 0) {
      __builtin_prefetch(&entries_[b.second * kWays + __builtin_ctz(m2)], 1, 3);
    } else {
      __builtin_prefetch(&entries_[likely_insert_slot(b, now_ms)], 1, 3);
    }
  }

  Buckets buckets_of(uint64_t hash) const {
    const auto first = static_cast<uint32_t>(hash) & mask_;
    return {first, other_bucket(first, signature(hash))};
  }

  uint32_t capacity() const { return (mask_ + 1) * kWays; }
  // Table memory per entry: the entry plus its share of a signature line.
  static constexpr size_t bytes_per_entry() {
    return sizeof(FlowEntry) + sizeof(SignatureLine) / kWays;
  }
  // Slots in use, counting expired entries that insert has not reused yet.
  uint32_t occupied() const { return occupied_; }
  FlowTableStats stats() const { return stats_; }

  // Calls visit(const FlowEntry&) with a copy of every occupied entry, live
  // or expired (the caller judges expiry: only it knows each flow's
  // timeouts), in slot order. Cost: one sequential pass, reading all
  // capacity/8 signature lines and the entry line of each occupied way:
  // about 1/8 + load of the table's memory. Allocates nothing.
  // For readers off the owning core (a flow census, flow_census.h): it
  // takes no lock and the owner is never told, so an entry the owner writes
  // meanwhile may be seen before, after or half way through the write (torn,
  // across fields); the visitor gets a copy, so it can validate the fields
  // it uses without the entry moving under it.
  template <typename Visit>
  void for_each_entry(Visit&& visit) const {
    for (uint32_t b = 0; b <= mask_; ++b) {
      const SignatureLine& line = sigs_[b];
      for (uint32_t w = 0; w < kWays; ++w) {
        if (line.sig[w] == 0) continue;
        FlowEntry copy;
        std::memcpy(static_cast<void*>(&copy), &entries_[b * kWays + w], sizeof copy);
        visit(static_cast<const FlowEntry&>(copy));
      }
    }
  }

 private:
  // Bit 0 of a stored signature: the way's entry is confirmed (set_state).
  // Signatures are compared without it, so a key's signature has 31 bits.
  static constexpr uint32_t kConfirmedBit = 1;

  // Per bucket: what a lookup reads before it touches any entry.
  struct alignas(64) SignatureLine {
    uint32_t sig[kWays];   // signature of the way's key | confirmed bit; 0: free way
    uint32_t seen[kWays];  // now_ms of the way's insert or latest lookup hit
  };
  static_assert(sizeof(SignatureLine) == 64, "a signature line is one cache line");

  // Frees what table_memory() in flow_table.cc allocated, with its
  // alignment; align 0: the caller's memory (FlowTableMemory), not freed.
  struct AlignedDelete {
    size_t align;
    void operator()(void* p) const;
  };

  // Bit w set where line[w], its confirmed bit cleared, == value (a
  // signature, or 0 for free ways: stored signatures are never 0 or 1), for
  // the kWays (8) words of a line.
  static uint32_t ways_matching(const uint32_t* line, uint32_t value) {
    static_assert(kWays == 8, "ways_matching compares two 128-bit halves");
#if defined(__SSE2__)
    const __m128i v = _mm_set1_epi32(static_cast<int>(value));
    const __m128i keep = _mm_set1_epi32(static_cast<int>(~kConfirmedBit));
    const __m128i lo =
        _mm_and_si128(_mm_load_si128(reinterpret_cast<const __m128i*>(line)), keep);
    const __m128i hi =
        _mm_and_si128(_mm_load_si128(reinterpret_cast<const __m128i*>(line + 4)), keep);
    const int m_lo = _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(lo, v)));
    const int m_hi = _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(hi, v)));
    return static_cast<uint32_t>(m_lo | (m_hi << 4));
#else
    uint32_t m = 0;
    for (uint32_t w = 0; w < kWays; ++w) {
      m |= static_cast<uint32_t>((line[w] & ~kConfirmedBit) == value) << w;
    }
    return m;
#endif
  }

  // Never 0, which marks a free way; bit 0 clear (kConfirmedBit).
  static uint32_t signature(uint64_t hash) {
    const auto s = static_cast<uint32_t>(hash >> 32) & ~kConfirmedBit;
    return s != 0 ? s : 2;
  }
  // An involution: the other bucket of the other bucket is the first one, so
  // a resident's other bucket follows from where it is and its signature.
  // The signature is already uniform (SipHash bits 32..63, independent of
  // the first bucket's bits 0..26); one multiply spreads all of its bits
  // into the offset.
  uint32_t other_bucket(uint32_t bucket, uint32_t sig) const {
    const uint64_t key_sig = sig & ~kConfirmedBit;  // a stored one may carry the bit
    const auto offset = static_cast<uint32_t>((key_sig * 0x9e3779b97f4a7c15ULL) >> 32);
    return bucket ^ (offset & mask_);
  }

  // A slot and the idle time its last-seen copy says.
  struct SlotAge {
    uint32_t slot;
    uint32_t age;
  };

  uint32_t find(uint32_t bucket, uint32_t sig, const sluice_flow_key& key) const;
  uint32_t free_slot(uint32_t b1, uint32_t b2) const;
  SlotAge stalest(uint32_t b1, uint32_t b2, uint32_t now_ms) const;
  uint32_t stalest_unconfirmed(uint32_t b1, uint32_t b2, uint32_t now_ms) const;
  uint32_t reclaim_expired(uint32_t b1, uint32_t b2, SlotAge oldest, uint32_t now_ms,
                           const FlowTimeouts& t);
  uint32_t try_make_room(uint32_t b1, uint32_t b2);
  uint32_t make_room(uint32_t b1, uint32_t b2);
  uint32_t likely_insert_slot(Buckets b, uint32_t now_ms) const;
  FlowEntry* claim(uint32_t slot, uint32_t sig, const sluice_flow_key& key, uint32_t now_ms);

  std::unique_ptr<SignatureLine[], AlignedDelete> sigs_;
  std::unique_ptr<FlowEntry[], AlignedDelete> entries_;  // slot = bucket * kWays + way
  uint32_t mask_ = 0;  // bucket count - 1
  uint32_t occupied_ = 0;
  // try_make_room's back-off after failed searches (flow_table.cc).
  static constexpr uint32_t kMaxRoomSkips = 64;
  uint32_t room_failures_ = 0;  // failed searches in a row
  uint32_t room_skips_ = 0;     // searches still to skip
  uint32_t sweep_cursor_ = 0;   // next bucket sweep looks at
  FlowTableStats stats_;
};

}  // namespace sluice::engine
