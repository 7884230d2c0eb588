// SPDX-License-Identifier: Apache-2.0
#include "control/api/stats_messages.h"

#include "control/api/histogram_quantile.h"
#include "control/config/service_mapping.h"

namespace sluice::control::api {
namespace {

void counters_to_proto(const std::vector<NamedCounter>& from,
                       google::protobuf::RepeatedPtrField<v1::Counter>* to) {
  for (const NamedCounter& c : from) {
    v1::Counter* p = to->Add();
    p->set_name(c.name);
    p->set_value(c.value);
  }
}

void engine_stats_to_proto(const EngineStats& s, v1::EngineStats* p) {
  counters_to_proto(s.counters, p->mutable_counters());
  counters_to_proto(s.drops, p->mutable_drops());
  v1::CircuitCounters* c = p->mutable_circuits();
  c->set_opened(s.circuits.opened);
  c->set_closed(s.circuits.closed);
  c->set_half_opened(s.circuits.half_opened);
  c->set_failures(s.circuits.failures);
  c->set_successes(s.circuits.successes);
  c->set_refused_by_max_ejected(s.circuits.refused_by_max_ejected);
  c->set_untracked(s.circuits.untracked);
  c->set_suspected(s.circuits.suspected);
  c->set_repeat_sources(s.circuits.repeat_sources);
  c->set_tracked(s.circuits_tracked);
  c->set_capacity(s.circuits_capacity);
  counters_to_proto(s.dataplane, p->mutable_dataplane());
}

void traffic_to_proto(const engine::TrafficCounter& t, v1::Traffic* p) {
#define SLUICE_X(name, help) p->set_##name(t.name);
  SLUICE_SLOT_SIGNALS(SLUICE_X)
#undef SLUICE_X
}

void histogram_to_proto(const engine::HandshakeHistogram& h, v1::HandshakeHistogram* p) {
  for (uint32_t bound : engine::kHandshakeBoundsMs) p->add_bounds_ms(bound);
  for (unsigned long long c : h.buckets) p->add_counts(c);
  p->set_sum_ms(h.sum_ms);
  p->set_count(h.count());
  if (auto p50 = histogram_quantile_ms(h, 0.5)) p->set_p50_ms(*p50);
  if (auto p99 = histogram_quantile_ms(h, 0.99)) p->set_p99_ms(*p99);
}

void active_to_proto(const ActiveFlows& a, v1::ActiveFlows* p) {
  p->set_flows(a.flows);
  for (uint64_t n : a.by_worker) p->add_by_worker(n);
  p->set_oldest_age_ms(a.oldest_age_ms);
  if (a.newest_idle_ms) p->set_newest_idle_ms(*a.newest_idle_ms);
}

void health_to_proto(const BackendHealth& h, v1::BackendHealth* p) {
  p->set_state(health_state_to_proto(h.state));
  p->set_checked(h.checked);
  p->set_last_result(h.last_result);
  p->set_transitions(h.transitions);
  p->set_checks(h.checks);
  p->set_failures(h.failures);
  p->set_since_uptime_ms(h.since_ms);
}

}  // namespace

v1::CircuitState circuit_state_to_proto(engine::CircuitState state) {
  switch (state) {
    case engine::CircuitState::kClosed: return v1::CIRCUIT_STATE_CLOSED;
    case engine::CircuitState::kOpen: return v1::CIRCUIT_STATE_OPEN;
    case engine::CircuitState::kHalfOpen: return v1::CIRCUIT_STATE_HALF_OPEN;
    case engine::CircuitState::kSuspected: return v1::CIRCUIT_STATE_SUSPECTED;
  }
  return v1::CIRCUIT_STATE_UNSPECIFIED;
}

v1::HealthState health_state_to_proto(HealthState state) {
  switch (state) {
    case HealthState::kUnknown: return v1::HEALTH_STATE_UNKNOWN;
    case HealthState::kHealthy: return v1::HEALTH_STATE_HEALTHY;
    case HealthState::kUnhealthy: return v1::HEALTH_STATE_UNHEALTHY;
  }
  return v1::HEALTH_STATE_UNSPECIFIED;
}

v1::GetStatsResponse stats_to_proto(const ControlStats& stats) {
  v1::GetStatsResponse r;
  r.set_uptime_ms(stats.uptime_ms);
  r.set_revision(stats.revision);
  r.set_dataplane(stats.dataplane);
  for (const WorkerStats& w : stats.workers) {
    v1::WorkerStats* p = r.add_workers();
    p->set_worker(w.worker);
    p->set_generation(w.generation);
    p->set_label(w.label);
    engine_stats_to_proto(w.stats, p->mutable_stats());
  }
  engine_stats_to_proto(stats.total, r.mutable_total());
  for (const ServiceStats& s : stats.services) {
    v1::ServiceStats* sp = r.add_services();
    sp->set_name(s.name);
    traffic_to_proto(s.traffic, sp->mutable_traffic());
    for (const PoolStats& pool : s.pools) {
      v1::PoolStats* pp = sp->add_pools();
      pp->set_name(pool.name);
      pp->set_weight(pool.weight);
      traffic_to_proto(pool.traffic, pp->mutable_traffic());
      histogram_to_proto(pool.handshakes, pp->mutable_handshakes());
      active_to_proto(pool.active, pp->mutable_active());
      for (const BackendStats& b : pool.backends) {
        v1::BackendStats* bp = pp->add_backends();
        bp->set_address(b.address.to_string());
        bp->set_state(config::backend_state_to_proto(b.state));
        bp->set_weight(b.weight);
        traffic_to_proto(b.traffic, bp->mutable_traffic());
        for (engine::CircuitState c : b.circuits) bp->add_circuits(circuit_state_to_proto(c));
        histogram_to_proto(b.handshakes, bp->mutable_handshakes());
        active_to_proto(b.active, bp->mutable_active());
        health_to_proto(b.health, bp->mutable_health());
      }
    }
  }
  r.set_census_age_ms(stats.census_age_ms);
  r.set_census_duration_us(stats.census_duration_us);
  return r;
}

}  // namespace sluice::control::api
