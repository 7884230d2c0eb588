// SPDX-License-Identifier: Apache-2.0
#include "control/metrics/stats_collectable.h"

#include "control/metrics/backend_families.h"
#include "control/metrics/daemon_families.h"
#include "control/metrics/traffic_families.h"

namespace sluice::control::metrics {

std::vector<prometheus::MetricFamily> build_families(const ControlStats& stats,
                                                     const ControlStatus& status,
                                                     Exposition exposition) {
  std::vector<prometheus::MetricFamily> families;
  switch (exposition) {
    case Exposition::kMain:
      append_daemon_families(stats, status, families);
      append_traffic_families(stats, families);
      break;
    case Exposition::kBackends:
      append_backend_families(stats, families);
      break;
  }
  return families;
}

std::vector<prometheus::MetricFamily> StatsCollectable::Collect() const {
  std::lock_guard<std::mutex> lock(scrape_mutex_);
  const ControlStats stats = source_.stats();
  // The per-backend families need no status: skip the call.
  const ControlStatus status =
      exposition_ == Exposition::kMain ? source_.status() : ControlStatus{};
  return build_families(stats, status, exposition_);
}

}  // namespace sluice::control::metrics
