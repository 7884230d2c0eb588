// SPDX-License-Identifier: Apache-2.0
// What the health checker checks: one backend of one service, with the check
// its pool (or service) asks for, resolved to an address and port.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/engine/config.h"
#include "dataplane/engine/snapshot.h"

namespace sluice::control::health {

struct HealthTarget {
  std::string service;
  std::string pool;
  engine::IpAddress address;
  uint16_t port = 0;          // probed: config.port, or the service's port when that is 0
  uint32_t backend_slot = 0;  // the backend's counter slot (DataplaneSink::set_backend_health)
  engine::HealthCheckConfig config;

  // A backend is identified by its address within its service, as the
  // snapshot compiler keys its counter slot.
  bool same_backend(const HealthTarget& other) const {
    return service == other.service && address == other.address;
  }
  // The same backend probed the same way: it keeps its health state when
  // the targets are replaced (HealthChecker::set_targets).
  bool same_check(const HealthTarget& other) const {
    return same_backend(other) && port == other.port && config == other.config;
  }
};

// "web/10.0.0.21:80" ("web/[2001:db8::1]:80"): for logs and test messages.
std::string target_name(const HealthTarget& target);

// Every backend of `snapshot` to check: one per backend whose pool's
// override (or else the service's check) has a type other than kNone.
// Disabled backends are left out: they get no traffic whatever their health,
// and a backend being decommissioned should not be probed. In the
// snapshot's order (service, then pool, then address).
std::vector<HealthTarget> health_targets(const engine::Snapshot& snapshot);

}  // namespace sluice::control::health
