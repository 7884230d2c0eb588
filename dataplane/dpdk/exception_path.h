// SPDX-License-Identifier: Apache-2.0
// The exception path to the kernel, off the forwarding lcores.
//
// A worker never touches the TAP: writing a frame to a TAP is a system call
// (net_tap's tx_burst is a write(2) per frame), and a flood of traffic for
// the host (not for a VIP) would then take the worker's time from VIP
// traffic. Instead each worker has two single-producer single-consumer
// rte_rings (lock-free, no system call):
//   to_host    worker -> exception thread: frames the engine hands to the
//              kernel, within the worker's share of the policer (a token
//              bucket of rate_pps / workers frames per second with room for
//              burst / workers; frames above it are freed by the worker like
//              drops and counted in host_policed); a full ring drops and
//              counts (host_ring_full);
//   from_host  exception thread -> worker: what the kernel sends (ARP
//              replies, ICMP from the appliance), which the worker puts on
//              its own NIC TX queue, the queue only it may use.
// One thread (a plain thread, not a forwarding lcore) drains every to_host
// ring into the worker's TAP queue, and reads every TAP queue into
// from_host. It sleeps 100 us when a round found nothing, so that an idle
// exception path costs no core. Why the policer is in the workers: a frame
// policed there is freed into the worker's own mempool cache, at the cost
// of a drop; policed here, every frame of a flood would first cross a ring
// and be freed from another thread (perf/hardening.md "Host floods").
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "dataplane/dpdk/worker_loop.h"

struct rte_ring;

namespace sluice::dpdk {

struct ExceptionPathOptions {
  uint16_t tap_port = 0;
  uint32_t ring_size = 1024;    // frames per ring (a power of two)
  uint32_t rate_pps = 200000;   // policer: frames per second to the kernel, all workers (0: none)
  uint32_t burst = 10000;       // policer: frames at once above the rate, all workers
};

class ExceptionPath {
 public:
  // Creates the rings of each worker (on the worker's NUMA node, `nodes`)
  // and sets them in its context. Throws RuntimeError (runtime.h).
  ExceptionPath(const ExceptionPathOptions& options, const std::vector<WorkerContext*>& workers,
                const std::vector<int>& nodes);
  ~ExceptionPath();
  ExceptionPath(const ExceptionPath&) = delete;
  ExceptionPath& operator=(const ExceptionPath&) = delete;

  void start();
  void stop();  // waits for the thread; frames left in the rings are freed

 private:
  void run();
  bool relay(WorkerContext& w, uint16_t queue);

  ExceptionPathOptions options_;
  std::vector<WorkerContext*> workers_;
  std::vector<rte_ring*> rings_;  // owned: to_host and from_host of each worker
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace sluice::dpdk
