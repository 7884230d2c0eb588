// SPDX-License-Identifier: Apache-2.0
// sluicectl stats [--watch]: the dataplane's counters, traffic and golden
// signals per service, pool and backend (connect success, handshake times,
// active flows), health and circuits, and rates between two samples.
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "tools/sluicectl/command.h"
#include "tools/sluicectl/enum_text.h"
#include "tools/sluicectl/interrupt.h"
#include "tools/sluicectl/json_output.h"
#include "tools/sluicectl/rpc.h"
#include "tools/sluicectl/signal_text.h"
#include "tools/sluicectl/table.h"
#include "tools/sluicectl/units.h"

namespace sluice::sluicectl {
namespace {

// --interval bounds, in seconds.
constexpr double kMinInterval = 0.1;
constexpr double kMaxInterval = 3600;

// "closed" when every worker has it closed; otherwise the other states
// with on how many workers: "open 1/2", "open 1/4, half-open 2/4".
std::string circuits_text(const v1::BackendStats& b) {
  std::map<std::string, int> not_closed;
  for (int c : b.circuits()) {
    const auto state = static_cast<v1::CircuitState>(c);
    if (state != v1::CIRCUIT_STATE_CLOSED) ++not_closed[circuit_text(state)];
  }
  if (not_closed.empty()) return b.circuits_size() == 0 ? "-" : "closed";
  std::string out;
  // Open first: it is what an operator looks for.
  for (const char* state : {"open", "half-open", "suspected", "unknown"}) {
    auto it = not_closed.find(state);
    if (it == not_closed.end()) continue;
    out += (out.empty() ? "" : ", ") + it->first + " " + std::to_string(it->second) + "/" +
           std::to_string(b.circuits_size());
  }
  return out;
}

// The previous sample, to compute rates from: counters by key, and when.
struct Previous {
  uint64_t uptime_ms = 0;
  std::map<std::string, uint64_t> values;  // "traffic web/stable packets", "counter rx_packets"
};

class Printer {
 public:
  Printer(const v1::GetStatsResponse& now, const std::optional<Previous>& before, bool all)
      : now_(now), before_(before), all_(all) {
    if (before_ && now.uptime_ms() > before_->uptime_ms) {
      seconds_ = static_cast<double>(now.uptime_ms() - before_->uptime_ms) / 1000.0;
    }
  }

  // What the next sample's rates are computed from.
  Previous remember() const { return {now_.uptime_ms(), values_}; }

  void print(std::ostream& out) {
    Fields fields;
    fields.add("revision", std::to_string(now_.revision()));
    fields.add("dataplane", now_.dataplane());
    std::vector<uint64_t> generations;
    for (const v1::WorkerStats& w : now_.workers()) generations.push_back(w.generation());
    fields.add("workers", workers_text(generations, now_.revision()));
    fields.add("uptime", uptime_text(now_.uptime_ms()));
    // ACTIVE comes from a census taken about once a second: say how old.
    fields.add("active flows", "counted " + duration_text(now_.census_age_ms()) + " ago");
    if (rates()) {
      char interval[32];
      std::snprintf(interval, sizeof(interval), "%.1fs", seconds_);
      fields.add("rates over", interval);
    }
    fields.print(out);
    if (now_.services_size() > 0) {
      out << "\n";
      traffic_table().print(out);
      out << "\n";
      connections_table().print(out);
    }
    out << "\n";
    counters_table().print(out);
  }

 private:
  bool rates() const { return seconds_ > 0; }

  // How much `key` grew since the previous sample (remembering its value).
  std::optional<uint64_t> delta(const std::string& key, uint64_t value) {
    values_[key] = value;
    if (!rates()) return std::nullopt;
    auto it = before_->values.find(key);
    // A counter that is new, or went down (sluiced restarted), has no rate.
    if (it == before_->values.end() || it->second > value) return std::nullopt;
    return value - it->second;
  }
  // The rate of `key` since the previous sample.
  std::optional<double> rate(const std::string& key, uint64_t value) {
    const auto grown = delta(key, value);
    if (!grown) return std::nullopt;
    return static_cast<double>(*grown) / seconds_;
  }

  // What a backend row adds to a pool's or a service's: its state, health,
  // ejections and circuit; empty cells for the others.
  struct BackendCells {
    std::string state, health, ejections, circuits;
  };

  void add_traffic_row(Table& table, const std::string& key, const std::string& name,
                       const std::string& weight, const v1::Traffic& t,
                       const BackendCells& backend) {
    std::vector<std::string> row = {name, backend.state, weight, std::to_string(t.packets()),
                                    bytes_text(t.bytes())};
    const auto packets = rate(key + " packets", t.packets());
    const auto bytes = rate(key + " bytes", t.bytes());
    if (rates()) {
      row.push_back(packets ? per_second_text(*packets) : "-");
      row.push_back(bytes ? bits_per_second_text(*bytes * 8) : "-");
    }
    row.insert(row.end(), {backend.health, backend.ejections, backend.circuits});
    table.add_row(std::move(row));
  }

  // Packets and bytes, and what decides whether a backend gets new flows:
  // its state, health and circuit.
  Table traffic_table() {
    std::vector<std::string> header = {"SERVICE/POOL/BACKEND", "STATE", "WEIGHT", "PACKETS",
                                       "BYTES"};
    if (rates()) header.insert(header.end(), {"PACKETS/S", "BITS/S"});
    header.insert(header.end(), {"HEALTH", "EJECTIONS", "CIRCUIT"});
    Table table(std::move(header));
    for (const v1::ServiceStats& s : now_.services()) {
      const std::string service_key = "traffic " + s.name();
      add_traffic_row(table, service_key, s.name(), "", s.traffic(), {});
      for (const v1::PoolStats& p : s.pools()) {
        const std::string pool_key = service_key + "/" + p.name();
        add_traffic_row(table, pool_key, "  " + p.name(), std::to_string(p.weight()),
                        p.traffic(), {});
        for (const v1::BackendStats& b : p.backends()) {
          add_traffic_row(table, pool_key + "/" + b.address(), "    " + b.address(),
                          std::to_string(b.weight()), b.traffic(),
                          {state_text(b.state()), health_text(b.health()),
                           std::to_string(b.traffic().ejections()), circuits_text(b)});
        }
      }
    }
    return table;
  }

  // GetStats has live flows and handshake times per pool and backend only:
  // a service's row gets its pools' flows summed in `active`, and no
  // `handshakes` (null: an empty cell).
  void add_connections_row(Table& table, const std::string& key, const std::string& name,
                           const v1::Traffic& t, uint64_t active,
                           const v1::HandshakeHistogram* handshakes) {
    const auto new_flows = rate(key + " new_flows", t.new_flows());
    const auto completed = delta(key + " handshakes_completed", t.handshakes_completed());
    const auto failures = delta(key + " connect_failures", t.connect_failures());
    const auto expired = delta(key + " handshakes_expired", t.handshakes_expired());
    std::vector<std::string> row = {name, std::to_string(t.new_flows())};
    if (rates()) row.push_back(new_flows ? per_second_text(*new_flows) : "-");
    row.insert(row.end(), {std::to_string(active), connect_success_text(t)});
    if (rates()) {
      row.push_back(completed && failures && expired
                        ? connect_success_text(*completed, *failures, *expired)
                        : "-");
    }
    row.insert(row.end(), {handshakes ? handshake_quantiles_text(*handshakes) : "",
                           std::to_string(t.connect_failures()),
                           std::to_string(t.client_resets()),
                           std::to_string(t.handshakes_expired())});
    table.add_row(std::move(row));
  }

  // The golden signals of connections: new and active flows, connect
  // success, handshake times and how connections failed.
  Table connections_table() {
    std::vector<std::string> header = {"SERVICE/POOL/BACKEND", "NEW FLOWS"};
    if (rates()) header.push_back("NEW/S");
    header.insert(header.end(), {"ACTIVE", "CONNECT OK"});
    if (rates()) header.push_back("INTERVAL OK");
    header.insert(header.end(), {"HANDSHAKE P50/P99", "FAILED", "RESETS", "EXPIRED"});
    Table table(std::move(header));
    for (const v1::ServiceStats& s : now_.services()) {
      const std::string service_key = "traffic " + s.name();
      uint64_t active = 0;
      for (const v1::PoolStats& p : s.pools()) active += p.active().flows();
      add_connections_row(table, service_key, s.name(), s.traffic(), active, nullptr);
      for (const v1::PoolStats& p : s.pools()) {
        const std::string pool_key = service_key + "/" + p.name();
        add_connections_row(table, pool_key, "  " + p.name(), p.traffic(), p.active().flows(),
                            &p.handshakes());
        for (const v1::BackendStats& b : p.backends()) {
          add_connections_row(table, pool_key + "/" + b.address(), "    " + b.address(),
                              b.traffic(), b.active().flows(), &b.handshakes());
        }
      }
    }
    return table;
  }

  // One row per counter: the total, each worker's value, and the rate of
  // the total. Zeros are left out unless --all.
  Table counters_table() {
    std::vector<std::string> header = {"COUNTER", "TOTAL"};
    for (const v1::WorkerStats& w : now_.workers()) {
      header.push_back("W" + std::to_string(w.worker()) + " (" + w.label() + ")");
    }
    if (rates()) header.push_back("PER SECOND");
    Table table(std::move(header));
    auto add = [&](const std::string& name, uint64_t total,
                   const std::function<uint64_t(const v1::EngineStats&)>& of_worker) {
      const auto per_second = rate("counter " + name, total);
      if (total == 0 && !all_) return;
      std::vector<std::string> row = {name, std::to_string(total)};
      for (const v1::WorkerStats& w : now_.workers()) {
        row.push_back(std::to_string(of_worker(w.stats())));
      }
      if (rates()) row.push_back(per_second ? per_second_text(*per_second) : "-");
      table.add_row(std::move(row));
    };
    // Named lists: worker i's value is the entry of the same name.
    auto add_list = [&](const std::string& prefix,
                        const google::protobuf::RepeatedPtrField<v1::Counter>& totals,
                        const std::function<const google::protobuf::RepeatedPtrField<v1::Counter>&(
                            const v1::EngineStats&)>& list_of) {
      for (const v1::Counter& c : totals) {
        add(prefix + c.name(), c.value(), [&](const v1::EngineStats& e) -> uint64_t {
          for (const v1::Counter& w : list_of(e)) {
            if (w.name() == c.name()) return w.value();
          }
          return 0;
        });
      }
    };
    const v1::EngineStats& total = now_.total();
    add_list("", total.counters(), [](const v1::EngineStats& e) -> const auto& { return e.counters(); });
    add_list("drops.", total.drops(), [](const v1::EngineStats& e) -> const auto& { return e.drops(); });
    const v1::CircuitCounters& c = total.circuits();
    add("circuits.opened", c.opened(), [](const v1::EngineStats& e) { return e.circuits().opened(); });
    add("circuits.half_opened", c.half_opened(),
        [](const v1::EngineStats& e) { return e.circuits().half_opened(); });
    add("circuits.closed", c.closed(), [](const v1::EngineStats& e) { return e.circuits().closed(); });
    add("circuits.failures", c.failures(),
        [](const v1::EngineStats& e) { return e.circuits().failures(); });
    add("circuits.successes", c.successes(),
        [](const v1::EngineStats& e) { return e.circuits().successes(); });
    add("circuits.refused_by_max_ejected", c.refused_by_max_ejected(),
        [](const v1::EngineStats& e) { return e.circuits().refused_by_max_ejected(); });
    add("circuits.untracked", c.untracked(),
        [](const v1::EngineStats& e) { return e.circuits().untracked(); });
    add("circuits.suspected", c.suspected(),
        [](const v1::EngineStats& e) { return e.circuits().suspected(); });
    add("circuits.repeat_sources", c.repeat_sources(),
        [](const v1::EngineStats& e) { return e.circuits().repeat_sources(); });
    add("circuits.tracked", c.tracked(), [](const v1::EngineStats& e) -> uint64_t {
      return e.circuits().tracked();
    });
    add_list(now_.dataplane() + ".", total.dataplane(),
             [](const v1::EngineStats& e) -> const auto& { return e.dataplane(); });
    return table;
  }

  const v1::GetStatsResponse& now_;
  const std::optional<Previous>& before_;
  const bool all_;
  double seconds_ = 0;
  std::map<std::string, uint64_t> values_;
};

int run_stats(Context& ctx, const po::variables_map& vm) {
  const bool watch = vm["watch"].as<bool>();
  const double interval = vm["interval"].as<double>();
  if (!(interval >= kMinInterval && interval <= kMaxInterval)) {
    throw UsageError("--interval: " + std::to_string(interval) + " is not between 0.1 and 3600 seconds");
  }
  const int64_t count = vm["count"].as<int64_t>();
  if (count < 0) throw UsageError("--count: must be 0 (no end) or more");
  if (!watch && (vm.count("count") && !vm["count"].defaulted())) {
    throw UsageError("--count goes with --watch");
  }
  v1::GetStatsRequest request;
  if (vm.count("service")) request.set_service(vm["service"].as<std::string>());

  // Made before the first call, so that gRPC's threads leave Ctrl-C to it.
  Interrupt interrupt;
  std::optional<Previous> previous;
  for (int64_t sample = 0; !watch || count == 0 || sample < count; ++sample) {
    if (sample > 0 && interrupt.sleep_for(std::chrono::milliseconds(
                          static_cast<int64_t>(std::llround(interval * 1000))))) {
      break;
    }
    grpc::ClientContext context;
    set_deadline(context);
    v1::GetStatsResponse response;
    const grpc::Status status = ctx.stub().GetStats(&context, request, &response);
    if (!status.ok()) {
      if (interrupt.interrupted()) break;
      return report_rpc_error(ctx, status, context);
    }
    if (ctx.output() == Output::kJson) {
      ctx.out() << (watch ? to_json_line(response) : to_json(response)) << std::flush;
    } else {
      if (sample > 0) ctx.out() << "\n";
      Printer printer(response, previous, vm["all"].as<bool>());
      printer.print(ctx.out());
      ctx.out() << std::flush;
      previous = printer.remember();
    }
    if (!watch) break;
  }
  return kExitOk;
}

}  // namespace

Command stats_command() {
  Command c;
  c.name = "stats";
  c.usage = "stats [--service NAME] [--watch [--interval SECONDS] [--count N]] [--all]";
  c.summary = "traffic, connect success, handshake times, active flows, health";
  c.description =
      "Shows the dataplane's counters, read from every worker:\n"
      "  - packets and bytes per service, pool and backend (by name: counts survive\n"
      "    weight and backend changes), each backend's state and weight, its health\n"
      "    (healthy, unhealthy or unknown by its active checks; \"-\" unchecked),\n"
      "    EJECTIONS (its circuit opened) and its circuit: \"closed\" on every\n"
      "    worker, or e.g. \"open 1/2\" (open on one worker of two: circuits are\n"
      "    judged per worker);\n"
      "  - the golden signals of connections: NEW FLOWS; ACTIVE, the live flows of\n"
      "    the latest flow census (\"active flows\" above says how old it is);\n"
      "    CONNECT OK = completed / (completed + FAILED + EXPIRED) handshakes, where\n"
      "    FAILED counts retransmitted SYNs and EXPIRED flows that never completed\n"
      "    (\"-\" without attempts); HANDSHAKE P50/P99, the client's first SYN to\n"
      "    its first non-SYN packet, as the upper bound of the histogram bucket\n"
      "    holding the quantile (\">5s\": beyond the last bound); RESETS, flows the\n"
      "    client ended with an RST;\n"
      "  - the engine's counters, drops by reason (drops.*), circuit-breaker\n"
      "    counters (circuits.*) and the dataplane's own (dpdk.*), in total and per\n"
      "    worker; zeros are left out unless --all.\n"
      "Counters grow from sluiced's start. With --watch, a new sample is printed\n"
      "every --interval seconds until Ctrl-C (or --count samples), with rates over\n"
      "the interval: PACKETS/S, BITS/S and NEW/S per row, INTERVAL OK (connect\n"
      "success over the interval alone), and PER SECOND per counter.\n"
      "-o json prints the GetStats response (with --watch one JSON object per line);\n"
      "rates are then for the reader to compute from two samples and their uptime_ms.";
  c.add_options = [](po::options_description& o) {
    o.add_options()
        ("service", po::value<std::string>()->value_name("NAME"),
         "only this service's traffic (workers and counters stay whole)")
        ("watch,w", po::bool_switch(), "print a sample every --interval seconds, with rates")
        ("interval", po::value<double>()->default_value(2.0)->value_name("SECONDS"),
         "seconds between samples with --watch (0.1..3600)")
        ("count", po::value<int64_t>()->default_value(0)->value_name("N"),
         "with --watch: stop after N samples (0: until Ctrl-C)")
        ("all", po::bool_switch(), "list every counter, zeros included");
  };
  c.run = run_stats;
  return c;
}

}  // namespace sluice::sluicectl
