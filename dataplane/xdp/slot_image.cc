// SPDX-License-Identifier: Apache-2.0
#include "dataplane/xdp/slot_image.h"

#include <algorithm>
#include <cstring>

namespace sluice::xdp {
namespace {

// Values are compared byte for byte with what a slot holds, so every byte,
// explicit padding included, starts at zero.
template <typename T>
T zeroed() {
  T v;
  std::memset(&v, 0, sizeof(v));
  return v;
}

uint16_t network_port(uint16_t host_port) {
  return static_cast<uint16_t>((host_port >> 8) | (host_port << 8));
}

// Tables start on a value boundary: a table that did not move or change
// shares no value with its neighbours, so rewriting skips it entirely.
uint64_t maglev_footprint(size_t entries) {
  const uint64_t per = SLUICE_XDP_MAGLEV_PER_VALUE;
  return (entries + per - 1) / per * per;
}

uint32_t slot_service(uint32_t slot, uint32_t service) { return slot << 24 | service; }

// The pool a rule sends its clients to (the first of that name, as the
// engine compiles it), or -1.
int rule_pool(const engine::ServiceConfig& config, const std::string& pool) {
  for (size_t p = 0; p < config.pools.size(); ++p) {
    if (config.pools[p].name == pool) return static_cast<int>(p);
  }
  return -1;
}

sluice_xdp_service service_value(const engine::CompiledService& svc, uint32_t backend_base,
                                 uint32_t rule_count) {
  const engine::ServiceConfig& c = svc.config;
  auto v = zeroed<sluice_xdp_service>();
  v.split = svc.split;
  v.backend_base = backend_base;
  v.backend_count = static_cast<uint32_t>(svc.backends.size());
  v.counter_slot = svc.counter_slot;
  v.rule_count = rule_count;
  v.pool_count = static_cast<uint8_t>(svc.pools.size());
  v.fallback_pool = svc.fallback_pool;
  v.affinity = static_cast<uint8_t>(c.affinity);
  v.affinity_prefix_len = svc.affinity_prefix_len;
  v.encapsulation = static_cast<uint8_t>(c.encapsulation);
  v.circuit_enabled = c.circuit.enabled ? 1 : 0;
  v.gue_port = c.gue_port;
  v.consecutive_failures = c.circuit.consecutive_failures;
  v.syn_retry_min_ms = c.circuit.syn_retry_min_ms;
  v.base_ejection_ms = c.circuit.base_ejection_ms;
  v.max_ejection_ms = c.circuit.max_ejection_ms;
  v.half_open_trials = c.circuit.half_open_trials;
  v.max_ejected_percent = c.circuit.max_ejected_percent;
  v.failure_window_ms = c.circuit.failure_window_ms;
  v.tcp_syn_ms = c.timeouts.tcp_syn_ms;
  v.tcp_established_ms = c.timeouts.tcp_established_ms;
  v.tcp_closing_ms = c.timeouts.tcp_closing_ms;
  v.udp_ms = c.timeouts.udp_ms;
  v.probation_ms = c.timeouts.probation_ms;
  v.unhealthy_reschedule =
      c.health_check.unhealthy_flows == engine::UnhealthyFlows::kReschedule ? 1 : 0;
  return v;
}

// `bases`: each service's backend_base in the slot.
sluice_xdp_backend backend_value(const engine::CompiledBackend& b, uint32_t service,
                                 const std::vector<uint32_t>& bases) {
  auto v = zeroed<sluice_xdp_backend>();
  std::memcpy(v.addr, b.address.bytes.data(), sizeof(v.addr));
  v.fingerprint = b.fingerprint;
  v.counter_slot = b.counter_slot;
  v.family = b.address.family;
  v.state = static_cast<uint8_t>(b.state);
  v.pool = b.pool;
  v.service = service;
  v.shared_next = bases[b.shared_service] + b.shared_backend;
  return v;
}

sluice_xdp_globals globals_value(const engine::Snapshot& snapshot, uint32_t tx_ifindex) {
  const engine::ForwardingConfig& f = snapshot.forwarding();
  auto g = zeroed<sluice_xdp_globals>();
  g.seed = snapshot.seed();
  std::memcpy(g.source_v4, f.source_v4.bytes.data(), sizeof(g.source_v4));
  std::memcpy(g.source_v6, f.source_v6.bytes.data(), sizeof(g.source_v6));
  std::memcpy(g.local_mac, f.local_mac.data(), sizeof(g.local_mac));
  std::memcpy(g.next_hop_mac, f.next_hop_mac.data(), sizeof(g.next_hop_mac));
  g.max_frame_size = f.max_frame_size;
  g.min_flow_timeout_ms = snapshot.min_flow_timeout_ms();
  g.tx_ifindex = tx_ifindex;
  g.service_count = static_cast<uint32_t>(snapshot.services().size());
  g.new_flow_rate = f.new_flow_rate;
  g.new_flow_burst = f.new_flow_burst;
  g.icmp_too_big_rate = f.icmp_too_big_rate;
  g.icmp_too_big_burst = f.icmp_too_big_burst;
  g.generation_lo = static_cast<uint32_t>(snapshot.generation());
  g.generation_hi = static_cast<uint32_t>(snapshot.generation() >> 32);
  return g;
}

}  // namespace

sluice_xdp_service_key service_key(uint32_t slot, const engine::ServiceConfig& service) {
  auto k = zeroed<sluice_xdp_service_key>();
  k.slot = static_cast<uint8_t>(slot);
  k.family = service.vip.family;
  k.proto = static_cast<uint8_t>(service.protocol);
  k.port = network_port(service.port);
  std::memcpy(k.addr, service.vip.bytes.data(), sizeof(k.addr));
  return k;
}

sluice_xdp_vip_key vip_key(uint32_t slot, const engine::IpAddress& vip) {
  auto k = zeroed<sluice_xdp_vip_key>();
  k.slot = static_cast<uint8_t>(slot);
  k.family = vip.family;
  std::memcpy(k.addr, vip.bytes.data(), sizeof(k.addr));
  return k;
}

sluice_xdp_backend_key backend_key(uint32_t slot, uint32_t service, uint64_t fingerprint) {
  auto k = zeroed<sluice_xdp_backend_key>();
  k.slot_service = slot_service(slot, service);
  k.fingerprint = fingerprint;
  return k;
}

sluice_xdp_rule_key rule_key(uint32_t slot, uint32_t service, const engine::Cidr& source) {
  auto k = zeroed<sluice_xdp_rule_key>();
  k.prefixlen = 32u + source.length;
  const uint32_t ss = slot_service(slot, service);
  k.slot_service[0] = static_cast<uint8_t>(ss >> 24);
  k.slot_service[1] = static_cast<uint8_t>(ss >> 16);
  k.slot_service[2] = static_cast<uint8_t>(ss >> 8);
  k.slot_service[3] = static_cast<uint8_t>(ss);
  std::memcpy(k.addr, source.address.bytes.data(), sizeof(k.addr));
  return k;
}

std::vector<std::string> capacity_errors(const engine::Snapshot& snapshot,
                                         const XdpCapacity& capacity) {
  uint64_t backends = 0, maglev = 0, rules = 0;
  for (const engine::CompiledService& svc : snapshot.services()) {
    backends += svc.backends.size();
    for (const engine::CompiledPool& pool : svc.pools) maglev += maglev_footprint(pool.maglev.size());
    rules += svc.config.rules.size();
  }
  std::vector<std::string> errors;
  auto check = [&errors](uint64_t need, uint32_t have, const char* what, const char* maps) {
    if (need > have) {
      errors.push_back(std::to_string(need) + " " + what + " exceed the " +
                       std::to_string(have) + " per configuration slot of the XDP maps " + maps +
                       " (raise their size in the XDP loader options)");
    }
  };
  check(snapshot.services().size(), capacity.services, "services",
        "services/vips/service_config");
  check(backends, capacity.backends, "backends", "backends/backend_index");
  check(maglev, capacity.maglev_entries, "Maglev entries (tables rounded up to 4)", "maglev");
  check(rules, capacity.rules, "source rules", "rules");
  return errors;
}

SlotImage build_slot_image(const engine::Snapshot& snapshot, uint32_t slot,
                           uint32_t tx_ifindex) {
  SlotImage image;
  image.globals = globals_value(snapshot, tx_ifindex);
  std::vector<uint16_t> maglev;  // entries; packed four to a value at the end
  const auto& services = snapshot.services();
  std::vector<uint32_t> bases;  // backend_base of each service
  uint32_t backend_total = 0;
  for (const engine::CompiledService& svc : services) {
    bases.push_back(backend_total);
    backend_total += static_cast<uint32_t>(svc.backends.size());
  }
  for (uint32_t s = 0; s < services.size(); ++s) {
    const engine::CompiledService& svc = services[s];
    const engine::ServiceConfig& c = svc.config;
    image.services.emplace_back(service_key(slot, c), s);
    image.vips.emplace_back(vip_key(slot, c.vip), 1u);

    uint32_t rule_count = 0;
    for (const engine::SourceRule& rule : c.rules) {
      const int pool = rule_pool(c, rule.pool);
      // A rule of the other family could never match a packet to this VIP.
      if (pool < 0 || rule.source.address.family != c.vip.family) continue;
      image.rules.emplace_back(rule_key(slot, s, rule.source), static_cast<uint32_t>(pool));
      ++rule_count;
    }

    const auto backend_base = static_cast<uint32_t>(image.backends.size());
    sluice_xdp_service value = service_value(svc, backend_base, rule_count);
    for (size_t p = 0; p < svc.pools.size(); ++p) {
      const engine::CompiledPool& pool = svc.pools[p];
      sluice_xdp_pool& out = value.pools[p];
      out.maglev_offset = static_cast<uint32_t>(maglev.size());
      out.maglev_size = static_cast<uint32_t>(pool.maglev.size());
      out.first_backend = pool.first_backend;
      out.backend_count = pool.backend_count;
      out.counter_slot = pool.counter_slot;
      out.active_count = pool.active_count;
      // members_since: the writer's, in root generations (SnapshotWriter).
      maglev.insert(maglev.end(), pool.maglev.begin(), pool.maglev.end());
      maglev.resize(maglev_footprint(maglev.size()), 0);
    }
    image.service_config.push_back(value);
    for (size_t b = 0; b < svc.backends.size(); ++b) {
      image.backends.push_back(backend_value(svc.backends[b], s, bases));
      image.backend_index.emplace_back(backend_key(slot, s, svc.backends[b].fingerprint),
                                       static_cast<uint32_t>(b));
    }
  }
  image.maglev.resize(maglev.size() / SLUICE_XDP_MAGLEV_PER_VALUE);
  for (size_t e = 0; e < maglev.size(); ++e) {
    image.maglev[e / SLUICE_XDP_MAGLEV_PER_VALUE].index[e % SLUICE_XDP_MAGLEV_PER_VALUE] = maglev[e];
  }
  sort_by_key(image.services);
  sort_by_key(image.vips);
  sort_by_key(image.backend_index);
  sort_by_key(image.rules);
  return image;
}

}  // namespace sluice::xdp
