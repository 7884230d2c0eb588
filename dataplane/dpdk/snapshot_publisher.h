// SPDX-License-Identifier: Apache-2.0
// Publishing engine snapshots to poll-mode workers, RCU style.
//
// The control thread swaps one atomic pointer; workers read it once per
// loop iteration and then report a quiescent state (DPDK's rte_rcu_qsbr).
// The previous snapshot is freed only once every registered worker has
// passed a quiescent state after the swap, so no worker ever reads freed
// memory, and nothing on the worker side waits or locks.
//
// Each worker also records the generation of the snapshot it forwards
// with; wait_applied() watches those to tell a caller when a change is in
// effect on every core (what a rollout tool's "verify weight" needs).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "dataplane/engine/snapshot.h"

struct rte_rcu_qsbr;

namespace sluice::dpdk {

class SnapshotPublisher {
 public:
  explicit SnapshotPublisher(uint32_t max_workers);
  ~SnapshotPublisher();
  SnapshotPublisher(const SnapshotPublisher&) = delete;
  SnapshotPublisher& operator=(const SnapshotPublisher&) = delete;

  // --- Worker side (hot path: no locks, no allocation) ---
  // Called once on the worker's own thread before its loop, and after it.
  void worker_online(uint32_t worker_id);
  void worker_offline(uint32_t worker_id);
  // The snapshot to use for this loop iteration (may be null).
  const engine::Snapshot* current() const { return current_.load(std::memory_order_acquire); }
  // The worker is done with every snapshot it read before this call and
  // forwards with `generation` from now on.
  void quiescent(uint32_t worker_id, uint64_t generation);

  // --- Control side ---
  // Makes `snapshot` current; the one it replaces is retired, not freed.
  void publish(std::shared_ptr<const engine::Snapshot> snapshot);
  // Frees retired snapshots every worker is done with. Never blocks.
  void reclaim();
  // Waits until every online worker reports `generation` or later.
  // Returns false on timeout.
  bool wait_applied(uint64_t generation, std::chrono::milliseconds timeout) const;
  // Generation each worker last reported (index = worker id).
  std::vector<uint64_t> worker_generations() const;
  uint64_t published_generation() const;
  size_t retired_count() const;

 private:
  struct alignas(64) WorkerSlot {
    std::atomic<uint64_t> generation{0};
    std::atomic<bool> online{false};
  };
  struct Retired {
    std::shared_ptr<const engine::Snapshot> snapshot;
    uint64_t token;
  };

  rte_rcu_qsbr* qsbr_ = nullptr;
  std::atomic<const engine::Snapshot*> current_{nullptr};
  std::vector<WorkerSlot> workers_;
  mutable std::mutex control_mutex_;  // control threads only, never workers
  std::shared_ptr<const engine::Snapshot> current_owner_;
  std::deque<Retired> retired_;
};

}  // namespace sluice::dpdk
