// SPDX-License-Identifier: Apache-2.0
// ICMP and ICMPv6 toward a VIP in the XDP program (ebpf/xdp/lib/icmp.h),
// case by case, each frame also through the engine (run_both compares
// verdict, bytes and every counter): echo requests answered, PMTU errors to
// the flow's backend, neighbour discovery and every other type to the host
// (XDP_PASS, unchanged, counted in icmp_to_host), malformed ICMP dropped
// with its reason. The rule and why: engine Worker::handle_icmp.
#include <string>
#include <vector>

#include "tests/ebpf/xdp_parity_harness.h"

namespace sluice::engine::test::parity {
namespace {

constexpr uint64_t kNowNs = 50'000'000'000ULL;

class XdpIcmpTest : public XdpParityHarness {
 protected:
  void SetUp() override {
    XdpParityHarness::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    EngineConfig c = test_forwarding_config();
    ServiceConfig web;
    web.name = "web";
    web.vip = addr("192.0.2.10");
    web.port = 80;
    web.protocol = Protocol::kTcp;
    web.pools = {pool("main", 1, {backend(addr("10.1.0.1")), backend(addr("10.1.0.2"))})};
    ServiceConfig web6 = web;
    web6.name = "web6";
    web6.vip = addr("2001:db8::10");
    web6.pools = {pool("main", 1, {backend(addr("fd00:1::1")), backend(addr("fd00:1::2"))})};
    c.services = {web, web6};
    publish(c, 1);
  }

  // One frame through both; the XDP verdict must be `action`.
  XdpRun expect(const Bytes& frame, int action, const std::string& what) {
    return expect_action(frame, kNowNs, action, what);
  }

  sluice_xdp_counters counters() { return this_cpu_counters(); }
};

// Neighbour discovery addressed to an IPv6 VIP (RS, RA, NS, NA, redirect)
// goes to the host: dropping a neighbour's unicast probes would make an
// on-link VIP flap. To the solicited-node multicast address it is not for a
// VIP at all (host, not counted as ICMP to a VIP).
TEST_F(XdpIcmpTest, NeighbourDiscoveryToVipGoesToHost) {
  const IpAddress vip = addr("2001:db8::10");
  for (const uint8_t type : {133, 134, 135, 136, 137}) {
    expect(FrameBuilder().eth().ipv6("fe80::1", "2001:db8::10").icmpv6_nd(type, vip).build(),
           XDP_PASS, "nd type " + std::to_string(type));
  }
  expect(FrameBuilder().eth().ipv6("fe80::1", "ff02::1:ff00:10").icmpv6_nd(135, vip).build(),
         XDP_PASS, "multicast ns");
  // Tagged, too.
  expect(FrameBuilder().eth().vlan(7).ipv6("fe80::1", "2001:db8::10").icmpv6_nd(136, vip).build(),
         XDP_PASS, "tagged na");
  expect_no_mismatch();
  const sluice_xdp_counters c = counters();
  EXPECT_EQ(c.icmp_to_host, 6u);
  EXPECT_EQ(c.to_host, 7u);
  EXPECT_EQ(c.dropped, 0u);
}

// Other ICMP and ICMPv6 toward a VIP that the balancer does not handle:
// errors other than PMTU, echo replies, informational types: the host's.
TEST_F(XdpIcmpTest, OtherIcmpToVipGoesToHost) {
  const Bytes quoted = FrameBuilder().ipv4("192.0.2.10", "198.51.100.62").tcp(80, 1).build();
  const Bytes quoted6 = FrameBuilder().ipv6("2001:db8::10", "2001:db8:9::1").tcp(80, 5).build();
  const std::vector<std::pair<std::string, Bytes>> frames = {
      {"time exceeded", FrameBuilder().eth().ipv4("203.0.113.1", "192.0.2.10").icmp_time_exceeded(quoted).build()},
      {"port unreachable", FrameBuilder().eth().ipv4("203.0.113.1", "192.0.2.10").icmp(SLUICE_ICMP_DEST_UNREACH, 3, 0, quoted).build()},
      {"echo reply", FrameBuilder().eth().ipv4("203.0.113.1", "192.0.2.10").icmp_echo(1, 1, false).build()},
      {"timestamp", FrameBuilder().eth().ipv4("203.0.113.1", "192.0.2.10").icmp(13, 0, 0, Bytes(12, 0)).build()},
      {"v6 time exceeded", FrameBuilder().eth().ipv6("2001:db8:ff::1", "2001:db8::10").icmp(3, 0, 0, quoted6).build()},
      {"v6 port unreachable", FrameBuilder().eth().ipv6("2001:db8:ff::1", "2001:db8::10").icmp(SLUICE_ICMPV6_DEST_UNREACH, 4, 0, quoted6).build()},
      {"v6 echo reply", FrameBuilder().eth().ipv6("2001:db8:ff::1", "2001:db8::10").icmp_echo(1, 1, false).build()},
      {"mld query", FrameBuilder().eth().ipv6("fe80::1", "2001:db8::10").icmp(130, 0, 0, Bytes(16, 0)).build()},
  };
  for (const auto& [what, frame] : frames) expect(frame, XDP_PASS, what);
  expect_no_mismatch();
  const sluice_xdp_counters c = counters();
  EXPECT_EQ(c.icmp_to_host, frames.size());
  EXPECT_EQ(c.dropped, 0u);
}

// What the balancer does handle stays as it was: echo requests answered,
// PMTU errors forwarded (or dropped when the quote names no service).
TEST_F(XdpIcmpTest, EchoAndPmtuUnchanged) {
  expect(FrameBuilder().eth().ipv4("198.51.100.50", "192.0.2.10").icmp_echo(7, 9).build(), XDP_TX,
         "echo");
  expect(FrameBuilder().eth().ipv6("2001:db8:1::5", "2001:db8::10").icmp_echo(7, 9).build(), XDP_TX,
         "v6 echo");
  const Bytes quoted = FrameBuilder().ipv4("192.0.2.10", "198.51.100.60").tcp(80, 4321).build();
  expect(FrameBuilder().eth().ipv4("203.0.113.1", "192.0.2.10").icmp_frag_needed(1400, quoted).build(),
         XDP_TX, "frag needed");
  const Bytes other_port = FrameBuilder().ipv4("192.0.2.10", "198.51.100.60").tcp(8080, 1).build();
  expect(FrameBuilder().eth().ipv4("203.0.113.1", "192.0.2.10").icmp_frag_needed(1400, other_port).build(),
         XDP_DROP, "frag needed, no service");
  expect_no_mismatch();
  const sluice_xdp_counters c = counters();
  EXPECT_EQ(c.replied, 2u);
  EXPECT_EQ(c.icmp_errors_forwarded, 1u);
  EXPECT_EQ(c.drops[SLUICE_DROP_NO_FLOW_FOR_ICMP], 1u);
  EXPECT_EQ(c.icmp_to_host, 0u);
}

// Malformed ICMP toward a VIP is still dropped with its reason.
TEST_F(XdpIcmpTest, MalformedIcmpToVipDropped) {
  const Bytes quoted = FrameBuilder().ipv4("192.0.2.10", "198.51.100.62").tcp(80, 1).build();
  expect(FrameBuilder().eth().ipv4("203.0.113.1", "192.0.2.10").icmp_time_exceeded(quoted).shorten(14 + 20 + 6).build(),
         XDP_DROP, "icmp header cut");
  expect(FrameBuilder().eth().ipv4("203.0.113.1", "192.0.2.10")
             .icmp_time_exceeded(Bytes(quoted.begin(), quoted.begin() + 24)).build(),
         XDP_DROP, "quote cut");
  expect(FrameBuilder().eth().ipv6("fe80::1", "2001:db8::10").icmpv6_nd(135, addr("2001:db8::10")).shorten(14 + 40 + 4).build(),
         XDP_DROP, "ns cut");
  expect_no_mismatch();
  const sluice_xdp_counters c = counters();
  EXPECT_EQ(c.drops[SLUICE_DROP_TRUNCATED_L4], 2u);
  EXPECT_EQ(c.drops[SLUICE_DROP_TRUNCATED_ICMP_INNER], 1u);
  EXPECT_EQ(c.icmp_to_host, 0u);
}

}  // namespace
}  // namespace sluice::engine::test::parity
