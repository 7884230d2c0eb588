// SPDX-License-Identifier: Apache-2.0
#include "dataplane/engine/explain.h"

#include "dataplane/engine/engine.h"

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

// The backend Worker::pick_backend settles on when health is all that
// rules a backend out: the next Maglev slots, then the pool's samples from a
// hash-chosen start (pool_probe.h; kNoBackendIndex: none of them is healthy).
uint16_t next_healthy(const CompiledService& svc, const CompiledPool& pool, uint32_t slot,
                      uint64_t hash, const BackendHealthTable& health) {
  const auto size = static_cast<uint32_t>(pool.maglev.size());
  for (uint32_t probe = 0; probe < Worker::kMaxCircuitProbes; ++probe) {
    const uint32_t at = slot + probe < size ? slot + probe : slot + probe - size;
    const uint16_t idx = pool.maglev[at];
    if (!health.unhealthy(svc.backends[idx].counter_slot)) return idx;
  }
  const uint32_t start = sluice_hash_to_range(hash, pool.backend_count);
  for (uint32_t j = 0; j < sluice_pool_samples(pool.backend_count); ++j) {
    const auto idx = static_cast<uint16_t>(pool.first_backend +
                                           sluice_pool_sample(start, j, pool.backend_count));
    const CompiledBackend& b = svc.backends[idx];
    if (b.state == BackendState::kActive && !health.unhealthy(b.counter_slot)) return idx;
  }
  return kNoBackendIndex;
}

}  // namespace

FlowExplanation explain_flow(const Snapshot& snapshot, const sluice_flow_key& key,
                             const BackendHealthTable* health) {
  FlowExplanation e;
  e.service = snapshot.find_service(key);
  if (!e.service) {
    e.reason = snapshot.is_vip(key) ? "the VIP has no service on this port and protocol"
                                    : "not a VIP: the packet goes to the host";
    return e;
  }
  const CompiledService& svc = *e.service;
  // The same steps, in the same order, as Worker::schedule.
  const uint64_t flow_hash = sluice_flow_hash(&key, &snapshot.seed());
  if (svc.config.affinity == Affinity::kFlow) {
    e.affinity_hash = flow_hash;
  } else {
    sluice_flow_key akey;
    sluice_affinity_key(&key, static_cast<uint8_t>(svc.config.affinity), svc.affinity_prefix_len,
                        &akey);
    e.affinity_hash = sluice_flow_hash(&akey, &snapshot.seed());
  }
  if (svc.has_rules) {
    const int64_t pool = svc.rules.lookup(key.src, key.family);
    if (pool != CidrTable::kNoMatch) {
      e.pool = static_cast<uint8_t>(pool);
      e.rule_matched = true;
    }
  }
  if (!e.rule_matched) e.pool = static_cast<uint8_t>(sluice_pick_pool(e.affinity_hash, &svc.split));
  if (e.pool == SLUICE_NO_POOL) {
    e.reason = "every pool has weight 0";
    return e;
  }
  const CompiledPool& pool = svc.pools[e.pool];
  const std::string chosen =
      e.rule_matched ? "a source-CIDR rule pins the client to pool " + pool.name
                     : "the weighted split on " + std::string(affinity_name(svc.config.affinity)) +
                           " chose pool " + pool.name;
  if (pool.maglev.empty()) {
    e.reason = chosen + ", which has no active backend (the fallback pool takes it)";
    return e;
  }
  e.maglev_slot = sluice_hash_to_range(e.affinity_hash, static_cast<uint32_t>(pool.maglev.size()));
  e.backend = pool.maglev[e.maglev_slot];
  e.reason = chosen + "; its Maglev slot " + std::to_string(e.maglev_slot) + " holds backend " +
             svc.backends[e.backend].address.to_string();
  if (health == nullptr || !health->unhealthy(svc.backends[e.backend].counter_slot)) return e;
  e.unhealthy_skipped = true;
  e.backend = next_healthy(svc, pool, e.maglev_slot, e.affinity_hash, *health);
  // A pool larger than its samples is not searched whole (pool_probe.h).
  const std::string tried = pool.backend_count <= Worker::kPoolSamples
                                ? "every backend of the pool"
                                : "every backend of the pool that a flow may be tried on";
  e.reason += e.backend == kNoBackendIndex
                  ? ", which fails its health checks, as does " + tried +
                        " (the fallback pool takes it)"
                  : ", which fails its health checks: the flow goes to the next healthy one, " +
                        svc.backends[e.backend].address.to_string();
  return e;
}

}  // namespace sluice::engine
