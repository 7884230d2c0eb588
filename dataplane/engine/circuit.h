// SPDX-License-Identifier: Apache-2.0
// Per-core circuit breakers, one per backend that is misbehaving.
//
// A direct-server-return balancer sees only client-to-server packets, so the
// engine reports what it can observe: a *success* when a tracked flow's
// handshake completes (the client's first non-SYN packet) and a *failure*
// when a SYN is retransmitted at least syn_retry_min_ms after the flow's
// previous packet, for a flow still waiting for its handshake
// (CircuitPolicy, config.h): the flow stayed silent that long, however
// long ago its first SYN was (signal_list.h, connect_failures).
//
// Both signals come from client packets, which anyone can spoof blind, so
// each call names the client's source prefix (circuit_source.h) and the
// backend's active-check health (backend_health.h), and circuit_logic.h
// decides what they are worth. States of one backend:
//   closed    -- consecutive_failures failures, each from a
//                new source prefix, within failure_window_ms -->  open
//                (suspected instead, while its checks pass)
//   open      -- the ejection time passes               -->  half-open
//   half-open -- a success (from a second prefix, or
//                while its checks pass)                 -->  closed
//   half-open -- a failure                              -->  open (doubled time)
// The ejection time is base_ejection_ms << (ejections - 1), capped at
// max_ejection_ms; the ejection count returns to zero once the backend has
// stayed closed for max_ejection_ms. A half-open backend admits up to
// half_open_trials new flows.
//
// Keyed by the backend fingerprint (a keyed hash of its address), so state
// survives configuration snapshots. Note the consequence: a backend address
// shared by two services shares one breaker on a core; the policy applied is
// the one passed with each call.
//
// Only backends away from the default (closed, no failures, no ejection to
// remember) hold a slot, so healthy backends cost nothing: with no slot in
// use, admit() is one compare. The table is an open-addressing map with
// linear probing bounded to kMaxProbe slots, sized at construction, never
// allocating afterwards. When it is full, a newly failing backend cannot be
// tracked: it stays closed and `untracked` counts it. Size the table to the
// number of backends a core can reach.
//
// The state machine of one backend is dataplane/engine/circuit_logic.h,
// shared with the XDP program; this class is the table that holds it.
//
// One thread owns a table (its worker) and is the only one to call the
// non-const methods and state()/available(). Other threads (sluiced's
// control thread) read it only through read_state(), read_circuit(),
// tracked() and stats(), while the owner runs: slot changes go through a
// sequence counter (seqlock.h) around the whole table, so a reader gets
// every slot as one write left it (a slot is 80 bytes: a plain copy could
// mix two writes and report a circuit event that never happened), or is
// told it could not; statistics are relaxed atomics (relaxed.h).
#pragma once

#include <cstdint>
#include <memory>

#include "dataplane/engine/circuit_logic.h"
#include "dataplane/engine/config.h"
#include "dataplane/engine/relaxed.h"
#include "dataplane/engine/seqlock.h"

namespace sluice::engine {

enum class CircuitState : uint8_t {
  kClosed,     // new flows go to the backend
  kOpen,       // ejected: no new flows until the ejection time passes
  kHalfOpen,   // on trial: up to half_open_trials new flows
  kSuspected,  // closed, but passive signals reached the threshold while its
               // active checks passed: sluiced probes it now (for one window)
};

// Open or half-open: what max_ejected_percent counts (not suspected).
inline bool circuit_ejected(CircuitState s) {
  return s == CircuitState::kOpen || s == CircuitState::kHalfOpen;
}

// What a record_* call changed (for logs and events).
enum class CircuitTransition : uint8_t {
  kNone,               // no state change
  kOpened,             // closed -> open
  kReopened,           // half-open -> open, with a doubled ejection time
  kClosed,             // half-open -> closed
  kRefusedMaxEjected,  // would have opened, but the pool is at max_ejected_percent
  kUntracked,          // would need a slot, but the table is full
  kSuspected,          // reached the threshold while HEALTHY: suspected, not opened
  kRepeatSource,       // a failure from a prefix counted already in the window
};

struct CircuitStats {
  uint64_t opened = 0;       // transitions into open, reopenings included
  uint64_t closed = 0;       // half-open -> closed
  uint64_t half_opened = 0;  // open -> half-open
  uint64_t failures = 0;     // record_failure calls
  uint64_t successes = 0;    // record_success calls
  uint64_t refused_by_max_ejected = 0;
  uint64_t untracked = 0;    // failures dropped because the table was full
  uint64_t suspected = 0;    // thresholds reached while HEALTHY (not opened)
  uint64_t repeat_sources = 0;  // failures not counted: prefix already counted
};

class CircuitTable {
 public:
  static constexpr uint32_t kMaxProbe = 16;
  static constexpr uint32_t kMaxCapacity = 1u << 24;

  // Tracks up to `capacity` backends at once (rounded up to a power of two,
  // at least 1, at most kMaxCapacity). The slot array is twice that, so
  // probe runs stay short when the table is as full as it may get.
  explicit CircuitTable(uint32_t capacity);

  CircuitTable(CircuitTable&&) noexcept = default;
  CircuitTable& operator=(CircuitTable&&) noexcept = default;
  CircuitTable(const CircuitTable&) = delete;
  CircuitTable& operator=(const CircuitTable&) = delete;

  // May a new flow go to this backend now? Closed: yes. Open: no until its
  // ejection time has passed, then it turns half-open. Half-open: yes while
  // trials remain, consuming one. If the trials are spent and no verdict has
  // come back within one more ejection time (the trial flows may have died
  // without a sign), a fresh batch of trials is granted, so a backend can
  // never stay ejected for ever on a core. Disabled policy: yes, and any
  // state left from when it was enabled is forgotten. `health` is the
  // backend's SLUICE_HEALTH_*: a HEALTHY backend is admitted whatever its
  // circuit says (its checks outrank passive signals).
  bool admit(uint64_t fp, uint32_t now_ms, const CircuitPolicy& p, uint8_t health);

  // The answer admit() would give, consuming nothing.
  bool available(uint64_t fp, uint32_t now_ms, uint8_t health) const;

  // A handshake completed on a flow to this backend, from client source
  // prefix `source` (sluice_source_tag). Closes a half-open circuit when the
  // backend is HEALTHY, or on the second prefix's success otherwise
  // (whichever flow it came from: the balancer cannot tell trial flows from
  // older ones), resets the failure count of a closed one, and is ignored
  // while open. Returns kClosed or kNone.
  CircuitTransition record_success(uint64_t fp, uint32_t now_ms, const CircuitPolicy& p,
                                   uint32_t source, uint8_t health);

  // A connect failure on a flow to this backend, from client source prefix
  // `source`. pool_size and pool_open_count describe the backend's pool on
  // this core (the caller counts backends whose state() is circuit_ejected);
  // the circuit does not open if pool_open_count * 100 >=
  // max_ejected_percent * pool_size. A half-open backend reopens regardless,
  // since it is already counted as ejected. Failures while open change
  // nothing; a HEALTHY backend is suspected rather than opened
  // (circuit_logic.h, sluice_circuit_record_failure).
  CircuitTransition record_failure(uint64_t fp, uint32_t now_ms, const CircuitPolicy& p,
                                   uint32_t pool_size, uint32_t pool_open_count,
                                   uint32_t source, uint8_t health);

  // The state as of now (an open circuit whose time has passed is reported
  // half-open even before admit() has moved it; a closed one suspected
  // within the last failure window, kSuspected).
  CircuitState state(uint64_t fp, uint32_t now_ms) const;

  // --- From any thread, while the owner runs ---
  // state(), read under the table's sequence counter: false when each of
  // kSeqReadAttempts tries overlapped a change (the caller reports the
  // backend skipped, its last known state stale).
  bool read_state(uint64_t fp, uint32_t now_ms, CircuitState* out) const;
  // fp's stored circuit as one change left it (zeroed, phase
  // SLUICE_CIRCUIT_FREE, when fp holds no slot); false as read_state.
  bool read_circuit(uint64_t fp, sluice_circuit* out) const;
  // Changes made to slots so far (each one write under the sequence).
  uint32_t changes() const { return seq_.writes(); }

  uint32_t capacity() const { return capacity_; }
  uint32_t tracked() const { return relaxed_load(size_); }  // backends holding a slot
  CircuitStats stats() const { return relaxed_copy(stats_); }

 private:
  struct Slot {
    uint64_t fp = 0;
    sluice_circuit circuit{};  // phase SLUICE_CIRCUIT_FREE: the slot is free
  };
  // A change of slots, as readers see it: one write of the sequence.
  class Change {
   public:
    explicit Change(SeqCount& seq) : seq_(seq) { seq_.write_begin(); }
    ~Change() { seq_.write_end(); }
    Change(const Change&) = delete;
    Change& operator=(const Change&) = delete;

   private:
    SeqCount& seq_;
  };

  uint32_t home(uint64_t fp) const;
  Slot* find(uint64_t fp);
  const Slot* find(uint64_t fp) const;
  // The slot for fp, claiming a free one (or one holding only forgettable
  // state) if fp has none; nullptr when none is free within kMaxProbe.
  Slot* find_or_claim(uint64_t fp, uint32_t now_ms, const sluice_circuit_policy& p);
  void release(Slot* s);
  // Adds what a circuit_logic call reported to stats_.
  void count(uint32_t events);
  // Stores a slot changed on the side (inside a Change): readers load slots
  // word by word, so every store to one must be atomic too.
  static void store(Slot* s, const Slot& value) { seq_store(*s, value); }

  std::unique_ptr<Slot[]> slots_;
  uint32_t mask_ = 0;      // slot count - 1
  uint32_t capacity_ = 0;  // most backends tracked at once
  uint32_t size_ = 0;  // written by the owner only, read by others (relaxed)
  CircuitStats stats_;
  SeqCount seq_;  // around every change of slots_ (and size_)
};

}  // namespace sluice::engine
