// SPDX-License-Identifier: Apache-2.0
// Scenarios of bounded work per packet (issue 10, item 2), shared by the
// engine's tests (engine_bounded_test.cc) and the XDP parity test
// (tests/ebpf/xdp_bounded_parity_test.cc), which runs the same frames
// through both dataplanes:
//
//  - big_pool_config: one pool of 4096 backends, its circuits opened by
//    retransmitted SYNs until most are ejected, and a small fallback pool;
//  - churn_config + Churn: two services sharing backend addresses (so one
//    circuit counts in the pools of both), clients of which some backends
//    never answer (a set that changes with time), so that circuits open,
//    turn half-open, close and reopen, and a configuration that drains,
//    removes and adds backends and pools as it goes.
//
// Plus what checks them: the ejected count recounted by a walk of the pool
// (what the dataplanes did for every connect failure before they kept
// counts). perf/bounded_scenario.h builds its benchmark on the big pool.
//
// Test-only: allocates freely.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "dataplane/engine/config.h"
#include "dataplane/engine/engine.h"
#include "dataplane/engine/parse.h"
#include "tests/dataplane/engine/frame_builder.h"

namespace sluice::engine::test::bounded {

using Bytes = std::vector<uint8_t>;

inline constexpr uint32_t kBigPool = 4096;  // kMaxBackendsPerPool

inline EngineConfig base_config() {
  EngineConfig c;
  c.seed = {0x0bad5eed0bad5eedULL, 0x1234567887654321ULL};
  c.forwarding.source_v4 = IpAddress::v4(10, 0, 0, 2);
  c.forwarding.source_v6 = parse_test_address("fd00::2");
  c.forwarding.local_mac = {0x02, 0, 0, 0, 0, 0x02};
  c.forwarding.next_hop_mac = {0x02, 0, 0, 0, 0, 0x01};
  return c;
}

inline BackendConfig backend_at(const IpAddress& a, BackendState state = BackendState::kActive) {
  BackendConfig b;
  b.address = a;
  b.state = state;
  return b;
}

// Backend i (< 4096) of the big pool: 10.64.0.7 ... 10.79.255.7.
inline IpAddress big_backend(uint32_t i) {
  return IpAddress::v4(10, static_cast<uint8_t>(64 + (i >> 8)), static_cast<uint8_t>(i & 255), 7);
}

// Service "big" on 192.0.2.50:80: pool "big" (4096 backends, all the
// traffic) and its fallback "spare" (2 backends, weight 0). One failure
// opens a circuit, for 10 minutes: nothing turns half-open during a test.
inline EngineConfig big_pool_config(uint32_t max_ejected_percent) {
  EngineConfig c = base_config();
  ServiceConfig s;
  s.name = "big";
  s.vip = IpAddress::v4(192, 0, 2, 50);
  s.port = 80;
  s.protocol = Protocol::kTcp;
  PoolConfig big;
  big.name = "big";
  big.weight = 100;
  for (uint32_t i = 0; i < kBigPool; ++i) big.backends.push_back(backend_at(big_backend(i)));
  PoolConfig spare;
  spare.name = "spare";
  spare.weight = 0;
  spare.backends = {backend_at(IpAddress::v4(10, 90, 0, 1)),
                    backend_at(IpAddress::v4(10, 90, 0, 2))};
  s.pools = {big, spare};
  s.fallback_pool = "spare";
  s.circuit.consecutive_failures = 1;
  s.circuit.syn_retry_min_ms = 500;
  s.circuit.base_ejection_ms = 600000;
  s.circuit.max_ejection_ms = 600000;
  s.circuit.half_open_trials = 1;
  s.circuit.max_ejected_percent = max_ejected_percent;
  c.services = {s};
  return c;
}

inline Bytes tcp_frame(const std::string& client, uint16_t sport, const std::string& vip,
                       uint16_t dport, uint8_t flags) {
  return FrameBuilder().eth().ipv4(client, vip).tcp(sport, dport, flags).build();
}

// Client n (< 2^24) of the tests, in 100.64.0.0/10: consecutive clients
// sit in different /24s (n's low byte is the third octet), since a circuit
// counts failures once per client /24 (circuit_logic.h).
inline std::string client(uint32_t n) {
  return "100." + std::to_string(64 + ((n >> 16) & 63)) + "." + std::to_string(n & 255) + "." +
         std::to_string((n >> 8) & 255);
}

// Big-pool traffic goes in batches: the first SYNs of kBigBatch new flows,
// then kRetryAfterMs later their retransmissions (a connect failure each),
// then the next batch 1 ms after that, so that time only moves forward.
inline constexpr uint32_t kBigBatch = 64;
inline constexpr uint64_t kRetryAfterMs = 600;

// The SYN of big-pool flow n.
inline Bytes big_syn(uint32_t n) {
  return tcp_frame(client(n), static_cast<uint16_t>(3000 + n % 7), "192.0.2.50", 80,
                   SLUICE_TCP_SYN);
}

// The affinity hash Worker::schedule uses for `frame` (flow affinity).
inline uint64_t flow_hash_of(const Bytes& frame, const sluice_hash_seed& seed) {
  ParsedPacket p;
  parse_packet(frame.data(), static_cast<uint32_t>(frame.size()), &p);
  return sluice_flow_hash(&p.key, &seed);
}

// The ejected count of a pool, recounted: its active backends whose circuit
// is not closed on this core, `closed(fp)` saying which are.
inline uint32_t recount(const CompiledService& svc, const CompiledPool& pool,
                        const std::function<bool(uint64_t)>& closed) {
  uint32_t n = 0;
  for (uint32_t k = 0; k < pool.backend_count; ++k) {
    const CompiledBackend& b = svc.backends[pool.first_backend + k];
    if (b.state == BackendState::kActive && !closed(b.fingerprint)) ++n;
  }
  return n;
}

// --- Churn --------------------------------------------------------------

inline IpAddress web_a(uint32_t i) { return IpAddress::v4(10, 20, 1, static_cast<uint8_t>(i + 1)); }
inline IpAddress web_b(uint32_t i) { return IpAddress::v4(10, 20, 2, static_cast<uint8_t>(i + 1)); }
inline IpAddress mirror_own(uint32_t i) {
  return IpAddress::v4(10, 20, 3, static_cast<uint8_t>(i + 1));
}

inline void churn_policy(ServiceConfig& s, uint32_t max_ejected_percent) {
  s.circuit.consecutive_failures = 2;
  s.circuit.syn_retry_min_ms = 500;
  s.circuit.base_ejection_ms = 1000;
  s.circuit.max_ejection_ms = 8000;
  s.circuit.half_open_trials = 1;
  s.circuit.max_ejected_percent = max_ejected_percent;
  s.timeouts.tcp_syn_ms = 5000;
}

inline constexpr uint32_t kChurnSteps = 6;  // configurations, used in turn

// Two services on 192.0.2.60: "web" (:80, pools a of 24 backends, b of 12,
// at most 25% ejected) and "mirror" (:81, one pool: 8 of web/a's addresses,
// 2 of web/b's, 6 of its own; from step 3 a second pool with 4 more of
// web/b's). Steps drain, disable, remove and add backends, shared ones
// among them.
inline EngineConfig churn_config(uint32_t step) {
  step %= kChurnSteps;
  EngineConfig c = base_config();
  ServiceConfig web;
  web.name = "web";
  web.vip = IpAddress::v4(192, 0, 2, 60);
  web.port = 80;
  web.protocol = Protocol::kTcp;
  web.maglev_table_size = 251;
  churn_policy(web, 25);
  PoolConfig a{"a", 80, {}}, b{"b", 20, {}};
  for (uint32_t i = 0; i < 24; ++i) {
    if (step == 2 && i == 5) continue;  // removed, back from step 3
    BackendState st = BackendState::kActive;
    if (step == 1 && (i == 1 || i == 9)) st = BackendState::kDraining;  // 1 is shared
    if (step == 4 && i == 2) st = BackendState::kDisabled;              // shared
    a.backends.push_back(backend_at(web_a(i), st));
  }
  if (step >= 2) a.backends.push_back(backend_at(web_a(30)));  // added
  for (uint32_t i = 0; i < 12; ++i) b.backends.push_back(backend_at(web_b(i)));
  web.pools = {a, b};
  web.fallback_pool = "b";
  c.services.push_back(web);

  ServiceConfig mirror = web;
  mirror.name = "mirror";
  mirror.port = 81;
  churn_policy(mirror, 100);
  PoolConfig m{"m", 100, {}};
  for (uint32_t i = 0; i < 8; ++i) {
    m.backends.push_back(backend_at(
        web_a(i), step == 5 && i == 3 ? BackendState::kDraining : BackendState::kActive));
  }
  m.backends.push_back(backend_at(web_b(0)));
  m.backends.push_back(backend_at(web_b(1)));
  for (uint32_t i = 0; i < 6; ++i) m.backends.push_back(backend_at(mirror_own(i)));
  mirror.pools = {m};
  if (step >= 3) {
    PoolConfig n{"n", 30, {}};
    for (uint32_t i = 4; i < 8; ++i) n.backends.push_back(backend_at(web_b(i)));
    mirror.pools.push_back(n);
  }
  mirror.fallback_pool = "m";
  // From step 4 a third service goes in front, so the others' indices move.
  if (step >= 4) {
    ServiceConfig extra = mirror;
    extra.name = "extra";
    extra.port = 82;
    extra.pools = {PoolConfig{"x", 1, {backend_at(web_a(0)), backend_at(mirror_own(0))}}};
    extra.fallback_pool = "x";
    c.services.push_back(extra);
    std::swap(c.services.front(), c.services.back());
  }
  c.services.push_back(mirror);
  return c;
}

// Clients of the churn services. Backends are dead for a while (never
// answer a SYN: the client retransmits it up to three times) or alive (the
// client completes the handshake after a few ms); which are dead changes
// every 3 s, so circuits open, turn half-open, close and reopen.
class Churn {
 public:
  struct Item {
    Bytes frame;
    bool syn = false;
    bool retransmit = false;
  };

  explicit Churn(uint64_t seed) : rng_(seed) {}

  // The next frame to send at now_ms.
  Item next(uint64_t now_ms) {
    now_ms_ = now_ms;
    if (!pending_.empty() && pending_.front().at <= now_ms) {
      last_ = pending_.front();
      pending_.pop_front();
    } else {
      last_ = Flow{};
      last_.client = client(static_cast<uint32_t>(rng_() % 4096));
      last_.port = static_cast<uint16_t>(1024 + rng_() % 60000);
      last_.dport = static_cast<uint16_t>(rng_() % 3 == 0 ? (rng_() % 4 == 0 ? 82 : 81) : 80);
      last_.syn = true;
    }
    Item item;
    item.frame = tcp_frame(last_.client, last_.port, "192.0.2.60", last_.dport,
                           last_.syn ? SLUICE_TCP_SYN : SLUICE_TCP_ACK);
    item.syn = last_.syn;
    item.retransmit = last_.syn && last_.tries > 0;
    return item;
  }

  // What the engine did with the last frame: a SYN to a dead backend is
  // retransmitted 600-900 ms later (three times at most), one to a live
  // backend is answered and the client's ACK follows.
  void observe(const Decision& d) {
    if (!last_.syn || d.verdict.action != Action::kForward || !d.service) return;
    Flow f = last_;
    const IpAddress& backend = d.service->backends[d.backend].address;
    if (dead(backend) && f.tries < 3) {
      f.tries++;
      f.at = now_ms_ + 600 + rng_() % 300;
    } else if (!dead(backend)) {
      f.syn = false;
      f.at = now_ms_ + 1 + rng_() % 40;
    } else {
      return;  // the client gives up
    }
    // Kept in time order (a few hundred pending at most).
    auto it = pending_.end();
    while (it != pending_.begin() && std::prev(it)->at > f.at) --it;
    pending_.insert(it, f);
  }

  // Dead now: a third of web/a's backends, a different third every 3 s,
  // and mirror's first own backend always.
  bool dead(const IpAddress& a) const {
    if (a == mirror_own(0)) return true;
    if (a.bytes[0] != 10 || a.bytes[1] != 20 || a.bytes[2] != 1) return false;
    return (a.bytes[3] + now_ms_ / 3000) % 3 == 0;
  }

 private:
  struct Flow {
    std::string client;
    uint16_t port = 0;
    uint16_t dport = 80;
    bool syn = true;
    uint32_t tries = 0;
    uint64_t at = 0;
  };
  std::mt19937_64 rng_;
  std::deque<Flow> pending_;
  Flow last_;
  uint64_t now_ms_ = 0;
};

}  // namespace sluice::engine::test::bounded
