// SPDX-License-Identifier: Apache-2.0
// Names what a dataplane sampled (DataplaneStats: counters by slot, circuits
// by backend fingerprint) after the snapshot that assigned the slots: the
// one place that turns slots into services, pools and backends, shared by
// GetStats (ControlCoreImpl) and sluiced's stats file (control/daemon).
#pragma once

#include <map>
#include <string>
#include <utility>

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
// Health by (service name, backend address); backends missing from it are
// reported kUnknown and unchecked.
using HealthByBackend = std::map<std::pair<std::string, engine::IpAddress>, BackendHealth>;

// With `census`, each backend's and pool's live flows (ActiveFlows) from it
// (census_age_ms and census_duration_us are the caller's to set); with
// `health`, each backend's health.
StatsResult summarize_stats(const DataplaneStats& sample, const engine::Snapshot* snapshot,
                            const std::string& service = {}, const FlowCensus* census = nullptr,
                            const HealthByBackend* health = nullptr);

}  // namespace sluice::control
