// SPDX-License-Identifier: Apache-2.0
// Has a service, pool or backend drained? Answered from a flow census
// (live flows per worker and backend) and the snapshot that names the
// backends; the rule a rollout tool gates a scale-down on:
//
//   safe_to_remove = the target has no live flow on any worker, or every
//                    live flow of it has been idle for at least quiet_ms.
//
// A flow is live until its idle timeout passes (tcp_established_ms, 300 s
// by default), so a connection that is open but silent keeps a backend
// "busy" for that long; quiet_ms (30 s by default) is how long the tool is
// willing to treat silence as the end. Backends of the target that still
// get new flows (state active and not unhealthy) are named in
// still_receiving: drain them first (SetBackendState draining, or weight 0
// and no rule), or new flows will keep arriving.
#pragma once

#include <cstdint>

#include "control/api/control_core.h"
#include "control/core/dataplane_sink.h"
#include "control/core/stats_summary.h"
#include "dataplane/engine/snapshot.h"

namespace sluice::control {

// kNotFound names what was missing (the service, or a target that is
// neither a pool name nor a backend address of it).
DrainResult evaluate_drain(const engine::Snapshot& snapshot, const FlowCensus& census,
                           const DrainQuery& query, uint64_t census_age_ms,
                           const HealthByBackend* health);

}  // namespace sluice::control
