// SPDX-License-Identifier: Apache-2.0
#include "control/metrics/family_builder.h"

#include <limits>
#include <utility>

namespace sluice::control::metrics {

prometheus::MetricFamily make_family(std::string name, std::string help,
                                     prometheus::MetricType type) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

void add_counter(prometheus::MetricFamily& family, Labels labels, double value) {
  prometheus::ClientMetric& m = family.metric.emplace_back();
  m.label = std::move(labels);
  m.counter.value = value;
}

void add_gauge(prometheus::MetricFamily& family, Labels labels, double value) {
  prometheus::ClientMetric& m = family.metric.emplace_back();
  m.label = std::move(labels);
  m.gauge.value = value;
}

void add_handshake_histogram(prometheus::MetricFamily& family, Labels labels,
                             const engine::HandshakeHistogram& histogram) {
  prometheus::ClientMetric& m = family.metric.emplace_back();
  m.label = std::move(labels);
  prometheus::ClientMetric::Histogram& h = m.histogram;
  h.bucket.resize(SLUICE_HANDSHAKE_BUCKETS);
  // The dataplane keeps one count per bucket; Prometheus wants "at most
  // le", so each bucket carries the running total.
  uint64_t cumulative = 0;
  for (int i = 0; i < SLUICE_HANDSHAKE_BUCKETS; ++i) {
    cumulative += histogram.buckets[i];
    h.bucket[i].cumulative_count = cumulative;
    h.bucket[i].upper_bound = i + 1 < SLUICE_HANDSHAKE_BUCKETS
                                  ? ms_to_seconds(engine::kHandshakeBoundsMs[i])
                                  : std::numeric_limits<double>::infinity();
  }
  h.sample_count = cumulative;
  h.sample_sum = ms_to_seconds(histogram.sum_ms);
}

}  // namespace sluice::control::metrics
