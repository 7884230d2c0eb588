// SPDX-License-Identifier: Apache-2.0
// The thresholds of one backend's checks, as Envoy applies them:
//   UNKNOWN   -> HEALTHY   after 1 success (a new backend is trusted at once)
//   UNKNOWN   -> UNHEALTHY after unhealthy_threshold failures in a row
//   HEALTHY   -> UNHEALTHY after unhealthy_threshold failures in a row
//   UNHEALTHY -> HEALTHY   after healthy_threshold successes in a row
// A result of the other kind resets the run being counted. A confirming
// check (record_confirmation: one sluiced started because the dataplane's
// passive signals suspect the backend) that fails makes it UNHEALTHY at
// once: two independent pieces of evidence, the clients' retried SYNs from
// several source prefixes and a check of our own, agree.
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

  // Feeds one finished confirming check (see above). Returns true when it
  // changed the state.
  bool record_confirmation(bool ok) {
    if (ok) return record(true);
    successes_ = 0;
    ++failures_;
    if (state_ == HealthState::kUnhealthy) return false;
    change(HealthState::kUnhealthy);
    confirmed_ = true;
    return true;
  }

  // Why the last change happened: "1 success", "3 failures in a row",
  // "suspected by passive signals, confirmed by a failed check".
  std::string reason() const {
    if (confirmed_) return "suspected by passive signals, confirmed by a failed check";
    if (state_ == HealthState::kHealthy) {
      return successes_ == 1 ? "1 success" : std::to_string(successes_) + " successes in a row";
    }
    return failures_ == 1 ? "1 failure" : std::to_string(failures_) + " failures in a row";
  }

 private:
  bool change(HealthState to) {
    state_ = to;
    confirmed_ = false;
    return true;
  }

  uint32_t unhealthy_threshold_;
  uint32_t healthy_threshold_;
  HealthState state_ = HealthState::kUnknown;
  uint32_t successes_ = 0;
  uint32_t failures_ = 0;
  bool confirmed_ = false;  // the last change to UNHEALTHY came from a confirmation
};

}  // namespace sluice::control::health
