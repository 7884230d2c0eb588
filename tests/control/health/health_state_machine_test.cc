// SPDX-License-Identifier: Apache-2.0
#include "control/health/health_state_machine.h"

#include <gtest/gtest.h>

namespace sluice::control::health {
namespace {

// Feeds a string of results ('+' success, '-' failure) and returns the
// state after each, as one letter: U(nknown), H(ealthy), X (unhealthy).
std::string run(HealthStateMachine& m, const std::string& results) {
  std::string out;
  for (char c : results) {
    m.record(c == '+');
    out += m.state() == HealthState::kUnknown   ? 'U'
           : m.state() == HealthState::kHealthy ? 'H'
                                                : 'X';
  }
  return out;
}

// The golden sequences, thresholds unhealthy 3 / healthy 2.
TEST(HealthStateMachineTest, Golden) {
  HealthStateMachine a(3, 2);
  EXPECT_EQ(run(a, "+"), "H");            // unknown -> healthy after 1 success
  EXPECT_EQ(run(a, "--+---"), "HHHHHX");  // 3 in a row, reset by a success
  EXPECT_EQ(run(a, "+-++"), "XXXH");      // 2 in a row, reset by a failure
  HealthStateMachine b(3, 2);
  EXPECT_EQ(run(b, "--+"), "UUH");  // unknown -> healthy needs 1 success, even after failures
  HealthStateMachine c(3, 2);
  EXPECT_EQ(run(c, "---"), "UUX");  // unknown -> unhealthy after the threshold
}

// record() says when the state changed, and reason() why.
TEST(HealthStateMachineTest, ChangesAndReasons) {
  HealthStateMachine m(2, 3);
  EXPECT_TRUE(m.record(true));
  EXPECT_EQ(m.reason(), "1 success");
  EXPECT_FALSE(m.record(true));
  EXPECT_FALSE(m.record(false));
  EXPECT_EQ(m.failures_in_a_row(), 1u);
  EXPECT_TRUE(m.record(false));
  EXPECT_EQ(m.reason(), "2 failures in a row");
  EXPECT_FALSE(m.record(true));
  EXPECT_FALSE(m.record(true));
  EXPECT_TRUE(m.record(true));
  EXPECT_EQ(m.reason(), "3 successes in a row");
}

// Thresholds of 1 flip on every result of the other kind.
TEST(HealthStateMachineTest, ThresholdsOfOne) {
  HealthStateMachine m(1, 1);
  EXPECT_EQ(run(m, "-+-+"), "XHXH");
  EXPECT_EQ(m.reason(), "1 success");
  m.record(false);
  EXPECT_EQ(m.reason(), "1 failure");
}

}  // namespace
}  // namespace sluice::control::health
