// SPDX-License-Identifier: Apache-2.0
// Crash safety of FileStateStore: a process saving revision after revision
// is killed with SIGKILL at random moments; each time, the state on disk
// must load, and be the last acknowledged revision or the one being saved.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "control/state/file_state_store.h"
#include "tests/control/state/state_test_util.h"

namespace sluice::control {
namespace {

using namespace state_test;

// The state saved at `revision`: a few hundred backends (a file of a few
// hundred KiB, so a kill often lands inside a write) whose canary weights
// tell revisions apart.
DesiredState state_at(uint64_t revision, const std::vector<engine::ServiceConfig>& base) {
  DesiredState state{revision, base};
  for (size_t i = 0; i < state.services.size(); ++i) {
    state.services[i].pools[1].weight = static_cast<uint32_t>((revision * 7 + i) % 1000 + 1);
  }
  return state;
}

std::vector<engine::ServiceConfig> base_services() {
  std::vector<engine::ServiceConfig> services = many_services(24);
  for (engine::ServiceConfig& s : services) {
    for (int b = 0; b < 60; ++b) {
      const std::string address =
          s.vip.is_v4() ? "10.99." + std::to_string(s.port % 250) + "." + std::to_string(b + 1)
                        : "2001:db8:99:" + std::to_string(s.port) + "::" + std::to_string(b + 1);
      s.pools[0].backends.push_back({ip(address.c_str()), 1, engine::BackendState::kActive});
    }
  }
  return services;
}

// The child: saves first, first + 1, ... and after each save writes the
// revision to `ack_fd`. Never returns.
[[noreturn]] void save_forever(const std::string& directory, uint64_t first, int ack_fd,
                               const std::vector<engine::ServiceConfig>& base) {
  auto store = make_file_state_store(directory);
  std::string error;
  for (uint64_t revision = first;; ++revision) {
    if (!store->save(state_at(revision, base), &error)) {
      std::fprintf(stderr, "child: save %llu failed: %s\n",
                   static_cast<unsigned long long>(revision), error.c_str());
      ::_exit(2);
    }
    if (::write(ack_fd, &revision, sizeof(revision)) != sizeof(revision)) ::_exit(3);
  }
}

// Each round costs about 40 ms; kills land inside a save (between creating
// state.json.tmp and the rename) in roughly one round of six.
constexpr int kRounds = 40;

class StateCrashTest : public ::testing::Test {
 protected:
  ScratchDir scratch_;
};

// kRounds rounds of: fork a saver, let it run for a random while (reading its
// acknowledgements), SIGKILL it, then load: never an error, never older
// than the last acknowledged revision, at most the one after it, and the
// exact services of that revision.
TEST_F(StateCrashTest, KilledSaverLeavesTheLastAcknowledgedOrNewerState) {
  const std::string directory = scratch_.path() + "/state";
  const auto base = base_services();
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> delay_us(0, 60000);

  uint64_t acknowledged = 0;
  int rounds_with_temp = 0;
  const auto started = std::chrono::steady_clock::now();
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    int pipe_fds[2];
    ASSERT_EQ(0, ::pipe2(pipe_fds, O_CLOEXEC));
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(pipe_fds[0]);
      save_forever(directory, acknowledged + 1, pipe_fds[1], base);
    }
    ::close(pipe_fds[1]);

    // Read acknowledgements until the random deadline, then kill.
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::microseconds(delay_us(random));
    uint64_t last = acknowledged;
    auto drain = [&](int timeout_ms) {
      pollfd p{pipe_fds[0], POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) <= 0) return false;
      uint64_t revision = 0;
      const ssize_t n = ::read(pipe_fds[0], &revision, sizeof(revision));
      if (n <= 0) return false;  // EOF: the child is gone
      EXPECT_EQ(n, static_cast<ssize_t>(sizeof(revision)));
      EXPECT_EQ(revision, last + 1);
      last = revision;
      return true;
    };
    while (std::chrono::steady_clock::now() < deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      drain(static_cast<int>(std::max<int64_t>(left.count(), 0)));
    }
    ASSERT_EQ(0, ::kill(child, SIGKILL));
    int status = 0;
    ASSERT_EQ(child, ::waitpid(child, &status, 0));
    ASSERT_TRUE(WIFSIGNALED(status)) << "the saver exited by itself, status " << status;
    while (drain(0)) {
    }
    ::close(pipe_fds[0]);
    if (exists(directory + "/state.json.tmp")) ++rounds_with_temp;

    std::string error;
    const auto loaded = make_file_state_store(directory)->load(&error);
    ASSERT_TRUE(loaded.has_value()) << error;
    EXPECT_GE(loaded->revision, last);
    EXPECT_LE(loaded->revision, last + 1);
    if (loaded->revision == 0) {
      EXPECT_TRUE(loaded->services.empty());  // killed before its first save
    } else {
      expect_same_state(state_at(loaded->revision, base), *loaded);
    }
    acknowledged = loaded->revision;
  }
  std::printf("%llu revisions saved; %d of %d kills left a state.json.tmp behind; %lld ms\n",
              static_cast<unsigned long long>(acknowledged), rounds_with_temp, kRounds,
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - started)
                                         .count()));
  EXPECT_GT(acknowledged, 20u);  // the savers did get to save
}

}  // namespace
}  // namespace sluice::control
