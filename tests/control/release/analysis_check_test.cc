// SPDX-License-Identifier: Apache-2.0
// Tests of control/release/analysis_check.h: bounds, checks relative to
// the baseline, no data never passing, and the rollback threshold.
#include "control/release/analysis_check.h"

#include <gtest/gtest.h>

namespace sluice::control::release {
namespace {

CheckSpec min_check(double threshold) {
  CheckSpec s;
  s.name = "connect_success_ratio";
  s.bound = Bound::kMin;
  s.threshold = threshold;
  return s;
}

TEST(AnalysisCheckTest, AbsoluteBounds) {
  const CheckSpec success = min_check(0.99);
  EXPECT_EQ(judge(success, {0.995, std::nullopt}).verdict, Verdict::kPass);
  EXPECT_EQ(judge(success, {0.99, std::nullopt}).verdict, Verdict::kPass);  // the bound itself
  const CheckResult low = judge(success, {0.91, std::nullopt});
  EXPECT_EQ(low.verdict, Verdict::kFail);
  EXPECT_EQ(low.why, "0.91 below the minimum 0.99");
  CheckSpec p99;
  p99.name = "handshake_p99_ms";
  p99.bound = Bound::kMax;
  p99.threshold = 50;
  EXPECT_EQ(judge(p99, {50, {}}).verdict, Verdict::kPass);
  EXPECT_EQ(judge(p99, {80, {}}).why, "80 above the maximum 50");
}

// Relative to the baseline: an outage of both pools does not fail the
// canary; a canary worse than the baseline by more than the margin does,
// even where an absolute bound would have passed it.
TEST(AnalysisCheckTest, RelativeToBaseline) {
  CheckSpec failures;
  failures.name = "connect_failure_ratio";
  failures.bound = Bound::kMax;
  failures.threshold = 0.02;  // at most 2 points worse than the baseline
  failures.relative_to_baseline = true;
  EXPECT_EQ(judge(failures, {0.40, 0.39}).verdict, Verdict::kPass);  // everything is down
  const CheckResult bad = judge(failures, {0.05, 0.001});
  EXPECT_EQ(bad.verdict, Verdict::kFail);
  EXPECT_NEAR(bad.value, 0.049, 1e-9);
  EXPECT_EQ(bad.why, "target - baseline 0.049 (0.05 - 0.001) above the maximum 0.02");
  EXPECT_EQ(judge(failures, {0.05, std::nullopt}).verdict, Verdict::kNoData);
}

// A canary without traffic is "no data", never a pass; after the limit in
// a row it fails; data in between resets the run.
TEST(AnalysisCheckTest, NoDataHoldsThenFails) {
  CheckSpec flows = min_check(10);
  flows.name = "new_flows";
  flows.no_data_limit = 3;
  uint32_t run = 0;
  EXPECT_EQ(judge_with_history(flows, {}, &run).verdict, Verdict::kNoData);
  EXPECT_EQ(judge_with_history(flows, {}, &run).verdict, Verdict::kNoData);
  EXPECT_EQ(judge_with_history(flows, {50, {}}, &run).verdict, Verdict::kPass);
  EXPECT_EQ(run, 0u);
  judge_with_history(flows, {}, &run);
  judge_with_history(flows, {}, &run);
  const CheckResult third = judge_with_history(flows, {}, &run);
  EXPECT_EQ(third.verdict, Verdict::kFail);
  EXPECT_EQ(third.why, "no data for the target, 3 intervals in a row (the limit is 3)");
  // Without a limit, no data holds for ever.
  flows.no_data_limit = 0;
  run = 0;
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(judge_with_history(flows, {}, &run).verdict, Verdict::kNoData);
  }
}

TEST(AnalysisCheckTest, ConsecutiveThreshold) {
  FailureCounter c({3, true});
  EXPECT_FALSE(c.add(Verdict::kFail));
  EXPECT_FALSE(c.add(Verdict::kFail));
  EXPECT_FALSE(c.add(Verdict::kPass));  // resets
  EXPECT_FALSE(c.add(Verdict::kFail));
  EXPECT_FALSE(c.add(Verdict::kNoData));  // neither counts nor resets
  EXPECT_FALSE(c.add(Verdict::kFail));
  EXPECT_TRUE(c.add(Verdict::kFail));
}

TEST(AnalysisCheckTest, TotalThreshold) {
  FailureCounter c({3, false});
  EXPECT_FALSE(c.add(Verdict::kFail));
  EXPECT_FALSE(c.add(Verdict::kPass));
  EXPECT_FALSE(c.add(Verdict::kFail));
  EXPECT_FALSE(c.add(Verdict::kPass));
  EXPECT_TRUE(c.add(Verdict::kFail));
  EXPECT_EQ(c.count(), 3u);
}

}  // namespace
}  // namespace sluice::control::release
