// SPDX-License-Identifier: Apache-2.0
// Packets too big to encapsulate (engine Worker::too_big, too_big.cc,
// icmp_too_big.h): the ICMP answers' bytes, checked field by field with a
// checksum summed here independently, and the cases left unanswered.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "dataplane/engine/icmp_too_big.h"
#include "tests/dataplane/engine/engine_fixture.h"

namespace sluice::engine {
namespace {

using Bytes = std::vector<uint8_t>;

uint16_t be16(const Bytes& f, size_t at) { return static_cast<uint16_t>(f[at] << 8 | f[at + 1]); }

// The one's-complement sum of 16-bit words, word by word (RFC 1071): 0xffff
// over a region whose checksum is right.
uint16_t ones_sum(const uint8_t* p, size_t len, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < len; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (len & 1) sum += static_cast<uint32_t>(p[len - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

class TooBigTest : public EngineTest {
 protected:
  TooBigTest() {
    // A 1500-byte port: IPIP over IPv4 leaves 1480 for the client.
    config_.forwarding.max_frame_size = 1514;
    publish();
  }

  // A client's full-size TCP segment (IP packet of ip_len bytes) to the VIP.
  static Bytes segment(size_t ip_len, bool df = true, const char* client = "198.51.100.7") {
    return FrameBuilder().eth().ipv4(client, "192.0.2.10").dont_fragment(df)
        .tcp(40000, 80, SLUICE_TCP_ACK).payload(ip_len - 40).build();
  }

  void use_v6_service(Encapsulation e) {
    ServiceConfig s = web_service();
    s.name = "web6";
    s.vip = ip("2001:db8::10");
    s.encapsulation = e;
    s.pools = {{"stable", 1, {{ip("fd00:1::1")}, {ip("fd00:1::2")}}}};
    config_.services = {s};
    publish();
  }

  static Bytes segment_v6(size_t ip_len) {
    return FrameBuilder().eth().ipv6("2001:db8:5::7", "2001:db8::10")
        .tcp(40000, 80, SLUICE_TCP_ACK).payload(ip_len - 60).build();
  }

  uint64_t drops(DropReason r) const { return worker_.counters().drops[static_cast<int>(r)]; }
};

// IPv4 with DF: ICMP type 3 code 4 from the VIP to the client, next-hop MTU
// 1500 - 20, 548 bytes of the packet quoted, both checksums right, MACs
// swapped; counted in too_big_icmp_sent, not as a drop or as traffic.
TEST_F(TooBigTest, Ipv4WithDfGetsFragmentationNeeded) {
  const Bytes in = segment(1500);
  Buffer* out = nullptr;
  const Decision d = send(in, 1000, &out);
  ASSERT_EQ(d.verdict.action, Action::kForward);
  const Bytes f = out->bytes();
  ASSERT_EQ(f.size(), 14u + 576u);
  EXPECT_EQ(Bytes(f.begin(), f.begin() + 6), Bytes(test::kTestSrcMac.begin(), test::kTestSrcMac.end()));
  EXPECT_EQ(Bytes(f.begin() + 6, f.begin() + 12), Bytes(test::kTestDstMac.begin(), test::kTestDstMac.end()));
  EXPECT_EQ(be16(f, 12), 0x0800);
  const uint8_t* ip4 = f.data() + 14;
  EXPECT_EQ(ip4[0], 0x45);
  EXPECT_EQ(be16(f, 16), 576);     // total length
  EXPECT_EQ(be16(f, 18), 0);       // ID 0: atomic (RFC 6864)
  EXPECT_EQ(be16(f, 20), 0x4000);  // DF
  EXPECT_EQ(ip4[8], 64);
  EXPECT_EQ(ip4[9], SLUICE_IPPROTO_ICMP);
  EXPECT_EQ(Bytes(ip4 + 12, ip4 + 16), Bytes({192, 0, 2, 10}));    // from the VIP
  EXPECT_EQ(Bytes(ip4 + 16, ip4 + 20), Bytes({198, 51, 100, 7}));  // to the client
  EXPECT_EQ(ones_sum(ip4, 20), 0xffff);
  const uint8_t* icmp = ip4 + 20;
  EXPECT_EQ(icmp[0], 3);
  EXPECT_EQ(icmp[1], 4);
  EXPECT_EQ(be16(f, 34 + 4), 0);     // unused
  EXPECT_EQ(be16(f, 34 + 6), 1480);  // next-hop MTU
  EXPECT_EQ(ones_sum(icmp, 8 + 548), 0xffff);
  EXPECT_EQ(Bytes(icmp + 8, icmp + 8 + 548), Bytes(in.begin() + 14, in.begin() + 14 + 548));
  EXPECT_EQ(worker_.counters().too_big_icmp_sent, 1u);
  EXPECT_EQ(worker_.counters().dropped, 0u);
  EXPECT_EQ(worker_.counters().forwarded, 0u);
  // The largest packet that fits is forwarded.
  EXPECT_EQ(send(segment(1480), 1000).verdict.action, Action::kForward);
  EXPECT_EQ(worker_.counters().forwarded, 1u);
}

// The MTU reported is the egress MTU less the encapsulation's overhead.
TEST_F(TooBigTest, MtuIsLessTheOverheadOfEachEncapsulation) {
  config_.services[0].encapsulation = Encapsulation::kGue;  // 20 + 8
  publish();
  Buffer* out = nullptr;
  send(segment(1500), 1000, &out);
  EXPECT_EQ(be16(out->bytes(), 34 + 6), 1472);
  config_.services[0].pools = {{"v6", 1, {{ip("fd00:1::1")}}}};  // 4in6, GUE: 40 + 8
  publish();
  send(segment(1500, true, "198.51.100.8"), 1000, &out);
  EXPECT_EQ(be16(out->bytes(), 34 + 6), 1452);
  config_.services[0].encapsulation = Encapsulation::kIpip;  // 40
  publish();
  send(segment(1500, true, "198.51.100.9"), 1000, &out);
  EXPECT_EQ(be16(out->bytes(), 34 + 6), 1460);
}

// IPv6: ICMPv6 packet-too-big, 1280 bytes in all (1232 quoted), checksum
// over the pseudo-header right, MTU 1500 - 40 for IPIP to IPv6 backends.
TEST_F(TooBigTest, Ipv6GetsPacketTooBig) {
  use_v6_service(Encapsulation::kIpip);
  const Bytes in = segment_v6(1500);
  Buffer* out = nullptr;
  ASSERT_EQ(send(in, 1000, &out).verdict.action, Action::kForward);
  const Bytes f = out->bytes();
  ASSERT_EQ(f.size(), 14u + 1280u);
  EXPECT_EQ(be16(f, 12), 0x86dd);
  const uint8_t* ip6 = f.data() + 14;
  EXPECT_EQ(ip6[0], 0x60);
  EXPECT_EQ(be16(f, 18), 1240);  // payload length
  EXPECT_EQ(ip6[6], SLUICE_IPPROTO_ICMPV6);
  EXPECT_EQ(ip6[7], 64);
  EXPECT_EQ(Bytes(ip6 + 8, ip6 + 24), Bytes(in.begin() + 14 + 24, in.begin() + 14 + 40));  // VIP
  EXPECT_EQ(Bytes(ip6 + 24, ip6 + 40), Bytes(in.begin() + 14 + 8, in.begin() + 14 + 24));  // client
  const uint8_t* icmp = ip6 + 40;
  EXPECT_EQ(icmp[0], 2);
  EXPECT_EQ(icmp[1], 0);
  EXPECT_EQ(be16(f, 54 + 4), 0);
  EXPECT_EQ(be16(f, 54 + 6), 1460);
  // Pseudo-header: addresses, upper-layer length, next header.
  const uint16_t pseudo = ones_sum(ip6 + 8, 32, 1240 + SLUICE_IPPROTO_ICMPV6);
  EXPECT_EQ(ones_sum(icmp, 1240, pseudo), 0xffff);
  EXPECT_EQ(Bytes(icmp + 8, icmp + 1240), Bytes(in.begin() + 14, in.begin() + 14 + 1232));
  EXPECT_EQ(worker_.counters().too_big_icmp_sent, 1u);
}

// GUE to IPv6 backends: 48 bytes; and below IPv6's minimum the answer
// says 1280 (a link that carries less breaks IPv6; mtu_check refuses it).
TEST_F(TooBigTest, Ipv6MtuIsAtLeast1280) {
  use_v6_service(Encapsulation::kGue);
  Buffer* out = nullptr;
  send(segment_v6(1500), 1000, &out);
  EXPECT_EQ(be16(out->bytes(), 54 + 6), 1452);
  config_.forwarding.max_frame_size = 1300;
  publish();
  send(segment_v6(1300), 1000, &out);
  EXPECT_EQ(be16(out->bytes(), 54 + 6), 1280);
}

// IPv4 without DF: no ICMP (the sender allows fragmentation; we do not
// fragment); dropped as too-big and counted in too_big_no_df.
TEST_F(TooBigTest, Ipv4WithoutDfIsDroppedAndCounted) {
  const Decision d = send(segment(1500, false), 1000);
  EXPECT_EQ(d.verdict.action, Action::kDrop);
  EXPECT_EQ(d.verdict.reason, DropReason::kTooBig);
  EXPECT_EQ(worker_.counters().too_big_no_df, 1u);
  EXPECT_EQ(worker_.counters().too_big_icmp_sent, 0u);
  EXPECT_EQ(drops(DropReason::kTooBig), 1u);
}

// A VLAN tag is kept on the answer, and counts against the frame: the MTU
// is 1514 - 18 - 20.
TEST_F(TooBigTest, VlanTagIsKept) {
  const Bytes in = FrameBuilder().eth().vlan(42).ipv4("198.51.100.7", "192.0.2.10")
                       .dont_fragment().tcp(40000, 80, SLUICE_TCP_ACK).payload(1460).build();
  Buffer* out = nullptr;
  ASSERT_EQ(send(in, 1000, &out).verdict.action, Action::kForward);
  const Bytes f = out->bytes();
  ASSERT_EQ(f.size(), 18u + 576u);
  EXPECT_EQ(Bytes(f.begin() + 12, f.begin() + 18), Bytes(in.begin() + 12, in.begin() + 18));
  EXPECT_EQ(be16(f, 38 + 6), 1476);
  EXPECT_EQ(ones_sum(f.data() + 38, 556), 0xffff);
}

// The per-core token bucket: a burst, then the rate; the rest is dropped
// and counted in too_big_rate_limited.
TEST_F(TooBigTest, AnswersAreRateLimited) {
  config_.forwarding.icmp_too_big_rate = 10;  // one every 100 ms
  config_.forwarding.icmp_too_big_burst = 3;
  publish();
  for (int i = 0; i < 5; ++i) send(segment(1500), 1000);
  EXPECT_EQ(worker_.counters().too_big_icmp_sent, 3u);
  EXPECT_EQ(worker_.counters().too_big_rate_limited, 2u);
  EXPECT_EQ(drops(DropReason::kTooBig), 2u);
  send(segment(1500), 1050);
  EXPECT_EQ(worker_.counters().too_big_rate_limited, 3u);
  EXPECT_EQ(send(segment(1500), 1100).verdict.action, Action::kForward);
  EXPECT_EQ(worker_.counters().too_big_icmp_sent, 4u);
}

// An ICMP error is never answered with one: a PMTU error forwarded toward
// its flow's backend but too big to encapsulate is dropped silently.
TEST_F(TooBigTest, IcmpErrorIsNotAnswered) {
  const Bytes quoted = FrameBuilder().ipv4("192.0.2.10", "198.51.100.60").dont_fragment()
                           .tcp(80, 4321).payload(1460).build();
  const Bytes in = FrameBuilder().eth().ipv4("203.0.113.1", "192.0.2.10").dont_fragment()
                       .icmp_frag_needed(1400, quoted).build();
  const Decision d = send(in, 1000);
  EXPECT_EQ(d.verdict.action, Action::kDrop);
  EXPECT_EQ(d.verdict.reason, DropReason::kTooBig);
  EXPECT_EQ(worker_.counters().too_big_icmp_sent, 0u);
  EXPECT_EQ(worker_.counters().icmp_errors_forwarded, 0u);
}

// Sources that are not one host (unspecified, loopback, multicast,
// broadcast) get no answer; nor does a packet shorter than the quote (only
// under a maximum frame below what mtu_check allows).
TEST_F(TooBigTest, OddSourcesAndShortPacketsAreNotAnswered) {
  for (const char* src : {"0.0.0.0", "127.0.0.1", "224.0.0.5", "255.255.255.255"}) {
    EXPECT_EQ(send(segment(1500, true, src), 1000).verdict.reason, DropReason::kTooBig) << src;
  }
  config_.forwarding.max_frame_size = 400;
  publish();
  EXPECT_EQ(send(segment(500), 1000).verdict.reason, DropReason::kTooBig);
  EXPECT_EQ(worker_.counters().too_big_icmp_sent, 0u);
  EXPECT_EQ(drops(DropReason::kTooBig), 5u);
}

// A frame cut short of its IP length is malformed (the parser), never
// quoted past its end.
TEST_F(TooBigTest, TruncatedFrameIsDroppedByTheParser) {
  Bytes in = segment(1500);
  in.resize(1000);
  const Decision d = send(in, 1000);
  EXPECT_EQ(d.verdict.action, Action::kDrop);
  EXPECT_NE(d.verdict.reason, DropReason::kTooBig);
  EXPECT_EQ(worker_.counters().too_big_icmp_sent, 0u);
}

// Without headroom for the new headers the packet is dropped, unchanged.
TEST_F(TooBigTest, NoHeadroomLeavesThePacket) {
  Buffer b(segment(1500));
  b.pkt.headroom = 20;
  const Bytes before = b.bytes();
  const Decision d = worker_.process_one(snapshot_.get(), b.pkt, 1000ull * 1000000);
  EXPECT_EQ(d.verdict.reason, DropReason::kNoHeadroom);
  EXPECT_EQ(b.bytes(), before);
}

}  // namespace
}  // namespace sluice::engine
