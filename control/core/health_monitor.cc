// SPDX-License-Identifier: Apache-2.0
#include "control/core/health_monitor.h"

#include <spdlog/spdlog.h>

#include "dataplane/engine/signal_list.h"

namespace sluice::control {
namespace {

uint8_t dataplane_value(HealthState s) {
  switch (s) {
    case HealthState::kHealthy: return SLUICE_HEALTH_HEALTHY;
    case HealthState::kUnhealthy: return SLUICE_HEALTH_UNHEALTHY;
    case HealthState::kUnknown: break;
  }
  return SLUICE_HEALTH_UNKNOWN;
}

}  // namespace

HealthMonitor::HealthMonitor(health::HealthChecker& checker, DataplaneSink& dataplane,
                             EventHub& events, AuditLog& audit, RevisionSource revision)
    : checker_(checker), dataplane_(dataplane), events_(events), audit_(audit),
      revision_(std::move(revision)) {
  checker_.set_listener([this](const health::HealthTransition& t) { on_transition(t); });
}

void HealthMonitor::targets_changed(const engine::Snapshot& snapshot) {
  std::vector<health::HealthTarget> targets = health::health_targets(snapshot);
  {
    std::lock_guard lock(mutex_);
    std::map<Key, Checked> next;
    for (const health::HealthTarget& t : targets) {
      Checked c{t.backend_slot, t.config, t.port, HealthState::kUnknown};
      auto it = checked_.find({t.service, t.address});
      if (it != checked_.end() && it->second.config == t.config && it->second.port == t.port) {
        c.marked = it->second.marked;  // the same check goes on: so does its verdict
      } else if (it != checked_.end() && it->second.marked != HealthState::kUnknown) {
        dataplane_.set_backend_health(it->second.slot, SLUICE_HEALTH_UNKNOWN);
      }
      next.emplace(Key{t.service, t.address}, std::move(c));
    }
    // Backends no longer checked (check removed, backend removed or
    // disabled): served again as far as health goes.
    for (const auto& [key, c] : checked_) {
      if (!next.count(key) && c.marked != HealthState::kUnknown) {
        dataplane_.set_backend_health(c.slot, SLUICE_HEALTH_UNKNOWN);
      }
    }
    checked_ = std::move(next);
  }
  checker_.set_targets(std::move(targets));
}

void HealthMonitor::suspect(const std::string& service, const engine::IpAddress& address) {
  {
    std::lock_guard lock(mutex_);
    if (!checked_.count({service, address})) return;
  }
  checker_.confirm(service, address);
}

void HealthMonitor::on_transition(const health::HealthTransition& t) {
  {
    std::lock_guard lock(mutex_);
    auto it = checked_.find({t.target.service, t.target.address});
    // A verdict on a check that was replaced in the meantime changes nothing.
    if (it == checked_.end() || !(it->second.config == t.target.config) ||
        it->second.port != t.target.port) {
      return;
    }
    it->second.marked = t.to;
    dataplane_.set_backend_health(it->second.slot, dataplane_value(t.to));
  }
  const std::string backend = t.target.address.to_string();
  const std::string summary = "backend " + backend + " (pool " + t.target.pool + ") " +
                              health_state_name(t.from) + " -> " + health_state_name(t.to) +
                              ": " + t.reason + ", last check: " + t.detail;
  if (t.to == HealthState::kUnhealthy) {
    spdlog::warn("health: service {} {}", t.target.service, summary);
  } else {
    spdlog::info("health: service {} {}", t.target.service, summary);
  }
  events_.publish(HealthChangedEvent{t.target.service, t.target.pool, backend, t.from, t.to, t.detail});
  AuditRecord r;
  r.peer = "sluiced health check";
  r.method = "HealthChanged";
  r.service = t.target.service;
  r.revision_before = r.revision_after = revision_ ? revision_() : 0;
  r.accepted = true;
  r.summary = summary;
  std::string ignored;  // like every audit write: a failure must not stop forwarding decisions
  audit_.record(r, &ignored);
}

HealthByBackend HealthMonitor::states() const {
  HealthByBackend out;
  for (const health::TargetHealth& t : checker_.statuses()) {
    out[{t.target.service, t.target.address}] = t.health;
  }
  return out;
}

}  // namespace sluice::control
