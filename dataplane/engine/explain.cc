// SPDX-License-Identifier: Apache-2.0
#include "dataplane/engine/explain.h"

#include "dataplane/engine/engine.h"
#include "dataplane/engine/placement.h"

namespace sluice::engine {
namespace {

const char* affinity_name(Affinity a) {
  switch (a) {
    case Affinity::kFlow: return "the 5-tuple";
    case Affinity::kClientAddress: return "the client address";
    case Affinity::kClientPrefix: return "the client prefix";
  }
  return "?";
}

std::string address_of(const CompiledService& svc, uint16_t backend) {
  return svc.backends[backend].address.to_string();
}

// Why pool `pool` gave no backend, as a clause.
std::string why_no_backend(const CompiledPool& pool) {
  if (pool.maglev.empty()) return "it has no active backend";
  // A pool larger than its samples is not searched whole (pool_probe.h).
  return pool.backend_count <= Worker::kPoolSamples
             ? "every backend is refused (failing health checks or an open circuit)"
             : "every backend a flow may be tried on is refused (failing health checks or an "
               "open circuit)";
}

// The sentence for a placement that found a service.
std::string reason_for(const CompiledService& svc, const FlowExplanation& e,
                       const BackendHealthTable* health) {
  if (e.drop == DropReason::kNoPool) return "every pool has weight 0: the flow is dropped (no-pool)";
  const CompiledPool& chosen = svc.pools[e.chosen_pool];
  std::string out = e.rule_matched ? "a source-CIDR rule pins the client to pool " + chosen.name
                                   : "the weighted split on " +
                                         std::string(affinity_name(svc.config.affinity)) +
                                         " chose pool " + chosen.name;
  if (e.fallback || (e.backend == kNoBackendIndex && e.chosen_pool == e.pool)) {
    out += ", but " + why_no_backend(chosen);
    if (!e.fallback) {
      return out + ", and it is the service's fallback pool: the flow is dropped (no-backend)";
    }
    const CompiledPool& fallback = svc.pools[e.pool];
    if (e.backend == kNoBackendIndex) {
      return out + "; the fallback pool " + fallback.name + " cannot take it either (" +
             why_no_backend(fallback) + "): the flow is dropped (no-backend)";
    }
    return out + "; the fallback pool " + fallback.name + " takes it: its Maglev slot " +
           std::to_string(e.maglev_slot) + " leads to backend " + address_of(svc, e.backend);
  }
  const uint16_t at_slot = chosen.maglev[e.maglev_slot];
  out += "; its Maglev slot " + std::to_string(e.maglev_slot) + " holds backend " +
         address_of(svc, at_slot);
  if (at_slot == e.backend) return out;
  const bool unhealthy = health != nullptr && health->unhealthy(svc.backends[at_slot].counter_slot);
  return out + (unhealthy ? ", which fails its health checks" : ", whose circuit is open") +
         ": the flow goes to the next backend that may take it, " + address_of(svc, e.backend);
}

}  // namespace

FlowExplanation explain_flow_with(const Snapshot& snapshot, const sluice_flow_key& key,
                                  const BackendRefusal& refusal,
                                  const BackendHealthTable* health) {
  FlowExplanation e;
  e.service = snapshot.find_service(key);
  if (!e.service) {
    e.reason = snapshot.is_vip(key) ? "the VIP has no service on this port and protocol"
                                    : "not a VIP: the packet goes to the host";
    return e;
  }
  const CompiledService& svc = *e.service;
  // Every refusal, in either pool (Placement::skips has only the chosen
  // pool's Maglev probes, which is what the workers count).
  uint8_t refused = 0;
  const Placement p = place_new_flow(snapshot, svc, key, sluice_flow_hash(&key, &snapshot.seed()),
                                     [&](const CompiledBackend& b) {
                                       const uint8_t why = refusal(b);
                                       refused |= why;
                                       return why;
                                     });
  e.rule_matched = p.rule_matched;
  e.chosen_pool = p.chosen_pool;
  e.pool = p.pool;
  e.fallback = p.fallback;
  e.backend = p.backend;
  e.affinity_hash = p.affinity_hash;
  e.drop = p.drop;
  e.circuit_skipped = (refused & kSkipCircuit) != 0;
  if (p.drop != DropReason::kNoPool) {
    const CompiledPool& chosen = svc.pools[p.chosen_pool];
    if (!chosen.maglev.empty() && health != nullptr) {
      const uint32_t slot = sluice_hash_to_range(
          p.affinity_hash, static_cast<uint32_t>(chosen.maglev.size()));
      e.unhealthy_skipped = health->unhealthy(svc.backends[chosen.maglev[slot]].counter_slot);
    }
    const CompiledPool& pool = svc.pools[p.pool];
    if (!pool.maglev.empty()) {
      e.maglev_slot =
          sluice_hash_to_range(p.affinity_hash, static_cast<uint32_t>(pool.maglev.size()));
    }
  }
  e.reason = reason_for(svc, e, health);
  return e;
}

FlowExplanation explain_flow(const Snapshot& snapshot, const sluice_flow_key& key,
                             const BackendHealthTable* health) {
  return explain_flow_with(
      snapshot, key,
      [health](const CompiledBackend& b) -> uint8_t {
        return health != nullptr && health->unhealthy(b.counter_slot) ? kSkipHealth : 0;
      },
      health);
}

}  // namespace sluice::engine
