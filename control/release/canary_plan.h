// SPDX-License-Identifier: Apache-2.0
// The weights a canary release gives its target pool, step by step (issue
// 12): an explicit list (1, 5, 25, 50) or Flagger's step and maximum
// (step 10, max 50: 10, 20, 30, 40, 50). Promotion then moves the target
// to 100 in one revision, so a plan never needs to end at 100. Validation
// names the bad field, as the rest of the API does.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::control::release {

struct CanarySteps {
  std::vector<uint32_t> weights;  // explicit steps; when set, step/max_weight must be 0
  uint32_t step = 0;              // Flagger's stepWeight
  uint32_t max_weight = 0;        // Flagger's maxWeight
};

struct CanaryPlan {
  std::vector<uint32_t> weights;  // the target's weight at each step, increasing, 1..100
  std::vector<std::string> errors;  // "canary.steps[2]: ..." ; weights empty when any
};

// At most this many steps: a plan is a list of revisions an operator reads.
inline constexpr size_t kMaxCanarySteps = 100;

// `prefix` names the steps in errors ("canary").
CanaryPlan plan_canary(const CanarySteps& steps, const std::string& prefix = "canary");

}  // namespace sluice::control::release
