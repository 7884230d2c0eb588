// SPDX-License-Identifier: Apache-2.0
// The DPDK runtime of sluiced: EAL, the mbuf pool on the NIC's NUMA node,
// one NIC port with one RX and TX queue per worker (RSS spreads flows over
// them), the exception path to the kernel (a TAP port), and the poll-mode
// workers on their lcores.
//
// Construction does everything that can fail (and says what failed, naming
// the setting); start() only launches the workers. The control thread
// publishes engine snapshots through publisher() and reads counters while
// the workers run.
//
// NUMA (numa_placement.h): construction checks that the worker lcores share
// the NIC's node (a warning, or a RuntimeError with numa_strict), takes
// mbufs from a pool on the NIC's node, and builds each worker's engine and
// context on the worker's own lcore, so that their pages are first touched,
// hence placed, on that lcore's node.
//
// Restart (flow_store.h): with RuntimeOptions::flow_state_dir, each
// worker's flow table lives in a file that outlives the process; the next
// runtime adopts it when its header checks pass (on the worker's lcore,
// before forwarding), else empties it and says why in warnings().
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "dataplane/dpdk/exception_path.h"
#include "dataplane/dpdk/flow_store.h"
#include "dataplane/dpdk/snapshot_publisher.h"
#include "dataplane/dpdk/worker_loop.h"
#include "dataplane/engine/backend_health.h"
#include "dataplane/engine/config.h"
#include "dataplane/engine/counters.h"
#include "dataplane/engine/engine.h"

struct rte_mempool;

namespace sluice::dpdk {

// A setup failure, with a message for the operator.
class RuntimeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct PortOptions {
  std::string device;           // DPDK port name: "net_af_xdp0", "0000:3b:00.0"
  uint16_t queues = 1;          // RX = TX queues = workers
  uint16_t rx_descriptors = 1024;
  uint16_t tx_descriptors = 1024;
  uint16_t mtu = 1500;
  bool rss = true;
  bool promiscuous = false;
};

struct RuntimeOptions {
  std::vector<std::string> eal_arguments;  // argv for rte_eal_init, program name first
  PortOptions port;
  uint32_t mbufs = 16384;
  uint32_t mbuf_cache = 256;
  uint16_t mbuf_data_room = 2048 + 128;  // RTE_MBUF_DEFAULT_BUF_SIZE
  bool exception_path = true;
  std::string tap_name = "sluice0";      // kernel-side interface of the TAP
  // The exception path's policer (exception_path.h): frames per second to
  // the kernel from all workers together, and the burst above it.
  uint32_t exception_rate_pps = 200000;
  uint32_t exception_burst = 10000;
  uint16_t burst_size = 32;
  engine::WorkerOptions worker;
  // Flow tables in files that outlive the process, adopted by the next
  // sluiced (flow_store.h); empty: on the heap, lost at exit. The seed is
  // the configuration's (its digest is checked against the files').
  std::string flow_state_dir;
  sluice_hash_seed seed{};
  // Refuse to start when a worker lcore is not on the NIC's NUMA node (or
  // that cannot be told) on a machine of several nodes; else warn.
  bool numa_strict = false;
};

class DpdkRuntime {
 public:
  explicit DpdkRuntime(const RuntimeOptions& options);  // throws RuntimeError
  ~DpdkRuntime();
  DpdkRuntime(const DpdkRuntime&) = delete;
  DpdkRuntime& operator=(const DpdkRuntime&) = delete;

  void start();  // launches one worker per queue on the worker lcores
  void stop();   // asks workers to stop and waits for them

  SnapshotPublisher& publisher() { return *publisher_; }
  const SnapshotPublisher& publisher() const { return *publisher_; }
  engine::MacAddress port_mac() const { return mac_; }
  // The NIC port's MTU as the device reports it (rte_eth_dev_get_mtu),
  // which may differ from port.mtu when the PMD kept its own; 0 if unknown.
  uint32_t port_mtu() const;
  uint32_t worker_count() const { return static_cast<uint32_t>(contexts_.size()); }
  const std::string& tap_name() const { return tap_name_; }
  // Settings the hardware did not take, and NUMA placement problems, for
  // the daemon to log.
  const std::vector<std::string>& warnings() const { return warnings_; }
  // Where the port, the mbuf pool and the workers are, one line for the log.
  const std::string& numa_summary() const { return numa_summary_; }
  // What became of the flow state files (adopted, how many flows, how
  // long), one line per worker, for the log; empty without them. A file
  // that was refused is in warnings(), naming the field.
  const std::vector<std::string>& flow_state_summary() const { return flow_state_summary_; }
  // The workers' clock (worker_clock.h), for reading their flow tables.
  const WorkerClock& clock() const { return *clock_; }

  // Counters summed over workers, and per worker (read while running).
  engine::WorkerCounters engine_counters() const;
  PortCounters port_counters() const;
  PortCounters worker_port_counters(uint32_t worker) const;
  unsigned worker_lcore(uint32_t worker) const { return lcores_[worker]; }
  // The lcore that constructed a worker's engine and context (its own).
  unsigned worker_built_on(uint32_t worker) const { return built_on_[worker]; }
  // A worker's engine, for read-only inspection (circuit states) by the
  // control thread; values may be a moment stale.
  const engine::Worker& worker_engine(uint32_t worker) const { return *engines_[worker]; }
  // The backends' health, one table read by every worker (sized like the
  // backend counter slots); the control thread writes it at any time.
  engine::BackendHealthTable& health() { return *health_; }
  const engine::BackendHealthTable& health() const { return *health_; }

 private:
  void init_eal(const std::vector<std::string>& args);
  void check_placement(const RuntimeOptions& o);
  rte_mempool* pool_for_node(int node, const RuntimeOptions& o);
  uint16_t setup_port(uint16_t port, const std::string& name, uint16_t queues,
                      const PortOptions& o, bool is_tap, rte_mempool* pool);
  void create_tap(const RuntimeOptions& o, rte_mempool* pool);
  void build_workers(const RuntimeOptions& o);
  void open_flow_stores(const RuntimeOptions& o);
  void report_flow_store(uint32_t worker, const engine::FlowAdoptReport& adopted, double ms);

  bool eal_ready_ = false;
  std::map<int, rte_mempool*> pools_;  // by NUMA node (kAnyNode: any)
  uint16_t nic_port_ = 0;
  bool has_tap_ = false;
  uint16_t tap_port_ = 0;
  std::string tap_name_;
  engine::MacAddress mac_{};
  std::vector<unsigned> lcores_;
  std::vector<unsigned> built_on_;
  std::atomic<bool> stop_{false};
  bool started_ = false;
  std::unique_ptr<SnapshotPublisher> publisher_;
  std::unique_ptr<engine::BackendHealthTable> health_;  // before engines_: they read it
  std::unique_ptr<WorkerClock> clock_;
  // One per worker with flow_state_dir; before engines_: their tables live in them.
  std::vector<std::unique_ptr<FlowStoreFile>> flow_stores_;
  std::vector<std::string> flow_state_summary_;
  std::vector<std::unique_ptr<engine::Worker>> engines_;
  std::vector<std::unique_ptr<WorkerContext>> contexts_;
  std::unique_ptr<ExceptionPath> exception_;  // after contexts_: it points into them
  uint16_t burst_size_ = 32;
  std::vector<std::string> warnings_;
  std::string numa_summary_;
};

}  // namespace sluice::dpdk
