// SPDX-License-Identifier: Apache-2.0
#include "control/daemon/stats_report.h"

#include "control/daemon/json_writer.h"

namespace sluice::control {
namespace {

void traffic(JsonWriter& w, const engine::TrafficCounter& t) {
  w.field("packets", t.packets).field("bytes", t.bytes);
}

void counters(JsonWriter& w, const std::vector<NamedCounter>& list) {
  for (const NamedCounter& c : list) w.field(c.name, c.value);
}

}  // namespace

std::string stats_json(const ControlStats& stats) {
  JsonWriter w;
  w.begin_object();
  w.field("uptime_ms", stats.uptime_ms);
  w.field("generation", stats.revision);
  w.key("workers").begin_array();
  for (const WorkerStats& worker : stats.workers) {
    w.begin_object().field("id", uint64_t{worker.worker}).field("label", worker.label);
    w.field("generation", worker.generation);
    counters(w, worker.stats.dataplane);
    w.end_object();
  }
  w.end_array();
  const EngineStats& total = stats.total;
  w.key("engine").begin_object();
  counters(w, total.counters);
  w.key("circuits").begin_object();
  w.field("opened", total.circuits.opened).field("closed", total.circuits.closed);
  w.field("half_opened", total.circuits.half_opened);
  w.field("failures", total.circuits.failures).field("successes", total.circuits.successes);
  w.field("refused_by_max_ejected", total.circuits.refused_by_max_ejected);
  w.field("untracked", total.circuits.untracked);
  w.field("suspected", total.circuits.suspected);
  w.field("repeat_sources", total.circuits.repeat_sources);
  w.field("tracked", uint64_t{total.circuits_tracked});
  w.field("capacity", uint64_t{total.circuits_capacity});
  w.end_object();
  w.key("drops").begin_object();
  counters(w, total.drops);
  w.end_object().end_object();
  w.key("services").begin_array();
  for (const ServiceStats& s : stats.services) {
    w.begin_object().field("name", s.name);
    traffic(w, s.traffic);
    w.key("pools").begin_array();
    for (const PoolStats& p : s.pools) {
      w.begin_object().field("name", p.name).field("weight", uint64_t{p.weight});
      traffic(w, p.traffic);
      w.key("backends").begin_array();
      for (const BackendStats& b : p.backends) {
        w.begin_object().field("address", b.address.to_string());
        w.field("state", engine::backend_state_name(b.state));
        traffic(w, b.traffic);
        // Circuit state as each worker sees it (circuits are per core).
        w.key("circuit").begin_array();
        for (engine::CircuitState c : b.circuits) w.value(circuit_state_name(c));
        w.end_array();
        w.end_object();
      }
      w.end_array().end_object();
    }
    w.end_array().end_object();
  }
  w.end_array();
  w.end_object();
  return w.str() + "\n";
}

}  // namespace sluice::control
