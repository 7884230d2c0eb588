// SPDX-License-Identifier: Apache-2.0
// A DPDK port backed by two rte_rings (net_ring, rte_eth_from_rings): what
// the caller enqueues on `rx` the port receives, what the port sends lands
// on `tx`. It makes no system call, so a worker on it shows only its own
// (worker_syscall_test.cc); perf/dpdk_bench.cc uses one as the exception
// path's TAP. Link rte_net_ring (meson: find_library('rte_net_ring')).
#pragma once

#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ring.h>

#include <string>

namespace sluice::dpdk::test {

struct RingPort {
  rte_ring* rx = nullptr;  // the caller enqueues; the port receives
  rte_ring* tx = nullptr;  // the port sends; the caller dequeues
  int port = -1;           // -1 when it could not be made (error says why)
  std::string error;
};

// One RX and one TX queue of `descriptors`, started. Rings of 4096 frames,
// single producer and single consumer each.
inline RingPort make_ring_port(const std::string& name, rte_mempool* pool,
                               uint16_t descriptors = 1024) {
  RingPort p;
  const unsigned flags = RING_F_SP_ENQ | RING_F_SC_DEQ;
  p.rx = rte_ring_create((name + "_rx").c_str(), 4096, SOCKET_ID_ANY, flags);
  p.tx = rte_ring_create((name + "_tx").c_str(), 4096, SOCKET_ID_ANY, flags);
  if (!p.rx || !p.tx) {
    p.error = "rte_ring_create(" + name + "): " + rte_strerror(rte_errno);
    return p;
  }
  const int port = rte_eth_from_rings(name.c_str(), &p.rx, 1, &p.tx, 1, SOCKET_ID_ANY);
  if (port < 0) {
    p.error = "rte_eth_from_rings(" + name + "): " + rte_strerror(rte_errno);
    return p;
  }
  const auto id = static_cast<uint16_t>(port);
  rte_eth_conf conf{};
  int rc = rte_eth_dev_configure(id, 1, 1, &conf);
  if (rc == 0) rc = rte_eth_rx_queue_setup(id, 0, descriptors, SOCKET_ID_ANY, nullptr, pool);
  if (rc == 0) rc = rte_eth_tx_queue_setup(id, 0, descriptors, SOCKET_ID_ANY, nullptr);
  if (rc == 0) rc = rte_eth_dev_start(id);
  if (rc != 0) {
    p.error = "setting up " + name + ": " + rte_strerror(-rc);
    return p;
  }
  p.port = port;
  return p;
}

}  // namespace sluice::dpdk::test
