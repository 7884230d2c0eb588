// SPDX-License-Identifier: Apache-2.0
#include "control/metrics/daemon_families.h"

#include <prometheus/check_names.h>

#include <map>
#include <string>
#include <utility>

#include "control/metrics/family_builder.h"
#include "dataplane/engine/counter_list.h"

namespace sluice::control::metrics {
namespace {

using prometheus::MetricFamily;
using prometheus::MetricType;

// HELP text of the worker-wide engine counters, from their one list
// (counter_list.h); EngineStats carries them by name.
const std::map<std::string, std::string>& engine_counter_help() {
  static const std::map<std::string, std::string> help = {
#define SLUICE_X(name, text) {#name, text},
      SLUICE_WORKER_COUNTERS(SLUICE_X)
#undef SLUICE_X
  };
  return help;
}

// Per-worker counters named at run time become one family each,
// sluice_<prefix>_<name>_total{worker}; `help` gives each family's HELP.
// Families keep the order of the first worker's list.
template <typename HelpFn>
void append_named_counters(const ControlStats& stats, const std::string& prefix,
                           const std::vector<NamedCounter> EngineStats::*list, HelpFn help,
                           std::vector<MetricFamily>& out) {
  std::map<std::string, size_t> index;  // name -> position in out
  for (const WorkerStats& worker : stats.workers) {
    const std::string id = std::to_string(worker.worker);
    for (const NamedCounter& c : worker.stats.*list) {
      const std::string name = prefix + c.name + "_total";
      if (!prometheus::CheckMetricName(name)) continue;  // a name no scraper could read
      auto [it, inserted] = index.try_emplace(name, out.size());
      if (inserted) out.push_back(make_family(name, help(c.name), MetricType::Counter));
      add_counter(out[it->second], {{"worker", id}}, static_cast<double>(c.value));
    }
  }
}

// A family of one sample without labels.
void append_single(std::vector<MetricFamily>& out, const char* name, const char* help,
                   MetricType type, double value) {
  MetricFamily f = make_family(name, help, type);
  if (type == MetricType::Counter) {
    add_counter(f, {}, value);
  } else {
    add_gauge(f, {}, value);
  }
  out.push_back(std::move(f));
}

// Desired vs applied and whether sluiced vouches for the dataplane
// (control/core/reconciler.h): what an alert on a refused publication or a
// detached program keys on.
void append_convergence_families(const ControlStatus& status, std::vector<MetricFamily>& out) {
  append_single(out, "sluice_config_applied_revision",
                "Lowest configuration revision any worker forwards with; below "
                "sluice_config_desired_revision while a change is not applied everywhere.",
                MetricType::Gauge, static_cast<double>(status.applied_revision));
  append_single(out, "sluice_publish_attempts_total",
                "Publications of a configuration to the dataplane, retries of refused ones "
                "included.",
                MetricType::Counter, static_cast<double>(status.publish_attempts));
  append_single(out, "sluice_publish_failures_total",
                "Publications the dataplane refused (each is retried with backoff).",
                MetricType::Counter, static_cast<double>(status.publish_failures));
  append_single(out, "sluice_dataplane_fault",
                "1 while sluiced cannot vouch for what the dataplane forwards (its XDP program "
                "detached or replaced behind its back; GetStatus says why), else 0.",
                MetricType::Gauge, status.dataplane_fault.empty() ? 0 : 1);
  append_single(out, "sluice_serving",
                "1 while gRPC health is SERVING: no dataplane fault, and the workers not behind "
                "the desired revision for more than 1 s; else 0.",
                MetricType::Gauge, status.serving ? 1 : 0);
}

}  // namespace

void append_daemon_families(const ControlStats& stats, const ControlStatus& status,
                            std::vector<MetricFamily>& out) {
  append_single(out, "sluice_config_revision",
                "Revision of the configuration sluiced publishes to the dataplane.",
                MetricType::Gauge, static_cast<double>(status.revision));
  append_single(out, "sluice_config_desired_revision",
                "Revision of the saved (desired) configuration; differs from "
                "sluice_config_revision while a change is being published.",
                MetricType::Gauge, static_cast<double>(stats.desired_revision));

  MetricFamily generation = make_family(
      "sluice_worker_generation",
      "Configuration revision each worker forwards with; below sluice_config_revision while "
      "the worker has not adopted the latest one.",
      MetricType::Gauge);
  for (size_t i = 0; i < status.worker_generations.size(); ++i) {
    add_gauge(generation, {{"worker", std::to_string(i)}},
              static_cast<double>(status.worker_generations[i]));
  }
  out.push_back(std::move(generation));

  append_convergence_families(status, out);

  append_named_counters(
      stats, "sluice_worker_", &EngineStats::counters,
      [](const std::string& name) {
        auto it = engine_counter_help().find(name);
        return "Engine counter per worker: " +
               (it != engine_counter_help().end() ? it->second : name) + " (counter_list.h).";
      },
      out);

  MetricFamily drops = make_family("sluice_worker_drops_total",
                                   "Frames dropped per worker, by reason.", MetricType::Counter);
  MetricFamily tracked = make_family(
      "sluice_worker_circuits_tracked", "Backends with circuit state tracked on the worker.",
      MetricType::Gauge);
  MetricFamily capacity = make_family(
      "sluice_worker_circuits_capacity", "Backends the worker's circuit table can track.",
      MetricType::Gauge);
  // engine::CircuitStats, field by field.
  struct CircuitField {
    const char* name;
    const char* help;
    uint64_t engine::CircuitStats::*member;
  };
  static constexpr CircuitField kCircuitFields[] = {
      {"opened", "circuits opened (ejections), reopenings included", &engine::CircuitStats::opened},
      {"closed", "circuits closed after a successful trial", &engine::CircuitStats::closed},
      {"half_opened", "circuits put on trial (open -> half-open)", &engine::CircuitStats::half_opened},
      {"failures", "connect failures recorded", &engine::CircuitStats::failures},
      {"successes", "connect successes recorded", &engine::CircuitStats::successes},
      {"refused_by_max_ejected", "ejections refused by the pool's max_ejected_percent",
       &engine::CircuitStats::refused_by_max_ejected},
      {"untracked", "failures not recorded because the circuit table was full",
       &engine::CircuitStats::untracked},
      {"suspected", "failure thresholds reached on a backend whose checks pass (not ejected)",
       &engine::CircuitStats::suspected},
      {"repeat_sources", "failures not counted: their source prefix was counted in the window",
       &engine::CircuitStats::repeat_sources},
  };
  std::vector<MetricFamily> circuit_families;
  for (const CircuitField& f : kCircuitFields) {
    circuit_families.push_back(make_family(std::string("sluice_worker_circuit_") + f.name + "_total",
                                           std::string("Circuit table per worker: ") + f.help + ".",
                                           MetricType::Counter));
  }
  for (const WorkerStats& worker : stats.workers) {
    const std::string id = std::to_string(worker.worker);
    for (const NamedCounter& d : worker.stats.drops) {
      add_counter(drops, {{"worker", id}, {"reason", d.name}}, static_cast<double>(d.value));
    }
    add_gauge(tracked, {{"worker", id}}, worker.stats.circuits_tracked);
    add_gauge(capacity, {{"worker", id}}, worker.stats.circuits_capacity);
    for (size_t i = 0; i < std::size(kCircuitFields); ++i) {
      add_counter(circuit_families[i], {{"worker", id}},
                  static_cast<double>(worker.stats.circuits.*kCircuitFields[i].member));
    }
  }
  out.push_back(std::move(drops));
  out.push_back(std::move(tracked));
  out.push_back(std::move(capacity));
  for (MetricFamily& f : circuit_families) out.push_back(std::move(f));

  append_named_counters(
      stats, "sluice_dataplane_", &EngineStats::dataplane,
      [&](const std::string& name) {
        return "Dataplane counter per worker (" + status.dataplane + "): " + name + ".";
      },
      out);

  append_single(out, "sluice_uptime_seconds", "Time since sluiced started.", MetricType::Gauge,
                ms_to_seconds(status.uptime_ms));

  MetricFamily info = make_family("sluice_build_info",
                                  "Always 1; labels: sluiced's version and the dataplane it runs.",
                                  MetricType::Gauge);
  add_gauge(info, {{"version", status.version}, {"dataplane", status.dataplane}}, 1);
  out.push_back(std::move(info));
}

}  // namespace sluice::control::metrics
