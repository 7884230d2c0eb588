// SPDX-License-Identifier: Apache-2.0
#include "control/config/service_mapping.h"

#include <set>

namespace sluice::control::config {
namespace {

using engine::ConfigError;

std::string in_quotes(const std::string& text) { return "\"" + text + "\""; }

std::string range_message(uint64_t value, uint64_t lo, uint64_t hi) {
  return std::to_string(value) + " is out of range " + std::to_string(lo) + ".." +
         std::to_string(hi);
}

// The zero address of the family the operator evidently meant, so that a
// typo in an IPv6 address does not also raise "not of the VIP's family".
engine::IpAddress placeholder_address(const std::string& text) {
  engine::IpAddress a;
  if (text.find(':') != std::string::npos) a.family = SLUICE_AF_INET6;
  return a;
}

engine::IpAddress map_address(const std::string& text, const std::string& field,
                              std::vector<ConfigError>& errors) {
  if (text.empty()) {
    errors.push_back({field, "must be set"});
    return placeholder_address(text);
  }
  auto address = engine::IpAddress::parse(text);
  if (!address) {
    errors.push_back({field, in_quotes(text) + " is not an IPv4 or IPv6 address"});
    return placeholder_address(text);
  }
  return *address;
}

// Why `text` is not a prefix, as precisely as can be told.
std::string cidr_problem(const std::string& text) {
  const size_t slash = text.find('/');
  if (slash == std::string::npos) return in_quotes(text) + " is not a CIDR prefix (address/length)";
  const std::string address_text = text.substr(0, slash);
  auto address = engine::IpAddress::parse(address_text);
  if (!address) {
    return in_quotes(text) + " is not a CIDR prefix: " + in_quotes(address_text) +
           " is not an IPv4 or IPv6 address";
  }
  const std::string length_text = text.substr(slash + 1);
  int length = 0;
  bool digits = !length_text.empty() && length_text.size() <= 3;
  for (char c : length_text) {
    if (c < '0' || c > '9') digits = false;
    if (digits) length = length * 10 + (c - '0');
  }
  if (!digits || length > address->bit_length()) {
    return in_quotes(text) + " is not a CIDR prefix: the length must be 0.." +
           std::to_string(address->bit_length());
  }
  // Well-formed, so Cidr::parse refused it for its host bits.
  engine::IpAddress network = *address;
  for (int bit = length; bit < network.bit_length(); ++bit) {
    network.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80 >> (bit % 8)));
  }
  return in_quotes(text) + " has host bits set beyond /" + std::to_string(length) +
         " (did you mean " + network.to_string() + "/" + std::to_string(length) + "?)";
}

engine::Cidr map_cidr(const std::string& text, const std::string& field,
                      std::vector<ConfigError>& errors) {
  if (auto cidr = engine::Cidr::parse(text)) return *cidr;
  errors.push_back({field, text.empty() ? "must be set" : cidr_problem(text)});
  // A length no real prefix has: validation reports it at this same field
  // (left out as a repeat) and it can never equal another rule's prefix.
  engine::Cidr placeholder{placeholder_address(text), 0};
  placeholder.length = static_cast<uint8_t>(placeholder.address.bit_length() + 1);
  return placeholder;
}

// A number going into a narrower engine field; `fallback` when out of range.
template <typename T>
T map_narrow(uint32_t value, uint32_t lo, uint32_t hi, T fallback, const std::string& field,
             std::vector<ConfigError>& errors) {
  if (value > hi) {
    errors.push_back({field, range_message(value, lo, hi)});
    return fallback;
  }
  return static_cast<T>(value);
}

std::string unknown_enum(int value) { return "unknown value " + std::to_string(value); }

engine::Protocol map_protocol(v1::Protocol p, const std::string& field,
                              std::vector<ConfigError>& errors) {
  switch (p) {
    case v1::PROTOCOL_UNSPECIFIED:
    case v1::PROTOCOL_TCP: return engine::Protocol::kTcp;
    case v1::PROTOCOL_UDP: return engine::Protocol::kUdp;
    default: errors.push_back({field, unknown_enum(p)}); return engine::Protocol::kTcp;
  }
}

engine::Affinity map_affinity(v1::Affinity a, const std::string& field,
                              std::vector<ConfigError>& errors) {
  switch (a) {
    case v1::AFFINITY_UNSPECIFIED:
    case v1::AFFINITY_FLOW: return engine::Affinity::kFlow;
    case v1::AFFINITY_CLIENT_ADDRESS: return engine::Affinity::kClientAddress;
    case v1::AFFINITY_CLIENT_PREFIX: return engine::Affinity::kClientPrefix;
    default: errors.push_back({field, unknown_enum(a)}); return engine::Affinity::kFlow;
  }
}

engine::Encapsulation map_encapsulation(v1::Encapsulation e, const std::string& field,
                                        std::vector<ConfigError>& errors) {
  switch (e) {
    case v1::ENCAPSULATION_UNSPECIFIED:
    case v1::ENCAPSULATION_IPIP: return engine::Encapsulation::kIpip;
    case v1::ENCAPSULATION_GUE: return engine::Encapsulation::kGue;
    default: errors.push_back({field, unknown_enum(e)}); return engine::Encapsulation::kIpip;
  }
}

engine::BackendState map_state(v1::BackendState s, const std::string& field,
                               std::vector<ConfigError>& errors) {
  switch (s) {
    case v1::BACKEND_STATE_UNSPECIFIED:
    case v1::BACKEND_STATE_ACTIVE: return engine::BackendState::kActive;
    case v1::BACKEND_STATE_DRAINING: return engine::BackendState::kDraining;
    case v1::BACKEND_STATE_DISABLED: return engine::BackendState::kDisabled;
    default: errors.push_back({field, unknown_enum(s)}); return engine::BackendState::kActive;
  }
}

// A type written as UNSPECIFIED keeps `inherited` (NONE for a service, the
// service's type for a pool override).
engine::HealthCheckType map_health_type(v1::HealthCheckType t, engine::HealthCheckType inherited,
                                        const std::string& field,
                                        std::vector<ConfigError>& errors) {
  switch (t) {
    case v1::HEALTH_CHECK_TYPE_UNSPECIFIED: return inherited;
    case v1::HEALTH_CHECK_TYPE_NONE: return engine::HealthCheckType::kNone;
    case v1::HEALTH_CHECK_TYPE_TCP: return engine::HealthCheckType::kTcp;
    case v1::HEALTH_CHECK_TYPE_HTTP: return engine::HealthCheckType::kHttp;
    case v1::HEALTH_CHECK_TYPE_HTTPS: return engine::HealthCheckType::kHttps;
    default: errors.push_back({field, unknown_enum(t)}); return inherited;
  }
}

engine::UnhealthyFlows map_unhealthy_flows(v1::UnhealthyFlows f, engine::UnhealthyFlows inherited,
                                           const std::string& field,
                                           std::vector<ConfigError>& errors) {
  switch (f) {
    case v1::UNHEALTHY_FLOWS_UNSPECIFIED: return inherited;
    case v1::UNHEALTHY_FLOWS_KEEP: return engine::UnhealthyFlows::kKeep;
    case v1::UNHEALTHY_FLOWS_RESCHEDULE: return engine::UnhealthyFlows::kReschedule;
    default: errors.push_back({field, unknown_enum(f)}); return inherited;
  }
}

bool is_http(engine::HealthCheckType t) {
  return t == engine::HealthCheckType::kHttp || t == engine::HealthCheckType::kHttps;
}

// Fields written in `p` replace those of `base`: the engine defaults for a
// service, the service's check for a pool override. The HTTP fields of
// `base` carry over only to an HTTP(S) check, so that a pool switching an
// HTTP service's check to TCP is not refused for an inherited path.
engine::HealthCheckConfig map_health_check(const v1::HealthCheck& p,
                                           const engine::HealthCheckConfig& base,
                                           const std::string& path,
                                           std::vector<ConfigError>& errors) {
  engine::HealthCheckConfig h = base;
  h.type = map_health_type(p.type(), base.type, path + ".type", errors);
  if (!is_http(h.type)) {
    const engine::HealthCheckConfig defaults;
    h.http_path = defaults.http_path;
    h.http_host = defaults.http_host;
    h.expected_status_start = defaults.expected_status_start;
    h.expected_status_end = defaults.expected_status_end;
  }
  if (p.has_interval_ms()) h.interval_ms = p.interval_ms();
  if (p.has_timeout_ms()) h.timeout_ms = p.timeout_ms();
  if (p.has_interval_jitter_ms()) h.interval_jitter_ms = p.interval_jitter_ms();
  if (p.has_interval_jitter_percent()) h.interval_jitter_percent = p.interval_jitter_percent();
  if (p.has_unhealthy_threshold()) h.unhealthy_threshold = p.unhealthy_threshold();
  if (p.has_healthy_threshold()) h.healthy_threshold = p.healthy_threshold();
  if (p.has_port()) {
    h.port = map_narrow<uint16_t>(p.port(), 0, 65535, h.port, path + ".port", errors);
  }
  if (p.has_http_path()) h.http_path = p.http_path();
  if (p.has_http_host()) h.http_host = p.http_host();
  if (p.has_expected_status_start()) h.expected_status_start = p.expected_status_start();
  if (p.has_expected_status_end()) h.expected_status_end = p.expected_status_end();
  h.unhealthy_flows = map_unhealthy_flows(p.unhealthy_flows(), base.unhealthy_flows,
                                          path + ".unhealthy_flows", errors);
  return h;
}

v1::HealthCheckType health_type_to_proto(engine::HealthCheckType t) {
  switch (t) {
    case engine::HealthCheckType::kNone: return v1::HEALTH_CHECK_TYPE_NONE;
    case engine::HealthCheckType::kTcp: return v1::HEALTH_CHECK_TYPE_TCP;
    case engine::HealthCheckType::kHttp: return v1::HEALTH_CHECK_TYPE_HTTP;
    case engine::HealthCheckType::kHttps: return v1::HEALTH_CHECK_TYPE_HTTPS;
  }
  return v1::HEALTH_CHECK_TYPE_UNSPECIFIED;
}

// Every field explicit, like the rest of service_to_proto.
void health_check_to_proto(const engine::HealthCheckConfig& h, v1::HealthCheck* p) {
  p->set_type(health_type_to_proto(h.type));
  p->set_interval_ms(h.interval_ms);
  p->set_timeout_ms(h.timeout_ms);
  p->set_interval_jitter_ms(h.interval_jitter_ms);
  p->set_interval_jitter_percent(h.interval_jitter_percent);
  p->set_unhealthy_threshold(h.unhealthy_threshold);
  p->set_healthy_threshold(h.healthy_threshold);
  p->set_port(h.port);
  p->set_http_path(h.http_path);
  p->set_http_host(h.http_host);
  p->set_expected_status_start(h.expected_status_start);
  p->set_expected_status_end(h.expected_status_end);
  p->set_unhealthy_flows(h.unhealthy_flows == engine::UnhealthyFlows::kReschedule
                             ? v1::UNHEALTHY_FLOWS_RESCHEDULE
                             : v1::UNHEALTHY_FLOWS_KEEP);
}

// `service_check` is the service's health check, which a pool's override
// starts from.
engine::PoolConfig map_pool(const v1::Pool& proto, const engine::HealthCheckConfig& service_check,
                            const std::string& path, std::vector<ConfigError>& errors) {
  engine::PoolConfig pool;
  pool.name = proto.name();
  if (proto.has_weight()) {
    pool.weight = proto.weight();
  } else {
    errors.push_back({path + ".weight",
                      "must be set (write 0 for a pool that takes no share of new flows)"});
    pool.weight = 1;  // not 0: that would add "all pool weights are 0"
  }
  for (int i = 0; i < proto.backends_size(); ++i) {
    const v1::Backend& b = proto.backends(i);
    const std::string bp = path + ".backends[" + std::to_string(i) + "]";
    engine::BackendConfig backend;
    backend.address = map_address(b.address(), bp + ".address", errors);
    if (b.has_weight()) backend.weight = b.weight();
    backend.state = map_state(b.state(), bp + ".state", errors);
    pool.backends.push_back(backend);
  }
  if (proto.has_health_check()) {
    pool.health_check =
        map_health_check(proto.health_check(), service_check, path + ".health_check", errors);
  }
  return pool;
}

void map_circuit(const v1::CircuitPolicy& p, engine::CircuitPolicy& c) {
  if (p.has_enabled()) c.enabled = p.enabled();
  if (p.has_consecutive_failures()) c.consecutive_failures = p.consecutive_failures();
  if (p.has_syn_retry_min_ms()) c.syn_retry_min_ms = p.syn_retry_min_ms();
  if (p.has_base_ejection_ms()) c.base_ejection_ms = p.base_ejection_ms();
  if (p.has_max_ejection_ms()) c.max_ejection_ms = p.max_ejection_ms();
  if (p.has_half_open_trials()) c.half_open_trials = p.half_open_trials();
  if (p.has_max_ejected_percent()) c.max_ejected_percent = p.max_ejected_percent();
  if (p.has_failure_window_ms()) c.failure_window_ms = p.failure_window_ms();
}

void map_timeouts(const v1::FlowTimeouts& p, engine::FlowTimeouts& t) {
  if (p.has_tcp_syn_ms()) t.tcp_syn_ms = p.tcp_syn_ms();
  if (p.has_tcp_established_ms()) t.tcp_established_ms = p.tcp_established_ms();
  if (p.has_tcp_closing_ms()) t.tcp_closing_ms = p.tcp_closing_ms();
  if (p.has_udp_ms()) t.udp_ms = p.udp_ms();
  if (p.has_probation_ms()) t.probation_ms = p.probation_ms();
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The engine calls a rule's prefix `source`; the API calls it source_cidr.
std::string api_field(std::string field) {
  if (ends_with(field, ".source") && field.find(".rules[") != std::string::npos) {
    field += "_cidr";
  }
  return field;
}

}  // namespace

engine::ServiceConfig service_from_proto(const v1::Service& proto, const std::string& path,
                                         std::vector<ConfigError>& errors) {
  engine::ServiceConfig s;
  s.name = proto.name();
  s.vip = map_address(proto.vip(), path + ".vip", errors);
  // 0 passes through: validation reports it as out of range.
  s.port = map_narrow<uint16_t>(proto.port(), 1, 65535, 0, path + ".port", errors);
  s.protocol = map_protocol(proto.protocol(), path + ".protocol", errors);
  s.affinity = map_affinity(proto.affinity(), path + ".affinity", errors);
  if (proto.has_client_prefix_v4()) {
    s.client_prefix_v4 = map_narrow<uint8_t>(proto.client_prefix_v4(), 0, 32, s.client_prefix_v4,
                                             path + ".client_prefix_v4", errors);
  }
  if (proto.has_client_prefix_v6()) {
    s.client_prefix_v6 = map_narrow<uint8_t>(proto.client_prefix_v6(), 0, 128,
                                             s.client_prefix_v6, path + ".client_prefix_v6",
                                             errors);
  }
  s.encapsulation = map_encapsulation(proto.encapsulation(), path + ".encapsulation", errors);
  if (proto.has_gue_port()) {
    s.gue_port = map_narrow<uint16_t>(proto.gue_port(), 1, 65535, s.gue_port,
                                      path + ".gue_port", errors);
  }
  if (proto.has_maglev_table_size()) s.maglev_table_size = proto.maglev_table_size();
  if (proto.has_health_check()) {
    s.health_check = map_health_check(proto.health_check(), engine::HealthCheckConfig{},
                                      path + ".health_check", errors);
  }
  for (int i = 0; i < proto.pools_size(); ++i) {
    s.pools.push_back(map_pool(proto.pools(i), s.health_check,
                               path + ".pools[" + std::to_string(i) + "]", errors));
  }
  for (int i = 0; i < proto.rules_size(); ++i) {
    const std::string rp = path + ".rules[" + std::to_string(i) + "]";
    s.rules.push_back({map_cidr(proto.rules(i).source_cidr(), rp + ".source_cidr", errors),
                       proto.rules(i).pool()});
  }
  s.fallback_pool = proto.fallback_pool();
  if (proto.has_circuit()) map_circuit(proto.circuit(), s.circuit);
  if (proto.has_timeouts()) map_timeouts(proto.timeouts(), s.timeouts);
  return s;
}

MappedServices services_from_proto(const v1::ServiceList& list) {
  MappedServices result;
  std::set<std::string> mapped_fields;  // fields with a mapping error
  std::set<std::string> clashing;       // "services[i]" whose listener did not map
  for (int i = 0; i < list.services_size(); ++i) {
    const std::string path = "services[" + std::to_string(i) + "]";
    const size_t before = result.errors.size();
    result.services.push_back(service_from_proto(list.services(i), path, result.errors));
    for (size_t e = before; e < result.errors.size(); ++e) {
      const std::string& field = result.errors[e].field;
      mapped_fields.insert(field);
      if (field == path + ".vip" || field == path + ".port" || field == path + ".protocol") {
        clashing.insert(path);
      }
    }
  }

  // validate_config also checks what spans services (names, listeners). The
  // forwarding section is not part of a services file: give it documentation
  // addresses so it raises nothing, and drop its errors regardless.
  engine::EngineConfig config;
  config.forwarding.source_v4 = engine::IpAddress::v4(192, 0, 2, 1);
  config.forwarding.source_v6 = *engine::IpAddress::parse("2001:db8::1");
  config.services = std::move(result.services);
  for (ConfigError& e : engine::validate_config(config)) {
    if (!starts_with(e.field, "services")) continue;
    e.field = api_field(std::move(e.field));
    if (mapped_fields.count(e.field) || clashing.count(e.field)) continue;
    result.errors.push_back(std::move(e));
  }
  result.services = std::move(config.services);
  if (!result.errors.empty()) result.services.clear();
  return result;
}

v1::BackendState backend_state_to_proto(engine::BackendState state) {
  switch (state) {
    case engine::BackendState::kActive: return v1::BACKEND_STATE_ACTIVE;
    case engine::BackendState::kDraining: return v1::BACKEND_STATE_DRAINING;
    case engine::BackendState::kDisabled: return v1::BACKEND_STATE_DISABLED;
  }
  return v1::BACKEND_STATE_UNSPECIFIED;
}

v1::Service service_to_proto(const engine::ServiceConfig& s) {
  v1::Service p;
  p.set_name(s.name);
  p.set_vip(s.vip.to_string());
  p.set_port(s.port);
  p.set_protocol(s.protocol == engine::Protocol::kUdp ? v1::PROTOCOL_UDP : v1::PROTOCOL_TCP);
  switch (s.affinity) {
    case engine::Affinity::kFlow: p.set_affinity(v1::AFFINITY_FLOW); break;
    case engine::Affinity::kClientAddress: p.set_affinity(v1::AFFINITY_CLIENT_ADDRESS); break;
    case engine::Affinity::kClientPrefix: p.set_affinity(v1::AFFINITY_CLIENT_PREFIX); break;
  }
  p.set_client_prefix_v4(s.client_prefix_v4);
  p.set_client_prefix_v6(s.client_prefix_v6);
  p.set_encapsulation(s.encapsulation == engine::Encapsulation::kGue ? v1::ENCAPSULATION_GUE
                                                                      : v1::ENCAPSULATION_IPIP);
  p.set_gue_port(s.gue_port);
  p.set_maglev_table_size(s.maglev_table_size);
  for (const engine::PoolConfig& pool : s.pools) {
    v1::Pool* pp = p.add_pools();
    pp->set_name(pool.name);
    pp->set_weight(pool.weight);
    for (const engine::BackendConfig& b : pool.backends) {
      v1::Backend* bp = pp->add_backends();
      bp->set_address(b.address.to_string());
      bp->set_weight(b.weight);
      bp->set_state(backend_state_to_proto(b.state));
    }
    if (pool.health_check) health_check_to_proto(*pool.health_check, pp->mutable_health_check());
  }
  for (const engine::SourceRule& r : s.rules) {
    v1::SourceRule* rp = p.add_rules();
    rp->set_source_cidr(r.source.to_string());
    rp->set_pool(r.pool);
  }
  p.set_fallback_pool(s.fallback_pool);
  v1::CircuitPolicy* c = p.mutable_circuit();
  c->set_enabled(s.circuit.enabled);
  c->set_consecutive_failures(s.circuit.consecutive_failures);
  c->set_syn_retry_min_ms(s.circuit.syn_retry_min_ms);
  c->set_base_ejection_ms(s.circuit.base_ejection_ms);
  c->set_max_ejection_ms(s.circuit.max_ejection_ms);
  c->set_half_open_trials(s.circuit.half_open_trials);
  c->set_max_ejected_percent(s.circuit.max_ejected_percent);
  c->set_failure_window_ms(s.circuit.failure_window_ms);
  v1::FlowTimeouts* t = p.mutable_timeouts();
  t->set_tcp_syn_ms(s.timeouts.tcp_syn_ms);
  t->set_tcp_established_ms(s.timeouts.tcp_established_ms);
  t->set_tcp_closing_ms(s.timeouts.tcp_closing_ms);
  t->set_udp_ms(s.timeouts.udp_ms);
  t->set_probation_ms(s.timeouts.probation_ms);
  health_check_to_proto(s.health_check, p.mutable_health_check());
  return p;
}

v1::ServiceList services_to_proto(const std::vector<engine::ServiceConfig>& services) {
  v1::ServiceList list;
  for (const engine::ServiceConfig& s : services) *list.add_services() = service_to_proto(s);
  return list;
}

}  // namespace sluice::control::config
