// SPDX-License-Identifier: Apache-2.0
// The DPDK runtime seen by the control core: publication and generation
// acknowledgements go through the runtime's RCU SnapshotPublisher.
#pragma once

#include "control/core/dataplane_sink.h"
#include "dataplane/dpdk/runtime.h"

namespace sluice::control {

class DpdkDataplaneSink final : public DataplaneSink {
 public:
  explicit DpdkDataplaneSink(dpdk::DpdkRuntime& runtime) : runtime_(runtime) {}

  // DataplaneSink
  std::string kind() const override { return "dpdk"; }
  void publish(std::shared_ptr<const engine::Snapshot> snapshot) override {
    runtime_.publisher().publish(std::move(snapshot));
  }
  bool wait_applied(uint64_t generation, std::chrono::steady_clock::time_point until) override {
    const auto now = std::chrono::steady_clock::now();
    const auto left = until > now ? std::chrono::duration_cast<std::chrono::milliseconds>(until - now)
                                  : std::chrono::milliseconds(0);
    return runtime_.publisher().wait_applied(generation, left);
  }
  std::vector<uint64_t> worker_generations() const override {
    return runtime_.publisher().worker_generations();
  }

 private:
  dpdk::DpdkRuntime& runtime_;
};

}  // namespace sluice::control
