// SPDX-License-Identifier: Apache-2.0
#include "dataplane/dpdk/exception_path.h"

#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <chrono>
#include <string>

#include "dataplane/dpdk/runtime.h"
#include "dataplane/engine/relaxed.h"

namespace sluice::dpdk {
namespace {

constexpr uint16_t kBurst = 32;

rte_ring* make_ring(const std::string& name, uint32_t size, int node) {
  rte_ring* r = rte_ring_create(name.c_str(), size, node, RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (r == nullptr) {
    throw RuntimeError("exception path: cannot create ring " + name + " of " +
                       std::to_string(size) + " frames (" + rte_strerror(rte_errno) + ")");
  }
  return r;
}

void free_ring(rte_ring* r) {
  if (r == nullptr) return;
  rte_mbuf* m = nullptr;
  while (rte_ring_sc_dequeue(r, reinterpret_cast<void**>(&m)) == 0) rte_pktmbuf_free(m);
  rte_ring_free(r);
}

}  // namespace

ExceptionPath::ExceptionPath(const ExceptionPathOptions& options,
                             const std::vector<WorkerContext*>& workers,
                             const std::vector<int>& nodes)
    : options_(options), workers_(workers) {
  try {
    for (size_t q = 0; q < workers_.size(); ++q) {
      const int node = q < nodes.size() ? nodes[q] : SOCKET_ID_ANY;
      rings_.push_back(make_ring("sluice_to_host_" + std::to_string(q), options_.ring_size, node));
      workers_[q]->to_host = rings_.back();
      rings_.push_back(make_ring("sluice_from_host_" + std::to_string(q), options_.ring_size, node));
      workers_[q]->from_host = rings_.back();
      // Each worker polices its own frames with an equal share (rounded
      // up): all of them together pass at most about rate_pps.
      const auto n = static_cast<uint32_t>(workers_.size());
      workers_[q]->host_rate_pps = options_.rate_pps == 0 ? 0 : (options_.rate_pps + n - 1) / n;
      workers_[q]->host_burst = options_.burst == 0 ? 1 : (options_.burst + n - 1) / n;
      workers_[q]->host_policer = {};
    }
  } catch (...) {
    for (rte_ring* r : rings_) free_ring(r);
    throw;
  }
}

ExceptionPath::~ExceptionPath() {
  stop();
  for (WorkerContext* w : workers_) w->to_host = w->from_host = nullptr;
  for (rte_ring* r : rings_) free_ring(r);
}

void ExceptionPath::start() {
  if (thread_.joinable()) return;
  stop_.store(false);
  thread_ = std::thread([this] { run(); });
}

void ExceptionPath::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void ExceptionPath::run() {
  while (!stop_.load(std::memory_order_relaxed)) {
    bool busy = false;
    for (size_t q = 0; q < workers_.size(); ++q) {
      busy |= relay(*workers_[q], static_cast<uint16_t>(q));
    }
    if (!busy) std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

// One round for worker w (TAP queue `queue`): its host frames (already
// policed by the worker) to the kernel, the kernel's frames for its NIC
// queue back.
// True when it moved anything.
bool ExceptionPath::relay(WorkerContext& w, uint16_t queue) {
  rte_mbuf* pkts[kBurst];
  const unsigned n = rte_ring_sc_dequeue_burst(w.to_host, reinterpret_cast<void**>(pkts), kBurst,
                                               nullptr);
  if (n > 0) {
    const uint16_t sent = rte_eth_tx_burst(options_.tap_port, queue, pkts, static_cast<uint16_t>(n));
    if (sent < n) rte_pktmbuf_free_bulk(pkts + sent, n - sent);
    engine::relaxed_add(w.counters.host_tx_packets, sent);
    engine::relaxed_add(w.counters.host_tx_dropped, n - sent);
  }
  const uint16_t m = rte_eth_rx_burst(options_.tap_port, queue, pkts, kBurst);
  if (m > 0) {
    const unsigned queued =
        rte_ring_sp_enqueue_burst(w.from_host, reinterpret_cast<void**>(pkts), m, nullptr);
    if (queued < m) rte_pktmbuf_free_bulk(pkts + queued, m - queued);
    engine::relaxed_add(w.counters.host_rx_ring_full, m - queued);
  }
  return n > 0 || m > 0;
}

}  // namespace sluice::dpdk
