// SPDX-License-Identifier: Apache-2.0
// A StateStore in memory: saves always succeed and cost nothing, for tests
// and benchmarks of what sits above the store.
#pragma once

#include <optional>
#include <string>

#include "control/state/state_store.h"

namespace sluice::control::fakes {

class MemoryStateStore final : public StateStore {
 public:
  std::optional<DesiredState> load(std::string*) override { return state_; }
  bool save(const DesiredState& state, std::string*) override {
    state_ = state;
    return true;
  }

 private:
  DesiredState state_;
};

}  // namespace sluice::control::fakes
