// SPDX-License-Identifier: Apache-2.0
// When a wait for "applied" ends: the rules documented on WaitApplied.
#include "control/api/mutation_options.h"

#include <gtest/gtest.h>

namespace sluice::control::api {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class MutationOptionsTest : public ::testing::Test {
 protected:
  // A fixed instant, so every expectation is exact.
  const std::chrono::steady_clock::time_point now_ =
      std::chrono::steady_clock::time_point(std::chrono::hours(1000));

  static RequestOptions waiting(uint32_t timeout_ms) {
    RequestOptions r;
    r.wait.set_enabled(true);
    r.wait.set_timeout_ms(timeout_ms);
    return r;
  }
};

// Without wait.enabled nothing is waited for, whatever the other fields say.
TEST_F(MutationOptionsTest, NoWaitUnlessEnabled) {
  RequestOptions r;
  r.wait.set_timeout_ms(5000);
  EXPECT_FALSE(to_mutation_options(r, now_ + seconds(10), now_).wait_applied_until);
}

// dry_run and expected_revision pass through unchanged.
TEST_F(MutationOptionsTest, DryRunAndExpectedRevisionPassThrough) {
  RequestOptions r;
  r.dry_run = true;
  r.expected_revision = 41;
  const MutationOptions o = to_mutation_options(r, std::nullopt, now_);
  EXPECT_TRUE(o.dry_run);
  EXPECT_EQ(o.expected_revision, 41u);
}

// A dry run changes nothing, so it never waits.
TEST_F(MutationOptionsTest, DryRunNeverWaits) {
  RequestOptions r = waiting(1000);
  r.dry_run = true;
  EXPECT_FALSE(to_mutation_options(r, std::nullopt, now_).wait_applied_until);
}

// timeout_ms alone: exactly that long after the call arrived.
TEST_F(MutationOptionsTest, TimeoutAlone) {
  EXPECT_EQ(to_mutation_options(waiting(1500), std::nullopt, now_).wait_applied_until,
            now_ + milliseconds(1500));
}

// A call deadline alone: kDeadlineMargin (200 ms) before it.
TEST_F(MutationOptionsTest, DeadlineAlone) {
  EXPECT_EQ(to_mutation_options(waiting(0), now_ + seconds(5), now_).wait_applied_until,
            now_ + milliseconds(4800));
}

// A short deadline keeps nine tenths of the time left, not a fixed margin.
TEST_F(MutationOptionsTest, ShortDeadlineTenthMargin) {
  EXPECT_EQ(to_mutation_options(waiting(0), now_ + milliseconds(1000), now_).wait_applied_until,
            now_ + milliseconds(900));
}

// With both, the earlier one wins, in either order.
TEST_F(MutationOptionsTest, EarlierOfTimeoutAndDeadline) {
  EXPECT_EQ(to_mutation_options(waiting(2000), now_ + seconds(10), now_).wait_applied_until,
            now_ + milliseconds(2000));
  EXPECT_EQ(to_mutation_options(waiting(20000), now_ + seconds(10), now_).wait_applied_until,
            now_ + milliseconds(9800));
}

// Neither: the 30 s default.
TEST_F(MutationOptionsTest, DefaultWait) {
  EXPECT_EQ(to_mutation_options(waiting(0), std::nullopt, now_).wait_applied_until,
            now_ + seconds(30));
}

// A deadline already past: the wait ends at once (no margin below it).
TEST_F(MutationOptionsTest, DeadlineAlreadyPast) {
  EXPECT_EQ(to_mutation_options(waiting(0), now_ - seconds(1), now_).wait_applied_until,
            now_ - seconds(1));
}

}  // namespace
}  // namespace sluice::control::api
