// SPDX-License-Identifier: Apache-2.0
#include "control/release/canary_plan.h"

namespace sluice::control::release {

CanaryPlan plan_canary(const CanarySteps& s, const std::string& prefix) {
  CanaryPlan plan;
  auto error = [&](const std::string& field, const std::string& message) {
    plan.errors.push_back(prefix + "." + field + ": " + message);
  };
  const bool by_list = !s.weights.empty();
  const bool by_step = s.step != 0 || s.max_weight != 0;
  if (by_list == by_step) {
    error("steps", by_list ? "give either steps or step_weight and max_weight, not both"
                           : "give steps (1, 5, 25, ...) or step_weight and max_weight");
    return plan;
  }
  if (by_list) {
    if (s.weights.size() > kMaxCanarySteps) {
      error("steps", std::to_string(s.weights.size()) + " steps, at most " +
                         std::to_string(kMaxCanarySteps));
      return plan;
    }
    for (size_t i = 0; i < s.weights.size(); ++i) {
      const std::string field = "steps[" + std::to_string(i) + "]";
      const uint32_t w = s.weights[i];
      if (w < 1 || w > 100) {
        error(field, std::to_string(w) + " is out of range 1..100");
      } else if (i > 0 && w <= s.weights[i - 1]) {
        error(field, std::to_string(w) + " does not increase on the step before (" +
                         std::to_string(s.weights[i - 1]) + ")");
      }
    }
    if (plan.errors.empty()) plan.weights = s.weights;
    return plan;
  }
  if (s.step < 1 || s.step > 100) {
    error("step_weight", std::to_string(s.step) + " is out of range 1..100");
  }
  if (s.max_weight < 1 || s.max_weight > 100) {
    error("max_weight", std::to_string(s.max_weight) + " is out of range 1..100");
  } else if (s.step > s.max_weight && s.step <= 100) {
    error("max_weight", std::to_string(s.max_weight) + " is below step_weight (" +
                            std::to_string(s.step) + ")");
  }
  if (!plan.errors.empty()) return plan;
  // step, 2 step, ... up to max_weight; max_weight itself last when the
  // steps do not land on it (step 30, max 50: 30, 50).
  for (uint32_t w = s.step; w < s.max_weight; w += s.step) plan.weights.push_back(w);
  plan.weights.push_back(s.max_weight);
  return plan;
}

}  // namespace sluice::control::release
