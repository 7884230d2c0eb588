// SPDX-License-Identifier: Apache-2.0
// Where a new flow goes: source-CIDR rules, then the weighted split on the
// affinity key, then the pool's Maglev slot and the backends that take over
// from it, then the fallback pool. Written once, for the two callers that
// must never disagree:
//   - Worker::schedule (engine.cc), on the hot path, whose refusal asks the
//     health table and the core's circuits (and takes half-open trials);
//   - the explanation of a flow (explain.h, the control API's ExplainFlow),
//     whose refusal asks what the caller knows (health; a worker's circuits
//     when a worker explains itself).
// The XDP program follows the same steps in C (ebpf/xdp/lib/schedule.h);
// the parity test holds it to the engine, and explain_corpus_test holds the
// explanation to the engine, on the same corpus.
//
// Templates on the refusal so that the worker's call inlines to what it was
// before this header existed: no indirect call per probed backend.
#pragma once

#include <cstdint>

#include "dataplane/engine/pool_probe.h"
#include "dataplane/engine/snapshot.h"
#include "dataplane/engine/verdict.h"

namespace sluice::engine {

// Why a backend was passed over (a refusal's answer; 0: it may take the
// flow). OR-ed into Placement::skips.
inline constexpr uint8_t kSkipCircuit = 1;   // its circuit refused the flow
inline constexpr uint8_t kSkipHealth = 2;    // UNHEALTHY in the health table
inline constexpr uint8_t kSkipExcluded = 4;  // the backend a SYN retry leaves

// The hash the split and Maglev use: the flow hash, or the hash of the
// affinity key (client address or prefix) under the same seed.
inline uint64_t affinity_hash(const CompiledService& svc, const sluice_flow_key& key,
                              uint64_t flow_hash, const sluice_hash_seed& seed) {
  if (svc.config.affinity == Affinity::kFlow) return flow_hash;
  sluice_flow_key akey;
  sluice_affinity_key(&key, static_cast<uint8_t>(svc.config.affinity), svc.affinity_prefix_len,
                      &akey);
  return sluice_flow_hash(&akey, &seed);
}

// The first backend of pool `pool_index` that `refusal` lets take the flow:
// the Maglev slot and the next kMaxCircuitProbes - 1 slots, then the pool's
// samples from a hash-chosen start (pool_probe.h). Bounded: at most
// SLUICE_MAX_CIRCUIT_PROBES + SLUICE_POOL_SAMPLES refusals, whatever the
// pool's size. Only the Maglev probes report why they passed a backend over
// (into *skips). kNoBackendIndex: none of them may.
template <class Refusal>
[[gnu::always_inline]] inline uint16_t pick_in_pool(const CompiledService& svc, uint8_t pool_index,
                                                    uint64_t hash, Refusal&& refusal,
                                                    uint8_t* skips) {
  const CompiledPool& pool = svc.pools[pool_index];
  if (pool.maglev.empty()) return kNoBackendIndex;
  const auto size = static_cast<uint32_t>(pool.maglev.size());
  const uint32_t slot = sluice_hash_to_range(hash, size);
  // The Maglev slot, then the next few slots: the backends that would take
  // over this slot's traffic, in proportion to their weights.
  for (uint32_t probe = 0; probe < SLUICE_MAX_CIRCUIT_PROBES; ++probe) {
    const uint32_t at = slot + probe < size ? slot + probe : slot + probe - size;
    const uint16_t idx = pool.maglev[at];
    const uint8_t why = refusal(svc.backends[idx]);
    if (why == 0) return idx;
    *skips |= why;
  }
  // Rare: many ejected or unhealthy backends. A few more backends, spread
  // over the pool from a hash-chosen start (all of a small pool).
  const uint32_t start = sluice_hash_to_range(hash, pool.backend_count);
  const uint32_t samples = sluice_pool_samples(pool.backend_count);
  for (uint32_t j = 0; j < samples; ++j) {
    const auto idx = static_cast<uint16_t>(pool.first_backend +
                                           sluice_pool_sample(start, j, pool.backend_count));
    const CompiledBackend& b = svc.backends[idx];
    if (b.state == BackendState::kActive && refusal(b) == 0) return idx;
  }
  return kNoBackendIndex;
}

// A new flow's placement.
struct Placement {
  uint8_t chosen_pool = SLUICE_NO_POOL;  // what the rule or the split chose
  uint8_t pool = SLUICE_NO_POOL;         // where it goes: chosen_pool, or the fallback
  uint16_t backend = kNoBackendIndex;    // kNoBackendIndex: dropped
  bool rule_matched = false;             // a source-CIDR rule chose the pool
  bool fallback = false;                 // the chosen pool had no backend to give
  uint8_t skips = 0;                     // why the chosen pool's Maglev probes passed some over
  uint64_t affinity_hash = 0;
  DropReason drop = DropReason::kNone;   // kNoPool, kNoBackend, or kNone
};

template <class Refusal>
[[gnu::always_inline]] inline Placement place_new_flow(const Snapshot& snap,
                                                       const CompiledService& svc,
                                                       const sluice_flow_key& key,
                                                       uint64_t flow_hash, Refusal&& refusal) {
  Placement p;
  // Source-CIDR rules pin clients to a pool ahead of the weighted split.
  if (svc.has_rules) {
    const int64_t pool = svc.rules.lookup(key.src, key.family);
    if (pool != CidrTable::kNoMatch) {
      p.chosen_pool = static_cast<uint8_t>(pool);
      p.rule_matched = true;
    }
  }
  p.affinity_hash = affinity_hash(svc, key, flow_hash, snap.seed());
  if (!p.rule_matched) {
    p.chosen_pool = static_cast<uint8_t>(sluice_pick_pool(p.affinity_hash, &svc.split));
    if (p.chosen_pool == SLUICE_NO_POOL) {
      p.drop = DropReason::kNoPool;
      return p;
    }
  }
  p.pool = p.chosen_pool;
  p.backend = pick_in_pool(svc, p.pool, p.affinity_hash, refusal, &p.skips);
  if (p.backend == kNoBackendIndex && p.pool != svc.fallback_pool) {
    // Every backend of the pool a flow may be tried on is refused (or none
    // is active): its share goes to the fallback pool. Skips there are not
    // reported: the chosen pool's are what an operator acts on.
    p.pool = svc.fallback_pool;
    p.fallback = true;
    uint8_t fallback_skips = 0;
    p.backend = pick_in_pool(svc, p.pool, p.affinity_hash, refusal, &fallback_skips);
  }
  if (p.backend == kNoBackendIndex) p.drop = DropReason::kNoBackend;
  return p;
}

}  // namespace sluice::engine
