// SPDX-License-Identifier: Apache-2.0
// What the control core needs from a dataplane: publish a compiled snapshot
// and learn which generation each worker forwards with. The DPDK runtime
// provides it through its SnapshotPublisher (control/daemon); tests use a
// fake; the XDP dataplane will provide its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/engine/snapshot.h"

namespace sluice::control {

class DataplaneSink {
 public:
  virtual ~DataplaneSink() = default;
  virtual std::string kind() const = 0;  // "dpdk", ...
  // Makes `snapshot` the one every worker moves to.
  virtual void publish(std::shared_ptr<const engine::Snapshot> snapshot) = 0;
  // True once every worker forwards with `generation` or later; false when
  // `until` passes first.
  virtual bool wait_applied(uint64_t generation,
                            std::chrono::steady_clock::time_point until) = 0;
  virtual std::vector<uint64_t> worker_generations() const = 0;
};

}  // namespace sluice::control
