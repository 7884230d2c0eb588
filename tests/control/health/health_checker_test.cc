// SPDX-License-Identifier: Apache-2.0
// HealthChecker in virtual time: a FakeClock the test moves, a FakeProber
// whose probes end as each test says, a ScriptedRandom for the jitter.
#include "control/health/health_checker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <thread>

#include "tests/control/health/fake_prober.h"

namespace sluice::control::health {
namespace {

using engine::HealthCheckConfig;
using engine::HealthCheckType;
using ::testing::ElementsAre;

constexpr int64_t kMs = 1000;  // microseconds

HealthCheckConfig tcp_check() {
  HealthCheckConfig c;
  c.type = HealthCheckType::kTcp;
  c.interval_ms = 1000;
  c.timeout_ms = 500;
  c.unhealthy_threshold = 3;
  c.healthy_threshold = 2;
  return c;
}

engine::IpAddress address(int n) {
  return engine::IpAddress::v4(10, 0, static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n));
}

HealthTarget target(int n, HealthCheckConfig config = tcp_check()) {
  HealthTarget t;
  t.service = "web";
  t.pool = "stable";
  t.address = address(n);
  t.port = 80;
  t.backend_slot = static_cast<uint32_t>(n);
  t.config = config;
  return t;
}

FakeProber::Reply fail(const char* why) { return {ProbeResult{false, why}, 0}; }
FakeProber::Reply hang() { return {std::nullopt, 0}; }

class HealthCheckerTest : public ::testing::Test {
 protected:
  void SetUp() override { make_checker({}); }

  void make_checker(HealthChecker::Options options) {
    options.epoch_us = 0;
    checker_ = std::make_unique<HealthChecker>(prober_, clock_, random_, options);
    checker_->set_listener([this](const HealthTransition& t) { transitions_.push_back(t); });
  }

  // Runs the checker in virtual time, event by event, up to t_ms.
  void run_until_ms(int64_t t_ms) { run_until_us(t_ms * kMs); }
  void run_until_us(int64_t end) {
    for (int turns = 0; turns < 1000000; ++turns) {
      const int64_t next_event = checker_->run_once(0);  // may start probes
      const int64_t next = std::min(next_event, prober_.next_result_us());
      if (next > end) break;
      clock_.set_us(std::max(clock_.now_us(), next));
    }
    clock_.set_us(end);
    checker_->run_once(0);
  }

  BackendHealth health_of(int n) const {
    for (const TargetHealth& t : checker_->statuses()) {
      if (t.target.address == address(n)) return t.health;
    }
    ADD_FAILURE() << "no target " << n;
    return {};
  }

  // The states the listener saw, "from>to".
  std::vector<std::string> transition_names() const {
    std::vector<std::string> out;
    for (const HealthTransition& t : transitions_) {
      out.push_back(std::string(health_state_name(t.from)) + ">" + health_state_name(t.to));
    }
    return out;
  }

  FakeClock clock_;
  ScriptedRandom random_;
  FakeProber prober_{clock_};
  std::unique_ptr<HealthChecker> checker_;
  std::vector<HealthTransition> transitions_;
};

// --- Scheduling ---

// First checks spread uniformly over the first interval instead of all
// starting at once: 1000 targets, ten 100 ms buckets, each near 100.
TEST_F(HealthCheckerTest, FirstChecksSpreadOverFirstInterval) {
  std::mt19937_64 rng(42);
  random_.pick = [&](uint64_t bound) {
    return std::uniform_int_distribution<uint64_t>(0, bound - 1)(rng);
  };
  std::vector<HealthTarget> targets;
  for (int i = 1; i <= 1000; ++i) targets.push_back(target(i));
  checker_->set_targets(targets);
  run_until_us(1000 * kMs - 1);
  ASSERT_EQ(prober_.started.size(), 1000u);
  int buckets[10] = {};
  for (const auto& s : prober_.started) {
    ASSERT_GE(s.at_us, 0);
    ASSERT_LT(s.at_us, 1000 * kMs);
    ++buckets[s.at_us / (100 * kMs)];
  }
  for (int b : buckets) {
    EXPECT_GT(b, 60);
    EXPECT_LT(b, 140);
  }
}

// The first check's offset is the random source's pick within the interval.
TEST_F(HealthCheckerTest, FirstCheckAtRandomOffset) {
  random_.pick = [](uint64_t bound) { return bound - 1; };
  checker_->set_targets({target(1)});
  run_until_us(1000 * kMs - 2);
  EXPECT_TRUE(prober_.started.empty());
  run_until_us(1000 * kMs - 1);
  ASSERT_EQ(prober_.started.size(), 1u);
  EXPECT_EQ(prober_.started[0].at_us, 1000 * kMs - 1);
}

// Without jitter, checks start exactly one interval apart.
TEST_F(HealthCheckerTest, ChecksEveryInterval) {
  checker_->set_targets({target(1)});
  run_until_ms(3500);
  EXPECT_THAT(prober_.starts_of(address(1)), ElementsAre(0, 1000 * kMs, 2000 * kMs, 3000 * kMs));
}

// Jitter adds [0, interval_jitter_ms) plus [0, interval * percent / 100):
// with the smallest picks the period is the interval, with the largest
// just under interval + 100 ms + 50 ms.
TEST_F(HealthCheckerTest, JitterBounds) {
  HealthCheckConfig c = tcp_check();
  c.interval_jitter_ms = 50;
  c.interval_jitter_percent = 10;
  int picks = 0;
  random_.pick = [&](uint64_t bound) { return picks++ == 0 ? 0 : bound - 1; };
  checker_->set_targets({target(1, c)});  // first check at 0, then the largest jitter
  run_until_ms(10000);
  const std::vector<int64_t> starts = prober_.starts_of(address(1));
  ASSERT_GE(starts.size(), 3u);
  for (size_t i = 1; i < starts.size(); ++i) {
    // Two picks of bound - 1: 100 ms - 1 us and 50 ms - 1 us.
    EXPECT_EQ(starts[i] - starts[i - 1], 1150 * kMs - 2) << i;
  }
}

// Uniform jitter stays within its bounds and covers them.
TEST_F(HealthCheckerTest, JitterUniformWithinBounds) {
  std::mt19937_64 rng(7);
  random_.pick = [&](uint64_t bound) {
    return std::uniform_int_distribution<uint64_t>(0, bound - 1)(rng);
  };
  HealthCheckConfig c = tcp_check();
  c.interval_jitter_percent = 20;  // + [0, 200 ms)
  checker_->set_targets({target(1, c)});
  run_until_ms(400 * 1000);
  const std::vector<int64_t> starts = prober_.starts_of(address(1));
  ASSERT_GT(starts.size(), 300u);
  int64_t lo = INT64_MAX, hi = 0;
  for (size_t i = 1; i < starts.size(); ++i) {
    lo = std::min(lo, starts[i] - starts[i - 1]);
    hi = std::max(hi, starts[i] - starts[i - 1]);
  }
  EXPECT_GE(lo, 1000 * kMs);
  EXPECT_LT(lo, 1010 * kMs);
  EXPECT_LT(hi, 1200 * kMs);
  EXPECT_GT(hi, 1190 * kMs);
}

// A checker that fell behind (its thread stalled for five intervals) starts
// one check and spaces the next an interval later: no burst of catch-up
// checks.
TEST_F(HealthCheckerTest, FallingBehindDoesNotBurst) {
  checker_->set_targets({target(1)});
  run_until_ms(0);
  clock_.set_ms(5300);  // the loop did not run meanwhile
  checker_->run_once(0);
  run_until_ms(7000);
  EXPECT_THAT(prober_.starts_of(address(1)), ElementsAre(0, 5300 * kMs, 6300 * kMs));
  EXPECT_EQ(checker_->stats().max_lateness_us, 4300 * kMs);
}

// A check that starts late (the loop was busy) does not shift the next one.
TEST_F(HealthCheckerTest, LateStartKeepsCadence) {
  checker_->set_targets({target(1)});
  run_until_ms(0);
  clock_.set_ms(1300);  // the check due at 1000 starts at 1300
  checker_->run_once(0);
  run_until_ms(3000);
  EXPECT_THAT(prober_.starts_of(address(1)), ElementsAre(0, 1300 * kMs, 2000 * kMs, 3000 * kMs));
}

// A check falling due while the previous one still runs (it started late,
// and its timeout equals the interval) starts when that one ends, not
// beside it.
TEST_F(HealthCheckerTest, NoOverlappingChecks) {
  HealthCheckConfig c = tcp_check();
  c.timeout_ms = 1000;
  prober_.reply = [](const HealthTarget&) { return hang(); };
  checker_->set_targets({target(1, c)});
  run_until_ms(0);
  clock_.set_ms(1300);  // the check due at 1000 starts at 1300 (after 0's timeout)
  checker_->run_once(0);
  run_until_ms(2299);
  // The one due at 2000 waits: 1300's check runs until 2300.
  EXPECT_THAT(prober_.starts_of(address(1)), ElementsAre(0, 1300 * kMs));
  EXPECT_EQ(prober_.in_flight(), 1u);
  run_until_ms(2300);
  EXPECT_THAT(prober_.starts_of(address(1)), ElementsAre(0, 1300 * kMs, 2300 * kMs));
  EXPECT_EQ(prober_.in_flight(), 1u);
  EXPECT_EQ(health_of(1).checks, 2u);
  run_until_ms(3299);  // due at 3000, deferred again behind 2300's check
  EXPECT_EQ(prober_.starts_of(address(1)).size(), 3u);
  run_until_ms(3300);
  EXPECT_THAT(prober_.starts_of(address(1)), ElementsAre(0, 1300 * kMs, 2300 * kMs, 3300 * kMs));
}

// --- Thresholds ---

// A new backend is healthy after its first success; three failures in a
// row make it unhealthy, two successes in a row healthy again. A single
// result of the other kind resets the count.
TEST_F(HealthCheckerTest, Thresholds) {
  std::vector<bool> script = {true,                 // unknown > healthy
                              false, false, true,   // 2 failures, reset
                              false, false, false,  // healthy > unhealthy
                              true,  false,         // 1 success, reset
                              true,  true};         // unhealthy > healthy
  size_t next = 0;
  prober_.reply = [&](const HealthTarget&) {
    return script.at(next++) ? FakeProber::Reply{} : fail("connect refused");
  };
  checker_->set_targets({target(1)});
  run_until_ms(0);
  ASSERT_THAT(transition_names(), ElementsAre("unknown>healthy"));
  EXPECT_EQ(transitions_[0].reason, "1 success");
  EXPECT_EQ(transitions_[0].detail, "ok");
  run_until_ms(5000);  // checks 2..6: the third failure in a row is check 7
  EXPECT_EQ(transitions_.size(), 1u);
  run_until_ms(6000);
  ASSERT_THAT(transition_names(), ElementsAre("unknown>healthy", "healthy>unhealthy"));
  EXPECT_EQ(transitions_[1].reason, "3 failures in a row");
  EXPECT_EQ(transitions_[1].detail, "connect refused");
  EXPECT_EQ(transitions_[1].at_ms, 6000u);
  EXPECT_EQ(transitions_[1].target.backend_slot, 1u);
  run_until_ms(9000);  // success, failure, success: not yet
  EXPECT_EQ(transitions_.size(), 2u);
  run_until_ms(10000);
  ASSERT_THAT(transition_names(),
              ElementsAre("unknown>healthy", "healthy>unhealthy", "unhealthy>healthy"));
  EXPECT_EQ(transitions_[2].reason, "2 successes in a row");

  const BackendHealth h = health_of(1);
  EXPECT_EQ(h.state, HealthState::kHealthy);
  EXPECT_TRUE(h.checked);
  EXPECT_EQ(h.checks, 11u);
  EXPECT_EQ(h.failures, 6u);
  EXPECT_EQ(h.transitions, 2u);  // healthy <-> unhealthy only
  EXPECT_EQ(h.since_ms, 10000u);
  EXPECT_EQ(h.last_result, "ok");
}

// A new backend that never answers is unhealthy after unhealthy_threshold
// failures, not after the first.
TEST_F(HealthCheckerTest, UnknownToUnhealthyAfterThreshold) {
  prober_.reply = [](const HealthTarget&) { return fail("connect refused"); };
  checker_->set_targets({target(1)});
  run_until_ms(1000);
  EXPECT_EQ(health_of(1).state, HealthState::kUnknown);
  EXPECT_TRUE(transitions_.empty());
  run_until_ms(2000);
  ASSERT_THAT(transition_names(), ElementsAre("unknown>unhealthy"));
  const BackendHealth h = health_of(1);
  EXPECT_EQ(h.transitions, 0u);
  EXPECT_EQ(h.failures, 3u);
  EXPECT_EQ(h.last_result, "connect refused");
}

// A target before its first result: unknown, checked, no counts.
TEST_F(HealthCheckerTest, NewTargetUnknown) {
  clock_.set_ms(1234);
  checker_->set_targets({target(1)});
  prober_.reply = [](const HealthTarget&) { return hang(); };
  checker_->run_once(0);
  const BackendHealth h = health_of(1);
  EXPECT_EQ(h.state, HealthState::kUnknown);
  EXPECT_TRUE(h.checked);
  EXPECT_EQ(h.checks, 0u);
  EXPECT_EQ(h.since_ms, 1234u);
  EXPECT_EQ(h.last_result, "");
}

// --- Timeouts ---

// A probe that never ends fails at exactly timeout_ms, is cancelled in the
// prober, and counts as a failure with the timeout as its result.
TEST_F(HealthCheckerTest, TimeoutFailsTheCheck) {
  prober_.reply = [](const HealthTarget&) { return hang(); };
  checker_->set_targets({target(1)});
  run_until_ms(499);
  EXPECT_EQ(health_of(1).checks, 0u);
  EXPECT_TRUE(prober_.cancelled.empty());
  run_until_ms(500);
  EXPECT_EQ(health_of(1).checks, 1u);
  EXPECT_EQ(health_of(1).last_result, "timeout after 500 ms");
  EXPECT_THAT(prober_.cancelled, ElementsAre(prober_.started[0].id));
  EXPECT_EQ(checker_->stats().timed_out, 1u);
  run_until_ms(2500);
  ASSERT_THAT(transition_names(), ElementsAre("unknown>unhealthy"));
  EXPECT_EQ(transitions_[0].detail, "timeout after 500 ms");
}

// A slow answer that still arrives before the timeout passes.
TEST_F(HealthCheckerTest, SlowAnswerWithinTimeout) {
  prober_.reply = [](const HealthTarget&) {
    return FakeProber::Reply{ProbeResult{true, "ok"}, 499 * kMs};
  };
  checker_->set_targets({target(1)});
  run_until_ms(600);
  EXPECT_EQ(health_of(1).state, HealthState::kHealthy);
  EXPECT_TRUE(prober_.cancelled.empty());
}

// An answer that is there when the deadline is judged counts, even when
// the loop only gets to both at once (a busy turn).
TEST_F(HealthCheckerTest, ResultBeforeDeadline) {
  prober_.reply = [](const HealthTarget&) {
    return FakeProber::Reply{ProbeResult{true, "ok"}, 500 * kMs};  // exactly at the timeout
  };
  checker_->set_targets({target(1)});
  run_until_ms(0);
  clock_.set_ms(700);  // the loop was busy past both
  checker_->run_once(0);
  EXPECT_EQ(health_of(1).state, HealthState::kHealthy);
  EXPECT_EQ(checker_->stats().timed_out, 0u);
}

// A turn starts at most 256 probes, so that thousands falling due at once
// do not keep results waiting; the rest start on the next turns at once.
TEST_F(HealthCheckerTest, LaunchBudgetPerTurn) {
  prober_.reply = [](const HealthTarget&) { return hang(); };
  std::vector<HealthTarget> targets;
  for (int i = 1; i <= 600; ++i) targets.push_back(target(i));
  checker_->set_targets(targets);
  EXPECT_EQ(checker_->run_once(0), 0);  // more is due now
  EXPECT_EQ(prober_.started.size(), 256u);
  checker_->run_once(0);
  EXPECT_EQ(prober_.started.size(), 512u);
  EXPECT_EQ(checker_->run_once(0), 500 * kMs);  // all started: next are the timeouts
  EXPECT_EQ(prober_.started.size(), 600u);
}

// --- In-flight limit ---

// Beyond the prober's capacity, due checks wait for a free slot, then start
// (late) in the order they fell due.
TEST_F(HealthCheckerTest, InFlightLimit) {
  prober_.capacity_limit = 2;
  prober_.reply = [](const HealthTarget&) {
    return FakeProber::Reply{ProbeResult{true, "ok"}, 100 * kMs};
  };
  checker_->set_targets({target(1), target(2), target(3), target(4), target(5)});
  run_until_ms(0);
  EXPECT_EQ(prober_.started.size(), 2u);
  EXPECT_EQ(checker_->stats().delayed, 3u);
  run_until_ms(100);
  EXPECT_EQ(prober_.started.size(), 4u);
  run_until_ms(200);
  ASSERT_EQ(prober_.started.size(), 5u);
  EXPECT_EQ(prober_.started[4].target.address, address(5));
  EXPECT_EQ(prober_.started[4].at_us, 200 * kMs);
  EXPECT_EQ(checker_->stats().max_lateness_us, 200 * kMs);
}

// --- set_targets ---

// Unchanged targets keep their state and counters; a changed check starts
// over as unknown; removed targets go (their probe cancelled); new ones
// start unknown; a moved pool or slot is taken over without a reset.
TEST_F(HealthCheckerTest, SetTargetsKeepsAndResets) {
  prober_.reply = [](const HealthTarget& t) {
    return t.address == address(3) ? hang() : FakeProber::Reply{};
  };
  checker_->set_targets({target(1), target(2), target(3)});
  run_until_ms(100);
  ASSERT_EQ(health_of(1).state, HealthState::kHealthy);
  ASSERT_EQ(health_of(2).state, HealthState::kHealthy);
  ASSERT_EQ(prober_.in_flight(), 1u);  // target 3's probe hangs

  prober_.reply = [](const HealthTarget&) { return hang(); };  // no results from here on
  HealthTarget same = target(1);
  same.pool = "canary";
  same.backend_slot = 41;
  HealthCheckConfig slower = tcp_check();
  slower.interval_ms = 2000;
  checker_->set_targets({same, target(2, slower), target(4)});
  checker_->run_once(0);

  const std::vector<TargetHealth> s = checker_->statuses();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].target.address, address(1));
  EXPECT_EQ(s[0].health.state, HealthState::kHealthy);
  EXPECT_EQ(s[0].health.checks, 1u);
  EXPECT_EQ(s[0].target.pool, "canary");
  EXPECT_EQ(s[0].target.backend_slot, 41u);
  EXPECT_EQ(s[1].target.address, address(2));
  EXPECT_EQ(s[1].health.state, HealthState::kUnknown);
  EXPECT_EQ(s[1].health.checks, 0u);
  EXPECT_EQ(s[1].target.config.interval_ms, 2000u);
  EXPECT_EQ(s[2].target.address, address(4));
  EXPECT_EQ(s[2].health.state, HealthState::kUnknown);
  // Target 3's hanging probe was cancelled; targets 2 and 4 probe anew.
  const uint64_t probe_of_3 = prober_.started.at(2).id;
  ASSERT_EQ(prober_.started.at(2).target.address, address(3));
  EXPECT_THAT(prober_.cancelled, ElementsAre(probe_of_3));
  EXPECT_EQ(prober_.in_flight(), 2u);
  EXPECT_GE(prober_.wakes.load(), 2);  // set_targets wakes the loop
  // Target 1 keeps its schedule: next check at 1000 ms, not a new offset.
  run_until_ms(1000);
  EXPECT_THAT(prober_.starts_of(address(1)), ElementsAre(0, 1000 * kMs));
}

// A changed port is a changed check too.
TEST_F(HealthCheckerTest, SetTargetsPortChangeResets) {
  checker_->set_targets({target(1)});
  run_until_ms(0);
  ASSERT_EQ(health_of(1).state, HealthState::kHealthy);
  HealthTarget moved = target(1);
  moved.port = 8080;
  prober_.reply = [](const HealthTarget&) { return hang(); };
  checker_->set_targets({moved});
  checker_->run_once(0);
  EXPECT_EQ(health_of(1).state, HealthState::kUnknown);
}

// Targets without a check type are ignored; of duplicates the first counts.
TEST_F(HealthCheckerTest, SetTargetsIgnoresNoneAndDuplicates) {
  HealthCheckConfig none;  // type kNone
  HealthTarget dup = target(1);
  dup.port = 9;
  checker_->set_targets({target(1), target(2, none), dup});
  checker_->run_once(0);
  const std::vector<TargetHealth> s = checker_->statuses();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].target.port, 80);
}

// A result that arrives for a target removed meanwhile is dropped.
TEST_F(HealthCheckerTest, ResultAfterRemovalIgnored) {
  prober_.reply = [](const HealthTarget&) {
    return FakeProber::Reply{ProbeResult{true, "ok"}, 100 * kMs};
  };
  checker_->set_targets({target(1)});
  run_until_ms(0);
  checker_->set_targets({});
  run_until_ms(200);
  EXPECT_TRUE(checker_->statuses().empty());
  EXPECT_TRUE(transitions_.empty());
}

// --- Threads ---

// The listener may read statuses(): it is called outside the lock.
TEST_F(HealthCheckerTest, ListenerMayReadStatuses) {
  std::vector<HealthState> seen;
  checker_->set_listener(
      [&](const HealthTransition&) { seen.push_back(checker_->statuses().at(0).health.state); });
  checker_->set_targets({target(1)});
  run_until_ms(0);
  EXPECT_THAT(seen, ElementsAre(HealthState::kHealthy));
}

// start() runs the loop on its own thread; stop() returns promptly although
// the loop is blocked in the prober's poll for up to a second: it wakes it.
TEST_F(HealthCheckerTest, StartStopPrompt) {
  SteadyClock real;
  FakeProber prober(real);
  prober.real_waits = true;
  HealthChecker checker(prober, real, random_);
  HealthCheckConfig slow = tcp_check();  // nothing falls due for seconds:
  slow.interval_ms = 10000;              // the loop waits its full second
  slow.timeout_ms = 5000;
  checker.set_targets({target(1, slow)});
  checker.start();
  for (int i = 0; i < 200 && checker.statuses().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(checker.statuses().size(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // into a 1 s poll
  const auto t0 = std::chrono::steady_clock::now();
  checker.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(500));
}

}  // namespace
}  // namespace sluice::control::health
