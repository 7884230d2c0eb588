// SPDX-License-Identifier: Apache-2.0
// Counting the live flows of a flow table per backend: how many, how old the
// oldest is, how long since the newest packet. Drain status, active-flow
// metrics and GetStats read it; both dataplanes produce it (the engine from
// its FlowTable, the XDP dataplane from its "flows" map in userspace).
//
// A census is taken off the workers, by a control thread reading a table a
// worker keeps writing: it never stops or slows the worker (no lock, no
// flag the worker checks), and it is bounded-error, not exact: an entry
// that changes while it is read may be counted in its old or its new state
// (or, torn, skipped), and a flow that starts or ends during the scan may or
// may not be in it. Every entry is read once per census.
#pragma once

#include <cstdint>
#include <vector>

namespace sluice::engine {

class FlowTable;
class Snapshot;

// The live flows of one backend counter slot on one worker. A flow is live
// when its entry is not empty and has not been idle for its state's timeout
// (the timeouts of the service its key belongs to in the snapshot); flows of
// services or backends the snapshot no longer has are not counted.
struct SlotFlows {
  uint32_t backend_slot = 0;    // CompiledBackend::counter_slot
  uint32_t flows = 0;
  uint32_t oldest_age_ms = 0;   // now - first_seen_ms of the oldest live flow
  uint32_t newest_idle_ms = 0;  // now - last_seen_ms of the most recently active flow
};

// Census of `table` under `snapshot` at `now_ms` (the worker's clock), in
// backend-slot order; slots without a live flow are left out. Reads every
// entry once; allocates only the result. Cost: flow_census.cc.
std::vector<SlotFlows> census_flows(const FlowTable& table, const Snapshot& snapshot,
                                    uint32_t now_ms);

}  // namespace sluice::engine
