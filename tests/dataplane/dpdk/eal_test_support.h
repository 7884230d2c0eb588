// Test helpers for starting an EAL in a test process.
#pragma once

#include <sched.h>

#include <string>

namespace sluice::dpdk::test {

// The CPUs this process may run on, as an EAL cpu list ("0,1"; "0" when
// the affinity cannot be read). Tests float their lcores over these with
// --lcores "0-2@(LIST)": CI machines have two CPUs.
inline std::string allowed_cpu_list() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::string list;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) list += (list.empty() ? "" : ",") + std::to_string(c);
    }
  }
  return list.empty() ? "0" : list;
}

}  // namespace sluice::dpdk::test
