// SPDX-License-Identifier: Apache-2.0
#include "control/core/stats_summary.h"

#include <map>

namespace sluice::control {
namespace {

EngineStats engine_stats(const engine::WorkerCounters& c, const engine::CircuitStats& circuits,
                         uint32_t tracked, uint32_t capacity,
                         const std::vector<std::pair<std::string, uint64_t>>& dataplane) {
  EngineStats s;
#define SLUICE_X(name, help) s.counters.push_back({#name, c.name});
  SLUICE_WORKER_COUNTERS(SLUICE_X)
#undef SLUICE_X
  // Reason 0 is "not dropped".
  for (int r = 1; r < engine::kDropReasonCount; ++r) {
    s.drops.push_back(
        {std::string(engine::drop_reason_name(static_cast<engine::DropReason>(r))), c.drops[r]});
  }
  s.circuits = circuits;
  s.circuits_tracked = tracked;
  s.circuits_capacity = capacity;
  for (const auto& [name, value] : dataplane) s.dataplane.push_back({name, value});
  return s;
}

void add_circuits(engine::CircuitStats& to, const engine::CircuitStats& from) {
  to.opened += from.opened;
  to.closed += from.closed;
  to.half_opened += from.half_opened;
  to.failures += from.failures;
  to.successes += from.successes;
  to.refused_by_max_ejected += from.refused_by_max_ejected;
  to.untracked += from.untracked;
  to.suspected += from.suspected;
  to.repeat_sources += from.repeat_sources;
}

// Dataplane counters summed by name, in the order names first appear.
std::vector<std::pair<std::string, uint64_t>> sum_dataplane(const DataplaneStats& sample) {
  std::vector<std::pair<std::string, uint64_t>> out;
  std::map<std::string, size_t> index;
  for (const WorkerSample& w : sample.workers) {
    for (const auto& [name, value] : w.dataplane_counters) {
      auto [it, added] = index.emplace(name, out.size());
      if (added) out.push_back({name, 0});
      out[it->second].second += value;
    }
  }
  return out;
}

// counters[slot], or zeros for a slot beyond what the workers count.
template <typename T>
T at_slot(const std::vector<T>& counters, uint32_t slot) {
  return slot < counters.size() ? counters[slot] : T{};
}

// The census as backend slot -> live flows, with a count per worker.
std::map<uint32_t, ActiveFlows> active_by_slot(const FlowCensus& census) {
  std::map<uint32_t, ActiveFlows> out;
  const size_t workers = census.workers.size();
  for (size_t w = 0; w < workers; ++w) {
    for (const engine::SlotFlows& f : census.workers[w]) {
      ActiveFlows one;
      one.flows = f.flows;
      one.by_worker.assign(workers, 0);
      one.by_worker[w] = f.flows;
      one.oldest_age_ms = f.oldest_age_ms;
      if (f.flows > 0) one.newest_idle_ms = f.newest_idle_ms;
      out[f.backend_slot].add(one);
    }
  }
  return out;
}

}  // namespace

StatsResult summarize_stats(const DataplaneStats& sample, const engine::Snapshot* snapshot,
                            const std::string& service, const FlowCensus* census,
                            const HealthByBackend* health) {
  StatsResult result;
  ControlStats& out = result.stats;
  out.revision = snapshot ? snapshot->generation() : 0;

  engine::WorkerCounters sum;
  engine::CircuitStats circuits;
  uint32_t tracked = 0, capacity = 0;
  // Per worker: fingerprint -> state of the circuits that are not closed.
  std::vector<std::map<uint64_t, engine::CircuitState>> not_closed(sample.workers.size());
  for (uint32_t i = 0; i < sample.workers.size(); ++i) {
    const WorkerSample& w = sample.workers[i];
    out.workers.push_back({i, w.generation, w.label,
                           engine_stats(w.counters, w.circuits, w.circuits_tracked,
                                        w.circuits_capacity, w.dataplane_counters)});
    sum.add(w.counters);
    add_circuits(circuits, w.circuits);
    tracked += w.circuits_tracked;
    capacity += w.circuits_capacity;
    for (const CircuitSample& c : w.circuits_not_closed) not_closed[i][c.fingerprint] = c.state;
  }
  out.total = engine_stats(sum, circuits, tracked, capacity, sum_dataplane(sample));

  if (!snapshot) {
    if (!service.empty()) {
      result.error = CallError{ErrorCode::kNotFound, "no service named \"" + service + "\""};
    }
    return result;
  }
  const std::map<uint32_t, ActiveFlows> active =
      census ? active_by_slot(*census) : std::map<uint32_t, ActiveFlows>{};
  const size_t workers = sample.workers.size();
  for (const engine::CompiledService& s : snapshot->services()) {
    if (!service.empty() && s.config.name != service) continue;
    ServiceStats ss{s.config.name, at_slot(sum.services, s.counter_slot), {}};
    for (const engine::CompiledPool& p : s.pools) {
      PoolStats ps;
      ps.name = p.name;
      ps.weight = p.weight;
      ps.traffic = at_slot(sum.pools, p.counter_slot);
      ps.handshakes = at_slot(sum.pool_handshakes, p.counter_slot);
      ps.active.by_worker.assign(workers, 0);
      for (uint32_t b = p.first_backend; b < p.first_backend + p.backend_count; ++b) {
        const engine::CompiledBackend& be = s.backends[b];
        BackendStats bs;
        bs.address = be.address;
        bs.state = be.state;
        bs.weight = be.weight;
        bs.traffic = at_slot(sum.backends, be.counter_slot);
        bs.handshakes = at_slot(sum.backend_handshakes, be.counter_slot);
        for (const auto& states : not_closed) {
          auto it = states.find(be.fingerprint);
          bs.circuits.push_back(it == states.end() ? engine::CircuitState::kClosed : it->second);
        }
        bs.active.by_worker.assign(workers, 0);
        if (auto it = active.find(be.counter_slot); it != active.end()) bs.active.add(it->second);
        ps.active.add(bs.active);
        if (health) {
          if (auto it = health->find({s.config.name, be.address}); it != health->end()) {
            bs.health = it->second;
          }
        }
        ps.backends.push_back(std::move(bs));
      }
      ss.pools.push_back(std::move(ps));
    }
    out.services.push_back(std::move(ss));
  }
  if (!service.empty() && out.services.empty()) {
    result.error = CallError{ErrorCode::kNotFound, "no service named \"" + service + "\""};
  }
  return result;
}

}  // namespace sluice::control
