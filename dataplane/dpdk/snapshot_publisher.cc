// SPDX-License-Identifier: Apache-2.0
#include "dataplane/dpdk/snapshot_publisher.h"

#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <stdexcept>
#include <thread>

namespace sluice::dpdk {

SnapshotPublisher::SnapshotPublisher(uint32_t max_workers) : workers_(max_workers) {
  const size_t size = rte_rcu_qsbr_get_memsize(max_workers);
  qsbr_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc("sluice_rcu", size, RTE_CACHE_LINE_SIZE));
  if (!qsbr_ || rte_rcu_qsbr_init(qsbr_, max_workers) != 0) {
    throw std::runtime_error("cannot allocate the RCU state for " + std::to_string(max_workers) +
                             " workers");
  }
}

SnapshotPublisher::~SnapshotPublisher() { rte_free(qsbr_); }

void SnapshotPublisher::worker_online(uint32_t id) {
  rte_rcu_qsbr_thread_register(qsbr_, id);
  rte_rcu_qsbr_thread_online(qsbr_, id);
  workers_[id].online.store(true, std::memory_order_release);
}

void SnapshotPublisher::worker_offline(uint32_t id) {
  workers_[id].online.store(false, std::memory_order_release);
  rte_rcu_qsbr_thread_offline(qsbr_, id);
  rte_rcu_qsbr_thread_unregister(qsbr_, id);
}

void SnapshotPublisher::quiescent(uint32_t id, uint64_t generation) {
  rte_rcu_qsbr_quiescent(qsbr_, id);
  workers_[id].generation.store(generation, std::memory_order_release);
}

void SnapshotPublisher::publish(std::shared_ptr<const engine::Snapshot> snapshot) {
  std::lock_guard lock(control_mutex_);
  current_.store(snapshot.get(), std::memory_order_release);
  // Workers that read the old pointer before the swap are done with it once
  // each has reported a quiescent state after this token.
  const uint64_t token = rte_rcu_qsbr_start(qsbr_);
  if (current_owner_) retired_.push_back({std::move(current_owner_), token});
  current_owner_ = std::move(snapshot);
}

void SnapshotPublisher::reclaim() {
  std::lock_guard lock(control_mutex_);
  while (!retired_.empty() && rte_rcu_qsbr_check(qsbr_, retired_.front().token, false) == 1) {
    retired_.pop_front();
  }
}

bool SnapshotPublisher::wait_applied(uint64_t generation, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    bool all = true;
    for (const WorkerSlot& w : workers_) {
      if (w.online.load(std::memory_order_acquire) &&
          w.generation.load(std::memory_order_acquire) < generation) {
        all = false;
        break;
      }
    }
    if (all) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
}

std::vector<uint64_t> SnapshotPublisher::worker_generations() const {
  std::vector<uint64_t> out;
  for (const WorkerSlot& w : workers_) out.push_back(w.generation.load(std::memory_order_acquire));
  return out;
}

uint64_t SnapshotPublisher::published_generation() const {
  const engine::Snapshot* s = current();
  return s ? s->generation() : 0;
}

size_t SnapshotPublisher::retired_count() const {
  std::lock_guard lock(control_mutex_);
  return retired_.size();
}

}  // namespace sluice::dpdk
