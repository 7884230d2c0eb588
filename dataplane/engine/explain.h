// SPDX-License-Identifier: Apache-2.0
// Why a flow goes where it goes: the choice the engine makes for a new
// flow, step by step, for operators (the control API's ExplainFlow,
// sluicectl explain) and for tests.
//
// It runs the workers' own code (placement.h: rules, the weighted split on
// the affinity key, the pool's Maglev slot and the backends after it, the
// fallback pool), so it cannot drift from them; only the refusal differs.
// From a snapshot alone (explain_flow) a backend is refused only for
// failing its health checks, given the dataplane's health table: a worker
// may also pass over a backend whose circuit is open on its core, and an
// existing flow-table entry keeps its backend. A worker explaining itself
// (Worker::explain) refuses exactly as it would for a real new flow.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "dataplane/engine/backend_health.h"
#include "dataplane/engine/snapshot.h"
#include "dataplane/engine/verdict.h"

namespace sluice::engine {

struct FlowExplanation {
  const CompiledService* service = nullptr;  // null: no service listens there
  bool rule_matched = false;                 // a source-CIDR rule chose the pool
  uint8_t chosen_pool = SLUICE_NO_POOL;      // what the rule or split chose (NO_POOL: every weight is 0)
  uint8_t pool = SLUICE_NO_POOL;             // where the flow goes: chosen_pool, or the fallback
  bool fallback = false;                     // chosen_pool had no backend to give
  uint64_t affinity_hash = 0;                // what the split and Maglev hashed
  uint32_t maglev_slot = 0;                  // slot of `pool`'s table (when it has one)
  uint16_t backend = kNoBackendIndex;        // kNoBackendIndex: the flow is dropped
  bool unhealthy_skipped = false;            // chosen_pool's Maglev slot holds an unhealthy backend
  bool circuit_skipped = false;              // some backend was passed over for its circuit
  DropReason drop = DropReason::kNone;       // kNoPool or kNoBackend when dropped
  std::string reason;                        // one sentence for humans
};

// 0 when the backend may take a new flow, else a kSkip* bit (placement.h).
using BackendRefusal = std::function<uint8_t(const CompiledBackend&)>;

// Explains where a new flow with this client -> VIP key would go; with a
// health table, refusing unhealthy backends as the workers do.
FlowExplanation explain_flow(const Snapshot& snapshot, const sluice_flow_key& key,
                             const BackendHealthTable* health = nullptr);

// The same with the caller's refusal (Worker::explain passes its own).
// `health` only words the reason (which refused backend failed its checks).
FlowExplanation explain_flow_with(const Snapshot& snapshot, const sluice_flow_key& key,
                                  const BackendRefusal& refusal,
                                  const BackendHealthTable* health);

}  // namespace sluice::engine
