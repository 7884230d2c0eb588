// SPDX-License-Identifier: Apache-2.0
// Copies of one key of the per-CPU "circuits" map that are never torn,
// although the XDP program changes the values in place on their CPUs while
// sluiced copies them (bpf_map_lookup_elem is a plain memory copy, no lock).
//
// The program makes a circuit's `seq` (its last field, circuit_logic.h) odd
// before it changes the circuit and even after (ebpf/xdp/lib/circuit.h).
// Two lookups L1 then L2 of the key: for each CPU, L2's copy is one state as
// a change left it iff L1.seq == L2.seq and it is even. L1's seq was read
// before any of L2's data, L2's seq after all of it, so a change that
// overlapped L2's copy of the data either was under way when L1's seq was
// read (odd) or began after it (L2's seq differs: it only grows; a 2^32
// wrap within one copy is not a concern).
//
// That "after all of it" rests on the kernel copying each CPU's value in
// ascending address order: bpf_percpu_hash_copy (kernel/bpf/hashtab.c)
// calls copy_map_value_long for each possible CPU, which for a value with
// no special fields (no spin lock, timer, kptr) is bpf_long_memcpy
// (include/linux/bpf.h), a loop of 8-byte loads from the first word up;
// `seq` ends the last word. If that ever changed, a sequence at both ends
// would be needed.
//
// A CPU whose value kept changing through kCircuitReadTries further copies
// is reported as skipped: the caller keeps its last known state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "dataplane/engine/circuit_logic.h"

namespace sluice::xdp {

// Copies after the first, at most, before a CPU's value is skipped. A change
// lasts a few hundred nanoseconds and a copy about a microsecond: a CPU
// that changes one backend's circuit through 8 copies in a row is flooded
// with failures, and its state is a second stale at worst.
inline constexpr int kCircuitReadTries = 8;

// Whether `second`, copied after `first` from the same CPU's value, is one
// state as a change left it.
inline bool circuit_copy_consistent(const sluice_circuit& first, const sluice_circuit& second) {
  return first.seq == second.seq && (second.seq & 1u) == 0;
}

// Copies every possible CPU's value of one key into `values` (one per CPU);
// false when the key is gone (evicted, or never there).
using CircuitLookup = std::function<bool(sluice_circuit* values)>;

// One key of every CPU: copies with `lookup` until each CPU's copy is
// consistent or kCircuitReadTries copies after the first were made.
// out[cpu] is the consistent copy where skipped[cpu] is 0; where it is 1,
// out[cpu] is to be ignored. Both are resized to `cpus`. Returns false when
// the key went away meanwhile (read as no state anywhere, as an eviction).
bool read_circuit_consistent(const CircuitLookup& lookup, size_t cpus,
                             std::vector<sluice_circuit>& out, std::vector<uint8_t>& skipped);

}  // namespace sluice::xdp
