// SPDX-License-Identifier: Apache-2.0
// Names what a dataplane sampled (DataplaneStats: counters by slot, circuits
// by backend fingerprint) after the snapshot that assigned the slots: the
// one place that turns slots into services, pools and backends, shared by
// GetStats (ControlCoreImpl) and sluiced's stats file (control/daemon).
#pragma once

#include <string>

#include "control/api/control_core.h"
#include "control/core/dataplane_sink.h"
#include "dataplane/engine/snapshot.h"

namespace sluice::control {

// Per-worker and summed counters, and traffic and circuit states per
// service, pool and backend of `snapshot` (no services when it is null).
// With a non-empty `service`, only that service (kNotFound when the
// snapshot has none of that name). Counter slots beyond what a worker
// counts read as 0. Sets revision (the snapshot's generation) and leaves
// uptime_ms and dataplane to the caller.
StatsResult summarize_stats(const DataplaneStats& sample, const engine::Snapshot* snapshot,
                            const std::string& service = {});

}  // namespace sluice::control
