// SPDX-License-Identifier: Apache-2.0
// What the service/pool families (traffic_families.h, on /metrics) and the
// per-backend families (backend_families.h, on /metrics/backends) share:
// the golden-signal counter families built from SLUICE_SLOT_SIGNALS, and the
// numbers that stand for a backend's configured state and health.
#pragma once

#include <prometheus/metric_family.h>

#include <array>
#include <string>
#include <vector>

#include "control/api/control_stats.h"
#include "control/metrics/family_builder.h"

namespace sluice::control::metrics {

// One counter family per golden signal of one level ("service", "pool" or
// "backend"): sluice_<level>_<signal>_total. A family the level lacks
// (ejections happen only on backends) has an empty name.
inline constexpr size_t kSignalCount = [] {
  size_t n = 0;
#define SLUICE_X(name, help) ++n;
  SLUICE_SLOT_SIGNALS(SLUICE_X)
#undef SLUICE_X
  return n;
}();
using SignalFamilies = std::array<prometheus::MetricFamily, kSignalCount>;

// `help_suffix` ends every HELP text (the backend families name their path).
SignalFamilies make_signal_families(const std::string& level, const std::string& help_suffix = "");
void add_signals(SignalFamilies& families, const Labels& labels,
                 const engine::TrafficCounter& traffic);
// Moves the named families to `out`, in signal_list.h order.
void move_signals(SignalFamilies& families, std::vector<prometheus::MetricFamily>& out);

// The configured state as a number: 0 active, 1 draining, 2 disabled; also
// the index into kBackendStates.
double backend_state_value(engine::BackendState state);
inline constexpr const char* kBackendStates[] = {"active", "draining", "disabled"};

// Health as the dataplane's SLUICE_HEALTH_* value, so that 2 means
// "unhealthy" on /metrics and in a dump of the dataplane's health table
// alike; also the index into kHealthStates.
double health_value(HealthState state);
inline constexpr const char* kHealthStates[] = {"unknown", "healthy", "unhealthy"};

}  // namespace sluice::control::metrics
