// SPDX-License-Identifier: Apache-2.0
// sluice-engine-demo: the progressive-delivery job of the balancer, shown
// packet by packet through one engine worker, with no NIC.
//
// One service (192.0.2.10:80/TCP, client-address affinity) with a stable
// pool of 4 backends and a canary pool of 2. Simulated clients open TCP
// connections (SYN, ACK, data); the backend of each packet is read from the
// encapsulated frame the engine emits. The canary is then ramped
// 10 -> 50 -> 100 -> 0 by publishing new snapshots, a tester subnet is
// pinned to the canary, and a stable backend is drained. The connections of
// generation 1 stay open to the end; those opened later are closed (FIN) at
// the next step. Every claim the demo prints is checked; any failure makes
// it exit 1 (it is also a test).
//
//   sluice-engine-demo [--clients N]     (default 20000, 100..50000)
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "dataplane/engine/config.h"
#include "dataplane/engine/flow_table.h"
#include "dataplane/engine/wire.h"
#include "tools/engine_demo/checks.h"
#include "tools/engine_demo/lab.h"

namespace sluice::demo {
namespace {

using engine::IpAddress;

constexpr uint16_t kPort = 80;
constexpr int kStableBackends = 4;
constexpr int kCanaryBackends = 2;
constexpr int kStable = 0;  // pool indices, as in the config
constexpr int kCanary = 1;
constexpr int kDrained = 0;  // the stable backend the last step drains
constexpr uint32_t kTesters = 200;
constexpr uint16_t kDataBytes = 100;
constexpr uint32_t kMaxClients = 50000;
// Simulated time between steps: longer than the closing timeout (10 s), so
// the flows closed at one step have expired before the next opens new ones.
constexpr uint64_t kStepMs = 15000;
const char* const kPoolNames[] = {"stable", "canary"};

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) {
  char buf[512];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, args);
  va_end(args);
  return buf;
}

double percent(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

// Allowed distance, in percentage points, between a measured share and the
// expected one: five standard deviations of a binomial share over n draws
// (the hash behaves like a fair random draw per client), at least 0.5.
double tolerance_pp(double expected_pct, uint64_t n) {
  const double p = expected_pct / 100.0;
  return std::max(0.5, 500.0 * std::sqrt(p * (1 - p) / static_cast<double>(n)));
}

int pool_of(int backend) { return backend < kStableBackends ? kStable : kCanary; }

std::vector<IpAddress> backend_addresses() {
  std::vector<IpAddress> v;
  for (int i = 0; i < kStableBackends; ++i) {
    v.push_back(IpAddress::v4(10, 0, 1, static_cast<uint8_t>(1 + i)));
  }
  for (int i = 0; i < kCanaryBackends; ++i) {
    v.push_back(IpAddress::v4(10, 0, 2, static_cast<uint8_t>(1 + i)));
  }
  return v;
}

// The flow table holds 4-way buckets: a flow is evicted when five live flows
// share its bucket, which happens at far lower load than "full". Live flows
// peak at about 4 per client (2 long-lived, 1 closing, 1 new), and 32 slots
// per live flow keep the chance of any overflow in a run well below 1%.
uint32_t flow_capacity(uint32_t clients) {
  return std::bit_ceil((4 * clients + 2 * kTesters) * 32);
}

// What the demo changes from one generation to the next.
struct Knobs {
  uint32_t canary_weight = 10;  // percent; stable gets the rest
  bool tester_rule = false;     // 198.51.100.0/24 -> canary
  bool drain = false;           // stable backend kDrained is draining
};

engine::EngineConfig demo_config(const Knobs& k) {
  engine::EngineConfig config;
  config.seed = {0x5eed0000cafef00dULL, 0x0123456789abcdefULL};
  config.forwarding.source_v4 = IpAddress::v4(192, 0, 2, 1);
  config.forwarding.local_mac = {0x02, 0, 0, 0, 0, 0x10};
  config.forwarding.next_hop_mac = {0x02, 0, 0, 0, 0, 0x20};
  engine::ServiceConfig s;
  s.name = "web";
  s.vip = IpAddress::v4(192, 0, 2, 10);
  s.port = kPort;
  s.protocol = engine::Protocol::kTcp;
  s.affinity = engine::Affinity::kClientAddress;
  s.maglev_table_size = 65537;
  const std::vector<IpAddress> addresses = backend_addresses();
  engine::PoolConfig stable{"stable", 100 - k.canary_weight, {}};
  engine::PoolConfig canary{"canary", k.canary_weight, {}};
  for (int b = 0; b < kStableBackends + kCanaryBackends; ++b) {
    engine::BackendConfig backend{addresses[b], 1, engine::BackendState::kActive};
    if (k.drain && b == kDrained) backend.state = engine::BackendState::kDraining;
    (pool_of(b) == kStable ? stable : canary).backends.push_back(backend);
  }
  s.pools = {stable, canary};
  if (k.tester_rule) s.rules.push_back({*engine::Cidr::parse("198.51.100.0/24"), "canary"});
  config.services.push_back(std::move(s));
  return config;
}

struct Client {
  IpAddress address;
  uint16_t next_port = 40000;
};

struct Connection {
  uint32_t client;
  uint16_t sport;
  int backend;
};

class Demo {
 public:
  explicit Demo(uint32_t clients)
      : lab_(backend_addresses(), IpAddress::v4(192, 0, 2, 10), kPort, flow_capacity(clients)),
        regular_(clients),
        version_(clients, -1),
        last_backend_(clients, -1) {
    // Regular clients 100.64.0.1 and up (shared address space), then the
    // testers 198.51.100.1 and up.
    for (uint32_t i = 0; i < clients; ++i) {
      const uint32_t n = i + 1;
      clients_.push_back({IpAddress::v4(100, static_cast<uint8_t>(64 + (n >> 16)),
                                        static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n))});
      regular_[i] = i;
    }
    for (uint32_t t = 0; t < kTesters; ++t) {
      clients_.push_back({IpAddress::v4(198, 51, 100, static_cast<uint8_t>(1 + t))});
      testers_.push_back(clients + t);
    }
  }

  int run() {
    std::printf("sluice engine demo: one service, one worker core, %zu clients\n", regular_.size());
    std::printf("  service web 192.0.2.10:80/TCP, affinity: client address, Maglev M = 65537\n");
    std::printf("  pool stable: 10.0.1.1-4   pool canary: 10.0.2.1-2   encapsulation: IPIP\n");
    std::printf("  backends are read from each output frame's outer IPv4 destination\n");
    std::printf("  flow table: %u entries (%u MiB)\n", lab_.worker().flows().capacity(),
                static_cast<uint32_t>(
                    lab_.worker().flows().capacity() * engine::FlowTable::bytes_per_entry() >> 20));
    initial();
    ramp(50);
    ramp(100);
    ramp(0);
    tester_rule();
    drain();
    summary();
    std::printf("\n%d checks, %d failed\n", checks_.total(), checks_.failed());
    return checks_.failed() == 0 ? 0 : 1;
  }

 private:
  static void header(const std::string& title) { std::printf("\n== %s ==\n", title.c_str()); }

  bool publish() {
    const bool ok = lab_.publish(demo_config(knobs_));
    checks_.expect(ok, format("generation %llu compiled and published",
                              static_cast<unsigned long long>(lab_.generation())));
    lab_.advance_ms(kStepMs);
    return ok;
  }

  // Opens `per_client` connections for each client: every SYN, then every
  // ACK, then one data segment each (how a busy link interleaves them).
  std::vector<Connection> open(const std::vector<uint32_t>& ids, uint32_t per_client) {
    std::vector<Connection> conns;
    for (uint32_t id : ids) {
      for (uint32_t k = 0; k < per_client; ++k) {
        conns.push_back({id, clients_[id].next_port++, kNotForwarded});
      }
    }
    std::vector<std::vector<int>> where;
    for (const auto& [flags, bytes] : {std::pair<uint8_t, uint16_t>{SLUICE_TCP_SYN, 0},
                                       {SLUICE_TCP_ACK, 0},
                                       {SLUICE_TCP_ACK | SLUICE_TCP_PSH, kDataBytes}}) {
      std::vector<PacketSpec> specs;
      for (const Connection& c : conns) {
        specs.push_back({clients_[c.client].address, c.sport, flags, bytes});
      }
      where.push_back(lab_.send(specs));
    }
    size_t consistent = 0;
    for (size_t i = 0; i < conns.size(); ++i) {
      conns[i].backend = where[0][i];
      if (where[0][i] >= 0 && where[1][i] == where[0][i] && where[2][i] == where[0][i]) {
        ++consistent;
      }
    }
    checks_.expect(consistent == conns.size(),
                   format("%zu new connections forwarded; SYN, ACK and data of each reached "
                          "one backend (%zu of %zu)",
                          conns.size(), consistent, conns.size()));
    for (const Connection& c : conns) {
      if (c.client < last_backend_.size()) last_backend_[c.client] = c.backend;
    }
    return conns;
  }

  // Sends one packet on every open connection: a data segment on the
  // long-lived ones, a FIN on those opened at the previous step (which then
  // close), and checks that each reached the backend it was opened on. With
  // focus >= 0, also reports the connections of that backend alone.
  void check_open(int focus) {
    std::vector<PacketSpec> specs;
    for (const Connection& c : long_lived_) {
      specs.push_back(
          {clients_[c.client].address, c.sport, SLUICE_TCP_ACK | SLUICE_TCP_PSH, kDataBytes});
    }
    for (const Connection& c : previous_) {
      specs.push_back({clients_[c.client].address, c.sport, SLUICE_TCP_ACK | SLUICE_TCP_FIN, 0});
    }
    const std::vector<int> where = lab_.send(specs);
    size_t kept[2] = {0, 0}, on_focus = 0, kept_focus = 0;
    for (size_t i = 0; i < where.size(); ++i) {
      const bool old = i < long_lived_.size();
      const Connection& c = old ? long_lived_[i] : previous_[i - long_lived_.size()];
      const bool same = where[i] == c.backend;
      kept[old ? 0 : 1] += same;
      if (c.backend == focus) {
        ++on_focus;
        kept_focus += same;
      }
    }
    const size_t total = long_lived_.size() + previous_.size();
    std::printf("  one packet per open connection: %zu from generation 1 (data)",
                long_lived_.size());
    if (!previous_.empty()) {
      std::printf(", %zu from generation %llu (FIN, closing)", previous_.size(),
                  static_cast<unsigned long long>(lab_.generation() - 1));
    }
    std::printf("\n");
    checks_.expect(kept[0] + kept[1] == total,
                   format("open connections that kept their backend: %zu of %zu (%.2f%%)",
                          kept[0] + kept[1], total, percent(kept[0] + kept[1], total)));
    if (focus >= 0) {
      checks_.expect(on_focus > 0 && kept_focus == on_focus,
                     format("open connections on draining %s: %zu, still reaching it: %zu",
                            lab_.backends()[focus].to_string().c_str(), on_focus, kept_focus));
    }
    checks_.expect(lab_.worker().generation() == lab_.generation(),
                   format("the worker forwards with generation %llu",
                          static_cast<unsigned long long>(lab_.worker().generation())));
    previous_.clear();
  }

  // The split of `conns` per pool and per backend against the weights.
  void print_split(const std::vector<Connection>& conns) {
    const int n_backends = kStableBackends + kCanaryBackends;
    std::vector<uint64_t> per_backend(n_backends, 0);
    uint64_t per_pool[2] = {0, 0};
    for (const Connection& c : conns) {
      if (c.backend < 0) continue;
      ++per_backend[c.backend];
      ++per_pool[pool_of(c.backend)];
    }
    const double pool_expected[2] = {100.0 - knobs_.canary_weight, 1.0 * knobs_.canary_weight};
    bool within = true;
    std::printf("  %-8s %6s %12s %8s %9s\n", "pool", "weight", "connections", "share", "expected");
    for (int p = 0; p < 2; ++p) {
      const double share = percent(per_pool[p], conns.size());
      within &= std::fabs(share - pool_expected[p]) <= tolerance_pp(pool_expected[p], conns.size());
      std::printf("  %-8s %6.0f %12llu %7.2f%% %8.2f%%\n", kPoolNames[p], pool_expected[p],
                  static_cast<unsigned long long>(per_pool[p]), share, pool_expected[p]);
    }
    std::printf("  %-10s %-7s %12s %8s %9s\n", "backend", "pool", "connections", "share",
                "expected");
    for (int b = 0; b < n_backends; ++b) {
      const bool drained = knobs_.drain && b == kDrained;
      const int active =
          pool_of(b) == kStable ? kStableBackends - (knobs_.drain ? 1 : 0) : kCanaryBackends;
      const double expected = drained ? 0.0 : pool_expected[pool_of(b)] / active;
      const double share = percent(per_backend[b], conns.size());
      within &= std::fabs(share - expected) <= tolerance_pp(expected, conns.size());
      std::printf("  %-10s %-7s %12llu %7.2f%% %8.2f%%%s\n", lab_.backends()[b].to_string().c_str(),
                  kPoolNames[pool_of(b)], static_cast<unsigned long long>(per_backend[b]), share,
                  expected, drained ? "  (draining)" : "");
    }
    checks_.expect(within, "every pool and backend got its expected share (within 5 sigma)");
  }

  // Records each regular client's version from its newest connection and
  // returns {stable->canary, canary->stable} moves since the previous one.
  std::pair<size_t, size_t> update_versions(const std::vector<Connection>& conns) {
    std::vector<int> before = version_;
    for (const Connection& c : conns) {
      if (c.client < version_.size() && c.backend >= 0) version_[c.client] = pool_of(c.backend);
    }
    size_t to_canary = 0, to_stable = 0;
    for (size_t i = 0; i < version_.size(); ++i) {
      if (before[i] == kStable && version_[i] == kCanary) ++to_canary;
      if (before[i] == kCanary && version_[i] == kStable) ++to_stable;
    }
    return {to_canary, to_stable};
  }

  void initial() {
    header(format("1. generation 1: stable %u / canary %u; every client opens 2 connections",
                  100 - knobs_.canary_weight, knobs_.canary_weight));
    if (!publish()) return;
    std::vector<Connection> conns = open(regular_, 2);
    print_split(conns);
    // Client-address affinity: a client's connections share one backend.
    size_t split_clients = 0;
    for (size_t i = 0; i + 1 < conns.size(); i += 2)
      split_clients += conns[i].backend != conns[i + 1].backend;
    checks_.expect(split_clients == 0,
                   format("client affinity: both connections of every client on one backend "
                          "(%zu clients split)",
                          split_clients));
    update_versions(conns);
    long_lived_ = std::move(conns);
  }

  void ramp(uint32_t to) {
    const uint32_t from = knobs_.canary_weight;
    knobs_.canary_weight = to;
    header(format("ramp canary %u -> %u (generation %llu)", from, to,
                  static_cast<unsigned long long>(lab_.generation() + 1)));
    if (!publish()) return;
    check_open(-1);
    std::printf("  every client opens 1 new connection:\n");
    std::vector<Connection> conns = open(regular_, 1);
    print_split(conns);
    const auto [to_canary, to_stable] = update_versions(conns);
    const size_t moved = to_canary + to_stable;
    const uint32_t delta = to > from ? to - from : from - to;
    std::printf(
        "  clients that changed version: %zu (%.2f%%; weights moved %u points): "
        "stable->canary %zu, canary->stable %zu\n",
        moved, percent(moved, regular_.size()), delta, to_canary, to_stable);
    if (to > from) {
      checks_.expect(to_stable == 0, "canary weight rose: no client left the canary");
    } else {
      checks_.expect(to_canary == 0, "canary weight fell: no client joined the canary");
    }
    checks_.expect(
        std::fabs(percent(moved, regular_.size()) - delta) <= tolerance_pp(delta, regular_.size()),
        "only about the weight change's share of clients moved (minimal movement)");
    previous_ = std::move(conns);
  }

  void tester_rule() {
    knobs_.tester_rule = true;
    header(format("source rule 198.51.100.0/24 -> canary, canary weight %u (generation %llu)",
                  knobs_.canary_weight, static_cast<unsigned long long>(lab_.generation() + 1)));
    if (!publish()) return;
    check_open(-1);
    const uint64_t rules_before = lab_.worker().counters().rule_matches;
    std::vector<Connection> testers = open(testers_, 1);
    size_t on_canary = 0;
    for (const Connection& c : testers)
      on_canary += c.backend >= 0 && pool_of(c.backend) == kCanary;
    checks_.expect(on_canary == testers.size(),
                   format("testers on canary: %zu of %zu, though its weight is %u", on_canary,
                          testers.size(), knobs_.canary_weight));
    checks_.expect(lab_.worker().counters().rule_matches - rules_before == testers.size(),
                   "the worker counted one rule match per tester connection");
    std::vector<Connection> conns = open(regular_, 1);
    size_t on_stable = 0;
    for (const Connection& c : conns) on_stable += c.backend >= 0 && pool_of(c.backend) == kStable;
    checks_.expect(on_stable == conns.size(),
                   format("regular clients on stable: %zu of %zu (the rule touches no one else)",
                          on_stable, conns.size()));
    update_versions(conns);
    previous_ = std::move(testers);
    previous_.insert(previous_.end(), conns.begin(), conns.end());
  }

  void drain() {
    knobs_.drain = true;
    header(format("drain stable backend %s (generation %llu)",
                  lab_.backends()[kDrained].to_string().c_str(),
                  static_cast<unsigned long long>(lab_.generation() + 1)));
    const std::vector<int> before = last_backend_;
    if (!publish()) return;
    check_open(kDrained);
    std::printf("  every client opens 1 new connection:\n");
    std::vector<Connection> conns = open(regular_, 1);
    print_split(conns);
    size_t to_drained = 0, left_drained = 0, on_drained = 0, others_moved = 0, others = 0;
    for (const Connection& c : conns) {
      to_drained += c.backend == kDrained;
      if (before[c.client] == kDrained) {
        ++on_drained;
        left_drained += c.backend != kDrained;
      } else {
        ++others;
        others_moved += c.backend != before[c.client];
      }
    }
    checks_.expect(to_drained == 0,
                   format("new connections to the draining backend: %zu", to_drained));
    checks_.expect(on_drained > 0 && left_drained == on_drained,
                   format("its %zu clients open new connections elsewhere in stable", on_drained));
    std::printf(
        "  clients of other backends that moved: %zu of %zu (%.2f%%; Maglev keeps "
        "most in place)\n",
        others_moved, others, percent(others_moved, others));
    previous_ = std::move(conns);
  }

  void summary() {
    header("worker counters");
    const engine::WorkerCounters& c = lab_.worker().counters();
    std::printf(
        "  rx %llu, forwarded %llu, dropped %llu, new flows %llu, flow hits %llu,\n"
        "  rule matches %llu, generations adopted %llu, flows rescheduled %llu\n",
        static_cast<unsigned long long>(c.rx_packets), static_cast<unsigned long long>(c.forwarded),
        static_cast<unsigned long long>(c.dropped), static_cast<unsigned long long>(c.new_flows),
        static_cast<unsigned long long>(c.flow_hits),
        static_cast<unsigned long long>(c.rule_matches),
        static_cast<unsigned long long>(c.snapshot_switches),
        static_cast<unsigned long long>(c.flows_rescheduled));
    checks_.expect(c.dropped == 0 && c.forwarded == c.rx_packets, "no packet was dropped");
    checks_.expect(c.flows_rescheduled == 0, "no tracked flow was rescheduled");
    const engine::FlowTableStats t = lab_.worker().flows().stats();
    std::printf("  flow table: %u slots in use, %llu evictions, %llu expired entries reused\n",
                lab_.worker().flows().occupied(), static_cast<unsigned long long>(t.evictions),
                static_cast<unsigned long long>(t.expirations));
    checks_.expect(t.evictions == 0, "the flow table evicted no live flow");
    checks_.expect(c.new_flows + c.flow_hits == c.rx_packets,
                   "every packet was a new flow (SYN) or a flow-table hit");
  }

  Lab lab_;
  Checks checks_;
  Knobs knobs_;
  std::vector<Client> clients_;    // regular clients, then testers
  std::vector<uint32_t> regular_;  // their indices in clients_
  std::vector<uint32_t> testers_;
  std::vector<int> version_;            // per regular client: pool of its newest connection
  std::vector<int> last_backend_;       // per regular client: backend of its newest connection
  std::vector<Connection> long_lived_;  // generation 1's connections: open to the end
  std::vector<Connection> previous_;    // the previous step's: closed at the next step
};

int usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--clients N]   (N in 100..%u, default 20000)\n", argv0,
               kMaxClients);
  return 2;
}

}  // namespace
}  // namespace sluice::demo

int main(int argc, char** argv) {
  uint32_t clients = 20000;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--clients") == 0 && i + 1 < argc) {
      char* end = nullptr;
      const long n = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || n < 100 || n > sluice::demo::kMaxClients) {
        return sluice::demo::usage(argv[0]);
      }
      clients = static_cast<uint32_t>(n);
    } else {
      return sluice::demo::usage(argv[0]);
    }
  }
  return sluice::demo::Demo(clients).run();
}
