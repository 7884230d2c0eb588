// SPDX-License-Identifier: Apache-2.0
// The packet corpus of the XDP parity test (xdp_parity_test.cc): a scripted
// configuration history and a population of simulated clients whose frames
// exercise every branch of the engine's pipeline.
//
// The corpus is generated on line and deterministically from a seed: what a
// client sends next may depend on what the engine decided before (a client
// whose SYN went to a dead backend retransmits it; a PMTU error quotes a
// connection that exists). Both dataplanes then get the very same frames at
// the very same times, so feeding the generator the engine's decisions
// keeps the corpus identical for both.
//
// Configuration history (scenario_config(step)): six services over IPv4 and
// IPv6, flow / client-address / client-prefix affinity, IPIP (4in4, 6in6,
// 4in6) and GUE (4in4, 4in6, 6in6), source-CIDR rules, small and large Maglev tables; later
// steps move weights, drain, disable and remove backends, add a rule, switch
// a service from IPIP to GUE, empty a pool (fallback) and a service (no
// backend), add and remove a service. Health (scenario_health) marks
// backends unhealthy and healthy again, twice per step, in services that
// keep (web6) and that move (api) the flows of an unhealthy backend, and
// takes whole pools out (fallback); a dead backend alternates between
// HEALTHY (suspected, not ejected) and UNKNOWN (ejected passively).
//
// Clients: TCP connections (SYN, retransmitted SYNs toward dead backends
// that open circuits, handshakes after delays from 0 to over 5 s, data,
// FIN, RST, RST before anything else, reuse of a closed tuple),
// UDP flows, untracked TCP, ICMP echo (with IPv4 options) and PMTU errors
// quoting live or unknown flows, other ICMP and ICMPv6 neighbour discovery
// (to the host), fragments, traffic not for a
// VIP, non-IP frames, VLAN tags, Ethernet padding, frames too big to
// encapsulate, and malformed frames made by cutting or corrupting good ones.
//
// Test-only: allocates freely.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "dataplane/engine/config.h"
#include "dataplane/engine/engine.h"
#include "dataplane/engine/wire.h"
#include "tests/dataplane/engine/frame_builder.h"

namespace sluice::engine::test::parity {

using Bytes = std::vector<uint8_t>;

inline IpAddress addr(const char* text) { return parse_test_address(text); }

inline IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return IpAddress::v4(a, b, c, d); }

// 2001:db8:<g2>:<g3>::<low> (low: the last 16 bits).
inline IpAddress v6(uint16_t g2, uint16_t g3, uint16_t low) {
  IpAddress a = addr("2001:db8::");
  a.bytes[4] = static_cast<uint8_t>(g2 >> 8);
  a.bytes[5] = static_cast<uint8_t>(g2);
  a.bytes[6] = static_cast<uint8_t>(g3 >> 8);
  a.bytes[7] = static_cast<uint8_t>(g3);
  a.bytes[14] = static_cast<uint8_t>(low >> 8);
  a.bytes[15] = static_cast<uint8_t>(low);
  return a;
}

inline constexpr uint32_t kSteps = 12;  // configuration steps over the corpus

// Backends that never answer a SYN until they revive (kReviveStep): their
// clients retransmit, which opens their circuits.
inline const std::vector<IpAddress>& dead_backends() {
  static const std::vector<IpAddress> dead = {
      v4(10, 1, 0, 3),            // web/stable
      v6(0xbe, 0, 3),             // web6/stable
      v6(0xa1, 0, 21),            // api/green (its only backend: the pool ejects whole)
      v4(10, 3, 0, 1),            // dns/main (UDP: never retransmits, stays closed)
  };
  return dead;
}
inline constexpr uint32_t kReviveStep = 9;

inline BackendConfig backend(const IpAddress& a, uint32_t weight = 1,
                             BackendState state = BackendState::kActive) {
  BackendConfig b;
  b.address = a;
  b.weight = weight;
  b.state = state;
  return b;
}

inline PoolConfig pool(const char* name, uint32_t weight, std::vector<BackendConfig> backends) {
  PoolConfig p;
  p.name = name;
  p.weight = weight;
  p.backends = std::move(backends);
  return p;
}

// The seed and forwarding settings the single-purpose XDP tests use
// (xdp_icmp_test, xdp_tcp_state_test, xdp_flood_test), with no services.
inline EngineConfig test_forwarding_config() {
  EngineConfig c;
  c.seed = {0x1111222233334444ULL, 0x5555666677778888ULL};
  c.forwarding.source_v4 = addr("10.0.0.2");
  c.forwarding.source_v6 = addr("fd00::2");
  c.forwarding.local_mac = {0x02, 0, 0, 0, 0, 0x02};
  c.forwarding.next_hop_mac = {0x02, 0, 0, 0, 0, 0x01};
  return c;
}

// Their "web" service: 192.0.2.10:80 TCP, IPIP 4in4, a stable pool of four
// backends (10.1.0.1..4) and a canary pool of two (10.2.0.1..2).
inline ServiceConfig test_web_service(uint32_t stable, uint32_t canary) {
  ServiceConfig s;
  s.name = "web";
  s.vip = addr("192.0.2.10");
  s.port = 80;
  s.protocol = Protocol::kTcp;
  s.maglev_table_size = 1021;
  s.pools = {pool("stable", stable, {backend(addr("10.1.0.1")), backend(addr("10.1.0.2")),
                                     backend(addr("10.1.0.3")), backend(addr("10.1.0.4"))}),
             pool("canary", canary, {backend(addr("10.2.0.1")), backend(addr("10.2.0.2"))})};
  return s;
}

// The forwarding settings with only "web" (90/10), its circuits on under the
// default policy an operator gets (xdp_spoofed_signals_test,
// xdp_circuit_seq_test).
inline EngineConfig test_circuit_web_config() {
  EngineConfig c = test_forwarding_config();
  ServiceConfig web = test_web_service(90, 10);
  web.circuit = CircuitPolicy{};
  c.services = {web};
  return c;
}

inline SourceRule rule(const char* cidr, const char* pool_name) {
  SourceRule r;
  r.source = *Cidr::parse(cidr);
  r.pool = pool_name;
  return r;
}

// Short timeouts and ejections, so that a corpus of a few simulated minutes
// sees flows expire and circuits open, half-open, close and reopen.
inline void fast_policies(ServiceConfig& s) {
  s.circuit.enabled = true;
  s.circuit.consecutive_failures = 3;
  s.circuit.syn_retry_min_ms = 500;
  s.circuit.base_ejection_ms = 2000;
  s.circuit.max_ejection_ms = 16000;
  s.circuit.half_open_trials = 2;
  s.circuit.max_ejected_percent = 50;
  s.timeouts.tcp_syn_ms = 3000;
  s.timeouts.tcp_established_ms = 20000;
  s.timeouts.tcp_closing_ms = 2000;
  s.timeouts.udp_ms = 5000;
}

// The configuration in force from step `step` (0..kSteps-1) on.
inline EngineConfig scenario_config(uint32_t step) {
  EngineConfig c;
  c.seed = {0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  c.forwarding.source_v4 = v4(10, 0, 0, 2);
  c.forwarding.source_v6 = addr("2001:db8:ff::2");
  c.forwarding.local_mac = {0x02, 0x5c, 0, 0, 0, 0x02};
  c.forwarding.next_hop_mac = {0x02, 0x5c, 0, 0, 0, 0x01};
  c.forwarding.max_frame_size = 1554;
  // ICMP answers to too-big packets: a small bucket on odd steps, so that
  // its exhaustion and refill are compared too.
  c.forwarding.icmp_too_big_rate = step % 2 ? 1 : 1000;
  c.forwarding.icmp_too_big_burst = step % 2 ? 2 : 100;

  // web: IPv4 TCP, two pools, a source rule, IPIP 4in4, flow affinity.
  ServiceConfig web;
  web.name = "web";
  web.vip = v4(10, 100, 0, 10);
  web.port = 80;
  web.protocol = Protocol::kTcp;
  fast_policies(web);
  const uint32_t canary_weight = step < 2 ? 10 : step < 6 ? 50 : step < 8 ? 100 : 10;
  const uint32_t stable_weight = step >= 6 && step < 8 ? 0 : 90;
  std::vector<BackendConfig> stable = {backend(v4(10, 1, 0, 1), 2), backend(v4(10, 1, 0, 2)),
                                       backend(v4(10, 1, 0, 3)), backend(v4(10, 1, 0, 4), 3)};
  if (step >= 3) stable[1].state = BackendState::kDraining;
  if (step >= 4) stable[3].state = BackendState::kDisabled;
  if (step >= 5 && step < 10) stable.erase(stable.begin());  // 10.1.0.1 removed, then back
  std::vector<BackendConfig> canary = {backend(v4(10, 1, 1, 1)), backend(v4(10, 1, 1, 2))};
  if (step == 7) {
    // The whole canary pool drains: its share falls back to stable.
    for (BackendConfig& b : canary) b.state = BackendState::kDraining;
  }
  web.pools = {pool("stable", stable_weight, stable), pool("canary", canary_weight, canary)};
  web.fallback_pool = "stable";
  web.rules = {rule("10.50.0.0/16", "canary")};
  if (step >= 5) web.rules.push_back(rule("10.60.7.0/24", "stable"));
  c.services.push_back(web);

  // dns: IPv4 UDP on web's VIP, GUE 4in4, client-prefix affinity, a
  // 7-entry Maglev table.
  ServiceConfig dns;
  dns.name = "dns";
  dns.vip = web.vip;
  dns.port = 53;
  dns.protocol = Protocol::kUdp;
  dns.affinity = Affinity::kClientPrefix;
  dns.client_prefix_v4 = 24;
  dns.maglev_table_size = 7;
  dns.encapsulation = Encapsulation::kGue;
  dns.gue_port = 6081;
  fast_policies(dns);
  dns.pools = {pool("main", 1, {backend(v4(10, 3, 0, 1)), backend(v4(10, 3, 0, 2), 4)})};
  c.services.push_back(dns);

  // api: IPv4 TCP to IPv6 backends (4in6), GUE, client-address affinity.
  ServiceConfig api;
  api.name = "api";
  api.vip = v4(10, 100, 0, 11);
  api.port = 443;
  api.protocol = Protocol::kTcp;
  api.affinity = Affinity::kClientAddress;
  api.encapsulation = Encapsulation::kGue;
  api.gue_port = 6080;
  api.maglev_table_size = 251;
  fast_policies(api);
  // Flows of a backend that fails its checks move (web6 keeps them).
  api.health_check.type = HealthCheckType::kTcp;
  api.health_check.unhealthy_flows = UnhealthyFlows::kReschedule;
  api.pools = {pool("blue", 50, {backend(v6(0xa1, 0, 11)), backend(v6(0xa1, 0, 12)),
                                 backend(v6(0xa1, 0, 13), 2)}),
               pool("green", 50, {backend(v6(0xa1, 0, 21))})};
  api.fallback_pool = "blue";
  c.services.push_back(api);

  // web6: IPv6 TCP, IPIP 6in6 (GUE from step 8), client-prefix /64, a rule.
  ServiceConfig web6;
  web6.name = "web6";
  web6.vip = addr("2001:db8:100::10");
  web6.port = 80;
  web6.protocol = Protocol::kTcp;
  web6.affinity = Affinity::kClientPrefix;
  web6.client_prefix_v6 = 64;
  web6.encapsulation = step >= 8 ? Encapsulation::kGue : Encapsulation::kIpip;
  web6.gue_port = 7777;
  fast_policies(web6);
  web6.health_check.type = HealthCheckType::kTcp;  // unhealthy_flows: kKeep
  web6.pools = {pool("stable", 80, {backend(v6(0xbe, 0, 1)), backend(v6(0xbe, 0, 2)),
                                    backend(v6(0xbe, 0, 3)), backend(v6(0xbe, 0, 4))}),
                pool("canary", step >= 2 ? 20 : 0, {backend(v6(0xbe, 1, 1))})};
  web6.rules = {rule("2001:db8:50::/48", "canary")};
  c.services.push_back(web6);

  // quic6: IPv6 UDP, GUE 6in6, circuit breaking off.
  ServiceConfig quic6;
  quic6.name = "quic6";
  quic6.vip = web6.vip;
  quic6.port = 443;
  quic6.protocol = Protocol::kUdp;
  quic6.encapsulation = Encapsulation::kGue;
  fast_policies(quic6);
  quic6.circuit.enabled = false;
  quic6.pools = {pool("main", 1, {backend(v6(0xc0, 0, 1)), backend(v6(0xc0, 0, 2))})};
  c.services.push_back(quic6);

  // late: IPv4 to an IPv6 backend over IPIP (4in6); added at step 3, its
  // only backend disabled at 6 (no backend), gone at 11. Added in front, so
  // that every other service's index shifts at step 3 and back at step 11
  // while their flows live (flow entries cache their service's index).
  if (step >= 3 && step < 11) {
    ServiceConfig late;
    late.name = "late";
    late.vip = v4(10, 100, 0, 12);
    late.port = 8080;
    late.protocol = Protocol::kTcp;
    fast_policies(late);
    late.pools = {pool("only", 1, {backend(v6(0x1a, 0, 1), 1,
                                           step >= 6 ? BackendState::kDisabled
                                                     : BackendState::kActive)})};
    c.services.insert(c.services.begin(), late);
  }
  return c;
}

// A backend's health (SLUICE_HEALTH_*) for a while; every backend not marked
// is SLUICE_HEALTH_UNKNOWN.
struct HealthMark {
  const char* service;
  IpAddress backend;
  uint8_t health;
};

// The marks in force during step `step`, in its first half or (`late`) its
// second: each step changes some (the test applies them to both sides at
// the same frame).
inline std::vector<HealthMark> scenario_health(uint32_t step, bool late) {
  std::vector<HealthMark> m;
  const uint8_t served = (step + late) % 2 ? SLUICE_HEALTH_HEALTHY : SLUICE_HEALTH_UNKNOWN;
  auto mark = [&m](const char* service, const IpAddress& b, uint8_t h) {
    m.push_back({service, b, h});
  };
  // web: a heavy stable backend fails its checks (new flows skip it);
  // later the whole canary pool (its share falls back to stable).
  if (step == 1 || (step == 2 && !late)) mark("web", v4(10, 1, 0, 4), SLUICE_HEALTH_UNHEALTHY);
  if ((step == 2 && late) || step == 8) {
    mark("web", v4(10, 1, 1, 1), SLUICE_HEALTH_UNHEALTHY);
    mark("web", v4(10, 1, 1, 2), SLUICE_HEALTH_UNHEALTHY);
  }
  mark("web", v4(10, 1, 0, 2), served);
  // api (unhealthy_flows: reschedule): blue backends come and go, and the
  // green pool's only backend (also dead until kReviveStep) fails too.
  if ((step >= 3 && step <= 5) || (step == 9 && late)) {
    mark("api", v6(0xa1, 0, 12), SLUICE_HEALTH_UNHEALTHY);
  }
  if (step == 6 || step == 10) mark("api", v6(0xa1, 0, 21), SLUICE_HEALTH_UNHEALTHY);
  if (step == 7 && late) mark("api", v6(0xa1, 0, 13), SLUICE_HEALTH_UNHEALTHY);
  mark("api", v6(0xa1, 0, 11), served);
  // web6 (unhealthy_flows: keep): established flows stay on it.
  if (step >= 4 && step <= 7) mark("web6", v6(0xbe, 0, 1), SLUICE_HEALTH_UNHEALTHY);
  if (step == 11 && !late) mark("web6", v6(0xbe, 1, 1), SLUICE_HEALTH_UNHEALTHY);
  // Its dead backend (until kReviveStep) passes its checks every other half
  // step: suspected then, never ejected; ejected by the passive rules while
  // UNKNOWN; a half-open circuit closes on one success while HEALTHY.
  mark("web6", v6(0xbe, 0, 3), served);
  // dns (UDP): one of its two backends.
  if (step == 8 && late) mark("dns", v4(10, 3, 0, 2), SLUICE_HEALTH_UNHEALTHY);
  return m;
}

// What a client may talk to: every listener of every step.
struct Listener {
  IpAddress vip;
  uint16_t port;
  uint8_t proto;
};

inline const std::vector<Listener>& listeners() {
  static const std::vector<Listener> all = {
      {v4(10, 100, 0, 10), 80, SLUICE_IPPROTO_TCP},  {v4(10, 100, 0, 10), 53, SLUICE_IPPROTO_UDP},
      {v4(10, 100, 0, 11), 443, SLUICE_IPPROTO_TCP}, {addr("2001:db8:100::10"), 80, SLUICE_IPPROTO_TCP},
      {addr("2001:db8:100::10"), 443, SLUICE_IPPROTO_UDP}, {v4(10, 100, 0, 12), 8080, SLUICE_IPPROTO_TCP},
  };
  return all;
}

class Corpus {
 public:
  explicit Corpus(uint64_t seed) : rng_(seed) {}

  // The frame to send at now_ns, and a name for its kind (for reports).
  struct Item {
    Bytes frame;
    const char* kind = "";
  };

  Item next(uint64_t now_ns) {
    now_ns_ = now_ns;
    last_conn_ = -1;
    const uint32_t roll = uniform(1000);
    if (roll < 200) return new_connection();
    if (roll < 420) return established_traffic();
    if (roll < 560) return handshake_step();
    if (roll < 650) return udp_datagram();
    if (roll < 680) return reuse_tuple();
    if (roll < 700) return untracked_tcp();
    if (roll < 730) return echo_request();
    if (roll < 765) return pmtu_error();
    if (roll < 780) return other_icmp();
    if (roll < 795) return fragment();
    if (roll < 815) return not_for_a_vip();
    if (roll < 830) return vip_without_service();
    if (roll < 840) return too_big();
    if (roll < 845) return reset_first();
    return malformed();
  }

  // The engine's decision for the frame next() returned last.
  void observe(const Decision& d) {
    if (last_conn_ < 0 || d.verdict.action != Action::kForward || d.service == nullptr ||
        d.backend == kNoBackendIndex) {
      return;
    }
    conns_[static_cast<size_t>(last_conn_)].backend = d.service->backends[d.backend].address;
  }

  // Configuration step changes affect who answers.
  void set_step(uint32_t step) { step_ = step; }

  uint32_t uniform(uint32_t n) { return static_cast<uint32_t>(rng_() % n); }
  bool chance(uint32_t per_mille) { return uniform(1000) < per_mille; }

 private:
  enum class ConnState : uint8_t { kSynSent, kEstablished, kClosed };

  struct Conn {
    IpAddress client;
    uint16_t sport = 0;
    uint32_t listener = 0;
    ConnState state = ConnState::kSynSent;
    uint64_t last_syn_ns = 0;
    uint64_t ready_ns = 0;  // a slow client completes its handshake no sooner
    IpAddress backend;  // where the engine sent it (zero family: unknown)
    bool vlan = false;
    uint16_t tci = 0;
    uint32_t seq = 1;
  };

  const Listener& listener_of(const Conn& c) const { return listeners()[c.listener]; }

  bool dead(const IpAddress& backend) const {
    if (step_ >= kReviveStep) return false;
    for (const IpAddress& d : dead_backends()) {
      if (d == backend) return true;
    }
    return false;
  }

  // A client address of the listener's family: from a rule's prefix, from
  // a few crowded /24s or /64s (client-prefix affinity), or anywhere. Dead
  // backends' circuits need failures from several source prefixes (/24,
  // /48; circuit_source.h), which "anywhere" provides for both families.
  IpAddress client_for(uint8_t family) {
    const uint32_t r = uniform(10);
    if (family == SLUICE_AF_INET) {
      if (r < 2) return v4(10, 50, static_cast<uint8_t>(uniform(4)), static_cast<uint8_t>(1 + uniform(250)));
      if (r < 4) return v4(10, 60, 7, static_cast<uint8_t>(1 + uniform(250)));
      if (r < 7) return v4(10, 60, static_cast<uint8_t>(uniform(3)), static_cast<uint8_t>(1 + uniform(250)));
      return v4(192, static_cast<uint8_t>(uniform(256)), static_cast<uint8_t>(uniform(256)),
                static_cast<uint8_t>(1 + uniform(250)));
    }
    if (r < 3) return v6(0x50, static_cast<uint16_t>(uniform(4)), static_cast<uint16_t>(1 + uniform(60000)));
    if (r < 6) return v6(0x60, static_cast<uint16_t>(uniform(8)), static_cast<uint16_t>(1 + uniform(60000)));
    return v6(static_cast<uint16_t>(0x100 + uniform(200)), static_cast<uint16_t>(uniform(8)),
              static_cast<uint16_t>(1 + uniform(60000)));
  }

  uint16_t ephemeral_port() { return static_cast<uint16_t>(10000 + uniform(50000)); }

  // A frame builder with Ethernet, maybe a VLAN tag, the IP layer, and
  // maybe IPv4 TOS/DF or IPv6 traffic class.
  FrameBuilder ip_frame(const IpAddress& src, const IpAddress& dst, bool vlan = false,
                        uint16_t tci = 0) {
    FrameBuilder f;
    f.eth();
    if (vlan) f.vlan(tci, chance(200) ? SLUICE_ETHERTYPE_QINQ : SLUICE_ETHERTYPE_VLAN);
    f.ip(src, dst);
    if (chance(300)) f.tos(static_cast<uint8_t>(uniform(256)));
    if (src.is_v4()) {
      f.dont_fragment(chance(700));
      f.ipv4_id(static_cast<uint16_t>(uniform(65536)));
      if (chance(30)) f.ipv4_options({1, 1, 1, 1, 7, 7, 4, 0, 0, 0, 0});
    } else {
      if (chance(300)) f.flow_label(uniform(1u << 20));
      if (chance(30)) f.hop_by_hop(8);
      if (chance(30)) f.dest_opts(16);
      if (chance(20)) f.routing(8);
    }
    return f;
  }

  // Ethernet padding on a small frame, sometimes.
  void maybe_pad(FrameBuilder& f) {
    if (chance(100)) f.pad_to(60 + uniform(8));
    if (chance(30)) f.pad(uniform(12));
  }

  Bytes tcp_frame(const Conn& c, uint8_t flags, size_t payload) {
    const Listener& l = listener_of(c);
    FrameBuilder f = ip_frame(c.client, l.vip, c.vlan, c.tci);
    f.tcp(c.sport, l.port, flags, c.seq, flags & SLUICE_TCP_ACK ? 1 : 0);
    if (flags & SLUICE_TCP_SYN && chance(500)) f.tcp_options({2, 4, 0x05, 0xb4, 4, 2});
    f.payload(payload, static_cast<uint8_t>(uniform(256)));
    maybe_pad(f);
    return f.build();
  }

  size_t payload_size() {
    const uint32_t r = uniform(10);
    if (r < 5) return 0;
    if (r < 8) return uniform(200);
    return uniform(1400);
  }

  Item remember(Conn c, Bytes frame, const char* kind) {
    conns_.push_back(std::move(c));
    last_conn_ = static_cast<int64_t>(conns_.size() - 1);
    if (conns_.size() > kMaxConns) {
      // Forget the oldest half (their flows just idle out).
      conns_.erase(conns_.begin(), conns_.begin() + kMaxConns / 2);
      last_conn_ = static_cast<int64_t>(conns_.size() - 1);
    }
    return {std::move(frame), kind};
  }

  // An existing TCP connection in `state`, or -1 (a few random tries).
  // Mostly a recent one: clients talk in bursts, so that handshakes complete
  // and flows are found before they idle out.
  int64_t pick(ConnState state) {
    if (conns_.empty()) return -1;
    const auto n = static_cast<uint32_t>(conns_.size());
    for (int i = 0; i < 8; ++i) {
      const uint32_t at = chance(900) ? n - 1 - uniform(std::min<uint32_t>(n, kRecent)) : uniform(n);
      const Conn& c = conns_[at];
      if (c.state == state && listener_of(c).proto == SLUICE_IPPROTO_TCP) return at;
    }
    return -1;
  }

  Item new_connection() {
    std::vector<uint32_t> tcp;
    for (uint32_t i = 0; i < listeners().size(); ++i) {
      if (listeners()[i].proto == SLUICE_IPPROTO_TCP) tcp.push_back(i);
    }
    Conn c;
    // The last listener (late) only exists in some steps: fewer clients.
    c.listener = tcp[uniform(static_cast<uint32_t>(tcp.size()) * 4 - 3) / 4];
    c.client = client_for(listener_of(c).vip.family);
    c.sport = ephemeral_port();
    c.vlan = chance(100);
    c.tci = static_cast<uint16_t>(uniform(4096));
    c.last_syn_ns = now_ns_;
    c.seq = static_cast<uint32_t>(rng_());
    if (chance(125)) c.ready_ns = now_ns_ + 1'000'000ULL * (1 + uniform(6000));
    Bytes f = tcp_frame(c, SLUICE_TCP_SYN, chance(50) ? 20 : 0);
    return remember(c, std::move(f), "tcp-syn");
  }

  // The client's side of a handshake: retransmit to a dead backend (or, now
  // and then, too early to count), else complete it. A slow client (one in
  // eight) waits for its own delay first, from a few ms to 6 s, resending
  // its SYN every 0.4 s (too soon to count as a failure) so that the flow
  // stays tracked: handshake times then fill every histogram bucket.
  Item handshake_step() {
    const int64_t at = pick(ConnState::kSynSent);
    if (at < 0) return new_connection();
    Conn& c = conns_[static_cast<size_t>(at)];
    last_conn_ = at;
    const bool due = now_ns_ - c.last_syn_ns >= 600'000'000ULL;
    if ((dead(c.backend) && due) || chance(30)) {
      c.last_syn_ns = now_ns_;
      return {tcp_frame(c, SLUICE_TCP_SYN, 0), "tcp-syn-retry"};
    }
    if (dead(c.backend)) return established_traffic();  // still waiting
    if (now_ns_ < c.ready_ns) {
      if (now_ns_ - c.last_syn_ns < 400'000'000ULL) return established_traffic();
      c.last_syn_ns = now_ns_;
      return {tcp_frame(c, SLUICE_TCP_SYN, 0), "tcp-syn-slow"};
    }
    c.state = ConnState::kEstablished;
    return {tcp_frame(c, SLUICE_TCP_ACK, 0), "tcp-handshake-ack"};
  }

  // An RST as the first packet of a flow nobody has seen.
  Item reset_first() {
    Conn c;
    c.listener = chance(500) ? 0 : 3;
    c.client = client_for(listener_of(c).vip.family);
    c.sport = ephemeral_port();
    c.state = ConnState::kClosed;
    Bytes f = tcp_frame(c, chance(300) ? (SLUICE_TCP_RST | SLUICE_TCP_ACK) : SLUICE_TCP_RST, 0);
    return remember(c, std::move(f), "tcp-rst-first");
  }

  Item established_traffic() {
    const int64_t at = pick(ConnState::kEstablished);
    if (at < 0) return new_connection();
    Conn& c = conns_[static_cast<size_t>(at)];
    last_conn_ = at;
    c.seq += 100;
    const uint32_t r = uniform(100);
    if (r < 5) {
      c.state = ConnState::kClosed;
      return {tcp_frame(c, SLUICE_TCP_FIN | SLUICE_TCP_ACK, 0), "tcp-fin"};
    }
    if (r < 7) {
      c.state = ConnState::kClosed;
      return {tcp_frame(c, SLUICE_TCP_RST, 0), "tcp-rst"};
    }
    return {tcp_frame(c, SLUICE_TCP_ACK | (r < 50 ? SLUICE_TCP_PSH : 0), payload_size()),
            "tcp-data"};
  }

  // A new connection on the 5-tuple of an established or closed one.
  Item reuse_tuple() {
    int64_t at = pick(ConnState::kClosed);
    if (at < 0) at = pick(ConnState::kEstablished);
    if (at < 0) return new_connection();
    Conn& c = conns_[static_cast<size_t>(at)];
    last_conn_ = at;
    c.state = ConnState::kSynSent;
    c.last_syn_ns = now_ns_;
    return {tcp_frame(c, SLUICE_TCP_SYN, 0), "tcp-syn-reuse"};
  }

  Item untracked_tcp() {
    Conn c;
    c.listener = chance(500) ? 0 : 3;
    c.client = client_for(listener_of(c).vip.family);
    c.sport = ephemeral_port();
    c.state = ConnState::kEstablished;
    const uint8_t flags = chance(100) ? (SLUICE_TCP_FIN | SLUICE_TCP_ACK) : SLUICE_TCP_ACK;
    Bytes f = tcp_frame(c, flags, payload_size());
    return remember(c, std::move(f), "tcp-untracked");
  }

  Item udp_datagram() {
    const bool reuse = chance(600);
    int64_t at = -1;
    if (reuse) {
      for (int i = 0; i < 8 && !conns_.empty(); ++i) {
        const auto n = static_cast<uint32_t>(conns_.size());
        const uint32_t j = n - 1 - uniform(std::min<uint32_t>(n, kRecent));
        if (listener_of(conns_[j]).proto == SLUICE_IPPROTO_UDP) {
          at = j;
          break;
        }
      }
    }
    Conn fresh;
    if (at < 0) {
      fresh.listener = chance(500) ? 1 : 4;
      fresh.client = client_for(listener_of(fresh).vip.family);
      fresh.sport = ephemeral_port();
      fresh.vlan = chance(100);
      fresh.tci = static_cast<uint16_t>(uniform(4096));
      fresh.state = ConnState::kEstablished;
    }
    const Conn& c = at < 0 ? fresh : conns_[static_cast<size_t>(at)];
    const Listener& l = listener_of(c);
    FrameBuilder f = ip_frame(c.client, l.vip, c.vlan, c.tci);
    f.udp(c.sport, l.port).payload(payload_size(), 0x55);
    maybe_pad(f);
    if (at >= 0) {
      last_conn_ = at;
      return {f.build(), "udp"};
    }
    Bytes frame = f.build();
    return remember(fresh, std::move(frame), "udp-new");
  }

  Item echo_request() {
    const bool to_vip = chance(850);
    const Listener& l = listeners()[uniform(static_cast<uint32_t>(listeners().size()))];
    const IpAddress client = client_for(l.vip.family);
    IpAddress dst = l.vip;
    if (!to_vip) dst = l.vip.is_v4() ? v4(10, 200, 0, 1) : addr("2001:db8:200::1");
    FrameBuilder f = ip_frame(client, dst, chance(100), static_cast<uint16_t>(uniform(4096)));
    f.icmp_echo(static_cast<uint16_t>(uniform(65536)), static_cast<uint16_t>(uniform(65536)),
                !chance(50));
    f.payload(uniform(64), static_cast<uint8_t>(uniform(256)));
    maybe_pad(f);
    return {f.build(), to_vip ? "icmp-echo" : "icmp-echo-not-vip"};
  }

  // The packet a backend sent toward a client (VIP -> client), as an ICMP
  // error quotes it: the IP header and at least 8 bytes of L4.
  Bytes quoted_reply(const IpAddress& vip, uint16_t port, const IpAddress& client,
                     uint16_t client_port, uint8_t proto) {
    FrameBuilder q;
    q.ip(vip, client);
    size_t header = vip.is_v4() ? 20 : 40;
    // Now and then the quote has IPv4 options or IPv6 extension headers,
    // or is a fragment (a non-first one has no ports to read).
    if (chance(100)) {
      if (vip.is_v4()) {
        q.ipv4_options({1, 1, 1, 1});
        header += 4;
      } else {
        q.dest_opts(8);
        header += 8;
      }
    }
    if (chance(50)) {
      const bool first = chance(500);
      q.fragment(first ? 0 : 8 * (1 + uniform(50)), true);
      if (!vip.is_v4()) header += 8;
    }
    if (proto == SLUICE_IPPROTO_TCP) {
      q.tcp(port, client_port, SLUICE_TCP_ACK).payload(uniform(3) * 100);
    } else {
      q.udp(port, client_port).payload(uniform(3) * 100);
    }
    Bytes b = q.build();
    if (chance(500)) b.resize(std::min(b.size(), header + 8 + uniform(20)));
    return b;
  }

  Item pmtu_error() {
    // Mostly a live connection; sometimes an unknown one (stateless choice),
    // a listener without a service, or a quote cut short.
    IpAddress client;
    uint16_t client_port;
    const Listener* l;
    const int64_t at = conns_.empty() || chance(200)
                           ? -1
                           : static_cast<int64_t>(uniform(static_cast<uint32_t>(conns_.size())));
    if (at >= 0) {
      const Conn& c = conns_[static_cast<size_t>(at)];
      client = c.client;
      client_port = c.sport;
      l = &listener_of(c);
    } else {
      l = &listeners()[uniform(static_cast<uint32_t>(listeners().size()))];
      client = client_for(l->vip.family);
      client_port = ephemeral_port();
    }
    uint16_t port = l->port;
    if (chance(50)) port = 9999;  // no such service: icmp-no-flow
    Bytes quote = quoted_reply(l->vip, port, client, client_port, l->proto);
    if (chance(30)) quote.resize(uniform(static_cast<uint32_t>(quote.size())));
    // The router between the backend and the client sent it to the VIP.
    const IpAddress router = l->vip.is_v4() ? v4(172, 16, 0, 1) : addr("2001:db8:f0::1");
    FrameBuilder f = ip_frame(router, l->vip, chance(100), static_cast<uint16_t>(uniform(4096)));
    if (l->vip.is_v4()) {
      f.icmp_frag_needed(static_cast<uint16_t>(1200 + uniform(300)), quote);
    } else {
      f.icmpv6_packet_too_big(1280 + uniform(200), quote);
    }
    maybe_pad(f);
    return {f.build(), "icmp-pmtu"};
  }

  // ICMP toward a VIP that the balancer hands to the host (icmp_to_host):
  // other errors, echo replies, informational types, and for IPv6 neighbour
  // discovery (RS, RA, NS, NA, redirect; NS also to the solicited-node
  // multicast address, which is no VIP) and multicast listener queries.
  Item other_icmp() {
    const Listener& l = listeners()[uniform(static_cast<uint32_t>(listeners().size()))];
    const IpAddress client = client_for(l.vip.family);
    Bytes quote = quoted_reply(l.vip, l.port, client, ephemeral_port(), l.proto);
    const uint32_t r = uniform(l.vip.is_v4() ? 6 : 10);
    if (!l.vip.is_v4() && r >= 4 && r <= 8) {
      const auto type = static_cast<uint8_t>(133 + (r - 4));  // RS, RA, NS, NA, redirect
      const bool multicast = type == 135 && chance(300);
      FrameBuilder f = ip_frame(addr("fe80::1"), multicast ? addr("ff02::1:ff00:10") : l.vip,
                                chance(100), static_cast<uint16_t>(uniform(4096)));
      f.icmpv6_nd(type, l.vip);
      return {f.build(), "icmpv6-nd"};
    }
    FrameBuilder f = ip_frame(client, l.vip);
    if (l.vip.is_v4()) {
      if (r == 0) f.icmp_time_exceeded(quote);
      else if (r == 1) f.icmp(SLUICE_ICMP_DEST_UNREACH, 3, 0, quote);  // port unreachable
      else if (r == 2) f.icmp_echo(1, 2, /*request=*/false);           // a reply
      else if (r == 3) f.icmp(13, 0, 0, Bytes(12, 0));                 // timestamp
      else if (r == 4) f.icmp(12, 0, 0, quote);                        // parameter problem
      else f.icmp(5, 1, 0x0a000001, quote);                            // redirect
    } else {
      if (r == 0) f.icmp(3, 0, 0, quote);                              // time exceeded
      else if (r == 1) f.icmp(SLUICE_ICMPV6_DEST_UNREACH, 4, 0, quote);
      else if (r == 2) f.icmp_echo(1, 2, /*request=*/false);
      else if (r == 3) f.icmp(4, 0, 40, quote);                        // parameter problem
      else f.icmp(130, 0, 0, Bytes(16, 0));                            // listener query
    }
    return {f.build(), "icmp-other"};
  }

  Item fragment() {
    const Listener& l = listeners()[uniform(static_cast<uint32_t>(listeners().size()))];
    const IpAddress client = client_for(l.vip.family);
    const IpAddress dst = chance(800) ? l.vip : (l.vip.is_v4() ? v4(10, 200, 0, 1) : addr("2001:db8:200::1"));
    FrameBuilder f = ip_frame(client, dst);
    const bool first = chance(500);
    if (first) {
      f.fragment(0, true);
      if (l.proto == SLUICE_IPPROTO_TCP) f.tcp(ephemeral_port(), l.port);
      else f.udp(ephemeral_port(), l.port);
      f.payload(64);
    } else {
      f.fragment(static_cast<uint16_t>(8 * (1 + uniform(100))), chance(500));
      f.ip_proto(l.proto).payload(64);
    }
    if (chance(100) && !l.vip.is_v4()) {
      // Atomic fragment (offset 0, no M): a whole packet (RFC 6946).
      FrameBuilder a = ip_frame(client, l.vip);
      a.fragment(0, false);
      if (l.proto == SLUICE_IPPROTO_TCP) a.tcp(ephemeral_port(), l.port, SLUICE_TCP_SYN);
      else a.udp(ephemeral_port(), l.port);
      return {a.build(), "ipv6-atomic-fragment"};
    }
    return {f.build(), "fragment"};
  }

  Item not_for_a_vip() {
    const uint32_t r = uniform(5);
    if (r == 0) return {FrameBuilder().eth().arp().build(), "arp"};
    if (r == 4) {
      // Two tags (QinQ): the engine takes at most one.
      FrameBuilder f;
      f.eth().vlan(100, SLUICE_ETHERTYPE_QINQ).vlan(200).ip(client_for(SLUICE_AF_INET), v4(10, 100, 0, 10));
      f.tcp(ephemeral_port(), 80, SLUICE_TCP_SYN);
      return {f.build(), "double-tag"};
    }
    if (r == 1) {
      return {FrameBuilder().eth().ethertype(0x88cc).payload(46).build(), "lldp"};
    }
    const bool v6c = chance(500);
    const IpAddress client = client_for(v6c ? SLUICE_AF_INET6 : SLUICE_AF_INET);
    const IpAddress dst = v6c ? addr("2001:db8:200::1") : v4(10, 0, 0, 2);
    FrameBuilder f = ip_frame(client, dst);
    if (chance(500)) f.tcp(ephemeral_port(), 22, SLUICE_TCP_SYN);
    else f.udp(ephemeral_port(), 123).payload(48);
    return {f.build(), "not-a-vip"};
  }

  Item vip_without_service() {
    const Listener& l = listeners()[uniform(static_cast<uint32_t>(listeners().size()))];
    const IpAddress client = client_for(l.vip.family);
    FrameBuilder f = ip_frame(client, l.vip);
    const uint32_t r = uniform(3);
    if (r == 0) {
      f.tcp(ephemeral_port(), 8443, SLUICE_TCP_SYN);
    } else if (r == 1) {
      f.udp(ephemeral_port(), 161).payload(20);
    } else {
      f.ip_proto(47).payload(24);  // GRE
    }
    return {f.build(), "vip-no-service"};
  }

  // Full-size frames: some fit in IPv4 outer IPIP but not in GUE or IPv6
  // outer, some fit nowhere (ICMP answers: DF or not, VLAN or not, IPv4 and
  // IPv6, IPIP and GUE, rate-limited on odd steps); a few are too-big PMTU
  // errors (never answered), or come from a multicast source.
  Item too_big() {
    if (chance(100)) {
      const Listener& l = listeners()[uniform(static_cast<uint32_t>(listeners().size()))];
      Bytes quote = quoted_reply(l.vip, l.port, client_for(l.vip.family), ephemeral_port(), l.proto);
      quote.resize(quote.size() + 1450 + uniform(100), 0xab);
      const IpAddress router = l.vip.is_v4() ? v4(172, 16, 0, 1) : addr("2001:db8:f0::1");
      FrameBuilder big = ip_frame(router, l.vip);
      if (l.vip.is_v4()) {
        big.icmp_frag_needed(1400, quote);
      } else {
        big.icmpv6_packet_too_big(1400, quote);
      }
      return {big.build(), "large-icmp"};
    }
    Conn c;
    c.listener = uniform(static_cast<uint32_t>(listeners().size()));
    c.client = client_for(listener_of(c).vip.family);
    c.sport = ephemeral_port();
    const Listener& l = listener_of(c);
    if (chance(20)) c.client = l.vip.is_v4() ? v4(224, 0, 0, 9) : addr("ff02::9");
    FrameBuilder f = ip_frame(c.client, l.vip, chance(300), 7);
    const size_t payload = 1400 + uniform(160);
    if (l.proto == SLUICE_IPPROTO_TCP) f.tcp(c.sport, l.port, SLUICE_TCP_SYN).payload(payload);
    else f.udp(c.sport, l.port).payload(payload);
    return {f.build(), "large"};
  }

  // A good frame of some kind, cut short or with a few bytes changed.
  Item malformed() {
    Item good;
    switch (uniform(5)) {
      case 0: good = new_connection(); break;
      case 1: good = udp_datagram(); break;
      case 2: good = pmtu_error(); break;
      case 3: good = echo_request(); break;
      default: good = established_traffic(); break;
    }
    last_conn_ = -1;  // whatever the engine makes of it, no client learns from it
    Bytes f = std::move(good.frame);
    const uint32_t r = uniform(4);
    if (r == 0 || f.size() < 16) {
      // Cut anywhere from the Ethernet header on (the kernel's test run
      // needs at least 14 bytes).
      f.resize(14 + uniform(static_cast<uint32_t>(std::min<size_t>(f.size(), 140) - 13)));
      return {std::move(f), "cut"};
    }
    // Corrupt 1..3 bytes of the headers.
    const uint32_t n = 1 + uniform(3);
    for (uint32_t i = 0; i < n; ++i) {
      const size_t at = 12 + uniform(static_cast<uint32_t>(std::min<size_t>(f.size(), 120) - 12));
      f[at] = r == 1 ? static_cast<uint8_t>(rng_()) : static_cast<uint8_t>(f[at] ^ (1u << uniform(8)));
    }
    if (r == 3 && chance(300)) f.resize(f.size() - uniform(static_cast<uint32_t>(f.size() - 14)));
    return {std::move(f), "corrupt"};
  }

  static constexpr size_t kMaxConns = 40000;
  static constexpr uint32_t kRecent = 256;

  std::mt19937_64 rng_;
  std::vector<Conn> conns_;
  int64_t last_conn_ = -1;
  uint64_t now_ns_ = 0;
  uint32_t step_ = 0;
};

}  // namespace sluice::engine::test::parity
