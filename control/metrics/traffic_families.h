// SPDX-License-Identifier: Apache-2.0
// The families of /metrics labelled by service and pool: the golden signals
// (signal_list.h) as counters, handshake-time histograms, active flows and
// oldest flow age from the flow census, weights, backends by configured
// state and by health, and the census's own age and duration. The
// per-backend families are on /metrics/backends (backend_families.h). The
// list with names and meanings: control/metrics/README.md.
#pragma once

#include <prometheus/metric_family.h>

#include <vector>

#include "control/api/control_stats.h"

namespace sluice::control::metrics {

// Appends the families for every service of `stats` to `out`, each family
// once (also when it has no sample: HELP and TYPE stay visible).
void append_traffic_families(const ControlStats& stats, std::vector<prometheus::MetricFamily>& out);

}  // namespace sluice::control::metrics
