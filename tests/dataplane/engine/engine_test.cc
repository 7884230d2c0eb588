// Tests of dataplane/engine/engine.h: the whole per-packet pipeline of one
// worker, from frame bytes to verdict and rewritten frame.
#include "dataplane/engine/engine.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/dataplane/engine/engine_fixture.h"
#include "tests/dataplane/engine/frame_builder.h"

namespace sluice::engine {
namespace {

// ARP and other non-IP frames belong to the host.
TEST_F(EngineTest, NonIpGoesToHost) {
  const Decision d = send(FrameBuilder().eth().arp().build(), 0);
  EXPECT_EQ(d.verdict.action, Action::kHost);
  EXPECT_EQ(worker_.counters().to_host, 1u);
}

// IP traffic not addressed to a VIP (the appliance's own address) goes to the host.
TEST_F(EngineTest, NonVipGoesToHost) {
  EXPECT_EQ(send(tcp("198.51.100.1", 4000, SLUICE_TCP_SYN, "10.0.0.2", 22), 0).verdict.action,
            Action::kHost);
  EXPECT_EQ(send(FrameBuilder().eth().ipv4("198.51.100.1", "10.0.0.2").icmp_echo(1, 1).build(), 0)
                .verdict.action,
            Action::kHost);
}

// Malformed frames are dropped and counted by reason.
TEST_F(EngineTest, MalformedDroppedWithReason) {
  const Decision d =
      send(FrameBuilder().eth().ipv4("198.51.100.1", "192.0.2.10").tcp(1, 80).set_tcp_data_offset(4).build(), 0);
  EXPECT_EQ(d.verdict.action, Action::kDrop);
  EXPECT_EQ(d.verdict.reason, DropReason::kBadTcpDataOffset);
  EXPECT_EQ(worker_.counters().drops[static_cast<int>(DropReason::kBadTcpDataOffset)], 1u);
  EXPECT_EQ(worker_.counters().dropped, 1u);
}

// Before any configuration, IP goes to the host and malformed frames still drop.
TEST_F(EngineTest, NoSnapshotHandsToHost) {
  Worker fresh(small_options());
  Buffer good(tcp("198.51.100.1", 4000, SLUICE_TCP_SYN));
  EXPECT_EQ(fresh.process_one(nullptr, good.pkt, 0).verdict.action, Action::kHost);
  Buffer bad(FrameBuilder().eth().ipv4("198.51.100.1", "192.0.2.10").tcp(1, 80).truncate(20).build());
  EXPECT_EQ(fresh.process_one(nullptr, bad.pkt, 0).verdict.action, Action::kDrop);
}

// A VIP on a port or protocol without a service drops with its reason.
TEST_F(EngineTest, VipWithoutServiceDrops) {
  EXPECT_EQ(send(tcp("198.51.100.1", 4000, SLUICE_TCP_SYN, "192.0.2.10", 443), 0).verdict.reason,
            DropReason::kNoService);
  EXPECT_EQ(send(FrameBuilder().eth().ipv4("198.51.100.1", "192.0.2.10").udp(4000, 80).build(), 0)
                .verdict.reason,
            DropReason::kNoService);
  EXPECT_EQ(send(FrameBuilder().eth().ipv4("198.51.100.1", "192.0.2.10").ip_proto(47).payload(8).build(), 0)
                .verdict.reason,
            DropReason::kUnsupportedProtocol);
}

// Policy: fragments to a VIP are dropped; fragments to others go to the host.
TEST_F(EngineTest, FragmentPolicy) {
  auto frag = [](const char* dst, uint16_t offset) {
    return FrameBuilder().eth().ipv4("198.51.100.1", dst).fragment(offset, true).tcp(4000, 80).build();
  };
  EXPECT_EQ(send(frag("192.0.2.10", 0), 0).verdict.reason, DropReason::kFragment);
  EXPECT_EQ(send(frag("192.0.2.10", 1480), 0).verdict.reason, DropReason::kFragment);
  EXPECT_EQ(send(frag("10.0.0.2", 0), 0).verdict.action, Action::kHost);
}

// A SYN to the VIP is encapsulated (IPIP) to a backend of a pool.
TEST_F(EngineTest, SynForwardedInIpip) {
  Buffer* out = nullptr;
  const Decision d = send(tcp("198.51.100.1", 4000, SLUICE_TCP_SYN), 0, &out);
  ASSERT_EQ(d.verdict.action, Action::kForward);
  const std::vector<uint8_t> f = out->bytes();
  ASSERT_GE(f.size(), 14u + 20 + 20 + 20);
  EXPECT_EQ(test::load_be16(&f[12]), SLUICE_ETHERTYPE_IPV4);
  EXPECT_EQ(f[14 + 9], SLUICE_IPPROTO_IPIP);
  IpAddress outer_dst;
  std::memcpy(outer_dst.bytes.data(), &f[14 + 16], 4);
  EXPECT_EQ(outer_dst.to_string(), backend_of(d));
  EXPECT_TRUE(test::ipv4_header_checksum_ok(&f[14]));
  EXPECT_EQ(worker_.counters().new_flows, 1u);
  EXPECT_EQ(worker_.counters().forwarded, 1u);
}

// New flows split by weight (engine level; the 1M-key proof is pool_split_test).
TEST_F(EngineTest, NewFlowsFollowWeights) {
  std::map<std::string, int> pools;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const Decision d = send(tcp("198.51.100.1", static_cast<uint16_t>(1024 + i), SLUICE_TCP_SYN), 0);
    pools[pool_of(d)]++;
  }
  EXPECT_NEAR(pools["canary"] * 100.0 / n, 10.0, 1.0);
  EXPECT_NEAR(pools["stable"] * 100.0 / n, 90.0, 1.0);
}

// Established flows keep their backend through weight changes and table
// rebuilds (a backend added), as long as the backend exists.
TEST_F(EngineTest, EstablishedFlowsKeepBackendAcrossChanges) {
  std::map<uint16_t, std::string> owner;
  for (uint16_t port = 2000; port < 3000; ++port) owner[port] = connect("198.51.100.7", port, 0);
  const uint32_t weights[][2] = {{50, 50}, {0, 100}, {100, 0}, {1, 99}};
  for (const auto& w : weights) {
    config_.services[0].pools[0].weight = w[0];
    config_.services[0].pools[1].weight = w[1];
    config_.services[0].pools[0].backends.push_back({ip(("10.1.0." + std::to_string(10 + generation_)).c_str())});
    publish();
    for (auto& [port, backend] : owner) {
      ASSERT_EQ(backend_of(send(tcp("198.51.100.7", port, SLUICE_TCP_ACK), 1)), backend) << port;
    }
  }
  EXPECT_EQ(worker_.generation(), generation_);
  EXPECT_EQ(worker_.counters().flows_rescheduled, 0u);
}

// A draining backend keeps its flows but gets no new ones; a removed or
// disabled one loses its flows to other backends.
TEST_F(EngineTest, DrainingKeepsFlowsDisabledAndRemovedDoNot) {
  std::map<uint16_t, std::string> owner;
  for (uint16_t port = 2000; port < 2400; ++port) owner[port] = connect("198.51.100.8", port, 0);
  const std::string drained = "10.1.0.1", disabled = "10.1.0.2", removed = "10.1.0.3";
  auto& stable = config_.services[0].pools[0].backends;
  stable[0].state = BackendState::kDraining;
  stable[1].state = BackendState::kDisabled;
  stable.erase(stable.begin() + 2);
  publish();
  int kept_drained = 0;
  for (auto& [port, backend] : owner) {
    const std::string now = backend_of(send(tcp("198.51.100.8", port, SLUICE_TCP_ACK), 1));
    if (backend == drained) {
      EXPECT_EQ(now, drained);
      ++kept_drained;
    } else if (backend == disabled || backend == removed) {
      EXPECT_NE(now, backend);
      EXPECT_FALSE(now.empty());
    } else {
      EXPECT_EQ(now, backend);
    }
  }
  EXPECT_GT(kept_drained, 0);
  EXPECT_GT(worker_.counters().flows_rescheduled, 0u);
  for (uint16_t port = 5000; port < 7000; ++port) {
    const std::string b = backend_of(send(tcp("198.51.100.8", port, SLUICE_TCP_SYN), 2));
    ASSERT_NE(b, drained);
    ASSERT_NE(b, disabled);
    ASSERT_NE(b, removed);
  }
}

// Client-address affinity keeps a client on one pool and backend across
// connections; flow affinity spreads one client's connections.
TEST_F(EngineTest, ClientAffinityVersusFlowAffinity) {
  config_.services[0].affinity = Affinity::kClientAddress;
  config_.services[0].pools[0].weight = 50;
  config_.services[0].pools[1].weight = 50;
  publish();
  std::set<std::string> backends;
  for (uint16_t port = 1000; port < 1100; ++port) {
    backends.insert(backend_of(send(tcp("198.51.100.9", port, SLUICE_TCP_SYN), 0)));
  }
  EXPECT_EQ(backends.size(), 1u);
  config_.services[0].affinity = Affinity::kFlow;
  publish();
  backends.clear();
  for (uint16_t port = 3000; port < 3100; ++port) {
    backends.insert(backend_of(send(tcp("198.51.100.9", port, SLUICE_TCP_SYN), 0)));
  }
  EXPECT_GT(backends.size(), 3u);
}

// Client-prefix affinity groups a /24 together.
TEST_F(EngineTest, ClientPrefixAffinityGroupsSubnet) {
  config_.services[0].affinity = Affinity::kClientPrefix;
  config_.services[0].client_prefix_v4 = 24;
  publish();
  std::set<std::string> backends;
  for (int host = 1; host < 200; ++host) {
    const std::string client = "203.0.113." + std::to_string(host);
    backends.insert(backend_of(send(tcp(client.c_str(), static_cast<uint16_t>(1000 + host), SLUICE_TCP_SYN), 0)));
  }
  EXPECT_EQ(backends.size(), 1u);
}

// Source-CIDR rules pin clients to a pool; the longest prefix wins.
TEST_F(EngineTest, SourceRulesPinPools) {
  config_.services[0].pools[0].weight = 100;
  config_.services[0].pools[1].weight = 0;
  config_.services[0].rules = {{*Cidr::parse("198.51.100.0/24"), "canary"},
                               {*Cidr::parse("198.51.100.128/25"), "stable"}};
  publish();
  for (uint16_t port = 1000; port < 1200; ++port) {
    EXPECT_EQ(pool_of(send(tcp("198.51.100.5", port, SLUICE_TCP_SYN), 0)), "canary");
    EXPECT_EQ(pool_of(send(tcp("198.51.100.200", port, SLUICE_TCP_SYN), 0)), "stable");
    EXPECT_EQ(pool_of(send(tcp("203.0.113.5", port, SLUICE_TCP_SYN), 0)), "stable");
  }
  EXPECT_EQ(worker_.counters().rule_matches, 400u);
}

// A SYN repeated too soon after the flow's previous packet is not a
// failure (even when the first SYN is long past); one repeated
// syn_retry_min_ms after the previous packet counts as a connect failure
// and is steered to another backend of the same pool; the handshake then
// completes there.
TEST_F(EngineTest, SynRetryCountsFailureAndSteers) {
  const Decision first = send(tcp("198.51.100.20", 4242, SLUICE_TCP_SYN), 1000);
  ASSERT_EQ(first.verdict.action, Action::kForward);
  const Decision early = send(tcp("198.51.100.20", 4242, SLUICE_TCP_SYN), 1499);
  EXPECT_EQ(backend_of(early), backend_of(first));
  // 998 ms after the first SYN, but 499 after the previous one.
  const Decision early2 = send(tcp("198.51.100.20", 4242, SLUICE_TCP_SYN), 1998);
  EXPECT_EQ(backend_of(early2), backend_of(first));
  EXPECT_EQ(worker_.counters().connect_failures, 0u);
  const Decision retry = send(tcp("198.51.100.20", 4242, SLUICE_TCP_SYN), 2498);
  EXPECT_TRUE(retry.steered);
  EXPECT_NE(backend_of(retry), backend_of(first));
  EXPECT_EQ(pool_of(retry), pool_of(first));
  EXPECT_EQ(worker_.counters().connect_failures, 1u);
  EXPECT_EQ(worker_.counters().syn_retry_steered, 1u);
  const Decision ack = send(tcp("198.51.100.20", 4242, SLUICE_TCP_ACK), 2600);
  EXPECT_EQ(backend_of(ack), backend_of(retry));
  EXPECT_EQ(worker_.counters().handshakes_completed, 1u);
}

// A SYN retry in a pool with no other backend goes to the fallback pool.
TEST_F(EngineTest, SynRetryWithoutPeerFallsBack) {
  config_.services[0].pools[0].weight = 0;
  config_.services[0].pools[1].weight = 100;
  config_.services[0].pools[1].backends = {{ip("10.2.0.1")}};
  publish();
  const Decision first = send(tcp("198.51.100.21", 4243, SLUICE_TCP_SYN), 0);
  ASSERT_EQ(pool_of(first), "canary");
  const Decision retry = send(tcp("198.51.100.21", 4243, SLUICE_TCP_SYN), 1000);
  EXPECT_TRUE(retry.steered);
  EXPECT_TRUE(retry.fallback);
  EXPECT_EQ(pool_of(retry), "stable");
  const Decision ack = send(tcp("198.51.100.21", 4243, SLUICE_TCP_ACK), 1100);
  EXPECT_EQ(backend_of(ack), backend_of(retry));
}

// Failures from distinct client prefixes open a backend's circuit: new
// flows avoid it; after the ejection time one half-open trial goes through,
// and successes from two prefixes close it (no health checks here).
TEST_F(EngineTest, CircuitOpensSkipsAndRecovers) {
  const std::string bad = "10.1.0.2";
  // A slow client whose handshake completes only after the ejection.
  const uint16_t slow = port_for(bad, "198.51.102.34", 0);
  ASSERT_EQ(backend_of(send(tcp("198.51.102.34", slow, SLUICE_TCP_SYN), 0)), bad);
  // Two flows from two /24s that both fail on `bad` (threshold 2).
  for (const char* c : {"198.51.100.30", "198.51.101.31"}) {
    const uint16_t p = port_for(bad, c, 0);
    ASSERT_EQ(backend_of(send(tcp(c, p, SLUICE_TCP_SYN), 0)), bad);
    send(tcp(c, p, SLUICE_TCP_SYN), 600);
  }
  const auto fp = snapshot_->services()[0].backends[snapshot_->services()[0].find_backend(
                      backend_fingerprint(ip(bad.c_str()), config_.seed))].fingerprint;
  ASSERT_EQ(worker_.circuits().state(fp, 600), CircuitState::kOpen);
  // While open, the flow that maps to `bad` goes elsewhere.
  const uint16_t fresh = port_for(bad, "198.51.100.32", 0);
  const Decision avoided = send(tcp("198.51.100.32", fresh, SLUICE_TCP_SYN), 1000);
  EXPECT_NE(backend_of(avoided), bad);
  EXPECT_GT(worker_.counters().circuit_skips, 0u);
  // After the ejection (5 s) the next flow mapping to it is a trial.
  const uint16_t trial_port = port_for(bad, "198.51.100.33", 0);
  EXPECT_EQ(backend_of(send(tcp("198.51.100.33", trial_port, SLUICE_TCP_SYN), 5700)), bad);
  EXPECT_EQ(worker_.circuits().state(fp, 5700), CircuitState::kHalfOpen);
  send(tcp("198.51.100.33", trial_port, SLUICE_TCP_ACK), 5710);
  // One prefix's success is not enough; a second prefix's closes it.
  EXPECT_EQ(worker_.circuits().state(fp, 5710), CircuitState::kHalfOpen);
  send(tcp("198.51.102.34", slow, SLUICE_TCP_ACK), 5720);
  EXPECT_EQ(worker_.circuits().state(fp, 5720), CircuitState::kClosed);
}

// When every backend of a pool is ejected, its share goes to the fallback
// pool (the first pool by default).
TEST_F(EngineTest, WholePoolOpenFallsBack) {
  config_.services[0].pools[0].weight = 0;
  config_.services[0].pools[1].weight = 100;
  config_.services[0].pools[1].backends = {{ip("10.2.0.1")}};
  publish();
  for (const char* client : {"198.51.100.40", "198.51.101.40"}) {  // two /24s
    ASSERT_EQ(pool_of(send(tcp(client, 100, SLUICE_TCP_SYN), 0)), "canary");
    send(tcp(client, 100, SLUICE_TCP_SYN), 700);
  }
  const Decision d = send(tcp("198.51.100.41", 5000, SLUICE_TCP_SYN), 800);
  EXPECT_EQ(d.verdict.action, Action::kForward);
  EXPECT_EQ(pool_of(d), "stable");
  EXPECT_TRUE(d.fallback);
  EXPECT_EQ(worker_.counters().fallback_used, 1u);
}

// A pool with no active backend (all draining) also falls back.
TEST_F(EngineTest, PoolWithoutActiveBackendFallsBack) {
  config_.services[0].pools[0].weight = 0;
  config_.services[0].pools[1].weight = 100;
  config_.services[0].fallback_pool = "stable";
  for (auto& b : config_.services[0].pools[1].backends) b.state = BackendState::kDraining;
  publish();
  EXPECT_EQ(pool_of(send(tcp("198.51.100.42", 5000, SLUICE_TCP_SYN), 0)), "stable");
  // With no usable backend anywhere the packet drops with kNoBackend.
  for (auto& b : config_.services[0].pools[0].backends) b.state = BackendState::kDisabled;
  publish();
  EXPECT_EQ(send(tcp("198.51.100.42", 5001, SLUICE_TCP_SYN), 0).verdict.reason, DropReason::kNoBackend);
}

// An ICMP echo request to a VIP is answered in place (IPv4 and IPv6).
TEST_F(EngineTest, EchoToVipAnswered) {
  Buffer* out = nullptr;
  const Decision d =
      send(FrameBuilder().eth().ipv4("198.51.100.50", "192.0.2.10").icmp_echo(7, 9).build(), 0, &out);
  ASSERT_EQ(d.verdict.action, Action::kForward);
  const std::vector<uint8_t> f = out->bytes();
  EXPECT_EQ(f[14 + 20], SLUICE_ICMP_ECHO_REPLY);
  EXPECT_EQ(IpAddress::v4(f[26], f[27], f[28], f[29]).to_string(), "192.0.2.10");
  EXPECT_EQ(worker_.counters().replied, 1u);

  ServiceConfig v6 = web_service();
  v6.name = "web6";
  v6.vip = ip("2001:db8::10");
  v6.pools = {{"stable", 1, {{ip("fd00:1::1")}}}};
  config_.services.push_back(v6);
  publish();
  const Decision d6 =
      send(FrameBuilder().eth().ipv6("2001:db8:1::5", "2001:db8::10").icmp_echo(7, 9).build(), 0, &out);
  ASSERT_EQ(d6.verdict.action, Action::kForward);
  EXPECT_EQ(out->bytes()[14 + 40], SLUICE_ICMPV6_ECHO_REPLY);
}

// ICMP frag-needed toward a VIP goes to the backend that owns the quoted flow.
TEST_F(EngineTest, FragNeededGoesToFlowOwner) {
  const std::string owner = connect("198.51.100.60", 4321, 0);
  // The quoted packet is the backend's reply: VIP:80 -> client:4321.
  const std::vector<uint8_t> quoted =
      FrameBuilder().ipv4("192.0.2.10", "198.51.100.60").tcp(80, 4321).payload(16).build();
  Buffer* out = nullptr;
  const Decision d = send(
      FrameBuilder().eth().ipv4("203.0.113.1", "192.0.2.10").icmp_frag_needed(1400, quoted).build(), 1, &out);
  ASSERT_EQ(d.verdict.action, Action::kForward);
  EXPECT_EQ(backend_of(d), owner);
  EXPECT_TRUE(d.flow_hit);
  const std::vector<uint8_t> f = out->bytes();
  EXPECT_EQ(IpAddress::v4(f[30], f[31], f[32], f[33]).to_string(), owner);
  EXPECT_EQ(worker_.counters().icmp_errors_forwarded, 1u);
}

// For a flow this core never saw, the error goes where a SYN of that flow would.
TEST_F(EngineTest, FragNeededUntrackedFollowsStatelessChoice) {
  Worker other(small_options());
  Buffer syn(tcp("198.51.100.61", 4322, SLUICE_TCP_SYN));
  const std::string expected = backend_of(other.process_one(snapshot_.get(), syn.pkt, 0));
  const std::vector<uint8_t> quoted =
      FrameBuilder().ipv4("192.0.2.10", "198.51.100.61").tcp(80, 4322).build();
  const Decision d = send(
      FrameBuilder().eth().ipv4("203.0.113.1", "192.0.2.10").icmp_frag_needed(1400, quoted).build(), 1);
  EXPECT_EQ(backend_of(d), expected);
  EXPECT_FALSE(d.flow_hit);
}

// ICMPv6 packet-too-big toward an IPv6 VIP reaches the flow's backend.
TEST_F(EngineTest, PacketTooBigV6GoesToFlowOwner) {
  ServiceConfig v6 = web_service();
  v6.name = "web6";
  v6.vip = ip("2001:db8::10");
  v6.pools = {{"stable", 1, {{ip("fd00:1::1")}, {ip("fd00:1::2")}, {ip("fd00:1::3")}}}};
  config_.services.push_back(v6);
  publish();
  const Decision syn = send(FrameBuilder().eth().ipv6("2001:db8:9::1", "2001:db8::10").tcp(5555, 80, SLUICE_TCP_SYN).build(), 0);
  ASSERT_EQ(syn.verdict.action, Action::kForward);
  const std::vector<uint8_t> quoted =
      FrameBuilder().ipv6("2001:db8::10", "2001:db8:9::1").tcp(80, 5555).build();
  const Decision d = send(FrameBuilder().eth().ipv6("2001:db8:ff::1", "2001:db8::10").icmpv6_packet_too_big(1280, quoted).build(), 1);
  EXPECT_EQ(d.verdict.action, Action::kForward);
  EXPECT_EQ(backend_of(d), backend_of(syn));
}

// ICMP toward a VIP that is neither an echo request nor a PMTU error goes
// to the host, counted in icmp_to_host (and to_host); a PMTU error quoting
// no service is still dropped.
TEST_F(EngineTest, OtherIcmpToVipGoesToHost) {
  const std::vector<uint8_t> quoted = FrameBuilder().ipv4("192.0.2.10", "198.51.100.62").tcp(80, 1).build();
  Buffer* out = nullptr;
  const std::vector<uint8_t> exceeded =
      FrameBuilder().eth().ipv4("203.0.113.1", "192.0.2.10").icmp_time_exceeded(quoted).build();
  EXPECT_EQ(send(exceeded, 0, &out).verdict.action, Action::kHost);
  EXPECT_EQ(out->bytes(), exceeded) << "a host frame leaves unchanged";
  EXPECT_EQ(send(FrameBuilder().eth().ipv4("203.0.113.1", "192.0.2.10")
                     .icmp(SLUICE_ICMP_DEST_UNREACH, 3, 0, quoted).build(), 0)
                .verdict.action,
            Action::kHost);
  EXPECT_EQ(send(FrameBuilder().eth().ipv4("203.0.113.1", "192.0.2.10").icmp_echo(1, 1, false).build(), 0)
                .verdict.action,
            Action::kHost);
  EXPECT_EQ(send(FrameBuilder().eth().ipv4("203.0.113.1", "192.0.2.10").icmp(13, 0, 0, std::vector<uint8_t>(12, 0)).build(), 0)
                .verdict.action,
            Action::kHost);  // timestamp request
  EXPECT_EQ(worker_.counters().icmp_to_host, 4u);
  EXPECT_EQ(worker_.counters().to_host, 4u);
  EXPECT_EQ(worker_.counters().dropped, 0u);
  const std::vector<uint8_t> other_port =
      FrameBuilder().ipv4("192.0.2.10", "198.51.100.62").tcp(8080, 1).build();
  EXPECT_EQ(send(FrameBuilder().eth().ipv4("203.0.113.1", "192.0.2.10").icmp_frag_needed(1400, other_port).build(), 0)
                .verdict.reason,
            DropReason::kNoFlowForIcmp);
  EXPECT_EQ(worker_.counters().icmp_to_host, 4u);
}

// ICMPv6 neighbour discovery (router solicitation and advertisement,
// neighbour solicitation and advertisement, redirect) addressed to an IPv6
// VIP goes to the host, so that the VIP's neighbours keep resolving it; to
// any other address it went there anyway (not counted as ICMP to a VIP).
TEST_F(EngineTest, NeighbourDiscoveryToVipGoesToHost) {
  ServiceConfig v6 = web_service();
  v6.name = "web6";
  v6.vip = ip("2001:db8::10");
  v6.pools = {{"stable", 1, {{ip("fd00:1::1")}}}};
  config_.services.push_back(v6);
  publish();
  const IpAddress vip = ip("2001:db8::10");
  uint64_t n = 0;
  for (const uint8_t type : {133, 134, 135, 136, 137}) {
    Buffer* out = nullptr;
    const std::vector<uint8_t> f =
        FrameBuilder().eth().ipv6("fe80::1", "2001:db8::10").icmpv6_nd(type, vip).build();
    const Decision d = send(f, 0, &out);
    EXPECT_EQ(d.verdict.action, Action::kHost) << "type " << int{type};
    EXPECT_EQ(out->bytes(), f) << "type " << int{type};
    EXPECT_EQ(worker_.counters().icmp_to_host, ++n) << "type " << int{type};
  }
  // A solicitation to the VIP's solicited-node multicast address is not for a VIP.
  EXPECT_EQ(send(FrameBuilder().eth().ipv6("fe80::1", "ff02::1:ff00:10").icmpv6_nd(135, vip).build(), 0)
                .verdict.action,
            Action::kHost);
  EXPECT_EQ(worker_.counters().icmp_to_host, n);
  EXPECT_EQ(worker_.counters().to_host, n + 1);
  // Other ICMPv6 to the VIP: the host's too (time exceeded, unreachable,
  // an echo reply, a multicast listener query).
  const std::vector<uint8_t> quoted = FrameBuilder().ipv6("2001:db8::10", "2001:db8:9::1").tcp(80, 5).build();
  EXPECT_EQ(send(FrameBuilder().eth().ipv6("2001:db8:ff::1", "2001:db8::10").icmp(3, 0, 0, quoted).build(), 0)
                .verdict.action,
            Action::kHost);
  EXPECT_EQ(send(FrameBuilder().eth().ipv6("2001:db8:ff::1", "2001:db8::10").icmp(SLUICE_ICMPV6_DEST_UNREACH, 4, 0, quoted).build(), 0)
                .verdict.action,
            Action::kHost);
  EXPECT_EQ(send(FrameBuilder().eth().ipv6("2001:db8:ff::1", "2001:db8::10").icmp_echo(1, 1, false).build(), 0)
                .verdict.action,
            Action::kHost);
  EXPECT_EQ(send(FrameBuilder().eth().ipv6("fe80::1", "2001:db8::10").icmp(130, 0, 0, std::vector<uint8_t>(16, 0)).build(), 0)
                .verdict.action,
            Action::kHost);
  EXPECT_EQ(worker_.counters().icmp_to_host, n + 4);
  EXPECT_EQ(worker_.counters().dropped, 0u);
}

// Malformed ICMP to a VIP is still dropped with its reason: a header cut
// short, an error whose quote is cut short or of the wrong IP version.
TEST_F(EngineTest, MalformedIcmpToVipDropped) {
  const std::vector<uint8_t> quoted = FrameBuilder().ipv4("192.0.2.10", "198.51.100.62").tcp(80, 1).build();
  EXPECT_EQ(send(FrameBuilder().eth().ipv4("203.0.113.1", "192.0.2.10").icmp_time_exceeded(quoted).shorten(14 + 20 + 6).build(), 0)
                .verdict.reason,
            DropReason::kTruncatedL4);
  EXPECT_EQ(send(FrameBuilder().eth().ipv4("203.0.113.1", "192.0.2.10")
                     .icmp_time_exceeded(std::vector<uint8_t>(quoted.begin(), quoted.begin() + 24)).build(), 0)
                .verdict.reason,
            DropReason::kTruncatedIcmpInner);
  const std::vector<uint8_t> quoted6 = FrameBuilder().ipv6("2001:db8::1", "2001:db8::2").tcp(80, 1).build();
  EXPECT_EQ(send(FrameBuilder().eth().ipv4("203.0.113.1", "192.0.2.10").icmp(SLUICE_ICMP_DEST_UNREACH, 3, 0, quoted6).build(), 0)
                .verdict.reason,
            DropReason::kBadIpVersion);
  EXPECT_EQ(worker_.counters().icmp_to_host, 0u);
  EXPECT_EQ(worker_.counters().dropped, 3u);
}

// UDP flows stick to their backend; an idle flow expires after udp_ms.
TEST_F(EngineTest, UdpFlowsStickAndExpire) {
  ServiceConfig dns = web_service();
  dns.name = "dns";
  dns.port = 53;
  dns.protocol = Protocol::kUdp;
  dns.timeouts.udp_ms = 1000;
  config_.services.push_back(dns);
  publish();
  auto udp = [](uint16_t sport) {
    return FrameBuilder().eth().ipv4("198.51.100.70", "192.0.2.10").udp(sport, 53).payload(20).build();
  };
  std::map<uint16_t, std::string> owner;
  for (uint16_t p = 1000; p < 1300; ++p) owner[p] = backend_of(send(udp(p), 0));
  config_.services[1].pools[0].weight = 1;
  config_.services[1].pools[1].weight = 99;
  publish();
  int moved_while_active = 0, moved_after_expiry = 0;
  for (auto& [p, b] : owner) moved_while_active += backend_of(send(udp(p), 999)) != b;
  for (auto& [p, b] : owner) moved_after_expiry += backend_of(send(udp(p), 1999 + 1000)) != b;
  EXPECT_EQ(moved_while_active, 0);
  EXPECT_GT(moved_after_expiry, 100);  // most now go to the 99% canary
}

// An IPv4 VIP with IPv6 backends is carried IPv4-in-IPv6.
TEST_F(EngineTest, Ipv4InIpv6) {
  config_.services[0].pools = {{"stable", 1, {{ip("fd00:1::1")}}}};
  publish();
  Buffer* out = nullptr;
  const Decision d = send(tcp("198.51.100.80", 4000, SLUICE_TCP_SYN), 0, &out);
  ASSERT_EQ(d.verdict.action, Action::kForward);
  const std::vector<uint8_t> f = out->bytes();
  EXPECT_EQ(test::load_be16(&f[12]), SLUICE_ETHERTYPE_IPV6);
  EXPECT_EQ(f[14 + 6], SLUICE_IPPROTO_IPIP);
}

// GUE encapsulation is used when the service asks for it.
TEST_F(EngineTest, GueEncapsulation) {
  config_.services[0].encapsulation = Encapsulation::kGue;
  config_.services[0].gue_port = 6080;
  publish();
  Buffer* out = nullptr;
  ASSERT_EQ(send(tcp("198.51.100.81", 4000, SLUICE_TCP_SYN), 0, &out).verdict.action, Action::kForward);
  const std::vector<uint8_t> f = out->bytes();
  EXPECT_EQ(f[14 + 9], SLUICE_IPPROTO_UDP);
  EXPECT_EQ(test::load_be16(&f[14 + 20 + 2]), 6080);
}

// Without headroom for the outer header the packet drops (and is counted).
TEST_F(EngineTest, NoHeadroomDrops) {
  std::vector<uint8_t> frame = tcp("198.51.100.82", 4000, SLUICE_TCP_SYN);
  Packet pkt{frame.data(), static_cast<uint32_t>(frame.size()), 0};
  const Decision d = worker_.process_one(snapshot_.get(), pkt, 0);
  EXPECT_EQ(d.verdict.reason, DropReason::kNoHeadroom);
  EXPECT_EQ(worker_.counters().drops[static_cast<int>(DropReason::kNoHeadroom)], 1u);
}

// Per service, pool and backend traffic counters add up to what was forwarded.
TEST_F(EngineTest, TrafficCountersAddUp) {
  for (uint16_t port = 1000; port < 1500; ++port) send(tcp("198.51.100.90", port, SLUICE_TCP_SYN), 0);
  const WorkerCounters& c = worker_.counters();
  const CompiledService& svc = snapshot_->services()[0];
  EXPECT_EQ(c.services[svc.counter_slot].packets, 500u);
  uint64_t pools = 0, backends = 0;
  for (const auto& p : svc.pools) pools += c.pools[p.counter_slot].packets;
  for (const auto& b : svc.backends) backends += c.backends[b.counter_slot].packets;
  EXPECT_EQ(pools, 500u);
  EXPECT_EQ(backends, 500u);
  EXPECT_EQ(c.services[svc.counter_slot].bytes, 500u * tcp("198.51.100.90", 1, 0).size());
}

// The burst API gives the same verdicts and bytes as packet-at-a-time processing.
TEST_F(EngineTest, BurstMatchesSingle) {
  std::vector<std::vector<uint8_t>> frames;
  for (int i = 0; i < 64; ++i) {
    const auto port = static_cast<uint16_t>(1000 + i);
    switch (i % 5) {
      case 0: frames.push_back(tcp("198.51.100.91", port, SLUICE_TCP_SYN)); break;
      case 1: frames.push_back(FrameBuilder().eth().arp().build()); break;
      case 2: frames.push_back(tcp("198.51.100.91", port, SLUICE_TCP_SYN, "192.0.2.10", 81)); break;
      case 3: frames.push_back(FrameBuilder().eth().ipv4("198.51.100.91", "192.0.2.10").tcp(port, 80).truncate(30).build()); break;
      default: frames.push_back(tcp("198.51.100.91", port, SLUICE_TCP_ACK)); break;
    }
  }
  std::vector<std::unique_ptr<Buffer>> burst_bufs;
  std::vector<Packet> pkts;
  for (const auto& f : frames) {
    burst_bufs.push_back(std::make_unique<Buffer>(f));
    pkts.push_back(burst_bufs.back()->pkt);
  }
  Worker burst_worker(small_options());
  std::vector<Verdict> verdicts(pkts.size());
  burst_worker.process_burst(snapshot_.get(), pkts.data(), verdicts.data(),
                             static_cast<uint32_t>(pkts.size()), 0);
  for (size_t i = 0; i < frames.size(); ++i) {
    Buffer* single = nullptr;
    const Decision d = send(frames[i], 0, &single);
    EXPECT_EQ(verdicts[i].action, d.verdict.action) << i;
    EXPECT_EQ(verdicts[i].reason, d.verdict.reason) << i;
    EXPECT_EQ(std::vector<uint8_t>(pkts[i].data, pkts[i].data + pkts[i].len), single->bytes()) << i;
  }
  EXPECT_EQ(burst_worker.counters().rx_packets, 64u);
  EXPECT_EQ(burst_worker.counters().rx_packets, worker_.counters().rx_packets);
  EXPECT_EQ(burst_worker.counters().forwarded, worker_.counters().forwarded);
  EXPECT_EQ(burst_worker.counters().dropped, worker_.counters().dropped);
}

// Bursts longer than kMaxBurst are processed whole, in chunks.
TEST_F(EngineTest, LongBurstIsChunked) {
  constexpr uint32_t n = Worker::kMaxBurst * 2 + 5;
  std::vector<std::unique_ptr<Buffer>> bufs;
  std::vector<Packet> pkts;
  for (uint32_t i = 0; i < n; ++i) {
    bufs.push_back(std::make_unique<Buffer>(tcp("198.51.100.92", static_cast<uint16_t>(2000 + i), SLUICE_TCP_SYN)));
    pkts.push_back(bufs.back()->pkt);
  }
  std::vector<Verdict> verdicts(n, Verdict{Action::kHost, DropReason::kNone});
  worker_.process_burst(snapshot_.get(), pkts.data(), verdicts.data(), n, 0);
  for (uint32_t i = 0; i < n; ++i) EXPECT_EQ(verdicts[i].action, Action::kForward) << i;
  EXPECT_EQ(worker_.counters().forwarded, n);
}

}  // namespace
}  // namespace sluice::engine
