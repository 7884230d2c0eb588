// SPDX-License-Identifier: Apache-2.0
#include "dataplane/dpdk/worker_loop.h"

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dataplane/engine/relaxed.h"

namespace sluice::dpdk {
namespace {

constexpr uint16_t kMaxBurst = engine::Worker::kMaxBurst;

// Sends what it can and frees the rest; returns the number sent.
uint16_t send_or_free(uint16_t port, uint16_t queue, rte_mbuf** pkts, uint16_t n) {
  if (n == 0) return 0;
  const uint16_t sent = rte_eth_tx_burst(port, queue, pkts, n);
  if (sent < n) rte_pktmbuf_free_bulk(pkts + sent, n - sent);
  return sent;
}

// Receive, decide, transmit: one NIC burst.
void process_nic_burst(WorkerContext& w, const engine::Snapshot* snapshot, const WorkerClock& clock) {
  rte_mbuf* rx[kMaxBurst];
  const uint16_t n = rte_eth_rx_burst(w.nic_port, w.nic_queue, rx, w.burst_size);
  if (n == 0) return;
  engine::relaxed_inc(w.counters.rx_bursts);
  engine::relaxed_add(w.counters.rx_packets, n);

  engine::Packet pkts[kMaxBurst];
  engine::Verdict verdicts[kMaxBurst];
  rte_mbuf* tx[kMaxBurst];
  rte_mbuf* host[kMaxBurst];
  rte_mbuf* gone[kMaxBurst];  // dropped or policed: freed together
  uint16_t n_pkts = 0, n_tx = 0, n_host = 0, n_gone = 0;
  rte_mbuf* kept[kMaxBurst];  // mbufs aligned with pkts[]
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = rx[i];
    if (m->nb_segs != 1) {
      // The engine sees one contiguous buffer; jumbo chains are not served.
      engine::relaxed_inc(w.counters.multi_segment_dropped);
      rte_pktmbuf_free(m);
      continue;
    }
    pkts[n_pkts] = {rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_data_len(m),
                    rte_pktmbuf_headroom(m)};
    kept[n_pkts++] = m;
  }
  const uint64_t now_ns = clock.now_ns();
  const auto now_ms = static_cast<uint32_t>(now_ns / 1000000);
  w.engine->process_burst(snapshot, pkts, verdicts, n_pkts, now_ns);
  for (uint16_t i = 0; i < n_pkts; ++i) {
    rte_mbuf* m = kept[i];
    switch (verdicts[i].action) {
      case engine::Action::kForward:
        // The engine may have moved the start of the frame into the headroom.
        m->data_off = static_cast<uint16_t>(pkts[i].data - static_cast<uint8_t*>(m->buf_addr));
        m->data_len = static_cast<uint16_t>(pkts[i].len);
        m->pkt_len = pkts[i].len;
        m->ol_flags = 0;  // checksums are complete; no offload requested
        tx[n_tx++] = m;
        break;
      case engine::Action::kHost:
        // Policed here rather than on the exception thread: a frame above
        // the rate then costs the worker what a drop costs (freed into its
        // own mempool cache), instead of a ring slot, a trip through
        // another thread and a free from there.
        if (sluice_token_bucket_take(&w.host_policer, now_ms, w.host_rate_pps, w.host_burst)) {
          host[n_host++] = m;
        } else {
          gone[n_gone++] = m;
          engine::relaxed_inc(w.counters.host_policed);
        }
        break;
      case engine::Action::kDrop:
        gone[n_gone++] = m;
        break;
    }
  }
  if (n_gone) rte_pktmbuf_free_bulk(gone, n_gone);
  const uint16_t sent = send_or_free(w.nic_port, w.nic_queue, tx, n_tx);
  engine::relaxed_add(w.counters.tx_packets, sent);
  engine::relaxed_add(w.counters.tx_full_dropped, n_tx - sent);
  if (n_host) {
    // To the exception thread: an enqueue into a lock-free ring, never a
    // system call here (exception_path.h).
    const unsigned queued =
        w.to_host ? rte_ring_sp_enqueue_burst(w.to_host, reinterpret_cast<void**>(host), n_host,
                                              nullptr)
                  : 0;
    if (queued < n_host) rte_pktmbuf_free_bulk(host + queued, n_host - queued);
    engine::relaxed_add(w.counters.host_ring_full, n_host - queued);
  }
}

// What the kernel sent (ARP replies, ICMP from the appliance), from the
// exception thread's ring, goes out of this worker's NIC queue.
void relay_from_host(WorkerContext& w) {
  rte_mbuf* pkts[kMaxBurst];
  const auto n = static_cast<uint16_t>(
      rte_ring_sc_dequeue_burst(w.from_host, reinterpret_cast<void**>(pkts), w.burst_size, nullptr));
  if (n == 0) return;
  const uint16_t sent = send_or_free(w.nic_port, w.nic_queue, pkts, n);
  engine::relaxed_add(w.counters.host_rx_packets, sent);
  engine::relaxed_add(w.counters.host_rx_dropped, n - sent);
}

}  // namespace

int worker_main(void* arg) {
  WorkerContext& w = *static_cast<WorkerContext*>(arg);
  const WorkerClock clock = *w.clock;  // a copy on this lcore
  if (w.burst_size == 0 || w.burst_size > kMaxBurst) w.burst_size = kMaxBurst;
  w.publisher->worker_online(w.id);
  w.running.store(true, std::memory_order_release);
  while (!w.stop->load(std::memory_order_relaxed)) {
    const engine::Snapshot* snapshot = w.publisher->current();
    process_nic_burst(w, snapshot, clock);
    if (w.from_host) relay_from_host(w);
    w.publisher->quiescent(w.id, snapshot ? snapshot->generation() : 0);
  }
  w.publisher->worker_offline(w.id);
  w.running.store(false, std::memory_order_release);
  return 0;
}

}  // namespace sluice::dpdk
