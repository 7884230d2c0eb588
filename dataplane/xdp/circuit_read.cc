// SPDX-License-Identifier: Apache-2.0
#include "dataplane/xdp/circuit_read.h"

#include <cstddef>

namespace sluice::xdp {

// `seq` must end the value: the kernel copies ascending (circuit_read.h).
static_assert(offsetof(sluice_circuit, seq) + sizeof(uint32_t) == sizeof(sluice_circuit),
              "the circuit sequence must be the last field");
static_assert(sizeof(sluice_circuit) % 8 == 0, "per-CPU values are copied in 8-byte words");

bool read_circuit_consistent(const CircuitLookup& lookup, size_t cpus,
                             std::vector<sluice_circuit>& out, std::vector<uint8_t>& skipped) {
  out.assign(cpus, sluice_circuit{});
  skipped.assign(cpus, 1);
  std::vector<sluice_circuit> before(cpus);
  std::vector<sluice_circuit> after(cpus);
  if (!lookup(before.data())) return false;
  size_t pending = cpus;
  for (int attempt = 0; attempt < kCircuitReadTries && pending > 0; ++attempt) {
    if (!lookup(after.data())) return false;
    for (size_t cpu = 0; cpu < cpus; ++cpu) {
      if (skipped[cpu] && circuit_copy_consistent(before[cpu], after[cpu])) {
        out[cpu] = after[cpu];
        skipped[cpu] = 0;
        --pending;
      }
    }
    before.swap(after);  // this copy's seq was read before the next copy's data
  }
  return true;
}

}  // namespace sluice::xdp
