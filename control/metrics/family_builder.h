// SPDX-License-Identifier: Apache-2.0
// Small helpers that build prometheus-cpp MetricFamily values for one
// scrape. No long-lived metric objects: the label sets follow the
// configuration (services, pools and backends come and go), so every
// scrape builds its families afresh from one sample.
#pragma once

#include <prometheus/metric_family.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/engine/counters.h"

namespace sluice::control::metrics {

using Labels = std::vector<prometheus::ClientMetric::Label>;

// An empty family; `name` must be a valid metric name (sluice_...).
prometheus::MetricFamily make_family(std::string name, std::string help,
                                     prometheus::MetricType type);

// Appends one sample. Counters and gauges take uint64 counts as doubles:
// exact up to 2^53, which is what Prometheus stores anyway.
void add_counter(prometheus::MetricFamily& family, Labels labels, double value);
void add_gauge(prometheus::MetricFamily& family, Labels labels, double value);

// Appends a handshake-time histogram in seconds: the dataplane's
// non-cumulative millisecond buckets (signal_list.h) become cumulative
// buckets with le = bound / 1000 (the last one +Inf), _sum in seconds and
// _count = the number of handshakes.
void add_handshake_histogram(prometheus::MetricFamily& family, Labels labels,
                             const engine::HandshakeHistogram& histogram);

// Milliseconds (or microseconds) to seconds.
inline double ms_to_seconds(uint64_t ms) { return static_cast<double>(ms) / 1e3; }
inline double us_to_seconds(uint64_t us) { return static_cast<double>(us) / 1e6; }

}  // namespace sluice::control::metrics
