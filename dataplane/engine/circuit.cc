// SPDX-License-Identifier: Apache-2.0
#include "dataplane/engine/circuit.h"

#include <algorithm>

#include "dataplane/engine/flow_hash.h"

// Times are wrapping 32-bit milliseconds from one core's monotonic clock, so
// "has d ms passed since t" is (now - t) >= d in unsigned arithmetic: right
// across the wrap, and unlike a signed difference it does not call a state
// older than 24.8 days recent again (see flow_expired in flow_table.h).

namespace sluice::engine {
namespace {

bool elapsed(uint32_t now_ms, uint32_t since_ms, uint32_t duration_ms) {
  return now_ms - since_ms >= duration_ms;
}

// A policy of 0 failures or 0 trials would make no sense (open on nothing,
// never let a trial through); validation rejects them, and they are read as 1
// here so the breaker never locks a backend out.
uint32_t failure_threshold(const CircuitPolicy& p) {
  return std::max<uint32_t>(p.consecutive_failures, 1);
}
uint32_t trial_count(const CircuitPolicy& p) { return std::max<uint32_t>(p.half_open_trials, 1); }

// base << (ejections - 1), capped. A cap below the base is read as the base.
uint32_t ejection_time(uint32_t ejections, const CircuitPolicy& p) {
  const uint64_t cap = std::max(p.max_ejection_ms, p.base_ejection_ms);
  const uint32_t shift = std::min<uint32_t>(ejections - 1, 32);
  const uint64_t t = static_cast<uint64_t>(p.base_ejection_ms) << shift;
  return static_cast<uint32_t>(std::min(t, cap));
}

uint32_t round_up_pow2(uint32_t n) {
  uint32_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

}  // namespace

CircuitTable::CircuitTable(uint32_t capacity)
    : capacity_(round_up_pow2(std::clamp<uint32_t>(capacity, 1, kMaxCapacity))) {
  // Half the slots at most are ever in use: with linear probing that keeps
  // probe runs short, so misses stop at a free slot after a slot or two.
  const uint32_t slots = capacity_ * 2;
  slots_ = std::make_unique<Slot[]>(slots);
  mask_ = slots - 1;
}

uint32_t CircuitTable::home(uint64_t fp) const {
  // The fingerprint is meant to be a keyed hash already; mixing costs a few
  // cycles and keeps probing sane if a caller ever passes something weaker.
  return static_cast<uint32_t>(sluice_mix64(fp)) & mask_;
}

const CircuitTable::Slot* CircuitTable::find(uint64_t fp) const {
  if (size_ == 0) return nullptr;  // the common case: every backend healthy
  const uint32_t h = home(fp);
  const uint32_t probes = std::min(kMaxProbe, mask_ + 1);
  for (uint32_t d = 0; d < probes; ++d) {
    const Slot& s = slots_[(h + d) & mask_];
    if (s.phase == Phase::kFree) return nullptr;
    if (s.fp == fp) return &s;
  }
  return nullptr;
}

CircuitTable::Slot* CircuitTable::find(uint64_t fp) {
  return const_cast<Slot*>(static_cast<const CircuitTable*>(this)->find(fp));
}

CircuitTable::Slot* CircuitTable::find_or_claim(uint64_t fp, uint32_t now_ms,
                                                const CircuitPolicy& p) {
  const uint32_t h = home(fp);
  const uint32_t probes = std::min(kMaxProbe, mask_ + 1);
  Slot* reusable = nullptr;  // holds only state that may be forgotten
  Slot* free_slot = nullptr;
  for (uint32_t d = 0; d < probes; ++d) {
    Slot& s = slots_[(h + d) & mask_];
    if (s.phase == Phase::kFree) {
      free_slot = &s;
      break;  // fp is never stored beyond a free slot
    }
    if (s.fp == fp) return &s;
    // Closed, no failures, and closed long enough for its ejection count to
    // have reset: equivalent to no slot at all, so fp may take its place
    // without breaking the probe run of the entries behind it.
    if (reusable == nullptr && s.phase == Phase::kClosed && s.consecutive_failures == 0 &&
        (s.ejections == 0 || elapsed(now_ms, s.closed_ms, p.max_ejection_ms))) {
      reusable = &s;
    }
  }
  Slot* slot = reusable;
  if (slot == nullptr) {
    if (free_slot == nullptr || size_ >= capacity_) return nullptr;
    slot = free_slot;
    ++size_;
  }
  *slot = Slot{};
  slot->fp = fp;
  slot->phase = Phase::kClosed;
  return slot;
}

void CircuitTable::release(Slot* s) {
  // Backward-shift deletion: pull later members of the probe run into the
  // hole so lookups (which stop at a free slot) still reach them. No entry
  // sits kMaxProbe or more from its home, so an entry that far from the hole
  // can never move into it, and the scan stops there.
  uint32_t hole = static_cast<uint32_t>(s - slots_.get());
  const uint32_t probes = std::min(kMaxProbe, mask_ + 1);
  bool moved = true;
  while (moved) {
    moved = false;
    for (uint32_t d = 1; d < probes; ++d) {
      const uint32_t j = (hole + d) & mask_;
      Slot& c = slots_[j];
      if (c.phase == Phase::kFree) break;
      const uint32_t displacement = (j - home(c.fp)) & mask_;
      if (displacement >= d) {
        slots_[hole] = c;
        hole = j;
        moved = true;
        break;
      }
    }
  }
  slots_[hole] = Slot{};
  --size_;
}

void CircuitTable::advance(Slot& s, uint32_t now_ms, const CircuitPolicy& p) {
  if (s.phase != Phase::kOpen || !elapsed(now_ms, s.opened_ms, s.ejection_ms)) return;
  s.phase = Phase::kHalfOpen;
  s.trials_left = trial_count(p);
  s.trials_ms = now_ms;
  ++stats_.half_opened;
}

void CircuitTable::open(Slot& s, uint32_t now_ms, const CircuitPolicy& p) {
  if (s.phase == Phase::kClosed && s.ejections > 0 &&
      elapsed(now_ms, s.closed_ms, p.max_ejection_ms)) {
    s.ejections = 0;  // it behaved long enough: start again from the base time
  }
  if (s.ejections < 64) ++s.ejections;  // past 32 doublings the cap rules anyway
  s.ejection_ms = ejection_time(s.ejections, p);
  s.opened_ms = now_ms;
  s.phase = Phase::kOpen;
  s.consecutive_failures = 0;
  s.trials_left = 0;
  ++stats_.opened;
}

bool CircuitTable::admit(uint64_t fp, uint32_t now_ms, const CircuitPolicy& p) {
  Slot* s = find(fp);
  if (s == nullptr) return true;
  if (!p.enabled) {
    release(s);
    return true;
  }
  advance(*s, now_ms, p);
  switch (s->phase) {
    case Phase::kOpen:
      return false;
    case Phase::kHalfOpen:
      if (s->trials_left > 0) {
        --s->trials_left;
        return true;
      }
      // Trials spent and no verdict for a whole ejection time: the trial
      // flows died silently (client gave up, entry evicted). Try again.
      if (elapsed(now_ms, s->trials_ms, s->ejection_ms)) {
        s->trials_left = trial_count(p) - 1;
        s->trials_ms = now_ms;
        return true;
      }
      return false;
    case Phase::kClosed:
    case Phase::kFree:
      break;
  }
  return true;
}

bool CircuitTable::available(uint64_t fp, uint32_t now_ms) const {
  const Slot* s = find(fp);
  if (s == nullptr) return true;
  switch (s->phase) {
    case Phase::kOpen:
      // Once the time has passed admit() turns it half-open with >= 1 trial.
      return elapsed(now_ms, s->opened_ms, s->ejection_ms);
    case Phase::kHalfOpen:
      return s->trials_left > 0 || elapsed(now_ms, s->trials_ms, s->ejection_ms);
    case Phase::kClosed:
    case Phase::kFree:
      break;
  }
  return true;
}

CircuitState CircuitTable::state(uint64_t fp, uint32_t now_ms) const {
  const Slot* s = find(fp);
  if (s == nullptr) return CircuitState::kClosed;
  switch (s->phase) {
    case Phase::kOpen:
      return elapsed(now_ms, s->opened_ms, s->ejection_ms) ? CircuitState::kHalfOpen
                                                           : CircuitState::kOpen;
    case Phase::kHalfOpen:
      return CircuitState::kHalfOpen;
    case Phase::kClosed:
    case Phase::kFree:
      break;
  }
  return CircuitState::kClosed;
}

CircuitTransition CircuitTable::record_success(uint64_t fp, uint32_t now_ms,
                                               const CircuitPolicy& p) {
  ++stats_.successes;
  Slot* s = find(fp);
  if (s == nullptr) return CircuitTransition::kNone;  // closed, no history: nothing to reset
  if (!p.enabled) {
    release(s);
    return CircuitTransition::kNone;
  }
  advance(*s, now_ms, p);
  switch (s->phase) {
    case Phase::kOpen:
      // A flow admitted before the ejection completing proves little about
      // now; the half-open trials decide.
      return CircuitTransition::kNone;
    case Phase::kHalfOpen:
      s->phase = Phase::kClosed;
      s->closed_ms = now_ms;
      s->consecutive_failures = 0;
      s->trials_left = 0;
      ++stats_.closed;
      return CircuitTransition::kClosed;
    case Phase::kClosed:
    case Phase::kFree:
      break;
  }
  s->consecutive_failures = 0;
  // Keep the slot only while its ejection count still matters.
  if (s->ejections == 0 || elapsed(now_ms, s->closed_ms, p.max_ejection_ms)) release(s);
  return CircuitTransition::kNone;
}

CircuitTransition CircuitTable::record_failure(uint64_t fp, uint32_t now_ms,
                                               const CircuitPolicy& p, uint32_t pool_size,
                                               uint32_t pool_open_count) {
  ++stats_.failures;
  if (!p.enabled) {
    if (Slot* s = find(fp)) release(s);
    return CircuitTransition::kNone;
  }
  Slot* s = find_or_claim(fp, now_ms, p);
  if (s == nullptr) {
    ++stats_.untracked;
    return CircuitTransition::kUntracked;
  }
  advance(*s, now_ms, p);
  switch (s->phase) {
    case Phase::kOpen:
      return CircuitTransition::kNone;  // late failures of flows sent before the ejection
    case Phase::kHalfOpen:
      open(*s, now_ms, p);
      return CircuitTransition::kReopened;
    case Phase::kClosed:
    case Phase::kFree:
      break;
  }
  if (s->consecutive_failures < UINT32_MAX) ++s->consecutive_failures;
  if (s->consecutive_failures < failure_threshold(p)) return CircuitTransition::kNone;
  if (static_cast<uint64_t>(pool_open_count) * 100 >=
      static_cast<uint64_t>(p.max_ejected_percent) * pool_size) {
    // The failure count stays at the threshold: the next failure tries again.
    ++stats_.refused_by_max_ejected;
    return CircuitTransition::kRefusedMaxEjected;
  }
  open(*s, now_ms, p);
  return CircuitTransition::kOpened;
}

}  // namespace sluice::engine
