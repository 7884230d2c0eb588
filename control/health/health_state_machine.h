// SPDX-License-Identifier: Apache-2.0
// The thresholds of one backend's checks, as Envoy applies them:
//   UNKNOWN   -> HEALTHY   after 1 success (a new backend is trusted at once)
//   UNKNOWN   -> UNHEALTHY after unhealthy_threshold failures in a row
//   HEALTHY   -> UNHEALTHY after unhealthy_threshold failures in a row
//   UNHEALTHY -> HEALTHY   after healthy_threshold successes in a row
// A result of the other kind resets the run being counted.
#pragma once

#include <cstdint>
#include <string>

#include "control/api/control_stats.h"

namespace sluice::control::health {

class HealthStateMachine {
 public:
  HealthStateMachine(uint32_t unhealthy_threshold, uint32_t healthy_threshold)
      : unhealthy_threshold_(unhealthy_threshold), healthy_threshold_(healthy_threshold) {}

  HealthState state() const { return state_; }
  uint32_t successes_in_a_row() const { return successes_; }
  uint32_t failures_in_a_row() const { return failures_; }

  // Feeds one finished check. Returns true when it changed the state.
  bool record(bool ok) {
    if (ok) {
      failures_ = 0;
      ++successes_;
      const uint32_t needed = state_ == HealthState::kUnknown ? 1 : healthy_threshold_;
      if (state_ != HealthState::kHealthy && successes_ >= needed)
        return change(HealthState::kHealthy);
    } else {
      successes_ = 0;
      ++failures_;
      if (state_ != HealthState::kUnhealthy && failures_ >= unhealthy_threshold_) {
        return change(HealthState::kUnhealthy);
      }
    }
    return false;
  }

  // Why the last change happened: "1 success", "3 failures in a row".
  std::string reason() const {
    if (state_ == HealthState::kHealthy) {
      return successes_ == 1 ? "1 success" : std::to_string(successes_) + " successes in a row";
    }
    return failures_ == 1 ? "1 failure" : std::to_string(failures_) + " failures in a row";
  }

 private:
  bool change(HealthState to) {
    state_ = to;
    return true;
  }

  uint32_t unhealthy_threshold_;
  uint32_t healthy_threshold_;
  HealthState state_ = HealthState::kUnknown;
  uint32_t successes_ = 0;
  uint32_t failures_ = 0;
};

}  // namespace sluice::control::health
