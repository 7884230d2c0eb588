// SPDX-License-Identifier: Apache-2.0
#include "dataplane/engine/config_validate.h"

#include <map>
#include <set>
#include <tuple>

#include "dataplane/engine/maglev.h"
#include "dataplane/engine/pool_split.h"

namespace sluice::engine {
namespace {

// Collects errors with their field paths.
class Errors {
 public:
  void add(std::string field, std::string message) {
    errors_.push_back({std::move(field), std::move(message)});
  }
  void append(std::vector<ConfigError> more) {
    for (auto& e : more) errors_.push_back(std::move(e));
  }
  std::vector<ConfigError> take() { return std::move(errors_); }

 private:
  std::vector<ConfigError> errors_;
};

std::string range_message(uint64_t value, uint64_t lo, uint64_t hi) {
  return std::to_string(value) + " is out of range " + std::to_string(lo) + ".." +
         std::to_string(hi);
}

// Names appear in counters, logs, state files and command lines: keep them
// to a portable identifier alphabet (this also keeps "service/pool" counter
// keys unambiguous).
constexpr size_t kMaxNameLength = 63;

// Returns whether the name is valid (errors were added otherwise).
bool validate_name(const std::string& name, const std::string& field, Errors& errors) {
  if (name.empty()) {
    errors.add(field, "must not be empty");
    return false;
  }
  if (name.size() > kMaxNameLength) {
    errors.add(field, "\"" + name.substr(0, 16) + "...\" is longer than " +
                          std::to_string(kMaxNameLength) + " characters");
    return false;
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) {
      errors.add(field, "\"" + name + "\" may contain only letters, digits, '-', '_' and '.'");
      return false;
    }
  }
  return true;
}

bool valid_family(const IpAddress& a) {
  return a.family == SLUICE_AF_INET || a.family == SLUICE_AF_INET6;
}

// True when a bit at or beyond `length` is set (a prefix with host bits).
bool has_host_bits(const Cidr& c) {
  for (int bit = c.length; bit < c.address.bit_length(); ++bit) {
    if (c.address.bytes[bit / 8] & (0x80 >> (bit % 8))) return true;
  }
  return false;
}

bool is_zero(const IpAddress& a) {
  for (uint8_t b : a.bytes) {
    if (b) return false;
  }
  return true;
}

void validate_backend(const BackendConfig& b, const IpAddress& vip, const std::string& path,
                      Errors& errors) {
  if (!valid_family(b.address)) {
    errors.add(path + ".address", "unknown address family " + std::to_string(b.address.family));
    return;
  }
  if (is_zero(b.address)) {
    errors.add(path + ".address", "\"" + b.address.to_string() + "\" is not a usable address");
  }
  // Supported tunnels: v4 in v4, v6 in v6, v4 in v6. IPv6 clients cannot be
  // carried inside IPv4 (there is no IPv6-in-IPv4 decapsulation on backends).
  if (!vip.is_v4() && b.address.is_v4()) {
    errors.add(path + ".address", "IPv4 backend " + b.address.to_string() +
                                      " cannot serve IPv6 VIP " + vip.to_string() +
                                      " (IPv6 in IPv4 is not supported)");
  }
  if (b.weight < 1 || b.weight > kMaxBackendWeight) {
    errors.add(path + ".weight", range_message(b.weight, 1, kMaxBackendWeight));
  }
}

void validate_pools(const ServiceConfig& s, const std::string& path, Errors& errors) {
  if (s.pools.empty() || s.pools.size() > kMaxPools) {
    errors.add(path + ".pools", "a service needs 1.." + std::to_string(kMaxPools) +
                                    " pools, got " + std::to_string(s.pools.size()));
  }
  std::set<std::string> names;
  std::set<uint32_t> ids;
  std::map<IpAddress, std::string> seen_backends;  // address -> its field path
  uint64_t total_weight = 0;
  for (size_t i = 0; i < s.pools.size(); ++i) {
    const PoolConfig& pool = s.pools[i];
    const std::string pp = path + ".pools[" + std::to_string(i) + "]";
    if (!validate_name(pool.name, pp + ".name", errors)) {
      // reported by validate_name
    } else if (!names.insert(pool.name).second) {
      errors.add(pp + ".name", "duplicate pool name \"" + pool.name + "\"");
    } else if (!ids.insert(sluice_pool_id(pool.name.data(),
                                          static_cast<uint32_t>(pool.name.size())))
                    .second) {
      // Pools are identified by a 32-bit hash of their name on the dataplane.
      errors.add(pp + ".name", "\"" + pool.name + "\" collides with another pool's id; rename it");
    }
    if (pool.weight > SLUICE_MAX_POOL_WEIGHT) {
      errors.add(pp + ".weight", range_message(pool.weight, 0, SLUICE_MAX_POOL_WEIGHT));
    }
    total_weight += pool.weight;
    if (pool.backends.empty()) {
      errors.add(pp + ".backends", "a pool needs at least one backend");
    } else if (pool.backends.size() > kMaxBackendsPerPool) {
      errors.add(pp + ".backends", std::to_string(pool.backends.size()) +
                                       " backends exceed the limit of " +
                                       std::to_string(kMaxBackendsPerPool));
    }
    if (pool.backends.size() > s.maglev_table_size) {
      errors.add(pp + ".backends", "more backends (" + std::to_string(pool.backends.size()) +
                                       ") than maglev_table_size entries (" +
                                       std::to_string(s.maglev_table_size) + ")");
    }
    for (size_t j = 0; j < pool.backends.size(); ++j) {
      const std::string bp = pp + ".backends[" + std::to_string(j) + "]";
      validate_backend(pool.backends[j], s.vip, bp, errors);
      // A backend is identified by its address across the whole service.
      auto [it, fresh] = seen_backends.emplace(pool.backends[j].address, bp);
      if (!fresh) {
        errors.add(bp + ".address", "duplicate backend " + pool.backends[j].address.to_string() +
                                        " (also " + it->second + ")");
      }
    }
  }
  if (!s.pools.empty() && total_weight == 0) {
    errors.add(path + ".pools", "all pool weights are 0; at least one pool needs a weight");
  }
  if (!s.fallback_pool.empty() && !names.count(s.fallback_pool)) {
    errors.add(path + ".fallback_pool", "unknown pool \"" + s.fallback_pool + "\"");
  }
  std::set<Cidr> prefixes;
  if (s.rules.size() > kMaxRulesPerService) {
    errors.add(path + ".rules", std::to_string(s.rules.size()) + " rules exceed the limit of " +
                                    std::to_string(kMaxRulesPerService));
  }
  for (size_t i = 0; i < s.rules.size(); ++i) {
    const SourceRule& r = s.rules[i];
    const std::string rp = path + ".rules[" + std::to_string(i) + "]";
    if (!names.count(r.pool)) errors.add(rp + ".pool", "unknown pool \"" + r.pool + "\"");
    if (r.source.address.family != s.vip.family) {
      errors.add(rp + ".source", r.source.to_string() + " is not of the VIP's address family");
    } else if (r.source.length > r.source.address.bit_length()) {
      errors.add(rp + ".source", "prefix length " + std::to_string(r.source.length) +
                                     " is too long");
    } else if (has_host_bits(r.source)) {
      errors.add(rp + ".source", r.source.to_string() + " has host bits set beyond /" +
                                     std::to_string(r.source.length));
    }
    if (!prefixes.insert(r.source).second) {
      errors.add(rp + ".source", "duplicate rule for " + r.source.to_string());
    }
  }
}

void validate_policies(const ServiceConfig& s, const std::string& path, Errors& errors) {
  const CircuitPolicy& c = s.circuit;
  const std::string cp = path + ".circuit";
  if (c.consecutive_failures < 1 || c.consecutive_failures > 1000) {
    errors.add(cp + ".consecutive_failures", range_message(c.consecutive_failures, 1, 1000));
  }
  if (c.base_ejection_ms < 1) errors.add(cp + ".base_ejection_ms", "must be at least 1");
  if (c.max_ejection_ms < c.base_ejection_ms) {
    errors.add(cp + ".max_ejection_ms", "must not be below base_ejection_ms (" +
                                            std::to_string(c.base_ejection_ms) + ")");
  }
  if (c.max_ejection_ms > 86400000) {
    errors.add(cp + ".max_ejection_ms", range_message(c.max_ejection_ms, 1, 86400000));
  }
  if (c.half_open_trials < 1 || c.half_open_trials > 1000) {
    errors.add(cp + ".half_open_trials", range_message(c.half_open_trials, 1, 1000));
  }
  if (c.max_ejected_percent > 100) {
    errors.add(cp + ".max_ejected_percent", range_message(c.max_ejected_percent, 0, 100));
  }
  if (c.failure_window_ms < 1 || c.failure_window_ms > 3600000) {
    errors.add(cp + ".failure_window_ms", range_message(c.failure_window_ms, 1, 3600000));
  }
  if (c.syn_retry_min_ms > 60000) {
    errors.add(cp + ".syn_retry_min_ms", range_message(c.syn_retry_min_ms, 0, 60000));
  }
  const FlowTimeouts& t = s.timeouts;
  const std::string tp = path + ".timeouts";
  // 32-bit millisecond clocks: keep timeouts well under the 24-day wrap.
  constexpr uint32_t kMaxTimeout = 7 * 86400 * 1000u;
  const std::pair<const char*, uint32_t> timeouts[] = {
      {"tcp_syn_ms", t.tcp_syn_ms},
      {"tcp_established_ms", t.tcp_established_ms},
      {"tcp_closing_ms", t.tcp_closing_ms},
      {"udp_ms", t.udp_ms},
      {"probation_ms", t.probation_ms}};
  for (const auto& [name, value] : timeouts) {
    if (value < 1 || value > kMaxTimeout) {
      errors.add(tp + "." + name, range_message(value, 1, kMaxTimeout));
    }
  }
}

bool is_http(HealthCheckType t) {
  return t == HealthCheckType::kHttp || t == HealthCheckType::kHttps;
}

const char* health_type_name(HealthCheckType t) {
  switch (t) {
    case HealthCheckType::kNone: return "NONE";
    case HealthCheckType::kTcp: return "TCP";
    case HealthCheckType::kHttp: return "HTTP";
    case HealthCheckType::kHttps: return "HTTPS";
  }
  return "unknown";
}

// Why `path` cannot be an HTTP request target, or "" when it can. It goes
// verbatim into the request line, so no byte may end or split that line.
std::string http_path_problem(const std::string& path) {
  constexpr size_t kMaxPath = 1024;
  if (path.empty() || path[0] != '/') return "must start with '/'";
  if (path.size() > kMaxPath) {
    return std::to_string(path.size()) + " bytes exceed the limit of " + std::to_string(kMaxPath);
  }
  for (unsigned char c : path) {
    if (c <= 0x20 || c >= 0x7f) return "may contain only printable ASCII without spaces";
  }
  return "";
}

// The Host header: a name or address, optionally with ":port".
std::string http_host_problem(const std::string& host) {
  constexpr size_t kMaxHost = 255;
  if (host.size() > kMaxHost) {
    return std::to_string(host.size()) + " bytes exceed the limit of " + std::to_string(kMaxHost);
  }
  for (unsigned char c : host) {
    if (c <= 0x20 || c >= 0x7f) return "may contain only printable ASCII without spaces";
  }
  return "";
}

// One health check at `path`. `service` is null for the service's own check;
// for a pool's override it is the service's check, and an error about
// values the pool inherited unchanged is left out (reported once, at the
// service).
void validate_health_check(const HealthCheckConfig& h, const HealthCheckConfig* service,
                           const std::string& path, Errors& errors) {
  // True when every named field equals the service's (so it was inherited).
  auto inherited = [&](auto... fields) {
    return service && ((h.*fields == service->*fields) && ...);
  };
  // Returns whether the field is in range (reported or not).
  auto check_range = [&](const char* name, uint32_t HealthCheckConfig::*field, uint32_t lo,
                         uint32_t hi) {
    if (h.*field >= lo && h.*field <= hi) return true;
    if (!inherited(field)) errors.add(path + "." + name, range_message(h.*field, lo, hi));
    return false;
  };
  using H = HealthCheckConfig;
  if (h.type != HealthCheckType::kNone && h.type != HealthCheckType::kTcp && !is_http(h.type)) {
    errors.add(path + ".type", "unknown health check type");
  }
  constexpr uint32_t kMinInterval = 100, kMaxInterval = 3600000;
  check_range("interval_ms", &H::interval_ms, kMinInterval, kMaxInterval);
  // A check must end before the next one of the same backend starts.
  if ((h.timeout_ms < 1 || h.timeout_ms > h.interval_ms) &&
      !inherited(&H::timeout_ms, &H::interval_ms)) {
    errors.add(path + ".timeout_ms", std::to_string(h.timeout_ms) +
                                         " is out of range 1..interval_ms (" +
                                         std::to_string(h.interval_ms) + ")");
  }
  check_range("interval_jitter_ms", &H::interval_jitter_ms, 0, kMaxInterval);
  check_range("interval_jitter_percent", &H::interval_jitter_percent, 0, 100);
  check_range("unhealthy_threshold", &H::unhealthy_threshold, 1, 1000);
  check_range("healthy_threshold", &H::healthy_threshold, 1, 1000);

  if (is_http(h.type)) {
    // Envoy's expected_statuses range: start inclusive, end exclusive.
    const bool start_in_range = check_range("expected_status_start", &H::expected_status_start,
                                            100, 599);
    const bool end_in_range = check_range("expected_status_end", &H::expected_status_end, 101, 600);
    if (start_in_range && end_in_range && h.expected_status_start >= h.expected_status_end &&
        !inherited(&H::expected_status_start, &H::expected_status_end)) {
      errors.add(path + ".expected_status_end",
                 std::to_string(h.expected_status_end) + " must be above expected_status_start (" +
                     std::to_string(h.expected_status_start) + ")");
    }
    if (const std::string problem = http_path_problem(h.http_path);
        !problem.empty() && !inherited(&H::http_path)) {
      errors.add(path + ".http_path", problem);
    }
    if (const std::string problem = http_host_problem(h.http_host);
        !problem.empty() && !inherited(&H::http_host)) {
      errors.add(path + ".http_host", problem);
    }
  } else {
    // The HTTP fields mean nothing to another check: refuse them rather
    // than let an operator believe a TCP check asks for /healthz. Only
    // values other than the defaults count, since a dump writes every field.
    const HealthCheckConfig d;
    const std::string why = std::string("only HTTP and HTTPS checks use it (type is ") +
                            health_type_name(h.type) + ")";
    if (h.http_path != d.http_path) errors.add(path + ".http_path", why);
    if (h.http_host != d.http_host) errors.add(path + ".http_host", why);
    if (h.expected_status_start != d.expected_status_start) {
      errors.add(path + ".expected_status_start", why);
    }
    if (h.expected_status_end != d.expected_status_end) {
      errors.add(path + ".expected_status_end", why);
    }
  }
  // The dataplane applies the service's choice to every backend.
  if (service && h.unhealthy_flows != service->unhealthy_flows) {
    errors.add(path + ".unhealthy_flows",
               "is set per service: leave it out here or set it on the service's health_check");
  }
}

void validate_health_checks(const ServiceConfig& s, const std::string& path, Errors& errors) {
  validate_health_check(s.health_check, nullptr, path + ".health_check", errors);
  for (size_t i = 0; i < s.pools.size(); ++i) {
    if (!s.pools[i].health_check) continue;
    validate_health_check(*s.pools[i].health_check, &s.health_check,
                          path + ".pools[" + std::to_string(i) + "].health_check", errors);
  }
}

}  // namespace

std::vector<ConfigError> validate_service(const ServiceConfig& s, const std::string& path) {
  Errors errors;
  validate_name(s.name, path + ".name", errors);
  if (!valid_family(s.vip)) {
    errors.add(path + ".vip", "unknown address family " + std::to_string(s.vip.family));
    return errors.take();  // everything below depends on the VIP's family
  }
  if (is_zero(s.vip)) errors.add(path + ".vip", "\"" + s.vip.to_string() + "\" is not a usable VIP");
  if (s.port == 0) errors.add(path + ".port", "0 is out of range 1..65535");
  if (s.protocol != Protocol::kTcp && s.protocol != Protocol::kUdp) {
    errors.add(path + ".protocol", "must be TCP or UDP");
  }
  if (s.affinity != Affinity::kFlow && s.affinity != Affinity::kClientAddress &&
      s.affinity != Affinity::kClientPrefix) {
    errors.add(path + ".affinity", "unknown affinity");
  }
  if (s.client_prefix_v4 > 32) {
    errors.add(path + ".client_prefix_v4", range_message(s.client_prefix_v4, 0, 32));
  }
  if (s.client_prefix_v6 > 128) {
    errors.add(path + ".client_prefix_v6", range_message(s.client_prefix_v6, 0, 128));
  }
  if (s.encapsulation == Encapsulation::kGue && s.gue_port == 0) {
    errors.add(path + ".gue_port", "0 is out of range 1..65535");
  }
  if (s.maglev_table_size < kMinMaglevTableSize || s.maglev_table_size > kMaxMaglevTableSize) {
    errors.add(path + ".maglev_table_size",
               range_message(s.maglev_table_size, kMinMaglevTableSize, kMaxMaglevTableSize));
  } else if (!is_prime(s.maglev_table_size)) {
    errors.add(path + ".maglev_table_size",
               std::to_string(s.maglev_table_size) + " is not prime (Maglev needs a prime size)");
  }
  validate_pools(s, path, errors);
  validate_policies(s, path, errors);
  validate_health_checks(s, path, errors);
  return errors.take();
}

std::vector<ConfigError> validate_config(const EngineConfig& config) {
  Errors errors;
  if (config.services.size() > kMaxServices) {
    errors.add("services", std::to_string(config.services.size()) +
                               " services exceed the limit of " + std::to_string(kMaxServices));
  }
  std::map<std::string, size_t> names;
  std::map<std::tuple<IpAddress, uint16_t, Protocol>, size_t> listeners;
  bool needs_v4_source = false, needs_v6_source = false;
  for (size_t i = 0; i < config.services.size(); ++i) {
    const ServiceConfig& s = config.services[i];
    const std::string path = "services[" + std::to_string(i) + "]";
    errors.append(validate_service(s, path));
    if (!s.name.empty()) {
      auto [it, fresh] = names.emplace(s.name, i);
      if (!fresh) {
        errors.add(path + ".name", "duplicate service name \"" + s.name + "\" (also services[" +
                                       std::to_string(it->second) + "])");
      }
    }
    auto [it, fresh] = listeners.emplace(std::make_tuple(s.vip, s.port, s.protocol), i);
    if (!fresh) {
      errors.add(path, "VIP " + s.vip.to_string() + " port " + std::to_string(s.port) +
                           " is already served by service \"" +
                           config.services[it->second].name + "\" (services[" +
                           std::to_string(it->second) + "])");
    }
    for (const PoolConfig& pool : s.pools) {
      for (const BackendConfig& b : pool.backends) {
        (b.address.is_v4() ? needs_v4_source : needs_v6_source) = true;
      }
    }
  }
  const ForwardingConfig& f = config.forwarding;
  if (needs_v4_source && (f.source_v4.family != SLUICE_AF_INET || is_zero(f.source_v4))) {
    errors.add("forwarding.source_v4", "an IPv4 outer source address is needed for IPv4 backends");
  }
  if (needs_v6_source && (f.source_v6.family != SLUICE_AF_INET6 || is_zero(f.source_v6))) {
    errors.add("forwarding.source_v6", "an IPv6 outer source address is needed for IPv6 backends");
  }
  if (f.max_frame_size < 128 || f.max_frame_size > 16384) {
    errors.add("forwarding.max_frame_size", range_message(f.max_frame_size, 128, 16384));
  }
  return errors.take();
}

}  // namespace sluice::engine
