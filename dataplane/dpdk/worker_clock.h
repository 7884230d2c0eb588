// SPDX-License-Identifier: Apache-2.0
// The workers' clock: CLOCK_MONOTONIC, read as TSC cycles (no system call,
// no vDSO call per burst).
//
// Why anchored to CLOCK_MONOTONIC and not raw TSC counts: flow tables keep
// wrapping milliseconds of this clock and outlive the process
// (flow_store.h), so it must be one clock for every sluiced of a boot. Raw
// TSC counts are, but each process converts them with its own estimate of
// the TSC rate (rte_get_tsc_hz), and scaled from boot a relative error of
// 1e-5 is 26 s after 30 days of uptime: a restarted worker could see every
// flow stamped 26 s in the future (idle for ~49 days, expired) or in the
// past. Anchored at start, the error grows with this process's uptime
// only, and FlowTable::adopt absorbs what is ahead (kMaxAheadMs).
#pragma once

#include <rte_cycles.h>
#include <time.h>

#include <cstdint>

namespace sluice::dpdk {

class WorkerClock {
 public:
  // How far ahead of the new clock an adopted flow's times may be and still
  // count as "seen now" (FlowTable::adopt): ten minutes covers a rate error
  // of 1e-4 over 70 days of the old process's uptime.
  static constexpr uint32_t kMaxAheadMs = 10 * 60 * 1000;

  // Call after EAL initialisation (it knows the TSC rate).
  WorkerClock()
      : ns_per_cycle_q32_(static_cast<uint64_t>((1e9 / rte_get_tsc_hz()) * 4294967296.0)) {
    // The TSC read on both sides of the clock read: the anchor is their
    // midpoint, a few hundred ns from the truth at worst.
    timespec ts{};
    const uint64_t before = rte_get_tsc_cycles();
    clock_gettime(CLOCK_MONOTONIC, &ts);
    const uint64_t after = rte_get_tsc_cycles();
    anchor_tsc_ = before + (after - before) / 2;
    anchor_ns_ = static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
  }

  uint64_t now_ns() const {
    const uint64_t cycles = rte_get_tsc_cycles() - anchor_tsc_;
    return anchor_ns_ + static_cast<uint64_t>(
                            (static_cast<unsigned __int128>(cycles) * ns_per_cycle_q32_) >> 32);
  }
  // The engine's flow-table time (Worker::process_burst divides the same way).
  uint32_t now_ms() const { return static_cast<uint32_t>(now_ns() / 1000000); }

 private:
  uint64_t ns_per_cycle_q32_;  // ns per cycle, Q32: no division per burst
  uint64_t anchor_tsc_ = 0;
  uint64_t anchor_ns_ = 0;
};

}  // namespace sluice::dpdk
