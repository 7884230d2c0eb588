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

// stats: the header, the traffic tree with circuits, then the counters
// that are not zero, in total and per worker.
TEST_F(SluicectlTest, StatsTable) {
  core_.set_stats(sample_stats());
  const RunResult r = run({"stats"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "revision:   4\n"
            "dataplane:  dpdk\n"
            "workers:    2, all at revision 4\n"
            "uptime:     1m0s\n"
            "\n"
            "SERVICE/POOL/BACKEND  STATE     WEIGHT  PACKETS  BYTES    CIRCUIT\n"
            "web                                     900      87.9KiB\n"
            "  stable                        90      600      58.6KiB\n"
            "    10.77.0.21        ACTIVE    1       300      29.3KiB  closed\n"
            "    10.77.0.22        ACTIVE    1       300      29.3KiB  closed\n"
            "  canary                        10      300      29.3KiB\n"
            "    10.77.0.31        DRAINING  1       300      29.3KiB  open 1/2\n"
            "dns                                     100      7.8KiB\n"
            "  blue                          1       100      7.8KiB\n"
            "    2001:db8:1::1     ACTIVE    1       100      7.8KiB   closed\n"
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
  EXPECT_THAT(second, HasSubstr("rates over:  2.0s\n"));
  // web: 900 more packets and 90000 more bytes in 2 s.
  EXPECT_THAT(second,
              HasSubstr("SERVICE/POOL/BACKEND  STATE     WEIGHT  PACKETS  BYTES     PACKETS/S  "
                        "BITS/S       CIRCUIT\n"
                        "web                                     1800     175.8KiB  450        "
                        "360.0kbit/s\n"));
  EXPECT_THAT(second, HasSubstr("    10.77.0.31        DRAINING  1       600      58.6KiB   150"
                                "        120.0kbit/s  open 1/2\n"));
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
  EXPECT_THAT(r.out, StartsWith("revision:   4\n"));
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
       {"status", "get", "describe", "apply", "delete", "set-weights", "backend", "explain",
        "stats", "events"}) {
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
