// SPDX-License-Identifier: Apache-2.0
// Why a flow goes where it goes: the stateless part of the engine's choice
// for a new flow, step by step, for operators (the control API's
// ExplainFlow, sluicectl explain) and for tests.
//
// It follows exactly the code path of Worker::schedule (rules, then the
// weighted split on the affinity key, then the pool's Maglev slot) on a
// snapshot alone. A worker's own state can change the answer for a real
// packet: an existing flow-table entry keeps its backend, and a backend
// whose circuit is open on that core is skipped for the next Maglev slot.
// Given the dataplane's health table, it also skips unhealthy backends as
// the workers do (their circuits it cannot know).
#pragma once

#include <cstdint>
#include <string>

#include "dataplane/engine/backend_health.h"
#include "dataplane/engine/snapshot.h"

namespace sluice::engine {

struct FlowExplanation {
  const CompiledService* service = nullptr;  // null: no service listens there
  bool rule_matched = false;                 // a source-CIDR rule chose the pool
  uint8_t pool = SLUICE_NO_POOL;             // SLUICE_NO_POOL: every weight is 0
  uint64_t affinity_hash = 0;                // what the split and Maglev hashed
  uint32_t maglev_slot = 0;                  // slot of the pool's table
  uint16_t backend = kNoBackendIndex;        // kNoBackendIndex: no usable backend
  bool unhealthy_skipped = false;            // the Maglev slot's backend is unhealthy
  std::string reason;                        // one sentence for humans
};

// Explains where a new flow with this client -> VIP key would go; with a
// health table, skipping unhealthy backends as Worker::pick_backend does.
FlowExplanation explain_flow(const Snapshot& snapshot, const sluice_flow_key& key,
                             const BackendHealthTable* health = nullptr);

}  // namespace sluice::engine
