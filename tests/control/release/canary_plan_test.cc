// SPDX-License-Identifier: Apache-2.0
// Tests of control/release/canary_plan.h: the target's weight at each
// step, and every bad field named.
#include "control/release/canary_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sluice::control::release {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(CanaryPlanTest, ExplicitSteps) {
  const CanaryPlan p = plan_canary({{1, 5, 25, 50}, 0, 0});
  EXPECT_THAT(p.errors, IsEmpty());
  EXPECT_THAT(p.weights, ElementsAre(1, 5, 25, 50));
}

// Flagger's step and maximum; the maximum closes the plan even when the
// steps do not land on it.
TEST(CanaryPlanTest, StepAndMaximum) {
  EXPECT_THAT(plan_canary({{}, 10, 50}).weights, ElementsAre(10, 20, 30, 40, 50));
  EXPECT_THAT(plan_canary({{}, 30, 50}).weights, ElementsAre(30, 50));
  EXPECT_THAT(plan_canary({{}, 100, 100}).weights, ElementsAre(100));
  EXPECT_EQ(plan_canary({{}, 1, 100}).weights.size(), 100u);
}

TEST(CanaryPlanTest, BadFieldsNamed) {
  EXPECT_THAT(plan_canary({}).errors,
              ElementsAre("canary.steps: give steps (1, 5, 25, ...) or step_weight and "
                          "max_weight"));
  EXPECT_THAT(plan_canary({{5}, 10, 50}).errors,
              ElementsAre("canary.steps: give either steps or step_weight and max_weight, not "
                          "both"));
  const CanaryPlan bad = plan_canary({{0, 5, 5, 101, 50}, 0, 0}, "release.canary");
  EXPECT_THAT(bad.errors,
              ElementsAre("release.canary.steps[0]: 0 is out of range 1..100",
                          "release.canary.steps[2]: 5 does not increase on the step before (5)",
                          "release.canary.steps[3]: 101 is out of range 1..100",
                          "release.canary.steps[4]: 50 does not increase on the step before (101)"));
  EXPECT_THAT(bad.weights, IsEmpty());
  EXPECT_THAT(plan_canary({{}, 60, 50}).errors,
              ElementsAre("canary.max_weight: 50 is below step_weight (60)"));
  EXPECT_THAT(plan_canary({{}, 0, 50}).errors,
              ElementsAre("canary.step_weight: 0 is out of range 1..100"));
  EXPECT_THAT(plan_canary({{}, 10, 101}).errors,
              ElementsAre("canary.max_weight: 101 is out of range 1..100"));
  EXPECT_THAT(plan_canary({std::vector<uint32_t>(101, 1), 0, 0}).errors,
              ElementsAre("canary.steps: 101 steps, at most 100"));
}

}  // namespace
}  // namespace sluice::control::release
