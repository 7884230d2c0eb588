// SPDX-License-Identifier: Apache-2.0
// A dataplane that does nothing and has nothing: every DataplaneSink call
// answers empty. Tests of one piece of the control core derive from it and
// override only the calls that piece makes (a census, a health mark), so
// that a new DataplaneSink method does not have to be stubbed in each.
// For a dataplane that forwards, see fake_dataplane_sink.h.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "control/core/dataplane_sink.h"

namespace sluice::control::fakes {

class NullDataplaneSink : public DataplaneSink {
 public:
  std::string kind() const override { return "null"; }
  bool publish(std::shared_ptr<const engine::Snapshot>, std::string*) override { return true; }
  bool wait_applied(uint64_t, std::chrono::steady_clock::time_point) override { return true; }
  std::vector<uint64_t> worker_generations() const override { return {}; }
  DataplaneStats stats(const engine::Snapshot*) const override { return {}; }
  std::vector<std::vector<CircuitSample>> circuit_states(const engine::Snapshot&) const override {
    return {};
  }
  void set_backend_health(uint32_t, uint8_t) override {}
  FlowCensus flow_census(const engine::Snapshot&) const override { return {}; }
};

}  // namespace sluice::control::fakes
