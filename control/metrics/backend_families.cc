// SPDX-License-Identifier: Apache-2.0
#include "control/metrics/backend_families.h"

#include <string>
#include <utility>

#include "control/metrics/family_builder.h"
#include "control/metrics/signal_families.h"

namespace sluice::control::metrics {
namespace {

using prometheus::MetricFamily;
using prometheus::MetricType;

// Ends every HELP text here: whoever reads one family learns where the
// others are and why.
constexpr const char* kWhere =
    " Served on /metrics/backends, not /metrics: scrape it less often (control/metrics/README.md).";

MetricFamily backend_family(const char* name, const char* help, MetricType type) {
  return make_family(name, std::string(help) + kWhere, type);
}

class BackendFamilies {
 public:
  // Sizes every family for `backends` backends (a scrape of thousands of
  // backends would otherwise regrow each vector about 17 times).
  void reserve(size_t backends);
  void add_pool(const ServiceStats& service, const PoolStats& pool);
  void move_to(std::vector<MetricFamily>& out);

 private:
  void add_backend(const Labels& labels, const BackendStats& backend);

  SignalFamilies signals_ = make_signal_families("backend", kWhere);
  MetricFamily handshakes_ = backend_family(
      "sluice_backend_handshake_duration_seconds",
      "TCP handshake time per backend: from the flow's first SYN to the client's first non-SYN "
      "packet (connect latency through the balancer and the backend).",
      MetricType::Histogram);
  MetricFamily active_ = backend_family(
      "sluice_backend_active_flows",
      "Live flows of the backend at the last flow census (bounded error: see "
      "sluice_flow_census_age_seconds on /metrics).",
      MetricType::Gauge);
  MetricFamily oldest_ = backend_family(
      "sluice_backend_oldest_flow_age_seconds",
      "Age of the backend's oldest live flow at the last flow census, since its first packet; "
      "0 without flows.",
      MetricType::Gauge);
  MetricFamily weight_ = backend_family(
      "sluice_backend_weight", "Configured weight of the backend within its pool.",
      MetricType::Gauge);
  MetricFamily state_ = backend_family(
      "sluice_backend_state",
      "Configured state of the backend: 0 active (new flows), 1 draining (keeps its flows, no "
      "new ones), 2 disabled (nothing; its flows move).",
      MetricType::Gauge);
  MetricFamily circuit_ = backend_family(
      "sluice_backend_circuit_workers",
      "Workers on which the backend's circuit is open (ejected) or half_open (on trial); the "
      "others have it closed.",
      MetricType::Gauge);
  MetricFamily health_ = backend_family(
      "sluice_backend_health_state",
      "Active health-check state of the backend: 0 unknown (no check, or none finished since "
      "sluiced started; served), 1 healthy, 2 unhealthy (gets no new flows). Same values as "
      "the dataplane's health table (SLUICE_HEALTH_*).",
      MetricType::Gauge);
  MetricFamily checks_ = backend_family(
      "sluice_backend_health_checks_total",
      "Health checks finished for the backend since sluiced started (checked backends only).",
      MetricType::Counter);
  MetricFamily check_failures_ = backend_family(
      "sluice_backend_health_check_failures_total",
      "Health checks of the backend that failed (checked backends only).", MetricType::Counter);
  MetricFamily transitions_ = backend_family(
      "sluice_backend_health_transitions_total",
      "Healthy <-> unhealthy changes of the backend since sluiced started (checked backends "
      "only).",
      MetricType::Counter);
};

void BackendFamilies::reserve(size_t backends) {
  for (MetricFamily& f : signals_) f.metric.reserve(backends);
  for (MetricFamily* f : {&handshakes_, &active_, &oldest_, &weight_, &state_, &health_, &checks_,
                          &check_failures_, &transitions_}) {
    f->metric.reserve(backends);
  }
  circuit_.metric.reserve(2 * backends);
}

void BackendFamilies::add_pool(const ServiceStats& service, const PoolStats& pool) {
  Labels labels = {{"service", service.name}, {"pool", pool.name}, {"backend", ""}};
  for (const BackendStats& backend : pool.backends) {
    labels[2].value = backend.address.to_string();
    add_backend(labels, backend);
  }
}

void BackendFamilies::add_backend(const Labels& labels, const BackendStats& backend) {
  add_signals(signals_, labels, backend.traffic);
  add_handshake_histogram(handshakes_, labels, backend.handshakes);
  add_gauge(active_, labels, static_cast<double>(backend.active.flows));
  add_gauge(oldest_, labels, ms_to_seconds(backend.active.oldest_age_ms));
  add_gauge(weight_, labels, backend.weight);
  add_gauge(state_, labels, backend_state_value(backend.state));

  uint32_t open = 0, half_open = 0;
  for (engine::CircuitState c : backend.circuits) {
    open += c == engine::CircuitState::kOpen;
    half_open += c == engine::CircuitState::kHalfOpen;
  }
  Labels circuit = labels;
  circuit.push_back({"state", "open"});
  add_gauge(circuit_, circuit, open);
  circuit.back().value = "half_open";
  add_gauge(circuit_, std::move(circuit), half_open);

  add_gauge(health_, labels, health_value(backend.health.state));
  // Check counters only where a check runs: an unchecked backend has no
  // such series rather than counters stuck at 0.
  if (backend.health.checked) {
    add_counter(checks_, labels, static_cast<double>(backend.health.checks));
    add_counter(check_failures_, labels, static_cast<double>(backend.health.failures));
    add_counter(transitions_, labels, static_cast<double>(backend.health.transitions));
  }
}

void BackendFamilies::move_to(std::vector<MetricFamily>& out) {
  move_signals(signals_, out);
  for (MetricFamily* f : {&handshakes_, &active_, &oldest_, &weight_, &state_, &circuit_, &health_,
                          &checks_, &check_failures_, &transitions_}) {
    out.push_back(std::move(*f));
  }
}

}  // namespace

void append_backend_families(const ControlStats& stats, std::vector<MetricFamily>& out) {
  size_t backends = 0;
  for (const ServiceStats& service : stats.services) {
    for (const PoolStats& pool : service.pools) backends += pool.backends.size();
  }
  BackendFamilies families;
  families.reserve(backends);
  for (const ServiceStats& service : stats.services) {
    for (const PoolStats& pool : service.pools) families.add_pool(service, pool);
  }
  families.move_to(out);
}

}  // namespace sluice::control::metrics
