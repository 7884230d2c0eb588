// SPDX-License-Identifier: Apache-2.0
// The fixture of the sluicectl tests (sluicectl_*_test.cc): the built
// sluicectl (SLUICECTL_PATH), run as a subprocess against the Control
// service over a fake core on a unix socket, and what they share.
#pragma once

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

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string read_all(const std::string& path) {
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

// sample_stats() with golden signals, handshake times, live flows and
// health: web/stable's backends are checked (one healthy, one unhealthy),
// canary's slowest handshakes are beyond the last bound (5 s), and dns saw
// no connection. New flows and completed handshakes grow with `scale`;
// failures, expiries and resets do not.
inline ControlStats signal_stats(uint64_t uptime_ms = 60000, uint64_t scale = 1) {
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

}  // namespace sluice::control::api
