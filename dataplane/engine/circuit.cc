// SPDX-License-Identifier: Apache-2.0
#include "dataplane/engine/circuit.h"

#include <algorithm>
#include <cstring>

#include "dataplane/engine/flow_hash.h"

namespace sluice::engine {

// The XDP "circuits" map holds this struct as its value: a size change is a
// layout change (bump SLUICE_XDP_LAYOUT_VERSION, ebpf/xdp/xdp_layout.h).
static_assert(sizeof(sluice_circuit) == 72, "struct sluice_circuit changed size");

namespace {

sluice_circuit_policy c_policy(const CircuitPolicy& p) {
  return {p.consecutive_failures, p.base_ejection_ms, p.max_ejection_ms, p.half_open_trials,
          p.max_ejected_percent, p.failure_window_ms};
}

CircuitState to_state(const sluice_circuit& c, uint32_t now_ms) {
  switch (sluice_circuit_state(&c, now_ms)) {
    case SLUICE_CIRCUIT_OPEN:
      return CircuitState::kOpen;
    case SLUICE_CIRCUIT_HALF_OPEN:
      return CircuitState::kHalfOpen;
    case SLUICE_CIRCUIT_SUSPECTED:
      return CircuitState::kSuspected;
    default:
      return CircuitState::kClosed;
  }
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
    if (s.circuit.phase == SLUICE_CIRCUIT_FREE) return nullptr;
    if (s.fp == fp) return &s;
  }
  return nullptr;
}

CircuitTable::Slot* CircuitTable::find(uint64_t fp) {
  return const_cast<Slot*>(static_cast<const CircuitTable*>(this)->find(fp));
}

CircuitTable::Slot* CircuitTable::find_or_claim(uint64_t fp, uint32_t now_ms,
                                                const sluice_circuit_policy& p) {
  const uint32_t h = home(fp);
  const uint32_t probes = std::min(kMaxProbe, mask_ + 1);
  Slot* reusable = nullptr;  // holds only state that may be forgotten
  Slot* free_slot = nullptr;
  for (uint32_t d = 0; d < probes; ++d) {
    Slot& s = slots_[(h + d) & mask_];
    if (s.circuit.phase == SLUICE_CIRCUIT_FREE) {
      free_slot = &s;
      break;  // fp is never stored beyond a free slot
    }
    if (s.fp == fp) return &s;
    // Equivalent to no slot at all, so fp may take its place without
    // breaking the probe run of the entries behind it.
    if (reusable == nullptr && sluice_circuit_forgettable(&s.circuit, now_ms, &p)) reusable = &s;
  }
  Slot* slot = reusable;
  if (slot == nullptr) {
    if (free_slot == nullptr || size_ >= capacity_) return nullptr;
    slot = free_slot;
    relaxed_store(size_, size_ + 1);
  }
  Slot claimed{fp, {}};
  sluice_circuit_init(&claimed.circuit);
  store(slot, claimed);
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
      if (c.circuit.phase == SLUICE_CIRCUIT_FREE) break;
      const uint32_t displacement = (j - home(c.fp)) & mask_;
      if (displacement >= d) {
        store(&slots_[hole], c);
        hole = j;
        moved = true;
        break;
      }
    }
  }
  store(&slots_[hole], Slot{});
  relaxed_store(size_, size_ - 1);
}

void CircuitTable::count(uint32_t events) {
  if (events & SLUICE_CIRCUIT_EV_HALF_OPENED) relaxed_inc(stats_.half_opened);
  if (events & (SLUICE_CIRCUIT_EV_OPENED | SLUICE_CIRCUIT_EV_REOPENED)) relaxed_inc(stats_.opened);
  if (events & SLUICE_CIRCUIT_EV_CLOSED) relaxed_inc(stats_.closed);
  if (events & SLUICE_CIRCUIT_EV_REFUSED) relaxed_inc(stats_.refused_by_max_ejected);
  if (events & SLUICE_CIRCUIT_EV_SUSPECTED) relaxed_inc(stats_.suspected);
  if (events & SLUICE_CIRCUIT_EV_REPEAT_SOURCE) relaxed_inc(stats_.repeat_sources);
}

bool CircuitTable::admit(uint64_t fp, uint32_t now_ms, const CircuitPolicy& p, uint8_t health) {
  Slot* s = find(fp);
  if (s == nullptr) return true;
  if (!p.enabled) {
    Change change(seq_);
    release(s);
    return true;
  }
  if (sluice_circuit_admit_keeps(&s->circuit, now_ms, health)) {
    return sluice_circuit_available(&s->circuit, now_ms, health) != 0;
  }
  const sluice_circuit_policy cp = c_policy(p);
  uint32_t events = 0;
  // Decided on a copy, stored only if it changed (a half-open circuit with
  // no trial to grant, say, changes nothing either).
  Slot next = *s;
  const bool admitted = sluice_circuit_admit(&next.circuit, now_ms, &cp, health, &events) != 0;
  if (std::memcmp(&next.circuit, &s->circuit, sizeof next.circuit) != 0) {
    Change change(seq_);
    store(s, next);
  }
  count(events);
  return admitted;
}

bool CircuitTable::available(uint64_t fp, uint32_t now_ms, uint8_t health) const {
  const Slot* s = find(fp);
  return s == nullptr || sluice_circuit_available(&s->circuit, now_ms, health) != 0;
}

CircuitState CircuitTable::state(uint64_t fp, uint32_t now_ms) const {
  const Slot* s = find(fp);
  return s == nullptr ? CircuitState::kClosed : to_state(s->circuit, now_ms);
}

bool CircuitTable::read_circuit(uint64_t fp, sluice_circuit* out) const {
  const uint32_t h = home(fp);
  const uint32_t probes = std::min(kMaxProbe, mask_ + 1);
  for (uint32_t attempt = 0; attempt < kSeqReadAttempts; ++attempt) {
    const uint32_t begin = seq_.read_begin();
    if ((begin & 1u) == 0) {
      // The probe of find(), on whole-slot copies: a slot moved by
      // release() mid-probe fails the check below rather than hiding fp.
      Slot hit{};
      if (relaxed_load(size_) != 0) {
        for (uint32_t d = 0; d < probes; ++d) {
          const Slot s = seq_load(slots_[(h + d) & mask_]);
          if (s.circuit.phase == SLUICE_CIRCUIT_FREE) break;
          if (s.fp == fp) {
            hit = s;
            break;
          }
        }
      }
      if (seq_.read_valid(begin)) {
        *out = hit.circuit;
        return true;
      }
    }
    seq_pause();
  }
  return false;
}

bool CircuitTable::read_state(uint64_t fp, uint32_t now_ms, CircuitState* out) const {
  sluice_circuit c;
  if (!read_circuit(fp, &c)) return false;
  *out = c.phase == SLUICE_CIRCUIT_FREE ? CircuitState::kClosed : to_state(c, now_ms);
  return true;
}

CircuitTransition CircuitTable::record_success(uint64_t fp, uint32_t now_ms,
                                               const CircuitPolicy& p, uint32_t source,
                                               uint8_t health) {
  relaxed_inc(stats_.successes);
  Slot* s = find(fp);
  if (s == nullptr) return CircuitTransition::kNone;  // closed, no history: nothing to reset
  Change change(seq_);
  if (!p.enabled) {
    release(s);
    return CircuitTransition::kNone;
  }
  const sluice_circuit_policy cp = c_policy(p);
  uint32_t events = 0;
  Slot next = *s;
  sluice_circuit_record_success(&next.circuit, now_ms, &cp, source, health, &events);
  count(events);
  // Keep the slot only while its state still matters.
  if (events & SLUICE_CIRCUIT_EV_RELEASE) {
    release(s);
  } else {
    store(s, next);
  }
  return (events & SLUICE_CIRCUIT_EV_CLOSED) ? CircuitTransition::kClosed
                                             : CircuitTransition::kNone;
}

CircuitTransition CircuitTable::record_failure(uint64_t fp, uint32_t now_ms,
                                               const CircuitPolicy& p, uint32_t pool_size,
                                               uint32_t pool_open_count, uint32_t source,
                                               uint8_t health) {
  relaxed_inc(stats_.failures);
  if (!p.enabled) {
    if (Slot* s = find(fp)) {
      Change change(seq_);
      release(s);
    }
    return CircuitTransition::kNone;
  }
  const sluice_circuit_policy cp = c_policy(p);
  uint32_t events = 0;
  {
    // Claiming a slot and recording in it are one change for readers.
    Change change(seq_);
    Slot* s = find_or_claim(fp, now_ms, cp);
    if (s == nullptr) {
      relaxed_inc(stats_.untracked);
      return CircuitTransition::kUntracked;
    }
    Slot next = *s;
    sluice_circuit_record_failure(&next.circuit, now_ms, &cp, pool_size, pool_open_count,
                                  source, health, &events);
    store(s, next);
  }
  count(events);
  if (events & SLUICE_CIRCUIT_EV_OPENED) return CircuitTransition::kOpened;
  if (events & SLUICE_CIRCUIT_EV_REOPENED) return CircuitTransition::kReopened;
  if (events & SLUICE_CIRCUIT_EV_REFUSED) return CircuitTransition::kRefusedMaxEjected;
  if (events & SLUICE_CIRCUIT_EV_SUSPECTED) return CircuitTransition::kSuspected;
  if (events & SLUICE_CIRCUIT_EV_REPEAT_SOURCE) return CircuitTransition::kRepeatSource;
  return CircuitTransition::kNone;
}

}  // namespace sluice::engine
