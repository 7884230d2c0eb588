// SPDX-License-Identifier: Apache-2.0
// The poll-mode worker: one per NIC RX queue, one per lcore, run to
// completion. Each iteration:
//   1. read the current snapshot pointer (RCU),
//   2. receive a burst from its NIC queue and run it through its engine
//      worker (parse, decide, encapsulate),
//   3. transmit forwarded frames on its NIC TX queue, hand host frames
//      within its share of the policer to the exception path (a ring to the
//      exception thread, which writes them to the TAP: exception_path.h)
//      and free dropped and policed ones,
//   4. send what the kernel sent (the exception thread's ring back) out of
//      its NIC queue,
//   5. report a quiescent state with the generation it forwarded with.
// Nothing here locks, allocates or makes a system call.
#pragma once

#include <atomic>
#include <cstdint>

#include "dataplane/dpdk/snapshot_publisher.h"
#include "dataplane/dpdk/worker_clock.h"
#include "dataplane/engine/engine.h"
#include "dataplane/engine/token_bucket.h"

struct rte_ring;

namespace sluice::dpdk {

// Per-worker port counters. The worker writes them but host_tx_*,
// host_rx_ring_full, which the exception thread writes, and flows_adopt*,
// flow_state_refused, which the runtime sets before the worker starts (each
// field has one writer).
#define SLUICE_PORT_COUNTERS(X)                                               \
  X(rx_bursts, "non-empty RX bursts")                                        \
  X(rx_packets, "frames received from the NIC queue")                        \
  X(tx_packets, "frames sent on the NIC queue")                              \
  X(tx_full_dropped, "frames dropped because the NIC TX queue was full")     \
  X(multi_segment_dropped, "chained mbufs (jumbo frames) dropped")           \
  X(host_ring_full, "frames for the kernel dropped: exception ring full (or none)") \
  X(host_policed, "frames for the kernel dropped by this worker's share of the policer") \
  X(host_tx_packets, "frames handed to the kernel through the TAP")          \
  X(host_tx_dropped, "frames for the kernel dropped (TAP queue full)")       \
  X(host_rx_ring_full, "frames from the kernel dropped: return ring full")   \
  X(host_rx_packets, "frames from the kernel sent out on the NIC")           \
  X(host_rx_dropped, "frames from the kernel dropped (NIC TX queue full)")     \
  X(flows_adopted, "flow entries adopted at start from the flow state file")  \
  X(flows_adopt_dropped, "damaged entries of an adopted flow state file freed") \
  X(flow_state_refused, "flow state files discarded at start (a header check failed; see the log)")

struct PortCounters {
#define SLUICE_X(name, help) uint64_t name = 0;
  SLUICE_PORT_COUNTERS(SLUICE_X)
#undef SLUICE_X
};

struct WorkerContext {
  uint32_t id = 0;             // RCU thread id and index of this worker
  uint16_t nic_port = 0;
  uint16_t nic_queue = 0;      // RX and TX queue of this worker
  // The exception path's rings (exception_path.h); null without one.
  rte_ring* to_host = nullptr;
  rte_ring* from_host = nullptr;
  // This worker's share of the exception path's policer (set with the
  // rings): host frames above it are freed here, at the cost of a drop, and
  // never reach the ring, the exception thread or the kernel. 0: no limit.
  sluice_token_bucket host_policer{};
  uint32_t host_rate_pps = 0;
  uint32_t host_burst = 0;
  uint16_t burst_size = 32;
  engine::Worker* engine = nullptr;
  SnapshotPublisher* publisher = nullptr;
  const std::atomic<bool>* stop = nullptr;
  const WorkerClock* clock = nullptr;  // the runtime's (flow times outlive the process)
  // Written by the worker, read (racily, for display) by the control thread.
  alignas(64) PortCounters counters;
  std::atomic<bool> running{false};
};

// rte_eal_remote_launch() entry point; `arg` is a WorkerContext*.
int worker_main(void* arg);

}  // namespace sluice::dpdk
