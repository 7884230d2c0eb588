// SPDX-License-Identifier: Apache-2.0
// The families of /metrics about sluiced itself: configuration revisions,
// each worker's applied generation, worker-wide engine counters, drops by
// reason, circuit-table and dataplane counters per worker, uptime and
// build info. The list with names and meanings: control/metrics/README.md.
#pragma once

#include <prometheus/metric_family.h>

#include <vector>

#include "control/api/control_core.h"
#include "control/api/control_stats.h"

namespace sluice::control::metrics {

void append_daemon_families(const ControlStats& stats, const ControlStatus& status,
                            std::vector<prometheus::MetricFamily>& out);

}  // namespace sluice::control::metrics
