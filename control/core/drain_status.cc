// SPDX-License-Identifier: Apache-2.0
#include "control/core/drain_status.h"

#include <algorithm>

namespace sluice::control {
namespace {

CallError not_found(std::string message) { return CallError{ErrorCode::kNotFound, std::move(message)}; }

const engine::CompiledService* find_service(const engine::Snapshot& snap, const std::string& name) {
  for (const engine::CompiledService& s : snap.services()) {
    if (s.config.name == name) return &s;
  }
  return nullptr;
}

std::string ms_text(uint64_t ms) {
  if (ms < 10000) return std::to_string(ms) + " ms";
  return std::to_string(ms / 1000) + " s";
}

}  // namespace

DrainResult evaluate_drain(const engine::Snapshot& snapshot, const FlowCensus& census,
                           const DrainQuery& query, uint64_t census_age_ms,
                           const HealthByBackend* health) {
  DrainResult result;
  DrainAnswer& a = result.answer;
  a.census_age_ms = census_age_ms;
  a.revision = snapshot.generation();
  const engine::CompiledService* svc = find_service(snapshot, query.service);
  if (!svc) {
    result.error = not_found("no service named \"" + query.service + "\"");
    return result;
  }
  // The backends the question is about: the service's, a pool's, or one.
  std::vector<const engine::CompiledBackend*> targets;
  if (query.target.empty()) {
    a.target_kind = "service";
    for (const engine::CompiledBackend& b : svc->backends) targets.push_back(&b);
  } else if (auto pool = std::find_if(svc->pools.begin(), svc->pools.end(),
                                      [&](const engine::CompiledPool& p) { return p.name == query.target; });
             pool != svc->pools.end()) {
    a.target_kind = "pool";
    for (uint32_t i = 0; i < pool->backend_count; ++i) targets.push_back(&svc->backends[pool->first_backend + i]);
  } else {
    const std::optional<engine::IpAddress> address = engine::IpAddress::parse(query.target);
    for (const engine::CompiledBackend& b : svc->backends) {
      if (address && b.address == *address) targets.push_back(&b);
    }
    if (targets.empty()) {
      result.error = not_found("service " + query.service + " has no pool or backend \"" +
                               query.target + "\"");
      return result;
    }
    a.target_kind = "backend";
  }

  const size_t workers = census.workers.size();
  a.active.by_worker.assign(workers, 0);
  for (const engine::CompiledBackend* b : targets) {
    a.backends.push_back(b->address.to_string());
    bool unhealthy = false;
    if (health) {
      auto it = health->find({svc->config.name, b->address});
      unhealthy = it != health->end() && it->second.state == HealthState::kUnhealthy;
    }
    if (b->state == engine::BackendState::kActive && !unhealthy) {
      a.still_receiving.push_back(b->address.to_string());
    }
    for (size_t w = 0; w < workers; ++w) {
      // Each worker's census is in slot order.
      const auto& slots = census.workers[w];
      auto it = std::lower_bound(slots.begin(), slots.end(), b->counter_slot,
                                 [](const engine::SlotFlows& f, uint32_t slot) { return f.backend_slot < slot; });
      if (it == slots.end() || it->backend_slot != b->counter_slot || it->flows == 0) continue;
      ActiveFlows one;
      one.flows = it->flows;
      one.by_worker.assign(workers, 0);
      one.by_worker[w] = it->flows;
      one.oldest_age_ms = it->oldest_age_ms;
      one.newest_idle_ms = it->newest_idle_ms;
      a.active.add(one);
    }
  }

  // The census saw idle times as they were when it was taken.
  if (a.active.newest_idle_ms) {
    const uint64_t idle = uint64_t{*a.active.newest_idle_ms} + census_age_ms;
    a.active.newest_idle_ms = static_cast<uint32_t>(std::min<uint64_t>(idle, UINT32_MAX));
  }
  if (a.active.flows == 0) {
    a.safe_to_remove = true;
    a.reason = "no live flow on any worker";
  } else if (a.active.newest_idle_ms && *a.active.newest_idle_ms >= query.quiet_ms) {
    a.safe_to_remove = true;
    a.reason = std::to_string(a.active.flows) + " live flows, all idle for at least " +
               ms_text(*a.active.newest_idle_ms) + " (quiet time " + ms_text(query.quiet_ms) + ")";
  } else {
    a.reason = std::to_string(a.active.flows) + " live flows; the last packet was " +
               ms_text(a.active.newest_idle_ms.value_or(0)) + " ago (quiet time " +
               ms_text(query.quiet_ms) + ")";
  }
  if (!a.still_receiving.empty()) {
    a.reason += "; " + std::to_string(a.still_receiving.size()) +
                " backends still get new flows (active and not unhealthy)";
  }
  return result;
}

}  // namespace sluice::control
