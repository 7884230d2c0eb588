// SPDX-License-Identifier: Apache-2.0
#include "control/metrics/traffic_families.h"

#include <array>
#include <string>
#include <utility>

#include "control/metrics/family_builder.h"
#include "control/metrics/signal_families.h"

namespace sluice::control::metrics {
namespace {

using prometheus::MetricFamily;
using prometheus::MetricType;

class TrafficFamilies {
 public:
  // Sizes every family for `stats`.
  void reserve(const ControlStats& stats);
  void add_service(const ServiceStats& service);
  void add_census(const ControlStats& stats);
  void move_to(std::vector<MetricFamily>& out);

 private:
  void add_pool(const ServiceStats& service, const PoolStats& pool);

  SignalFamilies service_signals_ = make_signal_families("service");
  SignalFamilies pool_signals_ = make_signal_families("pool");

  MetricFamily pool_handshakes_ = make_family(
      "sluice_pool_handshake_duration_seconds",
      "TCP handshake time per pool: from the flow's first SYN to the client's first non-SYN "
      "packet (connect latency through the balancer and the backend).",
      MetricType::Histogram);
  MetricFamily pool_active_ = make_family(
      "sluice_pool_active_flows",
      "Live flows of the pool's backends at the last flow census (bounded error: see "
      "sluice_flow_census_age_seconds).",
      MetricType::Gauge);
  MetricFamily pool_oldest_ = make_family(
      "sluice_pool_oldest_flow_age_seconds",
      "Age of the pool's oldest live flow at the last flow census, since its first packet; "
      "0 without flows.",
      MetricType::Gauge);
  MetricFamily pool_weight_ = make_family(
      "sluice_pool_weight", "Configured weight of the pool (its share of new flows).",
      MetricType::Gauge);
  MetricFamily pool_backends_ = make_family(
      "sluice_pool_backends",
      "Backends of the pool by configured state (active, draining, disabled). Per-backend "
      "families are served on /metrics/backends (control/metrics/README.md).",
      MetricType::Gauge);
  MetricFamily pool_backends_health_ = make_family(
      "sluice_pool_backends_health",
      "Backends of the pool by health-check state (unknown, healthy, unhealthy); each backend's "
      "is sluice_backend_health_state on /metrics/backends.",
      MetricType::Gauge);

  MetricFamily census_age_ = make_family(
      "sluice_flow_census_age_seconds",
      "Age of the flow census behind the active-flow and flow-age gauges (here and on "
      "/metrics/backends).",
      MetricType::Gauge);
  MetricFamily census_duration_ = make_family(
      "sluice_flow_census_duration_seconds", "How long that flow census took.", MetricType::Gauge);
};

void TrafficFamilies::reserve(const ControlStats& stats) {
  size_t pools = 0;
  for (const ServiceStats& service : stats.services) pools += service.pools.size();
  for (MetricFamily& f : service_signals_) f.metric.reserve(stats.services.size());
  for (MetricFamily& f : pool_signals_) f.metric.reserve(pools);
  for (MetricFamily* f : {&pool_handshakes_, &pool_active_, &pool_oldest_, &pool_weight_}) {
    f->metric.reserve(pools);
  }
  pool_backends_.metric.reserve(pools * std::size(kBackendStates));
  pool_backends_health_.metric.reserve(pools * std::size(kHealthStates));
}

void TrafficFamilies::add_service(const ServiceStats& service) {
  add_signals(service_signals_, {{"service", service.name}}, service.traffic);
  for (const PoolStats& pool : service.pools) add_pool(service, pool);
}

void TrafficFamilies::add_pool(const ServiceStats& service, const PoolStats& pool) {
  const Labels labels = {{"service", service.name}, {"pool", pool.name}};
  add_signals(pool_signals_, labels, pool.traffic);
  add_handshake_histogram(pool_handshakes_, labels, pool.handshakes);
  add_gauge(pool_active_, labels, static_cast<double>(pool.active.flows));
  add_gauge(pool_oldest_, labels, ms_to_seconds(pool.active.oldest_age_ms));
  add_gauge(pool_weight_, labels, pool.weight);

  std::array<uint32_t, std::size(kBackendStates)> by_state{};
  std::array<uint32_t, std::size(kHealthStates)> by_health{};
  for (const BackendStats& backend : pool.backends) {
    by_state[static_cast<size_t>(backend_state_value(backend.state))]++;
    by_health[static_cast<size_t>(health_value(backend.health.state))]++;
  }
  for (size_t i = 0; i < by_state.size(); ++i) {
    Labels l = labels;
    l.push_back({"state", kBackendStates[i]});
    add_gauge(pool_backends_, std::move(l), by_state[i]);
  }
  for (size_t i = 0; i < by_health.size(); ++i) {
    Labels l = labels;
    l.push_back({"health", kHealthStates[i]});
    add_gauge(pool_backends_health_, std::move(l), by_health[i]);
  }
}

void TrafficFamilies::add_census(const ControlStats& stats) {
  add_gauge(census_age_, {}, ms_to_seconds(stats.census_age_ms));
  add_gauge(census_duration_, {}, us_to_seconds(stats.census_duration_us));
}

void TrafficFamilies::move_to(std::vector<MetricFamily>& out) {
  move_signals(service_signals_, out);
  move_signals(pool_signals_, out);
  for (MetricFamily* f : {&pool_handshakes_, &pool_active_, &pool_oldest_, &pool_weight_,
                          &pool_backends_, &pool_backends_health_, &census_age_,
                          &census_duration_}) {
    out.push_back(std::move(*f));
  }
}

}  // namespace

void append_traffic_families(const ControlStats& stats, std::vector<MetricFamily>& out) {
  TrafficFamilies families;
  families.reserve(stats);
  for (const ServiceStats& service : stats.services) families.add_service(service);
  families.add_census(stats);
  families.move_to(out);
}

}  // namespace sluice::control::metrics
