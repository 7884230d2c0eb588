// SPDX-License-Identifier: Apache-2.0
#include "control/health/health_target.h"

namespace sluice::control::health {

std::string target_name(const HealthTarget& target) {
  const std::string address =
      target.address.is_v4() ? target.address.to_string() : "[" + target.address.to_string() + "]";
  return target.service + "/" + address + ":" + std::to_string(target.port);
}

std::vector<HealthTarget> health_targets(const engine::Snapshot& snapshot) {
  std::vector<HealthTarget> targets;
  for (const engine::CompiledService& service : snapshot.services()) {
    const engine::ServiceConfig& config = service.config;
    for (const engine::CompiledBackend& backend : service.backends) {
      if (backend.state == engine::BackendState::kDisabled) continue;
      // CompiledBackend::pool indexes the service's pools as configured.
      const engine::PoolConfig& pool = config.pools.at(backend.pool);
      const engine::HealthCheckConfig& check =
          pool.health_check ? *pool.health_check : config.health_check;
      if (check.type == engine::HealthCheckType::kNone) continue;
      HealthTarget t;
      t.service = config.name;
      t.pool = pool.name;
      t.address = backend.address;
      t.port = check.port != 0 ? check.port : config.port;
      t.backend_slot = backend.counter_slot;
      t.config = check;
      targets.push_back(std::move(t));
    }
  }
  return targets;
}

}  // namespace sluice::control::health
