// SPDX-License-Identifier: Apache-2.0
#include "control/api/stats_messages.h"

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
  c->set_tracked(s.circuits_tracked);
  c->set_capacity(s.circuits_capacity);
  counters_to_proto(s.dataplane, p->mutable_dataplane());
}

void traffic_to_proto(const engine::TrafficCounter& t, v1::Traffic* p) {
  p->set_packets(t.packets);
  p->set_bytes(t.bytes);
}

}  // namespace

v1::CircuitState circuit_state_to_proto(engine::CircuitState state) {
  switch (state) {
    case engine::CircuitState::kClosed: return v1::CIRCUIT_STATE_CLOSED;
    case engine::CircuitState::kOpen: return v1::CIRCUIT_STATE_OPEN;
    case engine::CircuitState::kHalfOpen: return v1::CIRCUIT_STATE_HALF_OPEN;
  }
  return v1::CIRCUIT_STATE_UNSPECIFIED;
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
      for (const BackendStats& b : pool.backends) {
        v1::BackendStats* bp = pp->add_backends();
        bp->set_address(b.address.to_string());
        bp->set_state(config::backend_state_to_proto(b.state));
        bp->set_weight(b.weight);
        traffic_to_proto(b.traffic, bp->mutable_traffic());
        for (engine::CircuitState c : b.circuits) bp->add_circuits(circuit_state_to_proto(c));
      }
    }
  }
  return r;
}

}  // namespace sluice::control::api
