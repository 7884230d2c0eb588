// SPDX-License-Identifier: Apache-2.0
// write_file_atomically, and stats_json over a real DpdkRuntime on DPDK's
// null PMD (net_null0: its RX queue returns zeroed 64-byte frames without
// end, so the workers count traffic without any NIC). One EAL per process:
// the runtime is created once, by the first test that needs it; where it
// cannot start (no DPDK, no null PMD, no permission) those tests are skipped.
#include "control/daemon/stats_report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "control/config/json_syntax.h"
#include "dataplane/engine/snapshot.h"

namespace sluice::control {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The CPUs this process may run on, as an EAL cpu set: "0,1".
std::string allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::string list;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) list += (list.empty() ? "" : ",") + std::to_string(c);
    }
  }
  return list.empty() ? "0" : list;
}

class WriteFileAtomicallyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sluice-stats-test-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::permissions(dir_, fs::perms::owner_all, ignored);
    fs::remove_all(dir_, ignored);
  }

  fs::path dir_;
};

// A new file gets exactly the content, and no temporary file is left behind.
TEST_F(WriteFileAtomicallyTest, WritesContent) {
  const std::string path = (dir_ / "stats.json").string();
  std::string error;
  ASSERT_TRUE(write_file_atomically(path, "{\"generation\":1}\n", &error)) << error;
  EXPECT_EQ(error, "");
  EXPECT_EQ(read_file(path), "{\"generation\":1}\n");
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

// An existing file is replaced as a whole (a longer old file leaves no tail).
TEST_F(WriteFileAtomicallyTest, ReplacesExistingFile) {
  const std::string path = (dir_ / "stats.json").string();
  std::ofstream(path) << "an older and much longer content than the new one\n";
  std::string error;
  ASSERT_TRUE(write_file_atomically(path, "new\n", &error)) << error;
  EXPECT_EQ(read_file(path), "new\n");
  ASSERT_TRUE(write_file_atomically(path, "", &error)) << error;
  EXPECT_EQ(read_file(path), "");
  EXPECT_EQ(fs::file_size(path), 0u);
}

// Replacing is a rename: a reader holding the old file keeps reading the
// old content (it never sees a half-written new one), and the inode changes.
TEST_F(WriteFileAtomicallyTest, ReplacesByRename) {
  const std::string path = (dir_ / "stats.json").string();
  std::string error;
  ASSERT_TRUE(write_file_atomically(path, "old\n", &error)) << error;
  std::ifstream reader(path);
  struct stat before {};
  ASSERT_EQ(::stat(path.c_str(), &before), 0);
  ASSERT_TRUE(write_file_atomically(path, "new\n", &error)) << error;
  struct stat after {};
  ASSERT_EQ(::stat(path.c_str(), &after), 0);
  EXPECT_NE(before.st_ino, after.st_ino);
  std::string line;
  std::getline(reader, line);
  EXPECT_EQ(line, "old");
  EXPECT_EQ(read_file(path), "new\n");
}

// Large content (several write() calls' worth) arrives complete.
TEST_F(WriteFileAtomicallyTest, WritesLargeContent) {
  std::string big;
  for (int i = 0; i < 200000; ++i) big += static_cast<char>('a' + i % 26);
  const std::string path = (dir_ / "big").string();
  std::string error;
  ASSERT_TRUE(write_file_atomically(path, big, &error)) << error;
  EXPECT_EQ(read_file(path), big);
}

// A missing directory is an error whose message names the path and the reason.
TEST_F(WriteFileAtomicallyTest, MissingDirectoryIsAnErrorNamingThePath) {
  const std::string path = (dir_ / "no-such-dir" / "stats.json").string();
  std::string error;
  EXPECT_FALSE(write_file_atomically(path, "x", &error));
  EXPECT_THAT(error, HasSubstr(path));
  EXPECT_THAT(error, HasSubstr("No such file or directory"));
  EXPECT_FALSE(fs::exists(path));
}

// A target that is a directory cannot be replaced: the rename fails, the
// message names the target, and the temporary file is not left behind.
TEST_F(WriteFileAtomicallyTest, DirectoryAsTargetIsAnError) {
  const fs::path target = dir_ / "is-a-dir";
  fs::create_directories(target / "child");
  std::string error;
  EXPECT_FALSE(write_file_atomically(target.string(), "x", &error));
  EXPECT_THAT(error, StartsWith(target.string() + ": "));
  EXPECT_TRUE(fs::is_directory(target / "child"));
  EXPECT_FALSE(fs::exists(target.string() + ".tmp"));
}

// --- stats_json over a DpdkRuntime on net_null0 ---

// The runtime of this process, created on first use; null if EAL failed.
class RuntimeHolder {
 public:
  static RuntimeHolder& get() {
    static RuntimeHolder holder;
    return holder;
  }
  dpdk::DpdkRuntime* runtime() { return runtime_.get(); }
  const std::string& error() const { return error_; }

  ~RuntimeHolder() {
    runtime_.reset();
    if (!runtime_dir_.empty()) {
      std::error_code ignored;
      fs::remove_all(runtime_dir_, ignored);
    }
  }

 private:
  RuntimeHolder() : prefix_("sluice-stats-test-" + std::to_string(getpid())) {
    dpdk::RuntimeOptions o;
    const std::string cpus = "(" + allowed_cpus() + ")";
    o.eal_arguments = {"stats_report_test", "--no-huge",  "-m", "256", "--no-pci",
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

class StatsJsonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    runtime_ = RuntimeHolder::get().runtime();
    if (!runtime_) {
      GTEST_SKIP() << "no DPDK runtime on net_null0 (EAL needs root and DPDK's null PMD): "
                   << RuntimeHolder::get().error();
    }
  }

  static void expect_strict_json(const std::string& text) {
    const config::JsonSyntaxResult r = config::check_json_syntax(text);
    EXPECT_FALSE(r.error.has_value()) << (r.error ? r.error->to_string() : "") << "\n" << text;
    EXPECT_TRUE(r.root_is_object);
    EXPECT_THAT(r.top_level_keys, ::testing::ElementsAre("uptime_ms", "generation", "workers",
                                                         "engine", "services"));
  }

  dpdk::DpdkRuntime* runtime_ = nullptr;
};

// Without a snapshot: generation 0, one worker on lcore 1, no services.
TEST_F(StatsJsonTest, NoSnapshot) {
  const std::string json = stats_json(*runtime_, nullptr, 42);
  expect_strict_json(json);
  EXPECT_THAT(json, StartsWith(R"({"uptime_ms":42,"generation":0,"workers":[{"id":0,"lcore":1,)"
                               R"("generation":0,"rx_bursts":)"));
  EXPECT_THAT(json, HasSubstr(R"(,"services":[]})"));
  EXPECT_EQ(json.back(), '\n');
  EXPECT_EQ(json.find('\n'), json.size() - 1);  // one line
}

// Every port counter, every engine counter and the drop reasons appear by name.
TEST_F(StatsJsonTest, CounterNamesArePresent) {
  const std::string json = stats_json(*runtime_, nullptr, 0);
  for (const char* name : {"rx_bursts", "rx_packets", "tx_packets", "tx_full_dropped",
                           "multi_segment_dropped", "host_tx_packets", "host_tx_dropped",
                           "host_rx_packets", "host_rx_dropped"}) {
    EXPECT_THAT(json, HasSubstr(std::string("\"") + name + "\":")) << name;
  }
  EXPECT_THAT(json, HasSubstr(R"(],"engine":{"rx_packets":)"));
  EXPECT_THAT(json, HasSubstr(R"("circuits":{"opened":0,"closed":0,"half_opened":0,)"
                              R"("refused_by_max_ejected":0,"untracked":0},"drops":{)"));
  // Drop reason 0 is "not dropped" and is left out.
  const std::string first_reason(engine::drop_reason_name(static_cast<engine::DropReason>(1)));
  EXPECT_THAT(json, HasSubstr("\"" + first_reason + "\":"));
}

// With a snapshot: its generation, and every service, pool and backend by
// name with weight, state, traffic and circuit state per worker (golden text).
TEST_F(StatsJsonTest, ServicesPoolsAndBackends) {
  engine::SnapshotCompiler compiler;
  auto compiled = compiler.compile(web_config(), 7);
  ASSERT_TRUE(compiled.errors.empty()) << compiled.errors.front().to_string();
  const std::string json = stats_json(*runtime_, compiled.snapshot.get(), 1000);
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

// Running workers: the worker reports the published generation and the
// port counters it saw (net_null0 always has frames to receive).
TEST_F(StatsJsonTest, RunningWorkersReportGenerationAndTraffic) {
  engine::SnapshotCompiler compiler;
  auto compiled = compiler.compile(web_config(), 3);
  ASSERT_TRUE(compiled.errors.empty());
  runtime_->publisher().publish(compiled.snapshot);
  runtime_->start();
  const bool applied = runtime_->publisher().wait_applied(3, std::chrono::seconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  runtime_->stop();
  ASSERT_TRUE(applied);
  const dpdk::PortCounters port = runtime_->port_counters();
  EXPECT_GT(port.rx_packets, 0u);
  const std::string json = stats_json(*runtime_, compiled.snapshot.get(), 5);
  expect_strict_json(json);
  EXPECT_THAT(json, StartsWith(R"({"uptime_ms":5,"generation":3,"workers":[{"id":0,"lcore":1,)"
                               R"("generation":3,"rx_bursts":)" +
                               std::to_string(port.rx_bursts) + R"(,"rx_packets":)" +
                               std::to_string(port.rx_packets) + ","));
  EXPECT_THAT(json, HasSubstr(R"("engine":{"rx_packets":)" +
                              std::to_string(runtime_->engine_counters().rx_packets) + ","));
}

}  // namespace
}  // namespace sluice::control
