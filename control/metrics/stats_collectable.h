// SPDX-License-Identifier: Apache-2.0
// The prometheus-cpp Collectables behind /metrics and /metrics/backends:
// each Collect() asks the MetricsSource for one sample and builds the
// families of its path from it (traffic_families.h and daemon_families.h
// for /metrics, backend_families.h for /metrics/backends). Nothing is kept
// between scrapes, so labels follow the configuration as it changes.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <mutex>
#include <vector>

#include "control/metrics/metrics_source.h"

namespace sluice::control::metrics {

// The two paths one MetricsServer serves. The per-backend families are 87%
// of the series at 5,000 backends and almost all of a scrape's cost, so
// they have a path of their own that Prometheus scrapes less often
// (README.md, "Cost"). Every family is on exactly one path.
enum class Exposition {
  kMain,      // services, pools, flow census, sluiced and its workers
  kBackends,  // the per-backend families (sluice_backend_*) only
};
inline constexpr const char* kMainPath = "/metrics";
inline constexpr const char* kBackendsPath = "/metrics/backends";

// The families `exposition` serves, from one sample: a pure function, for
// tests and the benchmark. kBackends ignores `status`.
std::vector<prometheus::MetricFamily> build_families(const ControlStats& stats,
                                                     const ControlStatus& status,
                                                     Exposition exposition);

class StatsCollectable : public prometheus::Collectable {
 public:
  // `source` and `scrape_mutex` must outlive this object. Collectables that
  // share `scrape_mutex` take their samples one at a time: a big
  // configuration's sample and families take tens of MB, and the source
  // need not be reentrant.
  StatsCollectable(MetricsSource& source, Exposition exposition, std::mutex& scrape_mutex)
      : source_(source), exposition_(exposition), scrape_mutex_(scrape_mutex) {}

  // prometheus::Collectable. Called on a web-server thread.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  MetricsSource& source_;
  const Exposition exposition_;
  std::mutex& scrape_mutex_;
};

}  // namespace sluice::control::metrics
