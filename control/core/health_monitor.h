// SPDX-License-Identifier: Apache-2.0
// The control core's side of active health checking: feeds the checker
// (control/health/) the backends of every published snapshot, and turns its
// verdicts into what the rest of sluice sees:
//   - the dataplane's health table (DataplaneSink::set_backend_health): an
//     UNHEALTHY backend gets no new flows on any worker from the next packet
//     on, without a new revision or generation;
//   - a HealthChanged event, an audit line ("HealthChanged", by "sluiced
//     health check") and a log line per transition;
//   - states() for GetStats, /metrics and drain status.
// It also confirms suspicions: suspect() is called (by the DataplaneWatcher,
// every poll) for a backend whose circuit a worker reports suspected (passive
// failures from several source prefixes while its checks pass,
// circuit_logic.h); the checker then checks it at once, and a failure marks
// it UNHEALTHY without waiting for unhealthy_threshold scheduled checks. A
// passing check leaves it serving, as it was.
// Restart rule: the dataplane starts with every backend UNKNOWN, which is
// served, so a restart never drops traffic to backends that were healthy; a
// backend that was unhealthy before the restart is served again until its
// checks fail unhealthy_threshold times (the first check of each backend
// falls within its first interval). A backend whose check is removed or
// changed goes back to UNKNOWN in the dataplane at once.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "control/core/dataplane_sink.h"
#include "control/core/event_hub.h"
#include "control/core/health_tracker.h"
#include "control/health/health_checker.h"
#include "control/state/state_store.h"

namespace sluice::control {

class HealthMonitor final : public HealthTracker {
 public:
  // The revision audit lines are written at (the current one).
  using RevisionSource = std::function<uint64_t()>;

  // Sets itself as the checker's listener; call before checker.start().
  HealthMonitor(health::HealthChecker& checker, DataplaneSink& dataplane, EventHub& events,
                AuditLog& audit, RevisionSource revision);

  void targets_changed(const engine::Snapshot& snapshot) override;
  HealthByBackend states() const override;

  // A worker suspects backend `address` of `service`: confirm with a check
  // now (HealthChecker::confirm rate-limits it). Backends without a check
  // are ignored: nothing to confirm with.
  void suspect(const std::string& service, const engine::IpAddress& address);

  // What the checker's listener calls (public for tests).
  void on_transition(const health::HealthTransition& t);

 private:
  using Key = std::pair<std::string, engine::IpAddress>;  // (service, address)
  struct Checked {
    uint32_t slot = 0;
    engine::HealthCheckConfig config;
    uint16_t port = 0;
    HealthState marked = HealthState::kUnknown;  // what the dataplane holds
  };

  health::HealthChecker& checker_;
  DataplaneSink& dataplane_;
  EventHub& events_;
  AuditLog& audit_;
  const RevisionSource revision_;

  mutable std::mutex mutex_;
  std::map<Key, Checked> checked_;  // the backends under check now
};

}  // namespace sluice::control
