// SPDX-License-Identifier: Apache-2.0
#include "dataplane/dpdk/runtime.h"

#include <rte_bus_vdev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>

#include <cstdio>
#include <fstream>

#include "dataplane/dpdk/numa_placement.h"
#include "dataplane/engine/relaxed.h"

namespace sluice::dpdk {
namespace {

std::string dpdk_error(int err) { return rte_strerror(err < 0 ? -err : err); }

std::string mac_text(const engine::MacAddress& m) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                m[5]);
  return buf;
}

uint16_t find_port(const std::string& name) {
  uint16_t port = 0;
  if (rte_eth_dev_get_port_by_name(name.c_str(), &port) == 0) return port;
  std::string known;
  uint16_t id;
  RTE_ETH_FOREACH_DEV(id) {
    char n[RTE_ETH_NAME_MAX_LEN];
    if (rte_eth_dev_get_name_by_port(id, n) == 0) known += std::string(known.empty() ? "" : ", ") + n;
  }
  throw RuntimeError("port.device: no DPDK port named \"" + name + "\" (ports found: " +
                     (known.empty() ? "none" : known) + ")");
}

// The port's mbuf pool. With hugepages: rte_pktmbuf_pool_create. Without
// (hugepages = none: EAL memory in 4 KiB pages) that call asks for
// IOVA-contiguous objects, which are then laid out so that none crosses a
// page boundary (about 2.4 KiB used of every 4 KiB page), and net_af_xdp,
// which registers the pool's memory as its UMEM, stopped receiving for good
// in the lab after about 4,200 frames of a flood for the host: those frames
// are freed by the exception thread, so the pool's mbufs circulate instead
// of one worker cache's few hundred (e2e test 8). Packed back to back
// (RTE_MEMPOOL_F_NO_IOVA_CONTIG) the same flood passes. Without hugepages no
// device can DMA anyway (only virtual PMDs run), so IOVA contiguity buys
// nothing there.
rte_mempool* create_mbuf_pool(const std::string& name, uint32_t n, uint32_t cache,
                              uint16_t data_room, int node) {
  if (rte_eal_has_hugepages()) {
    return rte_pktmbuf_pool_create(name.c_str(), n, cache, 0, data_room, node);
  }
  const uint32_t elt_size = sizeof(rte_mbuf) + data_room;
  rte_mempool* mp = rte_mempool_create_empty(name.c_str(), n, elt_size, cache,
                                             sizeof(rte_pktmbuf_pool_private), node,
                                             RTE_MEMPOOL_F_NO_IOVA_CONTIG);
  if (!mp) return nullptr;
  rte_pktmbuf_pool_private priv{};
  priv.mbuf_data_room_size = data_room;
  int r = rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), nullptr);
  if (r == 0) {
    rte_pktmbuf_pool_init(mp, &priv);
    r = rte_mempool_populate_default(mp);
  }
  if (r < 0) {
    rte_mempool_free(mp);
    rte_errno = -r;
    return nullptr;
  }
  rte_mempool_obj_iter(mp, rte_pktmbuf_init, nullptr);
  return mp;
}

// The CPUs of a NUMA node as the kernel lists them ("8-15,24-31"), for the
// fix in a placement warning; empty where unknown.
std::string node_cpu_list(int node) {
  if (node < 0) return "";
  std::ifstream in("/sys/devices/system/node/node" + std::to_string(node) + "/cpulist");
  std::string list;
  std::getline(in, list);
  return list;
}

// Runs on a worker's lcore, before forwarding starts: constructs that
// worker's engine and context there. The flow table zeroes its arrays as it
// allocates them (flow_table.cc, table_memory), so every page of it, and of
// the circuit table and counters, is first touched by this lcore, and Linux
// (default policy: first touch) places it on this lcore's node. The flow
// table's arrays are large enough for malloc to map them fresh (nothing
// touched them before), and the small rest comes from the malloc arena
// glibc gives this thread (its own, unless arenas ran out).
//
// Why not rte_zmalloc_socket: the engine would need an allocator hook (it
// is shared with tests and tools that know no DPDK), and under --no-huge
// all of EAL's memory counts as node 0's. First touch needs neither, and
// the hot path still allocates nothing. It relies on the default memory
// policy: do not start sluiced under numactl --interleave, nor --membind to
// another node.
// With flow state files (flow_store.h) the flow table is the file's
// mapping instead: zeroed here when fresh (the same first touch: tmpfs
// pages are placed by the thread that faults them), or adopted here, a pass
// over the table (FlowTable::adopt) on the lcore that will use it.
struct WorkerBuild {
  engine::WorkerOptions options;  // a copy: the flow memory is per worker
  engine::FlowTableMemory flow_memory{};
  const WorkerClock* clock = nullptr;
  sluice_hash_seed seed{};
  std::unique_ptr<engine::Worker> engine;
  std::unique_ptr<WorkerContext> context;
  engine::FlowAdoptReport adopted{};
  double adopt_ms = 0;
  unsigned built_on = 0;
  std::string error;
};

int build_worker(void* arg) {
  WorkerBuild& b = *static_cast<WorkerBuild*>(arg);
  b.built_on = rte_lcore_id();
  try {
    b.engine = std::make_unique<engine::Worker>(b.options);
    if (b.options.keep_flows) {
      const uint64_t start = b.clock->now_ns();
      b.adopted = b.engine->adopt_flows(b.clock->now_ms(), b.seed, WorkerClock::kMaxAheadMs);
      b.adopt_ms = static_cast<double>(b.clock->now_ns() - start) / 1e6;
    }
    b.context = std::make_unique<WorkerContext>();
  } catch (const std::exception& e) {  // nothing may unwind through EAL's thread
    b.error = e.what();
    return -1;
  }
  return 0;
}

}  // namespace

DpdkRuntime::DpdkRuntime(const RuntimeOptions& o) : burst_size_(o.burst_size) {
  init_eal(o.eal_arguments);
  clock_ = std::make_unique<WorkerClock>();
  unsigned lcore;
  RTE_LCORE_FOREACH_WORKER(lcore) { lcores_.push_back(lcore); }
  if (lcores_.size() != o.port.queues) {
    throw RuntimeError("port.rx_queues is " + std::to_string(o.port.queues) + " but the EAL has " +
                       std::to_string(lcores_.size()) +
                       " worker lcores: sluiced runs exactly one worker per queue");
  }
  nic_port_ = find_port(o.port.device);
  check_placement(o);
  // The NIC DMA-writes every received frame into an mbuf of its RX queue's
  // pool, so that pool is on the NIC's node (its socket's cache takes the
  // writes); where the port reports no node, the main lcore's. Frames from
  // the TAP leave through the NIC, which reads them, so they share it.
  const int main_node = static_cast<int>(rte_socket_id());
  rte_mempool* pool = pool_for_node(mbuf_pool_node(rte_eth_dev_socket_id(nic_port_), main_node), o);
  setup_port(nic_port_, o.port.device, o.port.queues, o.port, /*is_tap=*/false, pool);
  rte_ether_addr mac;
  rte_eth_macaddr_get(nic_port_, &mac);
  for (int i = 0; i < 6; ++i) mac_[i] = mac.addr_bytes[i];
  if (o.exception_path) create_tap(o, pool);

  publisher_ = std::make_unique<SnapshotPublisher>(o.port.queues);
  health_ = std::make_unique<engine::BackendHealthTable>(o.worker.backend_counter_slots);
  build_workers(o);
}

DpdkRuntime::~DpdkRuntime() {
  stop();
  // The workers are stopped: what the next sluiced finds is complete.
  for (const auto& f : flow_stores_) f->set_state(FlowStoreState::kClean);
  exception_.reset();  // frees the frames left in its rings, before the ports and the EAL go
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

void DpdkRuntime::check_placement(const RuntimeOptions& o) {
  NumaTopology t;
  t.node_count = rte_socket_count();
  t.port = o.port.device;
  t.port_node = rte_eth_dev_socket_id(nic_port_);
  t.port_node_cpus = node_cpu_list(t.port_node);
  std::string workers;
  for (unsigned w = 0; w < lcores_.size(); ++w) {
    // SOCKET_ID_ANY comes back as UINT_MAX: an lcore whose CPU set spans nodes.
    const int node = static_cast<int>(rte_lcore_to_socket_id(lcores_[w]));
    t.workers.push_back({w, lcores_[w], node});
    workers += (w ? ", lcore " : "lcore ") + std::to_string(lcores_[w]) + " on node " +
               (node < 0 ? std::string("any") : std::to_string(node));
  }
  const NumaVerdict verdict = check_numa_placement(t, o.numa_strict);
  if (!verdict.error.empty()) throw RuntimeError(verdict.error);
  warnings_.insert(warnings_.end(), verdict.warnings.begin(), verdict.warnings.end());
  numa_summary_ = "NUMA: " + std::to_string(t.node_count) + " node(s); port " + t.port +
                  " on node " + (t.port_node < 0 ? std::string("unknown") : std::to_string(t.port_node)) +
                  "; workers: " + workers;
}

// One pool per NUMA node in use, made on first use and named by its node.
rte_mempool* DpdkRuntime::pool_for_node(int node, const RuntimeOptions& o) {
  if (auto it = pools_.find(node); it != pools_.end()) return it->second;
  rte_mempool* pool =
      create_mbuf_pool(mbuf_pool_name(node), o.mbufs, o.mbuf_cache, o.mbuf_data_room, node);
  if (!pool && node >= 0 && rte_errno == ENOMEM) {
    // EAL has no memory on that node: no hugepages reserved there, or
    // --no-huge (all of it is "node 0" then). Frames would still flow from
    // a pool elsewhere, only slower; numa.strict refuses.
    const std::string n = std::to_string(node);
    const std::string problem =
        "mempool: no memory on NUMA node " + n + " for the mbuf pool of the port's node; reserve "
        "hugepages there (/sys/devices/system/node/node" + n +
        "/hugepages/hugepages-2048kB/nr_hugepages)";
    if (o.numa_strict) throw RuntimeError("numa.strict is on: " + problem);
    warnings_.push_back("NUMA: " + problem + "; the pool is on any node instead");
    pool = pool_for_node(kAnyNode, o);
    pools_.emplace(node, pool);
    return pool;
  }
  if (!pool) {
    throw RuntimeError("cannot create the mbuf pool of mempool.mbufs=" + std::to_string(o.mbufs) +
                       " (" + dpdk_error(rte_errno) +
                       "); lower mempool.mbufs or give the EAL more memory");
  }
  pools_.emplace(node, pool);
  numa_summary_ += "; mbuf pool " + mbuf_pool_name(node);
  return pool;
}

uint32_t DpdkRuntime::port_mtu() const {
  uint16_t mtu = 0;
  return rte_eth_dev_get_mtu(nic_port_, &mtu) == 0 ? mtu : 0;
}

uint16_t DpdkRuntime::setup_port(uint16_t port, const std::string& name, uint16_t queues,
                                 const PortOptions& o, bool is_tap, rte_mempool* pool) {
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
    if (int r = rte_eth_rx_queue_setup(port, q, rx_desc, socket, nullptr, pool); r != 0) {
      throw RuntimeError("port " + name + ": RX queue " + std::to_string(q) +
                         " setup failed: " + dpdk_error(r));
    }
    if (int r = rte_eth_tx_queue_setup(port, q, tx_desc, socket, nullptr); r != 0) {
      throw RuntimeError("port " + name + ": TX queue " + std::to_string(q) +
                         " setup failed: " + dpdk_error(r));
    }
  }
  if (!is_tap && o.mtu != 0) {
    // Beyond what the device says it takes: a profile error, not a PMD quirk.
    if (info.max_mtu != 0 && o.mtu > info.max_mtu) {
      throw RuntimeError("port.mtu: " + std::to_string(o.mtu) + " is more than " + name +
                         " supports (at most " + std::to_string(info.max_mtu) + ")");
    }
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

void DpdkRuntime::create_tap(const RuntimeOptions& o, rte_mempool* pool) {
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
  tap_port_ = setup_port(find_port(vdev), vdev, o.port.queues, tap, /*is_tap=*/true, pool);
  tap_name_ = o.tap_name;
  has_tap_ = true;
}

// Each worker's engine and context are built on its own lcore (see
// build_worker), all at once (large flow tables zero in parallel), and
// waited for before anything forwards.
void DpdkRuntime::build_workers(const RuntimeOptions& o) {
  open_flow_stores(o);
  std::vector<WorkerBuild> builds(lcores_.size());
  for (size_t i = 0; i < builds.size(); ++i) {
    builds[i].options = o.worker;
    builds[i].clock = clock_.get();
    builds[i].seed = o.seed;
    if (i < flow_stores_.size()) {
      builds[i].flow_memory = flow_stores_[i]->memory();
      builds[i].options.flow_memory = &builds[i].flow_memory;
      builds[i].options.keep_flows = flow_stores_[i]->adopted();
    }
    if (int r = rte_eal_remote_launch(build_worker, &builds[i], lcores_[i]); r != 0) {
      rte_eal_mp_wait_lcore();
      throw RuntimeError("cannot launch the construction of worker " + std::to_string(i) +
                         " on lcore " + std::to_string(lcores_[i]) + ": " + dpdk_error(r));
    }
  }
  rte_eal_mp_wait_lcore();
  for (size_t i = 0; i < builds.size(); ++i) {
    if (!builds[i].error.empty()) {
      throw RuntimeError("worker " + std::to_string(i) + " on lcore " + std::to_string(lcores_[i]) +
                         ": cannot allocate its flow and circuit tables (" + builds[i].error +
                         "); lower --flow-capacity or give the machine more memory");
    }
  }
  for (size_t q = 0; q < builds.size(); ++q) {
    engines_.push_back(std::move(builds[q].engine));
    engines_.back()->set_health_table(health_.get());
    built_on_.push_back(builds[q].built_on);
    WorkerContext& ctx = *builds[q].context;
    ctx.id = static_cast<uint32_t>(q);
    ctx.nic_port = nic_port_;
    ctx.nic_queue = static_cast<uint16_t>(q);
    ctx.burst_size = burst_size_;
    ctx.engine = engines_.back().get();
    ctx.publisher = publisher_.get();
    ctx.stop = &stop_;
    ctx.clock = clock_.get();
    contexts_.push_back(std::move(builds[q].context));
    if (q < flow_stores_.size()) {
      report_flow_store(static_cast<uint32_t>(q), builds[q].adopted, builds[q].adopt_ms);
      flow_stores_[q]->set_state(FlowStoreState::kInUse);
    }
  }
  if (has_tap_) {
    std::vector<WorkerContext*> workers;
    std::vector<int> nodes;
    for (size_t q = 0; q < contexts_.size(); ++q) {
      workers.push_back(contexts_[q].get());
      nodes.push_back(static_cast<int>(rte_lcore_to_socket_id(lcores_[q])));
    }
    ExceptionPathOptions x;
    x.tap_port = tap_port_;
    x.rate_pps = o.exception_rate_pps;
    x.burst = o.exception_burst;
    exception_ = std::make_unique<ExceptionPath>(x, workers, nodes);
  }
}

// Opens (creates, or finds) each worker's flow state file, before the
// workers are built on their lcores. A file that cannot be adopted is
// emptied, and said aloud with the field that differed.
void DpdkRuntime::open_flow_stores(const RuntimeOptions& o) {
  if (o.flow_state_dir.empty()) return;
  const auto workers = static_cast<uint32_t>(lcores_.size());
  FlowStoreIdentity id;
  id.buckets = engine::FlowTable::bucket_count(o.worker.flow_capacity);
  id.worker_count = workers;
  id.seed_digest = flow_store_seed_digest(o.seed);
  id.boot_id = flow_store_boot_id();
  for (uint32_t w = 0; w < workers; ++w) {
    id.worker_index = w;
    try {
      flow_stores_.push_back(FlowStoreFile::open(o.flow_state_dir, id));
    } catch (const FlowStoreError& e) {
      throw RuntimeError(std::string(e.what()) + " (--flow-state-dir; \"off\" keeps flows in "
                         "memory only)");
    }
    const FlowStoreFile& f = *flow_stores_.back();
    if (w == 0 && !f.warning().empty()) warnings_.push_back(f.warning());
    if (!f.refusal().empty()) {
      warnings_.push_back("flow state " + f.path() + " NOT adopted, worker " + std::to_string(w) +
                          " starts with an empty flow table (its connections may be reset): " +
                          f.refusal());
    }
  }
  if (const uint32_t removed = remove_flow_stores_beyond(o.flow_state_dir, workers); removed) {
    flow_state_summary_.push_back("flow state " + o.flow_state_dir + ": removed " +
                                  std::to_string(removed) + " file(s) of workers beyond " +
                                  std::to_string(workers));
  }
}

void DpdkRuntime::report_flow_store(uint32_t worker, const engine::FlowAdoptReport& adopted,
                                    double ms) {
  const FlowStoreFile& f = *flow_stores_[worker];
  PortCounters& c = contexts_[worker]->counters;
  c.flows_adopted = adopted.kept;
  c.flows_adopt_dropped = adopted.dropped;
  c.flow_state_refused = f.refusal().empty() ? 0 : 1;
  char line[512];
  if (f.adopted()) {
    std::snprintf(line, sizeof line,
                  "flow state %s: adopted %u flow(s) in %.1f ms after a %s (%u damaged freed, %u "
                  "stamped ahead of the clock), incarnation %llu",
                  f.path().c_str(), adopted.kept, ms,
                  f.previous_state() == FlowStoreState::kClean ? "clean stop" : "crash",
                  adopted.dropped, adopted.clamped,
                  static_cast<unsigned long long>(f.incarnation()));
  } else {
    std::snprintf(line, sizeof line, "flow state %s: new table of %u entries", f.path().c_str(),
                  f.memory().buckets * engine::FlowTable::kWays);
  }
  flow_state_summary_.push_back(line);
}

void DpdkRuntime::start() {
  if (started_) return;
  stop_.store(false);
  started_ = true;  // so that stop() below also waits for workers already launched
  if (exception_) exception_->start();
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
  if (exception_) exception_->stop();
  started_ = false;
}

engine::WorkerCounters DpdkRuntime::engine_counters() const {
  engine::WorkerCounters total;
  for (const auto& e : engines_) total.add(engine::read_counters(e->counters()));
  return total;
}

PortCounters DpdkRuntime::worker_port_counters(uint32_t worker) const {
  return engine::relaxed_copy(contexts_[worker]->counters);
}

PortCounters DpdkRuntime::port_counters() const {
  PortCounters total;
  for (const auto& c : contexts_) {
#define SLUICE_X(name, help) total.name += engine::relaxed_load(c->counters.name);
    SLUICE_PORT_COUNTERS(SLUICE_X)
#undef SLUICE_X
  }
  return total;
}

}  // namespace sluice::dpdk
