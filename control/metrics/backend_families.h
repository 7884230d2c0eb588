// SPDX-License-Identifier: Apache-2.0
// The per-backend families, served on /metrics/backends (not /metrics): the
// golden signals, handshake-time histograms, active flows and oldest flow
// age, weight, configured state, circuit state and health checks, each
// labelled service, pool, backend. They are 87% of the series at 5,000
// backends, so they have a path of their own that Prometheus scrapes less
// often (README.md, "Cost"). The list with names and meanings:
// control/metrics/README.md.
#pragma once

#include <prometheus/metric_family.h>

#include <vector>

#include "control/api/control_stats.h"

namespace sluice::control::metrics {

// Appends the per-backend families of every service of `stats` to `out`,
// each family once (also when it has no sample: HELP and TYPE stay visible).
void append_backend_families(const ControlStats& stats, std::vector<prometheus::MetricFamily>& out);

}  // namespace sluice::control::metrics
