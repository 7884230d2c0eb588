// SPDX-License-Identifier: Apache-2.0
// sluicectl get services / describe service NAME: reading services.
#include <cstdio>
#include <map>
#include <optional>
#include <string>

#include "tools/sluicectl/command.h"
#include "tools/sluicectl/enum_text.h"
#include "tools/sluicectl/health_check_text.h"
#include "tools/sluicectl/json_output.h"
#include "tools/sluicectl/rpc.h"
#include "tools/sluicectl/signal_text.h"
#include "tools/sluicectl/table.h"

namespace sluice::sluicectl {
namespace {

std::string pools_text(const v1::Service& s) {
  std::string out;
  for (const v1::Pool& p : s.pools()) {
    out += (out.empty() ? "" : ",") + p.name() + "=" + std::to_string(p.weight());
  }
  return out;
}

// "4", or "4 (1 draining, 1 disabled)".
std::string backends_text(const v1::Service& s) {
  int total = 0, draining = 0, disabled = 0;
  for (const v1::Pool& p : s.pools()) {
    for (const v1::Backend& b : p.backends()) {
      ++total;
      draining += b.state() == v1::BACKEND_STATE_DRAINING;
      disabled += b.state() == v1::BACKEND_STATE_DISABLED;
    }
  }
  std::string detail;
  if (draining) detail += std::to_string(draining) + " draining";
  if (disabled) detail += (detail.empty() ? "" : ", ") + std::to_string(disabled) + " disabled";
  return std::to_string(total) + (detail.empty() ? "" : " (" + detail + ")");
}

std::string listener_text(const v1::Service& s) {
  const bool v6 = s.vip().find(':') != std::string::npos;
  return (v6 ? "[" + s.vip() + "]" : s.vip()) + ":" + std::to_string(s.port()) + " " +
         protocol_text(s.protocol());
}

std::string share_text(uint64_t weight, uint64_t total) {
  if (total == 0) return "-";
  char buffer[16];
  std::snprintf(buffer, sizeof(buffer), "%.1f%%", 100.0 * static_cast<double>(weight) /
                                                      static_cast<double>(total));
  return buffer;
}

int run_get(Context& ctx, const po::variables_map& vm) {
  const std::string kind = required_argument(vm, "kind", "what to get (services)");
  if (kind != "services" && kind != "service") {
    throw UsageError("cannot get \"" + kind + "\"; try `get services`");
  }
  grpc::ClientContext context;
  set_deadline(context);
  v1::ListServicesResponse response;
  const grpc::Status status =
      ctx.stub().ListServices(&context, v1::ListServicesRequest(), &response);
  if (!status.ok()) return report_rpc_error(ctx, status, context);
  if (ctx.output() == Output::kJson) {
    ctx.out() << to_json(response);
    return kExitOk;
  }
  if (response.services_size() == 0) {
    ctx.out() << "no services (revision " << response.revision() << ")\n";
    return kExitOk;
  }
  Table table({"NAME", "VIP", "PORT", "PROTO", "POOLS(weights)", "BACKENDS", "REVISION"});
  for (const v1::Service& s : response.services()) {
    table.add_row({s.name(), s.vip(), std::to_string(s.port()), protocol_text(s.protocol()),
                   pools_text(s), backends_text(s), std::to_string(response.revision())});
  }
  table.print(ctx.out());
  return kExitOk;
}

// Whether the service or any of its pools checks its backends.
bool has_health_checks(const v1::Service& s) {
  if (health_check_enabled(s.health_check())) return true;
  for (const v1::Pool& p : s.pools()) {
    if (p.has_health_check() && health_check_enabled(p.health_check())) return true;
  }
  return false;
}

// Backends' health by "POOL ADDRESS". Health is sluiced's own state, not
// the configuration's: it comes with the stats. nullopt (said on stderr)
// when they could not be read.
using HealthByBackend = std::map<std::string, v1::BackendHealth>;
std::optional<HealthByBackend> backend_health(Context& ctx, const std::string& service) {
  v1::GetStatsRequest request;
  request.set_service(service);
  grpc::ClientContext context;
  set_deadline(context);
  v1::GetStatsResponse response;
  const grpc::Status status = ctx.stub().GetStats(&context, request, &response);
  if (!status.ok()) {
    ctx.err() << "sluicectl: backends' health unknown: GetStats failed: " << status.error_message()
              << "\n";
    return std::nullopt;
  }
  HealthByBackend health;
  for (const v1::ServiceStats& s : response.services()) {
    for (const v1::PoolStats& p : s.pools()) {
      for (const v1::BackendStats& b : p.backends()) {
        health[p.name() + " " + b.address()] = b.health();
      }
    }
  }
  return health;
}

// `health`: shown in the backends table when given (the service has checks).
void describe(const v1::Service& s, uint64_t revision, const std::optional<HealthByBackend>& health,
              std::ostream& out) {
  uint64_t total_weight = 0;
  for (const v1::Pool& p : s.pools()) total_weight += p.weight();
  std::string affinity = short_name(v1::Affinity_Name(s.affinity()), "AFFINITY_");
  if (s.affinity() == v1::AFFINITY_CLIENT_PREFIX) {
    affinity += " (/" + std::to_string(s.client_prefix_v4()) + " for IPv4, /" +
                std::to_string(s.client_prefix_v6()) + " for IPv6)";
  }
  std::string encapsulation = short_name(v1::Encapsulation_Name(s.encapsulation()),
                                         "ENCAPSULATION_");
  if (s.encapsulation() == v1::ENCAPSULATION_GUE) {
    encapsulation += " to UDP port " + std::to_string(s.gue_port());
  }
  std::string fallback = s.fallback_pool();
  if (fallback.empty() && s.pools_size() > 0) fallback = s.pools(0).name() + " (the first pool)";
  const v1::CircuitPolicy& c = s.circuit();
  const v1::FlowTimeouts& t = s.timeouts();

  Fields fields;
  fields.add("Name", s.name());
  fields.add("Listener", listener_text(s));
  fields.add("Affinity", affinity);
  fields.add("Encapsulation", encapsulation);
  fields.add("Fallback pool", fallback);
  fields.add("Maglev table", std::to_string(s.maglev_table_size()) + " entries per pool");
  fields.add("Circuit breaking",
             !c.enabled() ? std::string("off")
                          : "opens after " + std::to_string(c.consecutive_failures()) +
                                " failed handshakes; ejects for " +
                                std::to_string(c.base_ejection_ms()) + ".." +
                                std::to_string(c.max_ejection_ms()) + " ms, " +
                                std::to_string(c.half_open_trials()) +
                                " half-open trials, at most " +
                                std::to_string(c.max_ejected_percent()) + "% ejected");
  fields.add("Flow timeouts", "SYN " + std::to_string(t.tcp_syn_ms()) + " ms, established " +
                                  std::to_string(t.tcp_established_ms()) + " ms, closing " +
                                  std::to_string(t.tcp_closing_ms()) + " ms, UDP " +
                                  std::to_string(t.udp_ms()) + " ms, probation " +
                                  std::to_string(t.probation_ms()) + " ms");
  fields.add("Health checks", health_check_text(s.health_check(), s.port()));
  if (health_check_enabled(s.health_check())) {
    fields.add("Unhealthy backends", unhealthy_text(s.health_check()));
  }
  fields.add("Revision", std::to_string(revision));
  fields.print(out);

  out << "\n";
  Table pools({"POOL", "WEIGHT", "SHARE", "BACKENDS"});
  for (const v1::Pool& p : s.pools()) {
    pools.add_row({p.name(), std::to_string(p.weight()), share_text(p.weight(), total_weight),
                   std::to_string(p.backends_size())});
  }
  pools.print(out);

  // Pools that check their backends otherwise than the service.
  Table overrides({"POOL", "HEALTH CHECK (the pool's own)", "THRESHOLDS"});
  bool any_override = false;
  for (const v1::Pool& p : s.pools()) {
    if (!p.has_health_check()) continue;
    any_override = true;
    const v1::HealthCheck& h = p.health_check();
    overrides.add_row({p.name(), health_check_text(h, s.port()),
                       health_check_enabled(h)
                           ? "unhealthy " + std::to_string(h.unhealthy_threshold()) +
                                 ", healthy " + std::to_string(h.healthy_threshold())
                           : ""});
  }
  if (any_override) {
    out << "\n";
    overrides.print(out);
  }

  out << "\n";
  std::vector<std::string> header = {"POOL", "BACKEND", "WEIGHT", "STATE"};
  if (health) header.insert(header.end(), {"HEALTH", "LAST CHECK"});
  Table backends(std::move(header));
  for (const v1::Pool& p : s.pools()) {
    for (const v1::Backend& b : p.backends()) {
      std::vector<std::string> row = {p.name(), b.address(), std::to_string(b.weight()),
                                      state_text(b.state())};
      if (health) {
        auto it = health->find(p.name() + " " + b.address());
        const v1::BackendHealth none;
        const v1::BackendHealth& h = it == health->end() ? none : it->second;
        row.insert(row.end(), {health_text(h), h.checked() ? h.last_result() : ""});
      }
      backends.add_row(std::move(row));
    }
  }
  backends.print(out);

  if (s.rules_size() > 0) {
    out << "\n";
    Table rules({"SOURCE", "POOL"});
    for (const v1::SourceRule& r : s.rules()) rules.add_row({r.source_cidr(), r.pool()});
    rules.print(out);
  }
}

int run_describe(Context& ctx, const po::variables_map& vm) {
  const std::string kind = required_argument(vm, "kind", "what to describe (service)");
  if (kind != "service" && kind != "services") {
    throw UsageError("cannot describe \"" + kind + "\"; try `describe service NAME`");
  }
  v1::GetServiceRequest request;
  request.set_name(required_argument(vm, "name", "the service's name"));
  grpc::ClientContext context;
  set_deadline(context);
  v1::GetServiceResponse response;
  const grpc::Status status = ctx.stub().GetService(&context, request, &response);
  if (!status.ok()) return report_rpc_error(ctx, status, context);
  if (ctx.output() == Output::kJson) {
    ctx.out() << to_json(response);
  } else {
    const v1::Service& s = response.service();
    describe(s, response.revision(),
             has_health_checks(s) ? backend_health(ctx, s.name()) : std::nullopt, ctx.out());
  }
  return kExitOk;
}

}  // namespace

Command get_command() {
  Command c;
  c.name = "get";
  c.usage = "get services";
  c.summary = "list the services with their pools, weights and backends";
  c.description =
      "Lists every service: name, listener (VIP, port, protocol), the weight of each\n"
      "version pool, the number of backends (with how many are draining or disabled)\n"
      "and the revision the list belongs to. Pass that revision to --expect-revision\n"
      "of a change to make sure nothing changed in between.";
  c.arguments = {{"kind", 1}};
  c.run = run_get;
  return c;
}

Command describe_command() {
  Command c;
  c.name = "describe";
  c.usage = "describe service NAME";
  c.summary = "show one service in full: pools, backends, rules, policies";
  c.description =
      "Shows everything about one service as sluiced runs it, defaults included:\n"
      "listener, affinity, encapsulation, circuit breaking, flow timeouts and\n"
      "health checks (with the pools that override them), each pool's weight and\n"
      "share of new flows, each backend's weight and state, and the source rules.\n"
      "When backends are health-checked, each one's health (healthy, unhealthy,\n"
      "unknown; \"-\" unchecked) and its last check's result, read from sluiced's\n"
      "stats: health is sluiced's own state, not the configuration's. `-o json`\n"
      "prints the service in the form `apply -f` reads (under \"service\").";
  c.arguments = {{"kind", 1}, {"name", 1}};
  c.run = run_describe;
  return c;
}

}  // namespace sluice::sluicectl
