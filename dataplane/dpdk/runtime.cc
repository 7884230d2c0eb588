// SPDX-License-Identifier: Apache-2.0
#include "dataplane/dpdk/runtime.h"

#include <rte_bus_vdev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <cstdio>

namespace sluice::dpdk {
namespace {

std::string dpdk_error(int err) { return rte_strerror(err < 0 ? -err : err); }

std::string mac_text(const engine::MacAddress& m) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                m[5]);
  return buf;
}

}  // namespace

DpdkRuntime::DpdkRuntime(const RuntimeOptions& o) : burst_size_(o.burst_size) {
  init_eal(o.eal_arguments);
  unsigned lcore;
  RTE_LCORE_FOREACH_WORKER(lcore) { lcores_.push_back(lcore); }
  if (lcores_.size() != o.port.queues) {
    throw RuntimeError("port.rx_queues is " + std::to_string(o.port.queues) + " but the EAL has " +
                       std::to_string(lcores_.size()) +
                       " worker lcores: sluiced runs exactly one worker per queue");
  }
  create_pool(o);
  nic_port_ = setup_port(o.port.device, o.port.queues, o.port, /*is_tap=*/false);
  rte_ether_addr mac;
  rte_eth_macaddr_get(nic_port_, &mac);
  for (int i = 0; i < 6; ++i) mac_[i] = mac.addr_bytes[i];
  if (o.exception_path) create_tap(o);

  publisher_ = std::make_unique<SnapshotPublisher>(o.port.queues);
  health_ = std::make_unique<engine::BackendHealthTable>(o.worker.backend_counter_slots);
  for (uint16_t q = 0; q < o.port.queues; ++q) {
    engines_.push_back(std::make_unique<engine::Worker>(o.worker));
    engines_.back()->set_health_table(health_.get());
    auto ctx = std::make_unique<WorkerContext>();
    ctx->id = q;
    ctx->nic_port = nic_port_;
    ctx->nic_queue = q;
    ctx->has_tap = has_tap_;
    ctx->tap_port = tap_port_;
    ctx->tap_queue = q;
    ctx->burst_size = burst_size_;
    ctx->engine = engines_.back().get();
    ctx->publisher = publisher_.get();
    ctx->stop = &stop_;
    contexts_.push_back(std::move(ctx));
  }
}

DpdkRuntime::~DpdkRuntime() {
  stop();
  if (eal_ready_) {
    rte_eth_dev_stop(nic_port_);
    rte_eth_dev_close(nic_port_);
    if (has_tap_) {
      rte_eth_dev_stop(tap_port_);
      rte_eth_dev_close(tap_port_);
    }
    publisher_.reset();
    rte_eal_cleanup();
  }
}

void DpdkRuntime::init_eal(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  std::vector<std::string> copy = args;  // rte_eal_init may permute argv
  for (std::string& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int ret = rte_eal_init(static_cast<int>(copy.size()), argv.data());
  if (ret < 0) {
    std::string joined;
    for (const auto& a : args) joined += " " + a;
    throw RuntimeError("EAL initialisation failed (" + dpdk_error(rte_errno) +
                       "); EAL arguments were:" + joined);
  }
  eal_ready_ = true;
}

void DpdkRuntime::create_pool(const RuntimeOptions& o) {
  pool_ = rte_pktmbuf_pool_create("sluice_mbufs", o.mbufs, o.mbuf_cache, 0, o.mbuf_data_room,
                                  static_cast<int>(rte_socket_id()));
  if (!pool_) {
    throw RuntimeError("cannot create the mbuf pool of mempool.mbufs=" + std::to_string(o.mbufs) +
                       " (" + dpdk_error(rte_errno) +
                       "); lower mempool.mbufs or give the EAL more memory");
  }
}

uint16_t DpdkRuntime::setup_port(const std::string& name, uint16_t queues, const PortOptions& o,
                                 bool is_tap) {
  uint16_t port = 0;
  if (rte_eth_dev_get_port_by_name(name.c_str(), &port) != 0) {
    std::string known;
    uint16_t id;
    RTE_ETH_FOREACH_DEV(id) {
      char n[RTE_ETH_NAME_MAX_LEN];
      if (rte_eth_dev_get_name_by_port(id, n) == 0) known += std::string(known.empty() ? "" : ", ") + n;
    }
    throw RuntimeError("port.device: no DPDK port named \"" + name + "\" (ports found: " +
                       (known.empty() ? "none" : known) + ")");
  }
  rte_eth_dev_info info;
  if (int r = rte_eth_dev_info_get(port, &info); r != 0) {
    throw RuntimeError("port " + name + ": cannot read device info: " + dpdk_error(r));
  }
  if (queues > info.max_rx_queues || queues > info.max_tx_queues) {
    throw RuntimeError("port.rx_queues: " + name + " supports at most " +
                       std::to_string(std::min(info.max_rx_queues, info.max_tx_queues)) +
                       " queues, " + std::to_string(queues) + " asked");
  }
  rte_eth_conf conf{};
  if (!is_tap && queues > 1 && o.rss) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf =
        (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
  }
  if (int r = rte_eth_dev_configure(port, queues, queues, &conf); r != 0) {
    throw RuntimeError("port " + name + ": configure with " + std::to_string(queues) +
                       " queues failed: " + dpdk_error(r));
  }
  uint16_t rx_desc = o.rx_descriptors, tx_desc = o.tx_descriptors;
  rte_eth_dev_adjust_nb_rx_tx_desc(port, &rx_desc, &tx_desc);
  const int socket = rte_eth_dev_socket_id(port);
  for (uint16_t q = 0; q < queues; ++q) {
    if (int r = rte_eth_rx_queue_setup(port, q, rx_desc, socket, nullptr, pool_); r != 0) {
      throw RuntimeError("port " + name + ": RX queue " + std::to_string(q) +
                         " setup failed: " + dpdk_error(r));
    }
    if (int r = rte_eth_tx_queue_setup(port, q, tx_desc, socket, nullptr); r != 0) {
      throw RuntimeError("port " + name + ": TX queue " + std::to_string(q) +
                         " setup failed: " + dpdk_error(r));
    }
  }
  if (!is_tap && o.mtu != 0) {
    // Best effort (PMDs differ, AF_PACKET stops at 1500), but said aloud.
    if (int r = rte_eth_dev_set_mtu(port, o.mtu); r != 0) {
      warnings_.push_back("port.mtu: " + name + " refused MTU " + std::to_string(o.mtu) + " (" +
                          dpdk_error(r) + "); it keeps its default");
    }
  }
  if (int r = rte_eth_dev_start(port); r != 0) {
    throw RuntimeError("port " + name + ": start failed: " + dpdk_error(r));
  }
  if (!is_tap && o.promiscuous) rte_eth_promiscuous_enable(port);
  return port;
}

void DpdkRuntime::create_tap(const RuntimeOptions& o) {
  // The TAP carries the port's MAC, so the kernel's ARP replies and other
  // frames it sends out through the NIC look like the NIC's own.
  const std::string vdev = "net_tap_sluice";
  const std::string args = "iface=" + o.tap_name + ",mac=" + mac_text(mac_);
  if (int r = rte_vdev_init(vdev.c_str(), args.c_str()); r != 0) {
    throw RuntimeError("exception.interface: cannot create TAP " + o.tap_name + " (" +
                       dpdk_error(r) + ")");
  }
  PortOptions tap;
  tap.rx_descriptors = 512;
  tap.tx_descriptors = 512;
  tap_port_ = setup_port(vdev, o.port.queues, tap, /*is_tap=*/true);
  tap_name_ = o.tap_name;
  has_tap_ = true;
}

void DpdkRuntime::start() {
  if (started_) return;
  stop_.store(false);
  started_ = true;  // so that stop() below also waits for workers already launched
  for (size_t i = 0; i < contexts_.size(); ++i) {
    if (int r = rte_eal_remote_launch(worker_main, contexts_[i].get(), lcores_[i]); r != 0) {
      stop();
      throw RuntimeError("cannot launch worker " + std::to_string(i) + " on lcore " +
                         std::to_string(lcores_[i]) + ": " + dpdk_error(r));
    }
  }
}

void DpdkRuntime::stop() {
  if (!started_) return;
  stop_.store(true);
  rte_eal_mp_wait_lcore();
  started_ = false;
}

engine::WorkerCounters DpdkRuntime::engine_counters() const {
  engine::WorkerCounters total;
  for (const auto& e : engines_) total.add(e->counters());
  return total;
}

PortCounters DpdkRuntime::worker_port_counters(uint32_t worker) const {
  return contexts_[worker]->counters;
}

PortCounters DpdkRuntime::port_counters() const {
  PortCounters total;
  for (const auto& c : contexts_) {
#define SLUICE_X(name, help) total.name += c->counters.name;
    SLUICE_PORT_COUNTERS(SLUICE_X)
#undef SLUICE_X
  }
  return total;
}

}  // namespace sluice::dpdk
