// SPDX-License-Identifier: Apache-2.0
// What the control core needs from active health checking: to be told the
// backends and checks of each snapshot it publishes, and to read every
// backend's health for GetStats, metrics and drain status. The checking
// itself (probes, thresholds, marking backends in the dataplane, events)
// lives behind this interface (control/core/health_monitor.h on
// control/health/); the core never depends on how checks are made.
#pragma once

#include "control/core/stats_summary.h"
#include "dataplane/engine/snapshot.h"

namespace sluice::control {

class HealthTracker {
 public:
  virtual ~HealthTracker() = default;
  // The backends to check and how: those of `snapshot` whose service (or
  // pool) has a health check. Called after every publication.
  virtual void targets_changed(const engine::Snapshot& snapshot) = 0;
  // Every checked backend's health, by (service, address).
  virtual HealthByBackend states() const = 0;
};

}  // namespace sluice::control
