// SPDX-License-Identifier: Apache-2.0
// write_file_atomically, and stats_json over hand-made ControlStats: the
// document's shape (strict JSON, one line, its keys) and its golden text.
// The same document from a running DPDK runtime is checked in
// dpdk_dataplane_sink_test.cc.
#include "control/daemon/stats_report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "control/config/json_syntax.h"

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

// --- stats_json ---

void expect_strict_json(const std::string& text) {
  const config::JsonSyntaxResult r = config::check_json_syntax(text);
  EXPECT_FALSE(r.error.has_value()) << (r.error ? r.error->to_string() : "") << "\n" << text;
  EXPECT_TRUE(r.root_is_object);
  EXPECT_THAT(r.top_level_keys,
              ::testing::ElementsAre("uptime_ms", "generation", "workers", "engine", "services"));
}

// Nothing sampled: the document's frame, one line.
TEST(StatsJsonTest, Empty) {
  ControlStats stats;
  stats.uptime_ms = 42;
  const std::string json = stats_json(stats);
  expect_strict_json(json);
  EXPECT_EQ(json,
            R"({"uptime_ms":42,"generation":0,"workers":[],"engine":{"circuits":{"opened":0,)"
            R"("closed":0,"half_opened":0,"failures":0,"successes":0,"refused_by_max_ejected":0,)"
            R"("untracked":0,"tracked":0,"capacity":0},"drops":{}},"services":[]})"
            "\n");
}

// Workers with their dataplane counters, the engine totals with circuits
// and drops, and every service, pool and backend with traffic and circuit
// state per worker (golden text; names are escaped).
TEST(StatsJsonTest, Golden) {
  ControlStats stats;
  stats.uptime_ms = 1000;
  stats.revision = 7;
  EngineStats w0;
  w0.dataplane = {{"rx_bursts", 3}, {"rx_packets", 90}};
  EngineStats w1;
  w1.dataplane = {{"rx_bursts", 1}, {"rx_packets", 10}};
  stats.workers = {{0, 7, "lcore 1", w0}, {1, 6, "lcore \"2\"", w1}};
  stats.total.counters = {{"rx_packets", 100}, {"forwarded", 95}};
  stats.total.drops = {{"fragment", 5}};
  stats.total.circuits.opened = 2;
  stats.total.circuits.failures = 4;
  stats.total.circuits_tracked = 1;
  stats.total.circuits_capacity = 128;
  BackendStats b1{*engine::IpAddress::parse("10.0.1.1"), engine::BackendState::kActive, 1,
                  {60, 6000}, {engine::CircuitState::kClosed, engine::CircuitState::kOpen}};
  BackendStats b2{*engine::IpAddress::parse("2001:db8::2"), engine::BackendState::kDraining, 2,
                  {35, 3500}, {engine::CircuitState::kHalfOpen, engine::CircuitState::kClosed}};
  stats.services = {{"web", {95, 9500}, {{"stable", 90, {95, 9500}, {b1, b2}}, {"canary", 0, {}, {}}}}};
  const std::string json = stats_json(stats);
  expect_strict_json(json);
  EXPECT_EQ(json,
            R"({"uptime_ms":1000,"generation":7,"workers":[)"
            R"({"id":0,"label":"lcore 1","generation":7,"rx_bursts":3,"rx_packets":90},)"
            R"({"id":1,"label":"lcore \"2\"","generation":6,"rx_bursts":1,"rx_packets":10}],)"
            R"("engine":{"rx_packets":100,"forwarded":95,"circuits":{"opened":2,"closed":0,)"
            R"("half_opened":0,"failures":4,"successes":0,"refused_by_max_ejected":0,"untracked":0,)"
            R"("tracked":1,"capacity":128},"drops":{"fragment":5}},)"
            R"("services":[{"name":"web","packets":95,"bytes":9500,"pools":[)"
            R"({"name":"stable","weight":90,"packets":95,"bytes":9500,"backends":[)"
            R"({"address":"10.0.1.1","state":"active","packets":60,"bytes":6000,)"
            R"("circuit":["closed","open"]},)"
            R"({"address":"2001:db8::2","state":"draining","packets":35,"bytes":3500,)"
            R"("circuit":["half-open","closed"]}]},)"
            R"({"name":"canary","weight":0,"packets":0,"bytes":0,"backends":[]}]}]})"
            "\n");
}

}  // namespace
}  // namespace sluice::control
