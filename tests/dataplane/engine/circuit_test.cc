// Tests of dataplane/engine/circuit.h: per-core circuit breakers.
#include "dataplane/engine/circuit.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "dataplane/engine/flow_hash.h"

namespace sluice::engine {
namespace {

constexpr uint64_t kFp = 0x9e3779b97f4a7c15ULL;
constexpr uint64_t kOtherFp = 0x0123456789abcdefULL;

class CircuitTest : public ::testing::Test {
 protected:
  CircuitTest() {
    policy_.enabled = true;
    policy_.consecutive_failures = 3;
    policy_.syn_retry_min_ms = 500;
    policy_.base_ejection_ms = 5000;
    policy_.max_ejection_ms = 60000;
    policy_.half_open_trials = 3;
    policy_.max_ejected_percent = 50;
  }

  // A failure in a large pool with nothing else ejected, from a client
  // prefix no other call used, of a backend without active checks (the
  // source and health rules have circuit_signals_test.cc).
  CircuitTransition fail(uint64_t fp, uint32_t now) {
    return table_.record_failure(fp, now, policy_, 10, 0, ++source_, SLUICE_HEALTH_UNKNOWN);
  }
  // A success from a new prefix. A half-open circuit without checks closes
  // on the second prefix's success: succeed_twice.
  CircuitTransition succeed(uint64_t fp, uint32_t now) {
    return table_.record_success(fp, now, policy_, ++source_, SLUICE_HEALTH_UNKNOWN);
  }
  CircuitTransition succeed_twice(uint64_t fp, uint32_t now) {
    EXPECT_EQ(succeed(fp, now), CircuitTransition::kNone);
    return succeed(fp, now);
  }
  // Drives fp from closed to open at `now` (asserting it took exactly N).
  void open_at(uint64_t fp, uint32_t now) {
    for (uint32_t i = 1; i < policy_.consecutive_failures; ++i) {
      ASSERT_EQ(fail(fp, now), CircuitTransition::kNone);
    }
    ASSERT_EQ(fail(fp, now), CircuitTransition::kOpened);
  }

  CircuitPolicy policy_;
  CircuitTable table_{64};
  uint32_t source_ = 0;
};

// N-1 consecutive failures keep the circuit closed; the Nth opens it.
TEST_F(CircuitTest, OpensAfterExactlyNFailures) {
  EXPECT_EQ(fail(kFp, 100), CircuitTransition::kNone);
  EXPECT_EQ(fail(kFp, 101), CircuitTransition::kNone);
  EXPECT_EQ(table_.state(kFp, 102), CircuitState::kClosed);
  EXPECT_TRUE(table_.admit(kFp, 102, policy_, SLUICE_HEALTH_UNKNOWN));
  EXPECT_EQ(fail(kFp, 102), CircuitTransition::kOpened);
  EXPECT_EQ(table_.state(kFp, 102), CircuitState::kOpen);
  EXPECT_FALSE(table_.available(kFp, 102, SLUICE_HEALTH_UNKNOWN));
  EXPECT_FALSE(table_.admit(kFp, 102, policy_, SLUICE_HEALTH_UNKNOWN));
  EXPECT_EQ(table_.stats().opened, 1u);
  EXPECT_EQ(table_.stats().failures, 3u);
  // Other backends are untouched.
  EXPECT_TRUE(table_.admit(kOtherFp, 102, policy_, SLUICE_HEALTH_UNKNOWN));
  EXPECT_EQ(table_.state(kOtherFp, 102), CircuitState::kClosed);
}

// A success between failures resets the consecutive count.
TEST_F(CircuitTest, SuccessResetsFailureCount) {
  EXPECT_EQ(fail(kFp, 0), CircuitTransition::kNone);
  EXPECT_EQ(fail(kFp, 0), CircuitTransition::kNone);
  EXPECT_EQ(succeed(kFp, 0), CircuitTransition::kNone);
  EXPECT_EQ(fail(kFp, 0), CircuitTransition::kNone);
  EXPECT_EQ(fail(kFp, 0), CircuitTransition::kNone);
  EXPECT_EQ(table_.state(kFp, 0), CircuitState::kClosed);
  EXPECT_EQ(fail(kFp, 0), CircuitTransition::kOpened);
}

// Open refuses new flows until exactly base_ejection_ms has passed.
TEST_F(CircuitTest, OpenRefusesUntilEjectionTimePasses) {
  open_at(kFp, 1000);
  EXPECT_FALSE(table_.available(kFp, 5999, SLUICE_HEALTH_UNKNOWN));
  EXPECT_EQ(table_.state(kFp, 5999), CircuitState::kOpen);
  EXPECT_FALSE(table_.admit(kFp, 5999, policy_, SLUICE_HEALTH_UNKNOWN));
  EXPECT_TRUE(table_.available(kFp, 6000, SLUICE_HEALTH_UNKNOWN));
  EXPECT_EQ(table_.state(kFp, 6000), CircuitState::kHalfOpen);
  EXPECT_EQ(table_.stats().half_opened, 0u);  // state()/available() change nothing
  EXPECT_TRUE(table_.admit(kFp, 6000, policy_, SLUICE_HEALTH_UNKNOWN));
  EXPECT_EQ(table_.stats().half_opened, 1u);
}

// Half-open lets exactly half_open_trials new flows through.
TEST_F(CircuitTest, HalfOpenAdmitsExactlyTrials) {
  open_at(kFp, 0);
  EXPECT_TRUE(table_.admit(kFp, 5000, policy_, SLUICE_HEALTH_UNKNOWN));
  EXPECT_TRUE(table_.available(kFp, 5001, SLUICE_HEALTH_UNKNOWN));
  EXPECT_TRUE(table_.admit(kFp, 5001, policy_, SLUICE_HEALTH_UNKNOWN));
  EXPECT_TRUE(table_.admit(kFp, 5002, policy_, SLUICE_HEALTH_UNKNOWN));
  EXPECT_FALSE(table_.available(kFp, 5003, SLUICE_HEALTH_UNKNOWN));
  EXPECT_FALSE(table_.admit(kFp, 5003, policy_, SLUICE_HEALTH_UNKNOWN));
  EXPECT_FALSE(table_.admit(kFp, 5004, policy_, SLUICE_HEALTH_UNKNOWN));
  EXPECT_EQ(table_.state(kFp, 5004), CircuitState::kHalfOpen);
}

// A different trial count is honoured.
TEST_F(CircuitTest, HalfOpenTrialCountFromPolicy) {
  policy_.half_open_trials = 1;
  open_at(kFp, 0);
  EXPECT_TRUE(table_.admit(kFp, 5000, policy_, SLUICE_HEALTH_UNKNOWN));
  EXPECT_FALSE(table_.admit(kFp, 5000, policy_, SLUICE_HEALTH_UNKNOWN));
}

// Trials that never report back are replaced after one more ejection time.
TEST_F(CircuitTest, SilentTrialsAreGrantedAgain) {
  open_at(kFp, 0);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(table_.admit(kFp, 5000, policy_, SLUICE_HEALTH_UNKNOWN));
  EXPECT_FALSE(table_.admit(kFp, 9999, policy_, SLUICE_HEALTH_UNKNOWN));
  EXPECT_FALSE(table_.available(kFp, 9999, SLUICE_HEALTH_UNKNOWN));
  EXPECT_TRUE(table_.available(kFp, 10000, SLUICE_HEALTH_UNKNOWN));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(table_.admit(kFp, 10000, policy_, SLUICE_HEALTH_UNKNOWN)) << i;
  EXPECT_FALSE(table_.admit(kFp, 10000, policy_, SLUICE_HEALTH_UNKNOWN));
}

// A success while half-open closes the circuit.
TEST_F(CircuitTest, SuccessClosesHalfOpen) {
  open_at(kFp, 0);
  EXPECT_TRUE(table_.admit(kFp, 5000, policy_, SLUICE_HEALTH_UNKNOWN));
  EXPECT_EQ(succeed_twice(kFp, 5100), CircuitTransition::kClosed);
  EXPECT_EQ(table_.state(kFp, 5100), CircuitState::kClosed);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(table_.admit(kFp, 5100, policy_, SLUICE_HEALTH_UNKNOWN));
  EXPECT_EQ(table_.stats().closed, 1u);
  EXPECT_EQ(table_.stats().successes, 2u);
}

// A success reported after the ejection time but before any admit() still
// counts as half-open and closes the circuit.
TEST_F(CircuitTest, SuccessAfterEjectionTimeClosesWithoutAdmit) {
  open_at(kFp, 0);
  EXPECT_EQ(succeed_twice(kFp, 5000), CircuitTransition::kClosed);
  EXPECT_EQ(table_.stats().half_opened, 1u);
}

// Successes and failures while open change nothing (not even the deadline).
TEST_F(CircuitTest, OutcomesWhileOpenAreIgnored) {
  open_at(kFp, 0);
  EXPECT_EQ(succeed(kFp, 100), CircuitTransition::kNone);
  EXPECT_EQ(fail(kFp, 200), CircuitTransition::kNone);
  EXPECT_EQ(fail(kFp, 4999), CircuitTransition::kNone);
  EXPECT_EQ(table_.state(kFp, 4999), CircuitState::kOpen);
  EXPECT_EQ(table_.state(kFp, 5000), CircuitState::kHalfOpen);
  EXPECT_EQ(table_.stats().opened, 1u);
}

// A failure while half-open reopens with twice the ejection time.
TEST_F(CircuitTest, FailureReopensWithDoubledTime) {
  open_at(kFp, 0);
  EXPECT_TRUE(table_.admit(kFp, 5000, policy_, SLUICE_HEALTH_UNKNOWN));
  EXPECT_EQ(fail(kFp, 6000), CircuitTransition::kReopened);
  EXPECT_EQ(table_.state(kFp, 6000), CircuitState::kOpen);
  EXPECT_FALSE(table_.admit(kFp, 15999, policy_, SLUICE_HEALTH_UNKNOWN));  // 6000 + 10000 - 1
  EXPECT_TRUE(table_.admit(kFp, 16000, policy_, SLUICE_HEALTH_UNKNOWN));
  EXPECT_EQ(fail(kFp, 16000), CircuitTransition::kReopened);
  EXPECT_EQ(table_.state(kFp, 35999), CircuitState::kOpen);  // + 20000
  EXPECT_EQ(table_.state(kFp, 36000), CircuitState::kHalfOpen);
  EXPECT_EQ(table_.stats().opened, 3u);
}

// Doubling stops at max_ejection_ms: 5000, 10000, 12000, 12000.
TEST_F(CircuitTest, DoublingCapsAtMax) {
  policy_.max_ejection_ms = 12000;
  open_at(kFp, 0);
  uint32_t now = 0;
  const uint32_t expected[] = {5000, 10000, 12000, 12000, 12000};
  for (uint32_t ejection : expected) {
    EXPECT_EQ(table_.state(kFp, now + ejection - 1), CircuitState::kOpen) << ejection;
    EXPECT_EQ(table_.state(kFp, now + ejection), CircuitState::kHalfOpen) << ejection;
    now += ejection;
    ASSERT_EQ(fail(kFp, now), CircuitTransition::kReopened);
  }
}

// Doubling saturates without overflow after many ejections.
TEST_F(CircuitTest, ManyReopeningsDoNotOverflow) {
  policy_.max_ejection_ms = 300000;
  open_at(kFp, 0);
  uint32_t now = 0;
  for (int i = 0; i < 100; ++i) {
    now += 300000;
    ASSERT_EQ(fail(kFp, now), CircuitTransition::kReopened) << i;
  }
  EXPECT_EQ(table_.state(kFp, now + 299999), CircuitState::kOpen);
  EXPECT_EQ(table_.state(kFp, now + 300000), CircuitState::kHalfOpen);
}

// After the backend stayed closed for max_ejection_ms, ejection starts again
// from the base time; one millisecond earlier it still doubles.
TEST_F(CircuitTest, EjectionCountResetsAfterStayingClosed) {
  for (uint32_t closed_for : {60000u - 1, 60000u}) {
    CircuitTable t(8);
    auto fail_t = [&](uint32_t now) { return t.record_failure(kFp, now, policy_, 10, 0, ++source_, SLUICE_HEALTH_UNKNOWN); };
    for (int i = 0; i < 3; ++i) fail_t(0);
    ASSERT_EQ(t.state(kFp, 0), CircuitState::kOpen);
    t.record_success(kFp, 5000, policy_, ++source_, SLUICE_HEALTH_UNKNOWN);
    ASSERT_EQ(t.record_success(kFp, 5000, policy_, ++source_, SLUICE_HEALTH_UNKNOWN),
              CircuitTransition::kClosed);
    const uint32_t now = 5000 + closed_for;
    fail_t(now);
    fail_t(now);
    ASSERT_EQ(fail_t(now), CircuitTransition::kOpened);
    const uint32_t ejection = closed_for < 60000 ? 10000 : 5000;
    EXPECT_EQ(t.state(kFp, now + ejection - 1), CircuitState::kOpen) << closed_for;
    EXPECT_EQ(t.state(kFp, now + ejection), CircuitState::kHalfOpen) << closed_for;
  }
}

// A backend back at the default state gives its slot back.
TEST_F(CircuitTest, SlotReleasedOnceStateIsDefault) {
  EXPECT_EQ(succeed(kFp, 0), CircuitTransition::kNone);
  EXPECT_EQ(table_.tracked(), 0u);
  fail(kFp, 0);
  EXPECT_EQ(table_.tracked(), 1u);
  succeed(kFp, 0);
  EXPECT_EQ(table_.tracked(), 0u);

  // After an ejection the slot stays while the ejection count matters.
  open_at(kFp, 0);
  succeed_twice(kFp, 5000);  // closes
  succeed(kFp, 5000 + 60000 - 1);
  EXPECT_EQ(table_.tracked(), 1u);
  succeed(kFp, 5000 + 60000);
  EXPECT_EQ(table_.tracked(), 0u);
}

// max_ejected_percent: a pool at (or above) the limit keeps the backend closed.
TEST_F(CircuitTest, MaxEjectedPercentRefusesToOpen) {
  // 50% of 4: two already open -> refused; one open -> allowed.
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(table_.record_failure(kFp, 0, policy_, 4, 2, ++source_, SLUICE_HEALTH_UNKNOWN), CircuitTransition::kNone);
  }
  EXPECT_EQ(table_.record_failure(kFp, 0, policy_, 4, 2, ++source_, SLUICE_HEALTH_UNKNOWN), CircuitTransition::kRefusedMaxEjected);
  EXPECT_EQ(table_.state(kFp, 0), CircuitState::kClosed);
  EXPECT_TRUE(table_.admit(kFp, 0, policy_, SLUICE_HEALTH_UNKNOWN));
  EXPECT_EQ(table_.record_failure(kFp, 0, policy_, 4, 3, ++source_, SLUICE_HEALTH_UNKNOWN), CircuitTransition::kRefusedMaxEjected);
  EXPECT_EQ(table_.stats().refused_by_max_ejected, 2u);
  // The next failure, once room is made, opens at once (the count was kept).
  EXPECT_EQ(table_.record_failure(kFp, 0, policy_, 4, 1, ++source_, SLUICE_HEALTH_UNKNOWN), CircuitTransition::kOpened);
  EXPECT_EQ(table_.stats().opened, 1u);
}

// Percent boundaries: odd pool sizes, 0% (never) and 100% (until all are open).
TEST_F(CircuitTest, MaxEjectedPercentBoundaries) {
  struct Case {
    uint32_t percent, size, open_count;
    CircuitTransition want;
  };
  const Case cases[] = {
      {50, 3, 1, CircuitTransition::kOpened},             // 33% < 50%
      {50, 3, 2, CircuitTransition::kRefusedMaxEjected},  // 66% >= 50%
      {0, 10, 0, CircuitTransition::kRefusedMaxEjected},
      {100, 10, 9, CircuitTransition::kOpened},
      {100, 10, 10, CircuitTransition::kRefusedMaxEjected},
      {10, 10, 0, CircuitTransition::kOpened},
      {10, 10, 1, CircuitTransition::kRefusedMaxEjected},
      {50, 1, 0, CircuitTransition::kOpened},
      {50, 0, 0, CircuitTransition::kRefusedMaxEjected},  // no pool: never open
  };
  for (const Case& c : cases) {
    CircuitTable t(4);
    policy_.max_ejected_percent = c.percent;
    t.record_failure(kFp, 0, policy_, c.size, c.open_count, ++source_, SLUICE_HEALTH_UNKNOWN);
    t.record_failure(kFp, 0, policy_, c.size, c.open_count, ++source_, SLUICE_HEALTH_UNKNOWN);
    EXPECT_EQ(t.record_failure(kFp, 0, policy_, c.size, c.open_count, ++source_, SLUICE_HEALTH_UNKNOWN), c.want)
        << c.percent << "% of " << c.size << " with " << c.open_count << " open";
  }
}

// A half-open backend reopens even in a pool at the limit (it is counted already).
TEST_F(CircuitTest, HalfOpenReopensDespiteMaxEjected) {
  open_at(kFp, 0);
  EXPECT_EQ(table_.record_failure(kFp, 5000, policy_, 2, 2, ++source_, SLUICE_HEALTH_UNKNOWN), CircuitTransition::kReopened);
  EXPECT_EQ(table_.stats().refused_by_max_ejected, 0u);
}

// A disabled policy never opens and forgets state left from before.
TEST_F(CircuitTest, DisabledPolicyNeverOpens) {
  CircuitPolicy off = policy_;
  off.enabled = false;
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(table_.record_failure(kFp, 0, off, 10, 0, ++source_, SLUICE_HEALTH_UNKNOWN), CircuitTransition::kNone);
  }
  EXPECT_EQ(table_.state(kFp, 0), CircuitState::kClosed);
  EXPECT_TRUE(table_.admit(kFp, 0, off, SLUICE_HEALTH_UNKNOWN));
  EXPECT_EQ(table_.tracked(), 0u);
  EXPECT_EQ(table_.stats().opened, 0u);

  open_at(kOtherFp, 0);  // opened while enabled
  EXPECT_TRUE(table_.admit(kOtherFp, 1, off, SLUICE_HEALTH_UNKNOWN));
  EXPECT_EQ(table_.state(kOtherFp, 1), CircuitState::kClosed);
  EXPECT_EQ(table_.tracked(), 0u);
}

// A zero threshold or zero trials is read as 1 rather than locking out.
TEST_F(CircuitTest, DegeneratePolicyValues) {
  policy_.consecutive_failures = 0;
  policy_.half_open_trials = 0;
  EXPECT_EQ(fail(kFp, 0), CircuitTransition::kOpened);
  EXPECT_TRUE(table_.admit(kFp, 5000, policy_, SLUICE_HEALTH_UNKNOWN));
  EXPECT_FALSE(table_.admit(kFp, 5000, policy_, SLUICE_HEALTH_UNKNOWN));
}

// Ejection deadlines hold across the 32-bit wrap of the clock.
TEST_F(CircuitTest, TimeWrapAround) {
  const uint32_t t0 = 0xFFFFF000u;  // 4096 ms before the wrap
  open_at(kFp, t0);
  EXPECT_EQ(table_.state(kFp, 0xFFFFFFFFu), CircuitState::kOpen);
  EXPECT_EQ(table_.state(kFp, 0), CircuitState::kOpen);
  EXPECT_EQ(table_.state(kFp, 5000 - 4096 - 1), CircuitState::kOpen);
  EXPECT_FALSE(table_.admit(kFp, 5000 - 4096 - 1, policy_, SLUICE_HEALTH_UNKNOWN));
  EXPECT_EQ(table_.state(kFp, 5000 - 4096), CircuitState::kHalfOpen);
  EXPECT_TRUE(table_.admit(kFp, 5000 - 4096, policy_, SLUICE_HEALTH_UNKNOWN));
  EXPECT_EQ(fail(kFp, 1000), CircuitTransition::kReopened);
  EXPECT_EQ(table_.state(kFp, 10999), CircuitState::kOpen);
  EXPECT_EQ(table_.state(kFp, 11000), CircuitState::kHalfOpen);
}

// Capacity rounds up to a power of two, at least 1.
TEST_F(CircuitTest, CapacityRounding) {
  EXPECT_EQ(CircuitTable(0).capacity(), 1u);
  EXPECT_EQ(CircuitTable(1).capacity(), 1u);
  EXPECT_EQ(CircuitTable(3).capacity(), 4u);
  EXPECT_EQ(CircuitTable(4).capacity(), 4u);
  EXPECT_EQ(CircuitTable(1000).capacity(), 1024u);
}

// A full table cannot track a new failing backend: counted, and it stays closed.
TEST_F(CircuitTest, FullTableLeavesNewBackendUntracked) {
  CircuitTable t(4);
  for (uint64_t fp = 1; fp <= 4; ++fp) {
    EXPECT_EQ(t.record_failure(fp, 0, policy_, 10, 0, ++source_, SLUICE_HEALTH_UNKNOWN), CircuitTransition::kNone);
  }
  EXPECT_EQ(t.tracked(), 4u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(t.record_failure(99, 0, policy_, 10, 0, ++source_, SLUICE_HEALTH_UNKNOWN), CircuitTransition::kUntracked);
  }
  EXPECT_EQ(t.stats().untracked, 5u);
  EXPECT_EQ(t.state(99, 0), CircuitState::kClosed);
  EXPECT_TRUE(t.admit(99, 0, policy_, SLUICE_HEALTH_UNKNOWN));
  // Tracked backends still work.
  t.record_failure(1, 0, policy_, 10, 0, ++source_, SLUICE_HEALTH_UNKNOWN);
  EXPECT_EQ(t.record_failure(1, 0, policy_, 10, 0, ++source_, SLUICE_HEALTH_UNKNOWN), CircuitTransition::kOpened);
  // Once a slot frees up, the new backend is tracked.
  EXPECT_EQ(t.record_success(2, 0, policy_, ++source_, SLUICE_HEALTH_UNKNOWN), CircuitTransition::kNone);
  EXPECT_EQ(t.tracked(), 3u);
  EXPECT_EQ(t.record_failure(99, 0, policy_, 10, 0, ++source_, SLUICE_HEALTH_UNKNOWN), CircuitTransition::kNone);
  EXPECT_EQ(t.tracked(), 4u);
}

// Backends whose slots collide stay reachable after others leave the probe
// run (backward-shift deletion), including runs that wrap past the last slot.
TEST_F(CircuitTest, CollidingBackendsSurviveDeletion) {
  CircuitTable t(8);  // 16 slots
  const uint32_t slots = 2 * t.capacity();
  std::vector<uint64_t> fps;
  for (uint64_t fp = 1; fps.size() < 6; ++fp) {
    // Home slot as the table computes it: mixed fingerprint, low bits.
    if ((sluice_mix64(fp) & (slots - 1)) == slots - 1) fps.push_back(fp);
  }
  for (uint64_t fp : fps) t.record_failure(fp, 0, policy_, 10, 0, ++source_, SLUICE_HEALTH_UNKNOWN);  // one failure each
  ASSERT_EQ(t.tracked(), 6u);
  t.record_success(fps[0], 0, policy_, ++source_, SLUICE_HEALTH_UNKNOWN);
  t.record_success(fps[2], 0, policy_, ++source_, SLUICE_HEALTH_UNKNOWN);
  t.record_success(fps[4], 0, policy_, ++source_, SLUICE_HEALTH_UNKNOWN);
  ASSERT_EQ(t.tracked(), 3u);
  // The survivors kept their one failure: two more open them.
  for (size_t i : {1u, 3u, 5u}) {
    EXPECT_EQ(t.record_failure(fps[i], 0, policy_, 10, 0, ++source_, SLUICE_HEALTH_UNKNOWN), CircuitTransition::kNone) << i;
    EXPECT_EQ(t.record_failure(fps[i], 0, policy_, 10, 0, ++source_, SLUICE_HEALTH_UNKNOWN), CircuitTransition::kOpened) << i;
  }
  // The released ones start from zero.
  EXPECT_EQ(t.record_failure(fps[0], 0, policy_, 10, 0, ++source_, SLUICE_HEALTH_UNKNOWN), CircuitTransition::kNone);
  EXPECT_EQ(t.record_failure(fps[0], 0, policy_, 10, 0, ++source_, SLUICE_HEALTH_UNKNOWN), CircuitTransition::kNone);
  EXPECT_EQ(t.state(fps[0], 0), CircuitState::kClosed);
  EXPECT_EQ(t.tracked(), 4u);
}

// Random traffic against many backends agrees with a simple per-backend model
// of the closed/open cycle (no slot lost or confused under churn).
TEST_F(CircuitTest, ChurnKeepsBackendsApart) {
  CircuitTable t(64);
  policy_.consecutive_failures = 2;
  constexpr int kBackends = 64;
  std::vector<uint32_t> failures(kBackends, 0);
  std::vector<bool> open(kBackends, false);
  uint64_t rng = 12345;
  for (int step = 0; step < 20000; ++step) {
    rng = sluice_mix64(rng + 1);
    const int b = static_cast<int>(rng % kBackends);
    const uint64_t fp = 0x1000 + static_cast<uint64_t>(b);
    if (open[b]) continue;  // time never advances: an open circuit stays open
    if ((rng >> 32) & 1) {
      const CircuitTransition r = t.record_failure(fp, 0, policy_, 1000, 0, ++source_, SLUICE_HEALTH_UNKNOWN);
      if (++failures[b] == 2) {
        ASSERT_EQ(r, CircuitTransition::kOpened) << step;
        open[b] = true;
      } else {
        ASSERT_EQ(r, CircuitTransition::kNone) << step;
      }
    } else {
      ASSERT_EQ(t.record_success(fp, 0, policy_, ++source_, SLUICE_HEALTH_UNKNOWN), CircuitTransition::kNone);
      failures[b] = 0;
    }
    ASSERT_EQ(t.state(fp, 0), open[b] ? CircuitState::kOpen : CircuitState::kClosed);
  }
  uint32_t tracked = 0;
  for (int b = 0; b < kBackends; ++b) {
    EXPECT_EQ(t.available(0x1000 + static_cast<uint64_t>(b), 0, SLUICE_HEALTH_UNKNOWN), !open[b]) << b;
    tracked += (open[b] || failures[b] > 0) ? 1 : 0;
  }
  EXPECT_EQ(t.tracked(), tracked);
  EXPECT_EQ(t.stats().untracked, 0u);
}

}  // namespace
}  // namespace sluice::engine
