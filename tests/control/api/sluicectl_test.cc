// SPDX-License-Identifier: Apache-2.0
// The built sluicectl (SLUICECTL_PATH), run as a subprocess against the
// Control service over a fake core on a unix socket: tables, -o json,
// changes with their options, and exit statuses and messages on errors;
// and once over TCP with TLS and client certificates.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "control/api/server.h"
#include "control/config/service_mapping.h"
#include "tests/control/api/hold_grpc.h"
#include "tests/control/api/test_certificates.h"
#include "tests/control/api/test_services.h"
#include "tests/control/api/test_stats.h"
#include "tests/mocks/control/fake_control_core.h"

extern char** environ;

namespace sluice::control::api {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::StartsWith;

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class SluicectlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/sluicectl-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    socket_ = dir_ + "/sluiced.sock";
    ServerOptions options;
    options.unix_socket_path = socket_;
    std::string error;
    server_ = start_control_server(service_, options, &error);
    ASSERT_NE(server_, nullptr) << error;
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
    std::filesystem::remove_all(dir_);
  }

  // web then dns: revision 2.
  void add_both() {
    for (const char* text : {kWebService, kDnsService}) {
      v1::ServiceList list;
      *list.add_services() = service_from_text(text);
      core_.add_service(config::services_from_proto(list).services.at(0));
    }
  }
  std::string write_file(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  // A sluicectl started and not yet waited for.
  struct Running {
    pid_t pid = -1;
    std::string out_path;
    std::string err_path;
  };

  // Starts sluicectl --socket SOCKET ARGS... (no --socket with `with_socket`
  // false), with SLUICECTL_SOCKET removed from the environment unless given
  // in `env`.
  Running start(const std::vector<std::string>& args, bool with_socket = true,
                const std::vector<std::string>& env = {}) {
    std::vector<std::string> argv_strings = {SLUICECTL_PATH};
    if (with_socket) argv_strings.insert(argv_strings.end(), {"--socket", socket_});
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);

    std::vector<std::string> env_strings = env;
    for (char** e = environ; *e; ++e) {
      if (std::string(*e).rfind("SLUICECTL_SOCKET=", 0) != 0) env_strings.push_back(*e);
    }
    std::vector<char*> envp;
    for (std::string& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);

    Running running;
    const std::string n = std::to_string(++runs_);
    running.out_path = dir_ + "/stdout." + n;
    running.err_path = dir_ + "/stderr." + n;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, stdin_path_.c_str(), O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, running.out_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 2, running.err_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int rc = posix_spawn(&running.pid, SLUICECTL_PATH, &actions, nullptr, argv.data(),
                               envp.data());
    posix_spawn_file_actions_destroy(&actions);
    EXPECT_EQ(rc, 0) << std::strerror(rc);
    if (rc != 0) running.pid = -1;
    return running;
  }

  // Waits for it to exit; its status and output.
  RunResult finish(const Running& running) {
    RunResult result;
    if (running.pid < 0) return result;
    int status = 0;
    EXPECT_EQ(::waitpid(running.pid, &status, 0), running.pid);
    EXPECT_TRUE(WIFEXITED(status)) << "status " << status;
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.out = read_all(running.out_path);
    result.err = read_all(running.err_path);
    return result;
  }

  RunResult run(const std::vector<std::string>& args, bool with_socket = true,
                const std::vector<std::string>& env = {}) {
    return finish(start(args, with_socket, env));
  }

  // Waits (10 s at most) until it has written something to stdout.
  static void wait_for_output(const Running& running) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (read_all(running.out_path).empty() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  template <typename Message>
  static Message parse_json(const std::string& text) {
    Message m;
    const auto status = google::protobuf::util::JsonStringToMessage(text, &m);
    EXPECT_TRUE(status.ok()) << status.message() << "\n" << text;
    return m;
  }

  fakes::FakeControlCore core_;
  ControlServiceImpl service_{core_};
  std::unique_ptr<grpc::Server> server_;
  std::string dir_;
  std::string socket_;
  std::string stdin_path_ = "/dev/null";  // sluicectl's standard input
  int runs_ = 0;
};

constexpr const char* kWebJson = R"({
  "name": "web", "vip": "10.77.100.10", "port": 80,
  "pools": [
    {"name": "stable", "weight": 90,
     "backends": [{"address": "10.77.0.21"}, {"address": "10.77.0.22"}]},
    {"name": "canary", "weight": 10, "backends": [{"address": "10.77.0.31"}]}
  ]
})";

constexpr const char* kTwoServicesJson = R"({"services": [
  {"name": "web", "vip": "10.77.100.10", "port": 80,
   "pools": [{"name": "stable", "weight": 1, "backends": [{"address": "10.77.0.21"}]}]},
  {"name": "dns", "vip": "2001:db8::53", "port": 53, "protocol": "PROTOCOL_UDP",
   "pools": [{"name": "blue", "weight": 1, "backends": [{"address": "2001:db8:1::1"}]}]}
]})";

// --- stats ---

// stats: the header, the traffic tree with health and circuits, the
// connections tree (nothing connected: "-"), then the counters that are not
// zero, in total and per worker.
TEST_F(SluicectlTest, StatsTable) {
  core_.set_stats(sample_stats());
  const RunResult r = run({"stats"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "revision:      4\n"
            "dataplane:     dpdk\n"
            "workers:       2, all at revision 4\n"
            "uptime:        1m0s\n"
            "active flows:  counted 0ms ago\n"
            "\n"
            "SERVICE/POOL/BACKEND  STATE     WEIGHT  PACKETS  BYTES    HEALTH  EJECTIONS  CIRCUIT\n"
            "web                                     900      87.9KiB\n"
            "  stable                        90      600      58.6KiB\n"
            "    10.77.0.21        ACTIVE    1       300      29.3KiB  -       0          closed\n"
            "    10.77.0.22        ACTIVE    1       300      29.3KiB  -       0          closed\n"
            "  canary                        10      300      29.3KiB\n"
            "    10.77.0.31        DRAINING  1       300      29.3KiB  -       0          open 1/2\n"
            "dns                                     100      7.8KiB\n"
            "  blue                          1       100      7.8KiB\n"
            "    2001:db8:1::1     ACTIVE    1       100      7.8KiB   -       0          closed\n"
            "\n"
            "SERVICE/POOL/BACKEND  NEW FLOWS  ACTIVE  CONNECT OK  HANDSHAKE P50/P99  FAILED  RESETS  "
            "EXPIRED\n"
            "web                   0          0       -                              0       0       0\n"
            "  stable              0          0       -           -                  0       0       0\n"
            "    10.77.0.21        0          0       -           -                  0       0       0\n"
            "    10.77.0.22        0          0       -           -                  0       0       0\n"
            "  canary              0          0       -           -                  0       0       0\n"
            "    10.77.0.31        0          0       -           -                  0       0       0\n"
            "dns                   0          0       -                              0       0       0\n"
            "  blue                0          0       -           -                  0       0       0\n"
            "    2001:db8:1::1     0          0       -           -                  0       0       0\n"
            "\n"
            "COUNTER            TOTAL  W0 (lcore 1)  W1 (lcore 2)\n"
            "rx_packets         1200   600           600\n"
            "forwarded          1000   500           500\n"
            "dropped            7      0             7\n"
            "new_flows          100    50            50\n"
            "drops.fragment     7      0             7\n"
            "circuits.opened    1      0             1\n"
            "circuits.failures  3      0             3\n"
            "circuits.tracked   1      0             1\n"
            "dpdk.rx_bursts     80     40            40\n");
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(*core_.last_stats_service(), "");
}

// --all lists the counters that are zero too.
TEST_F(SluicectlTest, StatsAll) {
  core_.set_stats(sample_stats());
  const RunResult r = run({"stats", "--all"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\ncircuit_skips "));
  EXPECT_THAT(r.out, HasSubstr("\ndrops.truncated-ip "));
  EXPECT_THAT(r.out, HasSubstr("\ncircuits.untracked "));
  EXPECT_THAT(r.out, HasSubstr("\ndpdk.tx_full_dropped "));
}

// --service asks sluiced for one service's traffic.
TEST_F(SluicectlTest, StatsOfOneService) {
  core_.set_stats(sample_stats());
  const RunResult r = run({"stats", "--service", "dns"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(*core_.last_stats_service(), "dns");
  EXPECT_THAT(r.out, HasSubstr("\ndns "));
  EXPECT_THAT(r.out, Not(HasSubstr("web")));
  const RunResult unknown = run({"stats", "--service", "mail"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_EQ(unknown.err, "sluicectl: NOT_FOUND: no service named \"mail\"\n");
  const RunResult bad = run({"stats", "--service", "we b"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.err,
            "sluicectl: INVALID_ARGUMENT: service: \"we b\" is not a service name (1 to 63 "
            "letters, digits, '-', '_' and '.')\n");
}

// stats -o json: the GetStatsResponse, proto field names.
TEST_F(SluicectlTest, StatsJson) {
  core_.set_stats(sample_stats());
  const RunResult r = run({"stats", "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"uptime_ms\": \"60000\""));
  const auto stats = parse_json<v1::GetStatsResponse>(r.out);
  EXPECT_EQ(stats.revision(), 4u);
  ASSERT_EQ(stats.services_size(), 2);
  EXPECT_EQ(stats.services(0).pools(1).backends(0).circuits(1), v1::CIRCUIT_STATE_OPEN);
  EXPECT_EQ(stats.workers(1).label(), "lcore 2");
}

// --watch: samples until --count, each after the first with rates over the
// interval between the two samples' uptimes.
TEST_F(SluicectlTest, StatsWatchShowsRates) {
  core_.set_stats({sample_stats(60000, 1), sample_stats(62000, 2), sample_stats(64000, 2)});
  const RunResult r = run({"stats", "--watch", "--interval", "0.1", "--count", "3"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // Three samples: the first without rates.
  std::vector<size_t> headers;
  for (size_t at = r.out.find("revision:"); at != std::string::npos;
       at = r.out.find("revision:", at + 1)) {
    headers.push_back(at);
  }
  ASSERT_EQ(headers.size(), 3u) << r.out;
  const std::string first = r.out.substr(0, headers[1]);
  const std::string second = r.out.substr(headers[1], headers[2] - headers[1]);
  const std::string third = r.out.substr(headers[2]);
  EXPECT_THAT(first, Not(HasSubstr("rates over")));
  EXPECT_THAT(first, Not(HasSubstr("PACKETS/S")));
  EXPECT_THAT(second, HasSubstr("rates over:    2.0s\n"));
  // web: 900 more packets and 90000 more bytes in 2 s.
  EXPECT_THAT(second,
              HasSubstr("SERVICE/POOL/BACKEND  STATE     WEIGHT  PACKETS  BYTES     PACKETS/S  "
                        "BITS/S       HEALTH  EJECTIONS  CIRCUIT\n"
                        "web                                     1800     175.8KiB  450        "
                        "360.0kbit/s\n"));
  EXPECT_THAT(second, HasSubstr("    10.77.0.31        DRAINING  1       600      58.6KiB   150"
                                "        120.0kbit/s  -       0          open 1/2\n"));
  EXPECT_THAT(second, HasSubstr("COUNTER            TOTAL  W0 (lcore 1)  W1 (lcore 2)  PER SECOND\n"
                                "rx_packets         2400   1200          1200          600\n"));
  EXPECT_THAT(second, HasSubstr("\ndropped            7      0             7             0\n"));
  // Nothing changed between the second and third samples.
  EXPECT_THAT(third, HasSubstr("\nrx_packets         2400   1200          1200          0\n"));
}

// --watch -o json: one GetStatsResponse per line.
TEST_F(SluicectlTest, StatsWatchJsonLines) {
  core_.set_stats({sample_stats(60000, 1), sample_stats(62000, 2)});
  const RunResult r = run({"stats", "-w", "--interval", "0.1", "--count", "2", "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  std::vector<uint64_t> uptimes;
  while (std::getline(lines, line)) {
    uptimes.push_back(parse_json<v1::GetStatsResponse>(line).uptime_ms());
  }
  EXPECT_THAT(uptimes, ElementsAre(60000u, 62000u));
}

// --watch until Ctrl-C: exit 0 after the samples so far.
TEST_F(SluicectlTest, StatsWatchEndsOnInterrupt) {
  core_.set_stats(sample_stats());
  const Running running = start({"stats", "--watch", "--interval", "0.2"});
  // Once a sample is out, Ctrl-C is sluicectl's to handle.
  wait_for_output(running);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(::kill(running.pid, SIGINT), 0);
  const RunResult r = finish(running);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, StartsWith("revision:      4\n"));
  EXPECT_EQ(r.err, "");
}

// Bad --interval and --count, or --count without --watch: exit 2, nothing asked.
TEST_F(SluicectlTest, StatsUsageErrors) {
  EXPECT_EQ(run({"stats", "--watch", "--interval", "0"}).exit_code, 2);
  EXPECT_EQ(run({"stats", "--watch", "--interval", "nan"}).exit_code, 2);
  EXPECT_EQ(run({"stats", "--watch", "--interval", "soon"}).exit_code, 2);
  EXPECT_EQ(run({"stats", "--watch", "--count", "-1"}).exit_code, 2);
  const RunResult r = run({"stats", "--count", "2"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, StartsWith("sluicectl stats: --count goes with --watch\n"));
  EXPECT_EQ(run({"stats", "extra"}).exit_code, 2);
  EXPECT_FALSE(core_.last_stats_service());
}

// sample_stats() with golden signals, handshake times, live flows and
// health: web/stable's backends are checked (one healthy, one unhealthy),
// canary's slowest handshakes are beyond the last bound (5 s), and dns saw
// no connection. New flows and completed handshakes grow with `scale`;
// failures, expiries and resets do not.
ControlStats signal_stats(uint64_t uptime_ms = 60000, uint64_t scale = 1) {
  ControlStats s = sample_stats(uptime_ms, scale);
  s.census_age_ms = 800;
  auto signals = [scale](engine::TrafficCounter& t, uint64_t new_flows, uint64_t completed,
                         uint64_t failures, uint64_t expired, uint64_t resets) {
    t.new_flows = new_flows * scale;
    t.handshakes_completed = completed * scale;
    t.connect_failures = failures;
    t.handshakes_expired = expired;
    t.client_resets = resets;
  };
  auto handshakes = [](engine::HandshakeHistogram& h, int fast, int at_40ms, int beyond_5s) {
    for (int i = 0; i < fast; ++i) h.record(2);
    for (int i = 0; i < at_40ms; ++i) h.record(40);
    for (int i = 0; i < beyond_5s; ++i) h.record(6000);
  };
  auto active = [](ActiveFlows& a, uint64_t w0, uint64_t w1) {
    a.flows = w0 + w1;
    a.by_worker = {w0, w1};
  };
  ServiceStats& web = s.services[0];
  signals(web.traffic, 100, 95, 4, 1, 2);
  PoolStats& stable = web.pools[0];
  signals(stable.traffic, 80, 79, 1, 0, 2);
  handshakes(stable.handshakes, 70, 9, 0);
  active(stable.active, 7, 5);
  BackendStats& b21 = stable.backends[0];
  signals(b21.traffic, 40, 40, 0, 0, 0);
  handshakes(b21.handshakes, 40, 0, 0);
  active(b21.active, 4, 3);
  b21.health = {HealthState::kHealthy, true, "ok", 0, 20, 0, 1000};
  BackendStats& b22 = stable.backends[1];
  signals(b22.traffic, 40, 39, 1, 0, 2);
  b22.traffic.ejections = 1;
  handshakes(b22.handshakes, 30, 9, 0);
  active(b22.active, 3, 2);
  b22.health = {HealthState::kUnhealthy, true, "status 503", 1, 20, 4, 50000};
  PoolStats& canary = web.pools[1];
  signals(canary.traffic, 20, 16, 3, 1, 0);
  handshakes(canary.handshakes, 10, 0, 6);
  signals(canary.backends[0].traffic, 20, 16, 3, 1, 0);
  handshakes(canary.backends[0].handshakes, 10, 0, 6);
  return s;
}

// Connect success, handshake p50/p99 and live flows per service, pool and
// backend; each backend's health ("-": not checked) and ejections. Connect
// success rounds down (79/80 is 98.7%, not 98.8%), and a quantile beyond
// the last bucket's bound reads ">5s".
TEST_F(SluicectlTest, StatsSignals) {
  core_.set_stats(signal_stats());
  const RunResult r = run({"stats"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\nactive flows:  counted 800ms ago\n"));
  EXPECT_THAT(r.out,
              HasSubstr("\nSERVICE/POOL/BACKEND  STATE     WEIGHT  PACKETS  BYTES    HEALTH     "
                        "EJECTIONS  CIRCUIT\n"));
  EXPECT_THAT(r.out, HasSubstr("\n    10.77.0.21        ACTIVE    1       300      29.3KiB  "
                               "healthy    0          closed\n"
                               "    10.77.0.22        ACTIVE    1       300      29.3KiB  "
                               "unhealthy  1          closed\n"));
  EXPECT_THAT(r.out, HasSubstr("\n    10.77.0.31        DRAINING  1       300      29.3KiB  "
                               "-          0          open 1/2\n"));
  EXPECT_THAT(
      r.out,
      HasSubstr("\n"
                "SERVICE/POOL/BACKEND  NEW FLOWS  ACTIVE  CONNECT OK  HANDSHAKE P50/P99  FAILED  "
                "RESETS  EXPIRED\n"
                "web                   100        12      95.0%                          4       "
                "2       1\n"
                "  stable              80         12      98.7%       2ms/50ms           1       "
                "2       0\n"
                "    10.77.0.21        40         7       100.0%      2ms/2ms            0       "
                "0       0\n"
                "    10.77.0.22        40         5       97.5%       2ms/50ms           1       "
                "2       0\n"
                "  canary              20         0       80.0%       2ms/>5s            3       "
                "0       1\n"
                "    10.77.0.31        20         0       80.0%       2ms/>5s            3       "
                "0       1\n"
                "dns                   0          0       -                              0       "
                "0       0\n"
                "  blue                0          0       -           -                  0       "
                "0       0\n"
                "    2001:db8:1::1     0          0       -           -                  0       "
                "0       0\n"
                "\n"
                "COUNTER "));
  // Readable on a 120-column terminal.
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) EXPECT_LE(line.size(), 120u) << line;
}

// -o json keeps printing the whole response: signals, histograms with their
// quantiles, live flows, health and the census age.
TEST_F(SluicectlTest, StatsSignalsJson) {
  core_.set_stats(signal_stats());
  const RunResult r = run({"stats", "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto stats = parse_json<v1::GetStatsResponse>(r.out);
  EXPECT_EQ(stats.census_age_ms(), 800u);
  const v1::PoolStats& stable = stats.services(0).pools(0);
  EXPECT_EQ(stable.traffic().handshakes_completed(), 79u);
  EXPECT_EQ(stable.traffic().connect_failures(), 1u);
  EXPECT_EQ(stable.handshakes().p50_ms(), 2u);
  EXPECT_EQ(stable.handshakes().p99_ms(), 50u);
  EXPECT_EQ(stable.handshakes().count(), 79u);
  EXPECT_THAT(stable.active().by_worker(), ElementsAre(7u, 5u));
  EXPECT_EQ(stable.backends(1).health().state(), v1::HEALTH_STATE_UNHEALTHY);
  EXPECT_EQ(stable.backends(1).health().last_result(), "status 503");
  EXPECT_EQ(stable.backends(1).traffic().ejections(), 1u);
}

// --watch: rates of the new counters too. NEW/S per row, and INTERVAL OK,
// the connect success of the interval alone (web: 95 more handshakes and no
// more failures: 100.0%, while the total stays below).
TEST_F(SluicectlTest, StatsWatchSignalRates) {
  core_.set_stats({signal_stats(60000, 1), signal_stats(62000, 2)});
  const RunResult r = run({"stats", "--watch", "--interval", "0.1", "--count", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const size_t second = r.out.find("revision:", 1);
  ASSERT_NE(second, std::string::npos) << r.out;
  EXPECT_THAT(r.out.substr(0, second), Not(HasSubstr("NEW/S")));
  EXPECT_THAT(
      r.out.substr(second),
      HasSubstr("\n"
                "SERVICE/POOL/BACKEND  NEW FLOWS  NEW/S  ACTIVE  CONNECT OK  INTERVAL OK  "
                "HANDSHAKE P50/P99  FAILED  RESETS  EXPIRED\n"
                "web                   200        50.0   12      97.4%       100.0%       "
                "                   4       2       1\n"));
  // No attempts in the interval: no ratio.
  EXPECT_THAT(r.out.substr(second),
              HasSubstr("\n  blue                0          0      0       -           -            "
                        "-                  0       0       0\n"));
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) EXPECT_LE(line.size(), 120u) << line;
}

// --- events ---

// Times vary: "TIME" in their place.
std::string without_times(const std::string& text) {
  static const std::regex kTime(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
  return std::regex_replace(text, kTime, "TIME");
}

class SluicectlEventsTest : public SluicectlTest {
 protected:
  // Starts `sluicectl events ARGS` and waits until its stream is subscribed.
  Running follow(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"events"};
    all.insert(all.end(), args.begin(), args.end());
    const size_t before = core_.events().subscriber_count();
    Running running = start(all);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (core_.events().subscriber_count() == before &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(core_.events().subscriber_count(), before + 1) << "sluicectl never subscribed";
    return running;
  }
  void publish_one_of_each() {
    core_.events().publish(ConfigChangedEvent{5, "SetWeights", "web",
                                              "weights stable=90 canary=10 -> stable=50 canary=50",
                                              "unix:/run/sluice/sluiced.sock"});
    core_.events().publish(WorkerAppliedEvent{1, 5});
    core_.events().publish(RevisionAppliedEvent{5, 2});
    core_.events().publish(CircuitChangedEvent{"web", "canary", "10.77.0.31", 1,
                                               engine::CircuitState::kClosed,
                                               engine::CircuitState::kOpen});
  }
};

// One line per event: sequence, time, kind, details; --count ends it.
TEST_F(SluicectlEventsTest, Lines) {
  const Running running = follow({"--count", "4"});
  publish_one_of_each();
  const RunResult r = finish(running);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(without_times(r.out),
            "1  TIME  config    revision 5 SetWeights web: weights stable=90 canary=10 -> "
            "stable=50 canary=50 (by unix:/run/sluice/sluiced.sock)\n"
            "2  TIME  worker    worker 1 forwards with revision 5\n"
            "3  TIME  applied   revision 5 on every worker (2)\n"
            "4  TIME  circuit   web/canary 10.77.0.31 on worker 1: closed -> open\n");
  EXPECT_EQ(r.err, "");
}

// A backend's health changing: service/pool, backend, from -> to, and the
// deciding check's result; -o json carries the HealthChanged event.
TEST_F(SluicectlEventsTest, HealthChanged) {
  const Running running = follow({"--count", "2"});
  core_.events().publish(HealthChangedEvent{"web", "canary", "10.77.0.31", HealthState::kHealthy,
                                            HealthState::kUnhealthy, "status 503"});
  core_.events().publish(HealthChangedEvent{"web", "canary", "10.77.0.31",
                                            HealthState::kUnhealthy, HealthState::kHealthy, "ok"});
  const RunResult r = finish(running);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(without_times(r.out),
            "1  TIME  health    web/canary 10.77.0.31: healthy -> unhealthy (status 503)\n"
            "2  TIME  health    web/canary 10.77.0.31: unhealthy -> healthy (ok)\n");
  const RunResult json = run({"events", "--since", "1", "--count", "1", "-o", "json"});
  EXPECT_EQ(json.exit_code, 0) << json.err;
  const auto event = parse_json<v1::Event>(json.out);
  EXPECT_EQ(event.health_changed().to(), v1::HEALTH_STATE_UNHEALTHY);
  EXPECT_EQ(event.health_changed().reason(), "status 503");
}

// -o json: each event as one line of protobuf JSON.
TEST_F(SluicectlEventsTest, JsonLines) {
  const Running running = follow({"--count", "4", "-o", "json"});
  publish_one_of_each();
  const RunResult r = finish(running);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  std::vector<v1::Event> events;
  while (std::getline(lines, line)) events.push_back(parse_json<v1::Event>(line));
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].config_changed().revision(), 5u);
  EXPECT_EQ(events[3].circuit_changed().to(), v1::CIRCUIT_STATE_OPEN);
  EXPECT_EQ(events[3].sequence(), 4u);
}

// --since replays what sluiced holds from there; older events are
// announced as lost.
TEST_F(SluicectlEventsTest, Since) {
  for (uint64_t g = 1; g <= 3; ++g) core_.events().publish(WorkerAppliedEvent{0, g});
  RunResult r = run({"events", "--since", "2", "--count", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(without_times(r.out),
            "2  TIME  worker    worker 0 forwards with revision 2\n"
            "3  TIME  worker    worker 0 forwards with revision 3\n");
  // The fake's hub holds 4096 events: older ones are lost.
  for (uint64_t g = 4; g <= 5000; ++g) core_.events().publish(WorkerAppliedEvent{0, g});
  r = run({"events", "--since", "0", "--count", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(without_times(r.out),
            "-  TIME  lost      events 1..904 (sluiced no longer holds them)\n"
            "905  TIME  worker    worker 0 forwards with revision 905\n");
}

// --since beyond the next event: sluiced's INVALID_ARGUMENT, exit 1.
TEST_F(SluicectlEventsTest, SinceBeyondTheNextEvent) {
  core_.events().publish(WorkerAppliedEvent{0, 1});
  const RunResult r = run({"events", "--since", "9"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "sluicectl: INVALID_ARGUMENT: start_sequence: 9 is beyond the next event's sequence "
            "number 2 (sequence numbers start again at 1 when sluiced restarts)\n");
}

// Ctrl-C ends the command cleanly (exit 0) with what it printed.
TEST_F(SluicectlEventsTest, EndsOnInterrupt) {
  const Running running = follow({});
  core_.events().publish(WorkerAppliedEvent{0, 1});
  // Printed (and flushed) before the signal.
  wait_for_output(running);
  ASSERT_EQ(::kill(running.pid, SIGINT), 0);
  const RunResult r = finish(running);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(without_times(r.out), "1  TIME  worker    worker 0 forwards with revision 1\n");
  EXPECT_EQ(r.err, "");
}

// sluiced shutting down ends the stream: exit 0, saying so.
TEST_F(SluicectlEventsTest, EndsWithTheStream) {
  const Running running = follow({});
  core_.events().publish(WorkerAppliedEvent{0, 1});
  core_.events().close();
  const RunResult r = finish(running);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(without_times(r.out), "1  TIME  worker    worker 0 forwards with revision 1\n");
  EXPECT_EQ(r.err, "sluicectl: sluiced ended the stream (it is shutting down)\n");
}

// Bad --since or --count: exit 2; no sluiced: exit 1.
TEST_F(SluicectlEventsTest, Errors) {
  EXPECT_EQ(run({"events", "--since", "-1"}).exit_code, 2);
  EXPECT_EQ(run({"events", "--since", "x"}).exit_code, 2);
  EXPECT_EQ(run({"events", "--count", "-2"}).exit_code, 2);
  EXPECT_EQ(run({"events", "extra"}).exit_code, 2);
  EXPECT_EQ(core_.events().subscriber_count(), 0u);
  const RunResult r = run({"--socket", dir_ + "/absent.sock", "events"}, false);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, StartsWith("sluicectl: cannot reach sluiced at " + dir_ + "/absent.sock: "));
}

// --- drain status ---

// web/canary's answer: `flows` live flows (split over two workers), the
// newest idle 1.2 s, the oldest 5m2s old.
DrainResult drain_answer(uint64_t flows, bool safe, const std::string& reason,
                         std::vector<std::string> still_receiving = {}) {
  DrainResult result;
  DrainAnswer& a = result.answer;
  a.target_kind = "pool";
  a.backends = {"10.77.0.31", "10.77.0.32"};
  a.active.flows = flows;
  a.active.by_worker = {flows - flows / 2, flows / 2};
  if (flows) {
    a.active.oldest_age_ms = 302000;
    a.active.newest_idle_ms = 1200;
  }
  a.safe_to_remove = safe;
  a.reason = reason;
  a.census_age_ms = 400;
  a.revision = 7;
  a.still_receiving = std::move(still_receiving);
  return result;
}

const char* const kNotDrained = "3 live flows; the last packet was 1.2 s ago (quiet time 30 s)";
const char* const kDrained = "no live flow on any worker";

class SluicectlDrainTest : public SluicectlTest {};

// Not safe to remove: the figures, the reason, exit 3; the query as asked
// (the quiet time and census age are sluiced's defaults).
TEST_F(SluicectlDrainTest, NotDrained) {
  core_.drain = drain_answer(3, false, kNotDrained, {"10.77.0.32"});
  const RunResult r = run({"drain", "status", "web", "canary"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.out,
            "target:           web/canary (pool)\n"
            "backends:         10.77.0.31, 10.77.0.32\n"
            "safe to remove:   no\n"
            "reason:           3 live flows; the last packet was 1.2 s ago (quiet time 30 s)\n"
            "active flows:     3 (W0=2 W1=1)\n"
            "oldest flow:      5m2s\n"
            "idle:             1.2s\n"
            "quiet time:       30s\n"
            "still receiving:  10.77.0.32\n"
            "census:           400ms old, revision 7\n");
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(core_.last_drain_query.service, "web");
  EXPECT_EQ(core_.last_drain_query.target, "canary");
  EXPECT_EQ(core_.last_drain_query.quiet_ms, 30000u);
  EXPECT_EQ(core_.last_drain_query.max_census_age_ms, 1000u);
}

// Safe to remove: exit 0. --quiet reaches sluiced; no target is the service.
TEST_F(SluicectlDrainTest, Drained) {
  core_.drain = drain_answer(0, true, kDrained);
  const RunResult r = run({"drain", "status", "web", "--quiet", "1m30s"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("safe to remove:   yes\n"
                               "reason:           no live flow on any worker\n"
                               "active flows:     0\n"
                               "oldest flow:      -\n"
                               "idle:             -\n"
                               "quiet time:       1m30s\n"
                               "still receiving:  none\n"));
  EXPECT_EQ(core_.last_drain_query.target, "");
  EXPECT_EQ(core_.last_drain_query.quiet_ms, 90000u);
}

// -o json: the DrainStatus; the exit status still tells.
TEST_F(SluicectlDrainTest, Json) {
  core_.drain = drain_answer(3, false, kNotDrained);
  const RunResult r = run({"drain", "status", "web", "10.77.0.31", "-o", "json"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  const auto status = parse_json<v1::DrainStatus>(r.out);
  EXPECT_EQ(status.target(), "10.77.0.31");
  EXPECT_EQ(status.active_flows(), 3u);
  EXPECT_THAT(status.by_worker(), ElementsAre(2u, 1u));
  EXPECT_FALSE(status.safe_to_remove());
}

// --wait-empty asks every --interval, with a census no older than that,
// printing a line per answer, until safe to remove: exit 0 and the final
// answer.
TEST_F(SluicectlDrainTest, WaitEmptyUntilDrained) {
  core_.set_drain_answers({drain_answer(3, false, kNotDrained, {"10.77.0.32"}),
                           drain_answer(1, false, "1 live flow"), drain_answer(0, true, kDrained)});
  const RunResult r =
      run({"drain", "status", "web", "canary", "--wait-empty", "--interval", "100ms"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(core_.drain_calls(), 3u);
  EXPECT_EQ(core_.last_drain_query.max_census_age_ms, 100u);
  static const std::regex kElapsed(R"(waiting \d+ms: )");
  EXPECT_THAT(std::regex_replace(r.out, kElapsed, "waiting T: "),
              StartsWith("waiting T: 3 live flows (W0=2 W1=1), oldest 5m2s, idle 1.2s; still "
                         "receiving: 10.77.0.32\n"
                         "waiting T: 1 live flow (W0=1 W1=0), oldest 5m2s, idle 1.2s\n"
                         "target:           web/canary (pool)\n"));
  EXPECT_THAT(r.out, HasSubstr("\nsafe to remove:   yes\n"));
  EXPECT_EQ(r.err, "");
}

// --wait-empty -o json: one DrainStatus per answer, one per line.
TEST_F(SluicectlDrainTest, WaitEmptyJsonLines) {
  core_.set_drain_answers({drain_answer(3, false, kNotDrained), drain_answer(0, true, kDrained)});
  const RunResult r =
      run({"drain", "status", "web", "canary", "--wait-empty", "--interval", "100ms", "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::vector<uint64_t> flows;
  for (std::string line; std::getline(lines, line);) {
    flows.push_back(parse_json<v1::DrainStatus>(line).active_flows());
  }
  EXPECT_THAT(flows, ElementsAre(3u, 0u));
}

// Still busy at --timeout: the last answer, the reason on stderr, exit 3.
TEST_F(SluicectlDrainTest, WaitEmptyTimesOut) {
  core_.drain = drain_answer(3, false, kNotDrained);
  const auto start = std::chrono::steady_clock::now();
  const RunResult r = run({"drain", "status", "web", "canary", "--wait-empty", "--interval",
                           "100ms", "--timeout", "450ms"});
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_GE(took, std::chrono::milliseconds(450));
  EXPECT_LT(took, std::chrono::seconds(5));
  // Asked at 0, 100, ... 400 ms and once more at the timeout (fewer when
  // the machine is slow, never more).
  EXPECT_GE(core_.drain_calls(), 2u);
  EXPECT_LE(core_.drain_calls(), 6u);
  EXPECT_THAT(r.out, HasSubstr("\nsafe to remove:   no\n"));
  EXPECT_THAT(r.err, StartsWith("sluicectl: not drained after "));
  EXPECT_THAT(r.err, HasSubstr(" (--timeout 450ms)\n"));
}

// Ctrl-C while waiting: ends at once, not drained (exit 3), said on stderr.
TEST_F(SluicectlDrainTest, WaitEmptyInterrupted) {
  core_.drain = drain_answer(3, false, kNotDrained);
  const Running running = start({"drain", "status", "web", "--wait-empty", "--interval", "5s"});
  wait_for_output(running);
  ASSERT_EQ(::kill(running.pid, SIGINT), 0);
  const RunResult r = finish(running);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(core_.drain_calls(), 1u);
  EXPECT_THAT(r.err, StartsWith("sluicectl: interrupted after "));
  EXPECT_THAT(r.err, HasSubstr(": not drained\n"));
}

// No such target: sluiced's NOT_FOUND, exit 1, with or without --wait-empty
// (which does not ask again: the answer will not change).
TEST_F(SluicectlDrainTest, UnknownTarget) {
  core_.drain.error = CallError{ErrorCode::kNotFound, "service web has no pool or backend \"x\""};
  for (bool wait : {false, true}) {
    std::vector<std::string> args = {"drain", "status", "web", "x"};
    if (wait) args.push_back("--wait-empty");
    const RunResult r = run(args);
    EXPECT_EQ(r.exit_code, 1) << wait;
    EXPECT_EQ(r.err, "sluicectl: NOT_FOUND: service web has no pool or backend \"x\"\n");
  }
  EXPECT_EQ(core_.drain_calls(), 2u);
}

// sluiced unreachable: --wait-empty keeps asking until --timeout, then exit
// 1 (no answer is not "not drained").
TEST_F(SluicectlDrainTest, WaitEmptyUnreachable) {
  const RunResult r = run({"--socket", dir_ + "/absent.sock", "drain", "status", "web",
                           "--wait-empty", "--interval", "100ms", "--timeout", "300ms"},
                          false);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(" (asking again)\n"));
  EXPECT_THAT(r.err, HasSubstr("sluicectl: no answer from sluiced in "));
}

// A wrong command line: exit 2 naming the argument; nothing asked.
TEST_F(SluicectlDrainTest, UsageErrors) {
  auto error_of = [&](const std::vector<std::string>& args) {
    const RunResult r = run(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    return r.err.substr(0, r.err.find('\n'));
  };
  EXPECT_EQ(error_of({"drain", "status", "web", "--quiet", "30"}),
            "sluicectl drain: --quiet: \"30\" is not a duration (a number and its unit: 500ms, "
            "30s, 2m, 1h)");
  EXPECT_EQ(error_of({"drain", "status", "web", "--quiet", "2d"}),
            "sluicectl drain: --quiet: \"2d\" is not a duration (a number and its unit: 500ms, "
            "30s, 2m, 1h)");
  EXPECT_EQ(error_of({"drain", "status", "web", "--timeout", "5m"}),
            "sluicectl drain: --timeout goes with --wait-empty");
  EXPECT_EQ(error_of({"drain", "status", "web", "--interval", "1s"}),
            "sluicectl drain: --interval goes with --wait-empty");
  EXPECT_EQ(error_of({"drain", "status", "web", "--wait-empty", "--interval", "10ms"}),
            "sluicectl drain: --interval: 10ms is not between 100ms and 10m");
  EXPECT_EQ(error_of({"drain", "status", "web", "--wait-empty", "--timeout", "0"}),
            "sluicectl drain: --timeout: 0 is not between 1ms and 24h");
  EXPECT_EQ(error_of({"drain", "status"}), "sluicectl drain: missing service: the service's name");
  EXPECT_EQ(error_of({"drain", "stat", "web"}), "sluicectl drain: unknown action \"stat\": status");
  EXPECT_EQ(error_of({"drain", "status", "web", "canary", "extra"}).rfind("sluicectl drain: ", 0),
            0u);
  EXPECT_EQ(core_.drain_calls(), 0u);
}

// --- Reading ---

// status: the fields aligned, then one row per worker.
TEST_F(SluicectlTest, StatusTable) {
  add_both();
  core_.set_status({"dpdk", {2, 1}, 0, 3723000, "0.1.0"});
  const RunResult r = run({"status"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "revision:   2\n"
            "dataplane:  dpdk\n"
            "workers:    2, 1 behind revision 2\n"
            "version:    0.1.0\n"
            "uptime:     1h2m3s\n"
            "\n"
            "WORKER  GENERATION  STATE\n"
            "0       2           current\n"
            "1       1           behind\n");
  EXPECT_EQ(r.err, "");
}

// status without a dataplane: no worker table.
TEST_F(SluicectlTest, StatusWithoutWorkers) {
  core_.set_status({"none", {}, 0, 42000, "0.1.0"});
  const RunResult r = run({"status"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "revision:   0\n"
            "dataplane:  none\n"
            "workers:    none\n"
            "version:    0.1.0\n"
            "uptime:     42s\n");
}

// status -o json: the GetStatusResponse, proto field names, every field written.
TEST_F(SluicectlTest, StatusJson) {
  add_both();
  core_.set_status({"dpdk", {2, 2}, 0, 5, "0.1.0"});
  const RunResult r = run({"status", "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"worker_generations\": ["));
  EXPECT_THAT(r.out, HasSubstr("\"uptime_ms\": \"5\""));
  const auto status = parse_json<v1::GetStatusResponse>(r.out);
  EXPECT_EQ(status.dataplane(), "dpdk");
  EXPECT_THAT(status.worker_generations(), ElementsAre(2u, 2u));
  EXPECT_EQ(status.revision(), 2u);
}

// get services: one aligned row per service.
TEST_F(SluicectlTest, GetServicesTable) {
  add_both();
  const RunResult r = run({"get", "services"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "NAME  VIP           PORT  PROTO  POOLS(weights)       BACKENDS  REVISION\n"
            "web   10.77.100.10  80    TCP    stable=90,canary=10  3         2\n"
            "dns   2001:db8::53  53    UDP    blue=1               1         2\n");
}

// Draining and disabled backends are counted in the BACKENDS column.
TEST_F(SluicectlTest, GetServicesCountsBackendStates) {
  add_both();
  ASSERT_EQ(run({"backend", "drain", "web", "10.77.0.21"}).exit_code, 0);
  ASSERT_EQ(run({"backend", "disable", "web", "10.77.0.31"}).exit_code, 0);
  const RunResult r = run({"get", "services"});
  EXPECT_THAT(r.out, HasSubstr("  3 (1 draining, 1 disabled)  4\n"));
}

// No services: a sentence, not an empty table.
TEST_F(SluicectlTest, GetServicesEmpty) {
  const RunResult r = run({"get", "services"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "no services (revision 0)\n");
}

// get services -o json (global options after the command work too).
TEST_F(SluicectlTest, GetServicesJson) {
  add_both();
  const RunResult r = run({"get", "services", "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto list = parse_json<v1::ListServicesResponse>(r.out);
  EXPECT_EQ(list.revision(), 2u);
  ASSERT_EQ(list.services_size(), 2);
  EXPECT_EQ(list.services(0).name(), "web");
  EXPECT_EQ(list.services(1).pools(0).backends(0).address(), "2001:db8:1::1");
}

// describe service: the whole service, defaults included.
TEST_F(SluicectlTest, DescribeService) {
  add_both();
  const RunResult r = run({"describe", "service", "web"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "Name:              web\n"
            "Listener:          10.77.100.10:80 TCP\n"
            "Affinity:          FLOW\n"
            "Encapsulation:     IPIP\n"
            "Fallback pool:     stable (the first pool)\n"
            "Maglev table:      65537 entries per pool\n"
            "Circuit breaking:  opens after 3 failed handshakes; ejects for 5000..300000 ms, "
            "3 half-open trials, at most 50% ejected\n"
            "Flow timeouts:     SYN 10000 ms, established 300000 ms, closing 10000 ms, UDP "
            "30000 ms\n"
            "Health checks:     off\n"
            "Revision:          2\n"
            "\n"
            "POOL    WEIGHT  SHARE  BACKENDS\n"
            "stable  90      90.0%  2\n"
            "canary  10      10.0%  1\n"
            "\n"
            "POOL    BACKEND     WEIGHT  STATE\n"
            "stable  10.77.0.21  1       ACTIVE\n"
            "stable  10.77.0.22  1       ACTIVE\n"
            "canary  10.77.0.31  1       ACTIVE\n"
            "\n"
            "SOURCE        POOL\n"
            "10.20.0.0/16  canary\n");
  // Without health checks, no stats are read.
  EXPECT_FALSE(core_.last_stats_service());
}

// web with an HTTP check (rescheduling unhealthy backends' flows), and a TCP
// check of its own on canary.
constexpr const char* kCheckedWebService = R"pb(
    name: "web" vip: "10.77.100.10" port: 80
    health_check { type: HEALTH_CHECK_TYPE_HTTP http_path: "/healthz" interval_ms: 1000
                   interval_jitter_percent: 10 unhealthy_flows: UNHEALTHY_FLOWS_RESCHEDULE }
    pools { name: "stable" weight: 90 backends { address: "10.77.0.21" }
            backends { address: "10.77.0.22" } }
    pools { name: "canary" weight: 10 backends { address: "10.77.0.31" }
            health_check { type: HEALTH_CHECK_TYPE_TCP port: 8080 unhealthy_threshold: 2 } }
  )pb";

// describe a health-checked service: the service's check and rule, the
// pools that override it (field by field: canary inherits the interval and
// jitter), and each backend's health and last result (from sluiced's
// stats: health is not configuration).
TEST_F(SluicectlTest, DescribeServiceHealthChecks) {
  v1::ServiceList list;
  *list.add_services() = service_from_text(kCheckedWebService);
  const auto mapped = config::services_from_proto(list);
  ASSERT_TRUE(mapped.errors.empty()) << mapped.errors.front().to_string();
  core_.add_service(mapped.services.at(0));
  ControlStats stats = signal_stats();
  stats.services[0].pools[1].backends[0].health = {HealthState::kUnknown, true, "", 0, 0, 0, 0};
  core_.set_stats(stats);
  const RunResult r = run({"describe", "service", "web"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out,
              HasSubstr("\nHealth checks:       HTTP GET /healthz, status 200..399, port 80, every "
                        "1000 ms (+0..10% jitter), timeout 1000 ms\n"
                        "Unhealthy backends:  after 3 failed checks in a row (healthy again after 2 "
                        "passes); its established flows move to other backends\n"
                        "Revision:            1\n"));
  EXPECT_THAT(r.out,
              HasSubstr("\n\nPOOL    HEALTH CHECK (the pool's own)                                  "
                        "          THRESHOLDS\n"
                        "canary  TCP connect, port 8080, every 1000 ms (+0..10% jitter), timeout "
                        "1000 ms  unhealthy 2, healthy 2\n\n"));
  EXPECT_THAT(r.out, HasSubstr("\n\nPOOL    BACKEND     WEIGHT  STATE   HEALTH     LAST CHECK\n"
                               "stable  10.77.0.21  1       ACTIVE  healthy    ok\n"
                               "stable  10.77.0.22  1       ACTIVE  unhealthy  status 503\n"
                               "canary  10.77.0.31  1       ACTIVE  unknown\n"));
  EXPECT_EQ(*core_.last_stats_service(), "web");
  EXPECT_EQ(r.err, "");
}

// Health-checked, but sluiced's stats cannot be read: the configuration
// still shows, without the health columns, and stderr says why.
TEST_F(SluicectlTest, DescribeServiceHealthUnknown) {
  v1::ServiceList list;
  *list.add_services() = service_from_text(kCheckedWebService);
  core_.add_service(config::services_from_proto(list).services.at(0));
  const RunResult r = run({"describe", "service", "web"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\n\nPOOL    BACKEND     WEIGHT  STATE\n"
                               "stable  10.77.0.21  1       ACTIVE\n"));
  EXPECT_EQ(r.err,
            "sluicectl: backends' health unknown: GetStats failed: no service named \"web\"\n");
}

// describe -o json is the GetServiceResponse.
TEST_F(SluicectlTest, DescribeServiceJson) {
  add_both();
  const RunResult r = run({"-o", "json", "describe", "service", "dns"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto got = parse_json<v1::GetServiceResponse>(r.out);
  EXPECT_EQ(got.service().name(), "dns");
  EXPECT_EQ(got.service().protocol(), v1::PROTOCOL_UDP);
  EXPECT_EQ(got.revision(), 2u);
}

// An unknown service: exit 1 with the server's code and message.
TEST_F(SluicectlTest, DescribeUnknownService) {
  add_both();
  const RunResult r = run({"describe", "service", "mail"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "sluicectl: NOT_FOUND: no service named \"mail\" (revision 2)\n");
}

// --- apply ---

// A file of one service: applied, one revision.
TEST_F(SluicectlTest, ApplyOneService) {
  const RunResult r = run({"apply", "-f", write_file("web.json", kWebJson)});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "service/web applied (revision 1)\n");
  ASSERT_EQ(core_.calls().size(), 1u);
  EXPECT_EQ(core_.calls()[0].config->pools.at(1).name, "canary");
  EXPECT_FALSE(core_.calls()[0].options.dry_run);
}

// -f - reads the document from standard input.
TEST_F(SluicectlTest, ApplyFromStdin) {
  stdin_path_ = write_file("web.json", kWebJson);
  const RunResult r = run({"apply", "-f", "-"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "service/web applied (revision 1)\n");
  EXPECT_EQ(core_.calls().at(0).service, "web");
}

// A services list: one change per service, in file order.
TEST_F(SluicectlTest, ApplyServiceList) {
  const RunResult r = run({"apply", "-f", write_file("all.json", kTwoServicesJson)});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "service/web applied (revision 1)\n"
            "service/dns applied (revision 2)\n");
  EXPECT_EQ(core_.revision(), 2u);
}

// --expect-revision guards the first service; each next one expects the previous one's revision.
TEST_F(SluicectlTest, ApplyChainsExpectedRevision) {
  add_both();
  const RunResult r =
      run({"apply", "-f", write_file("all.json", kTwoServicesJson), "--expect-revision", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto calls = core_.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].options.expected_revision, 2u);
  EXPECT_EQ(calls[1].options.expected_revision, 3u);
}

// A stale --expect-revision: refused, exit 1, nothing applied.
TEST_F(SluicectlTest, ApplyStaleRevisionRefused) {
  add_both();
  const RunResult r =
      run({"apply", "-f", write_file("web.json", kWebJson), "--expect-revision", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "sluicectl: service/web not applied\n"
            "sluicectl: FAILED_PRECONDITION: expected revision 1 but the current revision is 2\n");
  EXPECT_EQ(core_.revision(), 2u);
}

// --dry-run: checked, nothing changed.
TEST_F(SluicectlTest, ApplyDryRun) {
  const RunResult r = run({"apply", "--dry-run", "-f", write_file("web.json", kWebJson)});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "service/web checked (dry run against revision 0: valid, nothing changed)\n");
  ASSERT_EQ(core_.calls().size(), 1u);
  EXPECT_TRUE(core_.calls()[0].options.dry_run);
  EXPECT_EQ(core_.revision(), 0u);
}

// --wait=5 and --wait: the core is asked to wait; the answer says applied.
TEST_F(SluicectlTest, ApplyWait) {
  const std::string file = write_file("web.json", kWebJson);
  RunResult r = run({"apply", "-f", file, "--wait=5"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "service/web applied (revision 1, applied on every worker)\n");
  r = run({"apply", "-f", file, "--wait"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto calls = core_.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_TRUE(calls[0].options.wait_applied_until);
  EXPECT_TRUE(calls[1].options.wait_applied_until);
}

// A wait that times out: exit 1, and the saved revision is named.
TEST_F(SluicectlTest, ApplyWaitNotApplied) {
  core_.set_applies(false);
  const RunResult r = run({"apply", "-f", write_file("web.json", kWebJson), "--wait=2"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "sluicectl: service/web not applied\n"
            "sluicectl: DEADLINE_EXCEEDED: revision 1 was saved and published but not every "
            "worker forwards with it yet\n"
            "sluicectl: the change is saved as revision 1; run `sluicectl status` to see which "
            "workers have it\n");
}

// apply -o json: an array of MutationResponse, one per service.
TEST_F(SluicectlTest, ApplyJson) {
  const RunResult r =
      run({"apply", "-f", write_file("all.json", kTwoServicesJson), "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "[{\"revision\":\"1\",\"applied\":false},\n"
            " {\"revision\":\"2\",\"applied\":false}]\n");
}

// A bad field in the file: exit 1 naming the file and the field; nothing sent.
TEST_F(SluicectlTest, ApplyBadFieldNamed) {
  std::string text = kWebJson;
  text.replace(text.find("10.77.0.31"), 10, "10.0.0.300");
  const std::string file = write_file("bad.json", text);
  const RunResult r = run({"apply", "-f", file});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "sluicectl: " + file +
                       ": services[0].pools[1].backends[0].address: \"10.0.0.300\" is not an "
                       "IPv4 or IPv6 address\n");
  EXPECT_THAT(core_.calls(), IsEmpty());
}

// Every error of the file is listed, one per line.
TEST_F(SluicectlTest, ApplyAllErrorsListed) {
  std::string text = kWebJson;
  text.replace(text.find("\"port\": 80"), 10, "\"port\": 0 ");
  text.replace(text.find("\"weight\": 10,"), 13, "\"weight\": 2000000,");
  const std::string file = write_file("bad.json", text);
  const RunResult r = run({"apply", "-f", file});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "sluicectl: " + file + ": services[0].port: 0 is out of range 1..65535\n" +
                "sluicectl: " + file +
                ": services[0].pools[1].weight: 2000000 is out of range 0..1000000\n");
  EXPECT_THAT(core_.calls(), IsEmpty());
}

// A syntax error is placed by line and column.
TEST_F(SluicectlTest, ApplySyntaxError) {
  const std::string file = write_file("broken.json", "{\n  \"name\": \"web\",\n}\n");
  const RunResult r = run({"apply", "-f", file});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, StartsWith("sluicectl: " + file + ": line 3, column 1: "));
  EXPECT_THAT(core_.calls(), IsEmpty());
}

// A misspelt key is an error, not ignored.
TEST_F(SluicectlTest, ApplyUnknownField) {
  std::string text = kWebJson;
  text.replace(text.find("\"vip\""), 5, "\"vips\"");
  const std::string file = write_file("typo.json", text);
  const RunResult r = run({"apply", "-f", file});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "sluicectl: " + file + ": services[0].vips: unknown field\n");
}

// A file that does not exist: exit 1 with errno's text.
TEST_F(SluicectlTest, ApplyMissingFile) {
  const RunResult r = run({"apply", "-f", dir_ + "/nope.json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "sluicectl: " + dir_ + "/nope.json: cannot open: No such file or directory\n");
}

// The server's own refusal of a service in a file that passed the local checks.
TEST_F(SluicectlTest, ApplyRefusedByServer) {
  core_.fail_next(ErrorCode::kInvalidArgument,
                  "service: VIP 10.77.100.10 port 80 TCP is already used by service \"www\"");
  const RunResult r = run({"apply", "-f", write_file("web.json", kWebJson)});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "sluicectl: service/web not applied\n"
            "sluicectl: INVALID_ARGUMENT: service: VIP 10.77.100.10 port 80 TCP is already used "
            "by service \"www\"\n");
}

// apply without -f is a usage error.
TEST_F(SluicectlTest, ApplyWithoutFile) {
  const RunResult r = run({"apply"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, StartsWith("sluicectl apply: -f FILE is required\n\nUsage: sluicectl apply"));
}

// --- delete, set-weights, backend ---

// delete service NAME.
TEST_F(SluicectlTest, DeleteService) {
  add_both();
  const RunResult r = run({"delete", "service", "dns", "--expect-revision", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "service/dns deleted (revision 3)\n");
  EXPECT_EQ(core_.calls().at(0).service, "dns");
  EXPECT_EQ(core_.calls().at(0).options.expected_revision, 2u);
}

// Deleting an unknown service: NOT_FOUND, exit 1.
TEST_F(SluicectlTest, DeleteUnknownService) {
  const RunResult r = run({"delete", "service", "mail"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "sluicectl: NOT_FOUND: no service named \"mail\"\n");
}

// set-weights: every POOL=WEIGHT in one call.
TEST_F(SluicectlTest, SetWeights) {
  add_both();
  const RunResult r = run({"set-weights", "web", "stable=50", "canary=50", "--wait=3"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "service/web weights canary=50 stable=50 (revision 3, applied on every worker)\n");
  ASSERT_EQ(core_.calls().size(), 1u);
  EXPECT_THAT(core_.calls()[0].weights, ElementsAre(Pair("canary", 50u), Pair("stable", 50u)));
}

// set-weights -o json prints the MutationResponse.
TEST_F(SluicectlTest, SetWeightsJson) {
  add_both();
  const RunResult r = run({"-o", "json", "set-weights", "web", "canary=0"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto response = parse_json<v1::MutationResponse>(r.out);
  EXPECT_EQ(response.revision(), 3u);
  EXPECT_FALSE(response.applied());
}

// A weight out of range: the server's INVALID_ARGUMENT naming the pool.
TEST_F(SluicectlTest, SetWeightsOutOfRange) {
  add_both();
  const RunResult r = run({"set-weights", "web", "stable=2000000"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "sluicectl: INVALID_ARGUMENT: weights[\"stable\"]: 2000000 is out of range "
            "0..1000000\n");
  EXPECT_THAT(core_.calls(), IsEmpty());
}

// A pool the service does not have: NOT_FOUND from the core.
TEST_F(SluicectlTest, SetWeightsUnknownPool) {
  add_both();
  const RunResult r = run({"set-weights", "web", "green=5"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "sluicectl: NOT_FOUND: service web has no pool green\n");
}

// Malformed POOL=WEIGHT arguments are usage errors (exit 2, help on stderr).
TEST_F(SluicectlTest, SetWeightsMalformed) {
  for (const char* bad : {"stable:50", "stable=", "=50", "stable=-1", "stable=5x",
                          "stable=99999999999"}) {
    const RunResult r = run({"set-weights", "web", bad});
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_THAT(r.err, StartsWith("sluicectl set-weights: \"" + std::string(bad) +
                                  "\" is not POOL=WEIGHT"));
    EXPECT_THAT(r.err, HasSubstr("Usage: sluicectl set-weights SERVICE POOL=WEIGHT..."));
  }
  EXPECT_EQ(run({"set-weights", "web"}).exit_code, 2);
  EXPECT_EQ(run({"set-weights", "web", "a=1", "a=2"}).exit_code, 2);
  EXPECT_THAT(core_.calls(), IsEmpty());
}

// backend drain|disable|enable set the backend's state.
TEST_F(SluicectlTest, BackendStates) {
  add_both();
  RunResult r = run({"backend", "drain", "web", "10.77.0.21"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "service/web backend 10.77.0.21 draining (revision 3)\n");
  r = run({"backend", "disable", "dns", "2001:db8:1::1", "--dry-run"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "service/dns backend 2001:db8:1::1 disabled (dry run against revision 3: valid, "
            "nothing changed)\n");
  r = run({"backend", "enable", "web", "10.77.0.21"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto calls = core_.calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].state, engine::BackendState::kDraining);
  EXPECT_EQ(calls[1].state, engine::BackendState::kDisabled);
  EXPECT_EQ(calls[2].state, engine::BackendState::kActive);
  EXPECT_EQ(calls[1].backend, *engine::IpAddress::parse("2001:db8:1::1"));
}

// A malformed backend address: the server's field error, exit 1.
TEST_F(SluicectlTest, BackendBadAddress) {
  add_both();
  const RunResult r = run({"backend", "drain", "web", "10.0.0.300"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "sluicectl: INVALID_ARGUMENT: address: \"10.0.0.300\" is not an IPv4 or IPv6 "
            "address\n");
}

// An unknown action or a missing address is a usage error.
TEST_F(SluicectlTest, BackendUsage) {
  RunResult r = run({"backend", "remove", "web", "10.77.0.21"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, StartsWith("sluicectl backend: unknown action \"remove\""));
  r = run({"backend", "drain", "web"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, StartsWith("sluicectl backend: missing address"));
}

// --- The command line ---

// No command: the overview on stderr, exit 2; --help: on stdout, exit 0.
TEST_F(SluicectlTest, NoCommand) {
  RunResult r = run({});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, StartsWith("Usage: sluicectl [global options] COMMAND"));
  r = run({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("\nCommands:\n  status "));
  EXPECT_EQ(r.err, "");
}

// Every command has its --help, exit 0, naming its usage.
TEST_F(SluicectlTest, EveryCommandHasHelp) {
  for (const char* command :
       {"status", "get", "describe", "apply", "delete", "set-weights", "backend", "drain",
        "explain", "stats", "events"}) {
    const RunResult r = run({command, "--help"});
    EXPECT_EQ(r.exit_code, 0) << command;
    EXPECT_THAT(r.out, StartsWith(std::string("Usage: sluicectl ") + command)) << command;
    EXPECT_THAT(r.out, HasSubstr("Global options:")) << command;
  }
  EXPECT_THAT(run({"apply", "-h"}).out, HasSubstr("--expect-revision N"));
}

// Unknown commands and options, bad -o, bad numbers: exit 2, nothing sent.
TEST_F(SluicectlTest, UsageErrors) {
  EXPECT_EQ(run({"frobnicate"}).exit_code, 2);
  EXPECT_THAT(run({"frobnicate"}).err, StartsWith("sluicectl: unknown command \"frobnicate\""));
  EXPECT_EQ(run({"status", "--bogus"}).exit_code, 2);
  EXPECT_EQ(run({"status", "extra"}).exit_code, 2);
  EXPECT_EQ(run({"-o", "yaml", "status"}).exit_code, 2);
  EXPECT_EQ(run({"get", "pods"}).exit_code, 2);
  EXPECT_EQ(run({"delete", "service", "web", "--expect-revision", "-1"}).exit_code, 2);
  EXPECT_EQ(run({"delete", "service", "web", "--wait=0"}).exit_code, 2);
  EXPECT_EQ(run({"delete", "service", "web", "--wait=soon"}).exit_code, 2);
  // No abbreviations: --sock is not --socket.
  EXPECT_EQ(run({"--sock", socket_, "status"}, false).exit_code, 2);
  EXPECT_THAT(core_.calls(), IsEmpty());
}

// No sluiced on the socket: exit 1 with a hint.
TEST_F(SluicectlTest, Unreachable) {
  const RunResult r = run({"--socket", dir_ + "/absent.sock", "status"}, false);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, StartsWith("sluicectl: cannot reach sluiced at " + dir_ + "/absent.sock: "));
  EXPECT_THAT(r.err, HasSubstr("is sluiced running?"));
}

// SLUICECTL_SOCKET stands in for --socket; --socket wins over it.
TEST_F(SluicectlTest, SocketFromEnvironment) {
  EXPECT_EQ(run({"status"}, false, {"SLUICECTL_SOCKET=" + socket_}).exit_code, 0);
  EXPECT_EQ(run({"--socket", socket_, "status"}, false,
                {"SLUICECTL_SOCKET=" + dir_ + "/absent.sock"})
                .exit_code,
            0);
  EXPECT_EQ(run({"status"}, false, {"SLUICECTL_SOCKET=" + dir_ + "/absent.sock"}).exit_code, 1);
}

// Over TCP with TLS: an operator's certificate changes weights, a
// certificate with no role is refused, TLS options are checked.
TEST_F(SluicectlTest, OverTlsWithClientCertificates) {
  if (!have_openssl()) GTEST_SKIP() << "the openssl command is missing (Debian package openssl)";
  const std::string cert_dir = dir_ + "/certs";
  std::filesystem::create_directory(cert_dir);
  TestCertificates certs(cert_dir);
  ASSERT_TRUE(certs.ok()) << read_all(cert_dir + "/openssl.log");
  AccessPolicy policy;
  policy.operators = {{Identity::Kind::kCommonName, "rollouts"}};
  ControlServiceImpl tls_service(core_, policy);
  ServerOptions options;
  options.unix_socket_path = dir_ + "/tls.sock";
  options.tcp = ServerOptions::TcpListener{
      "127.0.0.1:0", ServerOptions::TlsFiles{certs.cert_path("server"), certs.key_path("server"),
                                             certs.cert_path("ca")}};
  std::string error;
  int port = 0;
  auto server = start_control_server(tls_service, options, &error, &port);
  ASSERT_NE(server, nullptr) << error;
  add_both();
  const std::string address = "127.0.0.1:" + std::to_string(port);
  auto tls_args = [&](const std::string& client) {
    return std::vector<std::string>{"--address", address, "--tls-ca", certs.cert_path("ca"),
                                    "--tls-cert", certs.cert_path(client), "--tls-key",
                                    certs.key_path(client)};
  };

  std::vector<std::string> args = tls_args("rollouts");
  args.insert(args.end(), {"set-weights", "web", "stable=50", "canary=50"});
  RunResult r = run(args, false);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto calls = core_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_THAT(calls[0].caller.peer, StartsWith("tls:CN=rollouts (operator) from ipv4:127.0.0.1:"));
  EXPECT_THAT(calls[0].weights, ElementsAre(Pair("canary", 50u), Pair("stable", 50u)));

  args = tls_args("stranger");
  args.push_back("status");
  r = run(args, false);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "sluicectl: PERMISSION_DENIED: the client certificate CN=stranger is not named by "
            "any operator or read-only identity of sluiced\n");

  r = run({"--address", address, "--tls-ca", certs.cert_path("ca"), "status"}, false);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, StartsWith("sluicectl status: --address needs --tls-cert (TLS with a client "
                                "certificate), or --insecure\n"));
  r = run({"--tls-ca", certs.cert_path("ca"), "status"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("go with --address"));
  args = tls_args("rollouts");
  args[3] = dir_ + "/missing.pem";
  args.push_back("status");
  r = run(args, false);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "sluicectl: --tls-ca: cannot read a PEM file at " + dir_ + "/missing.pem\n");
  EXPECT_EQ(core_.calls().size(), 1u);
  server->Shutdown();
}

}  // namespace
}  // namespace sluice::control::api
