// SPDX-License-Identifier: Apache-2.0
// DpdkDataplaneSink over a real DpdkRuntime on DPDK's null PMD (net_null0:
// its RX queue returns zeroed 64-byte frames without end, so the workers
// count traffic without any NIC): what stats() and circuit_states() read
// from the workers, and the stats file built from them (summarize_stats,
// then stats_json), as sluiced writes it. One EAL per process: the runtime
// is created once, by the first test; where it cannot start (no DPDK, no
// null PMD, no permission) the tests are skipped.
#include "control/daemon/dpdk_dataplane_sink.h"
#include "tests/dataplane/dpdk/eal_test_support.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <thread>

#include "control/config/json_syntax.h"
#include "control/core/stats_summary.h"
#include "control/daemon/stats_report.h"

namespace sluice::control {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;


// The runtime of this process, created on first use; null if EAL failed.
class RuntimeHolder {
 public:
  static RuntimeHolder& get() {
    static RuntimeHolder holder;
    return holder;
  }
  dpdk::DpdkRuntime* runtime() { return runtime_.get(); }
  const std::string& error() const { return error_; }

  const std::string& flow_state_dir() const { return flow_state_dir_; }

  ~RuntimeHolder() {
    runtime_.reset();
    std::error_code ignored_flows;
    fs::remove_all(flow_state_dir_, ignored_flows);
    if (!runtime_dir_.empty()) {
      std::error_code ignored;
      fs::remove_all(runtime_dir_, ignored);
    }
  }

 private:
  RuntimeHolder()
      : prefix_("sluice-sink-test-" + std::to_string(getpid())),
        flow_state_dir_("/dev/shm/" + prefix_ + "-flows") {
    dpdk::RuntimeOptions o;
    o.flow_state_dir = flow_state_dir_;  // the worker's table in a file, as sluiced has it
    const std::string cpus = "(" + dpdk::test::allowed_cpu_list() + ")";
    o.eal_arguments = {"dpdk_dataplane_sink_test", "--no-huge",  "-m", "256", "--no-pci",
                       "--file-prefix=" + prefix_, "--lcores=0@" + cpus + ",1@" + cpus,
                       "--main-lcore", "0", "--vdev=net_null0", "--log-level=3"};
    o.port.device = "net_null0";
    o.port.queues = 1;
    o.port.rx_descriptors = 256;
    o.port.tx_descriptors = 256;
    o.port.rss = false;
    o.mbufs = 2047;
    o.mbuf_cache = 32;
    o.exception_path = false;
    o.worker.flow_capacity = 1024;
    o.worker.circuit_capacity = 16;
    try {
      runtime_ = std::make_unique<dpdk::DpdkRuntime>(o);
    } catch (const dpdk::RuntimeError& e) {
      error_ = e.what();
    }
    // EAL's files: /var/run/dpdk/PREFIX as root, under XDG_RUNTIME_DIR or
    // /tmp otherwise; removed at exit if EAL got as far as making them.
    const std::string dir = rte_eal_get_runtime_dir();
    if (fs::path(dir).filename() == prefix_) runtime_dir_ = dir;
  }

  std::string prefix_;
  std::unique_ptr<dpdk::DpdkRuntime> runtime_;
  std::string runtime_dir_;
  std::string flow_state_dir_;
  std::string error_;
};

// web: stable (90, two backends, one draining) and canary (10, one backend).
engine::EngineConfig web_config() {
  engine::EngineConfig c;
  c.seed = {1, 2};
  c.forwarding.source_v4 = *engine::IpAddress::parse("10.0.0.2");
  c.forwarding.next_hop_mac = {2, 0, 0, 0, 0, 1};
  engine::ServiceConfig s;
  s.name = "web";
  s.vip = *engine::IpAddress::parse("10.77.100.10");
  s.port = 80;
  s.maglev_table_size = 7;
  engine::PoolConfig stable{"stable", 90, {}};
  stable.backends.push_back({*engine::IpAddress::parse("10.0.1.1"), 1, engine::BackendState::kActive});
  stable.backends.push_back({*engine::IpAddress::parse("10.0.1.2"), 1, engine::BackendState::kDraining});
  engine::PoolConfig canary{"canary", 10, {}};
  canary.backends.push_back({*engine::IpAddress::parse("10.0.2.1"), 1, engine::BackendState::kDisabled});
  s.pools = {stable, canary};
  c.services.push_back(s);
  return c;
}

class DpdkDataplaneSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    runtime_ = RuntimeHolder::get().runtime();
    if (!runtime_) {
      GTEST_SKIP() << "no DPDK runtime on net_null0 (EAL needs root and DPDK's null PMD): "
                   << RuntimeHolder::get().error();
    }
    sink_ = std::make_unique<DpdkDataplaneSink>(*runtime_);
  }

  // The stats file as sluiced writes it.
  std::string stats_file(const engine::Snapshot* snapshot, uint64_t uptime_ms) {
    StatsResult r = summarize_stats(sink_->stats(snapshot), snapshot);
    EXPECT_FALSE(r.error);
    r.stats.uptime_ms = uptime_ms;
    return stats_json(r.stats);
  }

  static void expect_strict_json(const std::string& text) {
    const config::JsonSyntaxResult r = config::check_json_syntax(text);
    EXPECT_FALSE(r.error.has_value()) << (r.error ? r.error->to_string() : "") << "\n" << text;
  }

  dpdk::DpdkRuntime* runtime_ = nullptr;
  std::unique_ptr<DpdkDataplaneSink> sink_;
};

// The worker's flow table lives in its flow state file (a new one here),
// locked against a second holder, and the runtime says so.
TEST_F(DpdkDataplaneSinkTest, FlowTableInItsStateFile) {
  const std::string file = RuntimeHolder::get().flow_state_dir() + "/worker-0.flows";
  ASSERT_EQ(runtime_->flow_state_summary().size(), 1u);
  EXPECT_THAT(runtime_->flow_state_summary()[0], HasSubstr(file + ": new table of 1024 entries"));
  EXPECT_TRUE(fs::exists(file));
  EXPECT_EQ(runtime_->worker_engine(0).flows().capacity(), 1024u);
  dpdk::FlowStoreIdentity id;
  id.buckets = engine::FlowTable::bucket_count(1024);
  id.worker_count = 1;
  EXPECT_THROW(dpdk::FlowStoreFile::open(RuntimeHolder::get().flow_state_dir(), id),
               dpdk::FlowStoreError);
}

// Before any snapshot: one worker on lcore 1 at generation 0, every port
// counter by name (and the circuit reads the sink skipped), no circuit.
TEST_F(DpdkDataplaneSinkTest, IdleWorker) {
  EXPECT_EQ(sink_->kind(), "dpdk");
  const DataplaneStats s = sink_->stats(nullptr);
  ASSERT_EQ(s.workers.size(), 1u);
  const WorkerSample& w = s.workers[0];
  EXPECT_EQ(w.label, "lcore 1");
  EXPECT_EQ(w.circuits_capacity, runtime_->worker_engine(0).circuits().capacity());
  EXPECT_TRUE(w.circuits_not_closed.empty());
  std::vector<std::string> names;
  for (const auto& [name, value] : w.dataplane_counters) names.push_back(name);
  EXPECT_THAT(names, ::testing::ElementsAre("rx_bursts", "rx_packets", "tx_packets",
                                            "tx_full_dropped", "multi_segment_dropped",
                                            "host_ring_full", "host_policed",
                                            "host_tx_packets", "host_tx_dropped",
                                            "host_rx_ring_full", "host_rx_packets",
                                            "host_rx_dropped", "flows_adopted",
                                            "flows_adopt_dropped", "flow_state_refused",
                                            "circuit_reads_skipped"));
  const std::string json = stats_file(nullptr, 42);
  expect_strict_json(json);
  EXPECT_THAT(json, StartsWith(R"({"uptime_ms":42,"generation":0,"workers":[{"id":0,)"
                               R"("label":"lcore 1","generation":0,"rx_bursts":)"));
  EXPECT_THAT(json, HasSubstr(R"(,"services":[]})"));
}

// NUMA: the worker's engine was built on its own lcore (so its flow table
// was first touched there), the mbuf pool is named by the node it sits on,
// and on this one-node machine nothing is reported as misplaced.
TEST_F(DpdkDataplaneSinkTest, WorkerStateBuiltOnItsLcore) {
  EXPECT_EQ(runtime_->worker_lcore(0), 1u);
  EXPECT_EQ(runtime_->worker_built_on(0), runtime_->worker_lcore(0));
  EXPECT_THAT(runtime_->numa_summary(), StartsWith("NUMA: "));
  EXPECT_THAT(runtime_->numa_summary(), HasSubstr("port net_null0 on node "));
  EXPECT_THAT(runtime_->numa_summary(), HasSubstr("workers: lcore 1 on node "));
  EXPECT_THAT(runtime_->numa_summary(), HasSubstr("; mbuf pool sluice_mbufs_"));
  if (rte_socket_count() == 1) {
    for (const std::string& w : runtime_->warnings()) EXPECT_THAT(w, ::testing::Not(StartsWith("NUMA")));
  }
}

// With a snapshot: every backend by name, each circuit closed on the one
// worker (no failures: circuit_states() reports nothing).
TEST_F(DpdkDataplaneSinkTest, ServicesOfTheSnapshot) {
  engine::SnapshotCompiler compiler;
  auto compiled = compiler.compile(web_config(), 7);
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors.front().to_string();
  const auto circuits = sink_->circuit_states(*compiled.snapshot);
  ASSERT_EQ(circuits.size(), 1u);
  EXPECT_TRUE(circuits[0].empty());
  const std::string json = stats_file(compiled.snapshot.get(), 1000);
  expect_strict_json(json);
  EXPECT_THAT(json, StartsWith(R"({"uptime_ms":1000,"generation":7,"workers":[)"));
  EXPECT_THAT(json,
              HasSubstr(R"("services":[{"name":"web","packets":0,"bytes":0,"pools":[)"
                        R"({"name":"stable","weight":90,"packets":0,"bytes":0,"backends":[)"
                        R"({"address":"10.0.1.1","state":"active","packets":0,"bytes":0,"circuit":["closed"]},)"
                        R"({"address":"10.0.1.2","state":"draining","packets":0,"bytes":0,)"
                        R"("circuit":["closed"]}]},)"
                        R"({"name":"canary","weight":10,"packets":0,"bytes":0,"backends":[)"
                        R"({"address":"10.0.2.1","state":"disabled","packets":0,"bytes":0,"circuit":["closed"]}]}]}]})"
                        "\n"));
}

// Running workers: the sink reports the published generation, the port
// counters and the engine counters the worker saw (net_null0 always has
// frames to receive), the same as the runtime's own totals.
TEST_F(DpdkDataplaneSinkTest, RunningWorkersReportGenerationAndTraffic) {
  engine::SnapshotCompiler compiler;
  auto compiled = compiler.compile(web_config(), 3);
  ASSERT_TRUE(compiled.errors.empty());
  std::string error;
  EXPECT_TRUE(sink_->publish(compiled.snapshot, &error));  // DPDK never refuses
  runtime_->start();
  const bool applied =
      sink_->wait_applied(3, std::chrono::steady_clock::now() + std::chrono::seconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  runtime_->stop();
  ASSERT_TRUE(applied);
  EXPECT_EQ(sink_->worker_generations(), std::vector<uint64_t>{3});
  const DataplaneStats s = sink_->stats(compiled.snapshot.get());
  ASSERT_EQ(s.workers.size(), 1u);
  const WorkerSample& w = s.workers[0];
  EXPECT_EQ(w.generation, 3u);
  const dpdk::PortCounters port = runtime_->port_counters();
  EXPECT_GT(port.rx_packets, 0u);
  EXPECT_EQ(w.dataplane_counters[1], std::make_pair(std::string("rx_packets"), port.rx_packets));
  EXPECT_EQ(w.counters.rx_packets, runtime_->engine_counters().rx_packets);
  EXPECT_GT(w.counters.rx_packets, 0u);
  const std::string json = stats_file(compiled.snapshot.get(), 5);
  expect_strict_json(json);
  EXPECT_THAT(json, StartsWith(R"({"uptime_ms":5,"generation":3,"workers":[{"id":0,)"
                               R"("label":"lcore 1","generation":3,"rx_bursts":)" +
                               std::to_string(port.rx_bursts) + R"(,"rx_packets":)" +
                               std::to_string(port.rx_packets) + ","));
  EXPECT_THAT(json, HasSubstr(R"("engine":{"rx_packets":)" +
                              std::to_string(runtime_->engine_counters().rx_packets) + ","));
}

// set_backend_health writes the runtime's one health table, which every
// worker reads; slots beyond it are ignored.
TEST_F(DpdkDataplaneSinkTest, BackendHealthGoesToTheSharedTable) {
  engine::BackendHealthTable& health = runtime_->health();
  EXPECT_EQ(runtime_->worker_engine(0).health_table(), &health);
  EXPECT_EQ(health.size(), engine::WorkerOptions{}.backend_counter_slots);
  EXPECT_EQ(health.get(3), SLUICE_HEALTH_UNKNOWN);
  sink_->set_backend_health(3, SLUICE_HEALTH_UNHEALTHY);
  EXPECT_TRUE(health.unhealthy(3));
  EXPECT_FALSE(health.unhealthy(4));
  sink_->set_backend_health(health.size(), SLUICE_HEALTH_UNHEALTHY);
  EXPECT_FALSE(health.unhealthy(health.size()));
  sink_->set_backend_health(3, SLUICE_HEALTH_HEALTHY);
  EXPECT_EQ(health.get(3), SLUICE_HEALTH_HEALTHY);
  health.reset();  // the runtime is shared by the tests of this process
}

// A census has one line per worker, labelled as in stats(); net_null0's
// frames are not IP, so no worker holds a flow.
TEST_F(DpdkDataplaneSinkTest, FlowCensusPerWorker) {
  engine::SnapshotCompiler compiler;
  auto compiled = compiler.compile(web_config(), 9);
  ASSERT_TRUE(compiled.errors.empty());
  const auto before = std::chrono::steady_clock::now();
  const FlowCensus c = sink_->flow_census(*compiled.snapshot);
  EXPECT_GE(c.taken_at, before);
  EXPECT_LE(c.taken_at, std::chrono::steady_clock::now());
  EXPECT_GE(c.duration.count(), 0);
  ASSERT_EQ(c.workers.size(), 1u);
  EXPECT_TRUE(c.workers[0].empty());
  EXPECT_EQ(c.labels, std::vector<std::string>{"lcore 1"});
}

}  // namespace
}  // namespace sluice::control
