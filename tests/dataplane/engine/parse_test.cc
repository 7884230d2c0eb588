// SPDX-License-Identifier: Apache-2.0
// Tests for parse_packet (dataplane/engine/parse.h) and for the test frame
// builder (frame_builder.h) they are written with.
//
// Every frame is parsed from a heap block of exactly its length, into an
// output first filled with garbage: AddressSanitizer sees any read past the
// end, and a field the parser forgot to reset shows up as 0xa5.
#include "dataplane/engine/parse.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/engine/wire.h"
#include "tests/dataplane/engine/frame_builder.h"

namespace sluice::engine {

// Readable gtest failure messages for the parser's enums (found by ADL).
void PrintTo(DropReason r, std::ostream* os) { *os << drop_reason_name(r); }
void PrintTo(ParseStatus s, std::ostream* os) {
  switch (s) {
    case ParseStatus::kOk:
      *os << "kOk";
      return;
    case ParseStatus::kNotIp:
      *os << "kNotIp";
      return;
    case ParseStatus::kMalformed:
      *os << "kMalformed";
      return;
  }
  *os << "ParseStatus(" << static_cast<int>(s) << ")";
}

namespace {

using test::FrameBuilder;
using test::FrameLayout;
using test::parse_test_address;

constexpr char kClient4[] = "198.51.100.7";
constexpr char kVip4[] = "203.0.113.10";
constexpr char kRouter4[] = "192.0.2.1";
constexpr char kClient6[] = "2001:db8:1::7";
constexpr char kVip6[] = "2001:db8:ffff::10";
constexpr char kRouter6[] = "2001:db8:2::1";
constexpr uint16_t kClientPort = 40000;
constexpr uint16_t kVipPort = 80;

constexpr ParseStatus kOk = ParseStatus::kOk;
constexpr ParseStatus kNotIp = ParseStatus::kNotIp;
constexpr ParseStatus kMalformed = ParseStatus::kMalformed;

sluice_flow_key make_key(std::string_view src, std::string_view dst,
                         uint16_t sport, uint16_t dport, uint8_t proto) {
  const IpAddress s = parse_test_address(src);
  const IpAddress d = parse_test_address(dst);
  sluice_flow_key k{};
  std::memcpy(k.src, s.bytes.data(), 16);
  std::memcpy(k.dst, d.bytes.data(), 16);
  k.sport = htons(sport);
  k.dport = htons(dport);
  k.proto = proto;
  k.family = s.family;
  return k;
}

std::string describe(const sluice_flow_key& k) {
  char src[INET6_ADDRSTRLEN] = "?";
  char dst[INET6_ADDRSTRLEN] = "?";
  const int af = k.family == SLUICE_AF_INET6 ? AF_INET6 : AF_INET;
  inet_ntop(af, k.src, src, sizeof(src));
  inet_ntop(af, k.dst, dst, sizeof(dst));
  return "family " + std::to_string(k.family) + " proto " +
         std::to_string(k.proto) + " " + src + ":" +
         std::to_string(ntohs(k.sport)) + " -> " + dst + ":" +
         std::to_string(ntohs(k.dport));
}

// The packet quoted by an ICMP error the balancer receives: a reply that
// went VIP:80 -> client:40000 straight from a backend (direct return).
std::vector<uint8_t> quoted_reply_v4(uint8_t proto = SLUICE_IPPROTO_TCP) {
  FrameBuilder b;
  b.ipv4(kVip4, kClient4).dont_fragment();
  if (proto == SLUICE_IPPROTO_UDP) {
    b.udp(kVipPort, kClientPort).payload(12);
  } else {
    b.tcp(kVipPort, kClientPort, SLUICE_TCP_SYN | SLUICE_TCP_ACK);
  }
  return b.build();
}

std::vector<uint8_t> quoted_reply_v6() {
  return FrameBuilder()
      .ipv6(kVip6, kClient6)
      .tcp(kVipPort, kClientPort, SLUICE_TCP_SYN | SLUICE_TCP_ACK)
      .build();
}

// Lengths first..last (inclusive) of a cut frame and what parsing gives.
struct Span {
  size_t first;
  size_t last;
  ParseStatus status;
  DropReason reason;
};

class ParseTest : public ::testing::Test {
 protected:
  static ParsedPacket parse(const std::vector<uint8_t>& frame) {
    return parse_prefix(frame, frame.size());
  }

  // The first `n` bytes of `frame`, copied into a block of exactly n bytes.
  static ParsedPacket parse_prefix(const std::vector<uint8_t>& frame, size_t n) {
    std::unique_ptr<uint8_t[]> block(new uint8_t[n]);
    if (n > 0) std::memcpy(block.get(), frame.data(), n);
    ParsedPacket p;
    std::memset(static_cast<void*>(&p), 0xa5, sizeof(p));
    parse_packet(block.get(), static_cast<uint32_t>(n), &p);
    return p;
  }

  static void expect_key(const sluice_flow_key& actual,
                         const sluice_flow_key& expected) {
    EXPECT_EQ(describe(actual), describe(expected));
    // Also the bytes describe() does not show: address tails and pad.
    EXPECT_EQ(0, std::memcmp(&actual, &expected, sizeof(actual)));
  }

  static void expect_drop(const ParsedPacket& p, DropReason reason) {
    EXPECT_EQ(p.status, kMalformed);
    EXPECT_EQ(p.drop_reason, reason);
  }

  static void expect_ok(const ParsedPacket& p) {
    EXPECT_EQ(p.status, kOk);
    EXPECT_EQ(p.drop_reason, DropReason::kNone);
  }

  // Spans must cover 0..full length without gaps; each length inside is
  // parsed and checked.
  static void check_spans(const std::vector<Span>& spans, size_t full_len) {
    ASSERT_FALSE(spans.empty());
    ASSERT_EQ(spans.front().first, 0u);
    ASSERT_EQ(spans.back().last, full_len) << "spans must end at the full length";
    for (size_t i = 1; i < spans.size(); ++i) {
      ASSERT_EQ(spans[i].first, spans[i - 1].last + 1) << "gap before span " << i;
    }
  }

  // Cuts the frame at every length; the length fields still claim it whole.
  static void expect_every_truncation(const FrameBuilder& builder,
                                      const std::vector<Span>& spans) {
    const std::vector<uint8_t> full = builder.build();
    check_spans(spans, full.size());
    for (const Span& s : spans) {
      for (size_t n = s.first; n <= s.last; ++n) {
        const ParsedPacket p = parse_prefix(full, n);
        EXPECT_EQ(p.status, s.status) << "cut at " << n;
        EXPECT_EQ(p.drop_reason, s.reason) << "cut at " << n;
      }
    }
  }

  // Cuts the frame at every length and fixes the IP length (shorten()), so
  // the damage surfaces in the layer that was cut instead of as a bad IP
  // total length.
  static void expect_every_shortening(const FrameBuilder& builder,
                                      const std::vector<Span>& spans) {
    const size_t full_len = builder.build().size();
    check_spans(spans, full_len);
    for (const Span& s : spans) {
      for (size_t n = s.first; n <= s.last; ++n) {
        FrameBuilder cut = builder;
        const ParsedPacket p = parse(cut.shorten(n).build());
        EXPECT_EQ(p.status, s.status) << "shortened to " << n;
        EXPECT_EQ(p.drop_reason, s.reason) << "shortened to " << n;
      }
    }
  }
};

// --- The builder and its checksum helpers ----------------------------------

// The builder writes a TCP SYN byte for byte as worked out by hand.
TEST_F(ParseTest, BuilderMatchesGoldenIpv4TcpSyn) {
  const std::vector<uint8_t> golden = {
      0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
      0x08, 0x00,                                      // Ethernet, IPv4
      0x45, 0x00, 0x00, 0x28, 0x1c, 0x46, 0x40, 0x00,  // IHL 5, len 40, DF
      0x40, 0x06, 0xb8, 0x44,                          // TTL 64, TCP, checksum
      0xc6, 0x33, 0x64, 0x07, 0xcb, 0x00, 0x71, 0x0a,  // 198.51.100.7 -> 203.0.113.10
      0x9c, 0x40, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04,  // 40000 -> 80, seq
      0x00, 0x00, 0x00, 0x00, 0x50, 0x02, 0xff, 0xff,  // ack, doff 5, SYN, window
      0xa9, 0x06, 0x00, 0x00};                         // checksum, urgent
  const std::vector<uint8_t> built = FrameBuilder()
                                         .eth()
                                         .ipv4(kClient4, kVip4)
                                         .ipv4_id(0x1c46)
                                         .dont_fragment()
                                         .tcp(kClientPort, kVipPort, SLUICE_TCP_SYN, 0x01020304)
                                         .build();
  EXPECT_EQ(built, golden);
}

// The RFC 1071 sum gives the well-known checksums, and 0 over valid data.
TEST_F(ParseTest, ChecksumHelpersMatchKnownValues) {
  // The classic example header (192.168.0.1 -> 192.168.0.199, UDP): 0xb861.
  uint8_t header[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                        0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_EQ(test::ipv4_header_checksum(header), 0xb861);
  EXPECT_FALSE(test::ipv4_header_checksum_ok(header));
  test::store_be16(header + 10, 0xb861);
  EXPECT_TRUE(test::ipv4_header_checksum_ok(header));

  // ICMPv6 echo request, id 0x1234 seq 1, 4 bytes 0xab: worked out by hand.
  FrameLayout lay;
  const std::vector<uint8_t> echo =
      FrameBuilder().eth().ipv6(kClient6, kVip6).icmp_echo(0x1234, 1).payload(4).build(&lay);
  ASSERT_EQ(echo.size(), 14u + 40u + 12u);
  EXPECT_EQ(test::load_be16(&echo[lay.l4_offset + 2]), 0xbaa2);
  EXPECT_EQ(test::icmpv6_checksum(&echo[lay.l3_offset], &echo[lay.l4_offset], 12), 0);
}

// Every checksum the builder writes verifies with the helpers.
TEST_F(ParseTest, BuilderChecksumsVerify) {
  FrameLayout lay;
  const auto tcp4 = FrameBuilder().eth().ipv4(kClient4, kVip4).ipv4_options({0x94, 0x04, 0, 0})
                        .tcp(kClientPort, kVipPort).payload(7).build(&lay);
  EXPECT_TRUE(test::ipv4_header_checksum_ok(&tcp4[lay.l3_offset]));
  EXPECT_EQ(test::ipv4_transport_checksum(&tcp4[lay.l3_offset], &tcp4[lay.l4_offset],
                                          lay.ip_end - lay.l4_offset), 0);

  const auto udp6 = FrameBuilder().eth().ipv6(kClient6, kVip6).dest_opts()
                        .udp(kClientPort, kVipPort).payload(5).build(&lay);
  EXPECT_EQ(test::ipv6_transport_checksum(&udp6[lay.l3_offset], SLUICE_IPPROTO_UDP,
                                          &udp6[lay.l4_offset], lay.ip_end - lay.l4_offset), 0);

  const auto icmp4 = FrameBuilder().eth().ipv4(kRouter4, kVip4)
                         .icmp_frag_needed(1400, quoted_reply_v4()).build(&lay);
  EXPECT_EQ(test::icmp_checksum(&icmp4[lay.l4_offset], lay.ip_end - lay.l4_offset), 0);
  EXPECT_EQ(test::load_be16(&icmp4[lay.l4_offset + 6]), 1400);  // next-hop MTU

  const auto ptb = FrameBuilder().eth().ipv6(kRouter6, kVip6)
                       .icmpv6_packet_too_big(1280, quoted_reply_v6()).build(&lay);
  EXPECT_EQ(test::icmpv6_checksum(&ptb[lay.l3_offset], &ptb[lay.l4_offset],
                                  lay.ip_end - lay.l4_offset), 0);
  EXPECT_EQ(test::load_be32(&ptb[lay.l4_offset + 4]), 1280u);  // MTU
}

// --- Good frames --------------------------------------------------------------

// The golden SYN parses into exactly the expected fields.
TEST_F(ParseTest, ParsesGoldenIpv4TcpSyn) {
  const std::vector<uint8_t> frame = {
      0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00,
      0x45, 0x2e, 0x00, 0x28, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0xb8, 0x16,
      0xc6, 0x33, 0x64, 0x07, 0xcb, 0x00, 0x71, 0x0a,
      0x9c, 0x40, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00,
      0x50, 0x02, 0xff, 0xff, 0xa9, 0x06, 0x00, 0x00};
  const ParsedPacket p = parse(frame);
  expect_ok(p);
  EXPECT_EQ(p.ethertype, 0x0800);
  EXPECT_FALSE(p.has_vlan);
  EXPECT_EQ(p.vlan_tci, 0);
  EXPECT_EQ(p.l3_offset, 14);
  EXPECT_EQ(p.l4_offset, 34);
  EXPECT_EQ(p.l3_end, 54);
  EXPECT_EQ(p.tos, 0x2e);
  EXPECT_TRUE(p.dont_fragment);
  EXPECT_FALSE(p.is_fragment);
  EXPECT_FALSE(p.first_fragment);
  expect_key(p.key, make_key(kClient4, kVip4, 40000, 80, 6));
  EXPECT_EQ(p.key.sport, htons(40000));  // network order, as on the wire
  EXPECT_EQ(p.tcp_flags, SLUICE_TCP_SYN);
  EXPECT_EQ(p.icmp_type, 0);
  EXPECT_EQ(p.icmp_code, 0);
  EXPECT_FALSE(p.has_inner);
  expect_key(p.inner, sluice_flow_key{});
}

// An 802.1Q tag moves L3 by 4 bytes and reports its TCI.
TEST_F(ParseTest, Ipv4TcpWithVlan) {
  const ParsedPacket p = parse(FrameBuilder().eth().vlan(0x2064).ipv4(kClient4, kVip4)
                                   .tcp(kClientPort, kVipPort, SLUICE_TCP_ACK).payload(100)
                                   .build());
  expect_ok(p);
  EXPECT_TRUE(p.has_vlan);
  EXPECT_EQ(p.vlan_tci, 0x2064);
  EXPECT_EQ(p.ethertype, 0x0800);
  EXPECT_EQ(p.l3_offset, 18);
  EXPECT_EQ(p.l4_offset, 38);
  EXPECT_EQ(p.l3_end, 18 + 20 + 20 + 100);
  EXPECT_FALSE(p.dont_fragment);
  expect_key(p.key, make_key(kClient4, kVip4, kClientPort, kVipPort, 6));
  EXPECT_EQ(p.tcp_flags, SLUICE_TCP_ACK);
}

// A single 802.1ad (QinQ outer) tag is accepted like an 802.1Q tag.
TEST_F(ParseTest, SingleQinqTagAccepted) {
  const ParsedPacket p = parse(FrameBuilder().eth().vlan(0x0fff, SLUICE_ETHERTYPE_QINQ)
                                   .ipv4(kClient4, kVip4).udp(5353, 53).build());
  expect_ok(p);
  EXPECT_TRUE(p.has_vlan);
  EXPECT_EQ(p.vlan_tci, 0x0fff);
  EXPECT_EQ(p.l3_offset, 18);
  expect_key(p.key, make_key(kClient4, kVip4, 5353, 53, 17));
}

// The whole TCP flags byte is reported, CWR/ECE included.
TEST_F(ParseTest, TcpFlagsByteReportedWhole) {
  const uint8_t flags = 0x80 | SLUICE_TCP_PSH | SLUICE_TCP_ACK | SLUICE_TCP_FIN;  // 0x80: CWR
  const ParsedPacket p = parse(FrameBuilder().eth().ipv4(kClient4, kVip4)
                                   .tcp(kClientPort, kVipPort, flags).build());
  expect_ok(p);
  EXPECT_EQ(p.tcp_flags, 0x99);
}

// UDP: ports, no TCP flags.
TEST_F(ParseTest, Ipv4UdpFields) {
  const ParsedPacket p = parse(FrameBuilder().eth().ipv4(kClient4, kVip4).tos(0xb8)
                                   .udp(kClientPort, 443).payload(30).build());
  expect_ok(p);
  EXPECT_EQ(p.l4_offset, 34);
  EXPECT_EQ(p.l3_end, 14 + 20 + 8 + 30);
  EXPECT_EQ(p.tos, 0xb8);
  expect_key(p.key, make_key(kClient4, kVip4, kClientPort, 443, 17));
  EXPECT_EQ(p.tcp_flags, 0);
}

// IPv4 options: L4 starts at IHL*4.
TEST_F(ParseTest, Ipv4OptionsMoveL4Offset) {
  const ParsedPacket p = parse(FrameBuilder().eth().ipv4(kClient4, kVip4)
                                   // Router alert, then NOPs.
                                   .ipv4_options({0x94, 0x04, 0x00, 0x00, 0x01, 0x01, 0x01})
                                   .tcp(kClientPort, kVipPort, SLUICE_TCP_SYN).build());
  expect_ok(p);
  EXPECT_EQ(p.l4_offset, 14 + 28);
  EXPECT_EQ(p.l3_end, 14 + 28 + 20);
  expect_key(p.key, make_key(kClient4, kVip4, kClientPort, kVipPort, 6));
  EXPECT_EQ(p.tcp_flags, SLUICE_TCP_SYN);
}

// The largest IPv4 header (IHL 15, 40 bytes of options).
TEST_F(ParseTest, Ipv4MaximumOptions) {
  const ParsedPacket p = parse(FrameBuilder().eth().ipv4(kClient4, kVip4)
                                   .ipv4_options(std::vector<uint8_t>(40, 0x01))
                                   .udp(kClientPort, kVipPort).build());
  expect_ok(p);
  EXPECT_EQ(p.l4_offset, 14 + 60);
  expect_key(p.key, make_key(kClient4, kVip4, kClientPort, kVipPort, 17));
}

// TCP options are inside the data offset and do not move anything.
TEST_F(ParseTest, TcpOptionsAccepted) {
  const ParsedPacket p = parse(FrameBuilder().eth().ipv4(kClient4, kVip4)
                                   .tcp(kClientPort, kVipPort, SLUICE_TCP_SYN)
                                   .tcp_options({0x02, 0x04, 0x05, 0xb4, 0x01, 0x01, 0x04, 0x02})
                                   .build());
  expect_ok(p);
  EXPECT_EQ(p.l4_offset, 34);
  EXPECT_EQ(p.l3_end, 34 + 28);
}

// IPv6 TCP: traffic class as tos, DF always set, 40-byte header.
TEST_F(ParseTest, Ipv6TcpFields) {
  const ParsedPacket p = parse(FrameBuilder().eth().ipv6(kClient6, kVip6).tos(0xb9)
                                   .flow_label(0xfffff).tcp(kClientPort, kVipPort, SLUICE_TCP_SYN)
                                   .payload(9).build());
  expect_ok(p);
  EXPECT_EQ(p.ethertype, 0x86dd);
  EXPECT_EQ(p.l3_offset, 14);
  EXPECT_EQ(p.l4_offset, 54);
  EXPECT_EQ(p.l3_end, 54 + 20 + 9);
  EXPECT_EQ(p.tos, 0xb9);
  EXPECT_TRUE(p.dont_fragment);
  EXPECT_FALSE(p.is_fragment);
  expect_key(p.key, make_key(kClient6, kVip6, kClientPort, kVipPort, 6));
  EXPECT_EQ(p.tcp_flags, SLUICE_TCP_SYN);
}

// IPv6 UDP behind a VLAN tag.
TEST_F(ParseTest, Ipv6UdpWithVlan) {
  const ParsedPacket p = parse(FrameBuilder().eth().vlan(42).ipv6(kClient6, kVip6)
                                   .udp(kClientPort, 4789).payload(50).build());
  expect_ok(p);
  EXPECT_TRUE(p.has_vlan);
  EXPECT_EQ(p.vlan_tci, 42);
  EXPECT_EQ(p.l3_offset, 18);
  EXPECT_EQ(p.l4_offset, 58);
  EXPECT_EQ(p.l3_end, 58 + 8 + 50);
  expect_key(p.key, make_key(kClient6, kVip6, kClientPort, 4789, 17));
}

// Hop-by-hop, routing and destination options are skipped.
TEST_F(ParseTest, Ipv6ExtensionHeadersSkipped) {
  const ParsedPacket p = parse(FrameBuilder().eth().ipv6(kClient6, kVip6)
                                   .hop_by_hop(8).routing(24).dest_opts(16)
                                   .tcp(kClientPort, kVipPort).build());
  expect_ok(p);
  EXPECT_EQ(p.l4_offset, 54 + 8 + 24 + 16);
  EXPECT_EQ(p.l3_end, 54 + 48 + 20);
  expect_key(p.key, make_key(kClient6, kVip6, kClientPort, kVipPort, 6));
}

// Exactly kMaxIpv6ExtensionHeaders headers are accepted.
TEST_F(ParseTest, Ipv6ExtensionHeadersAtLimit) {
  ASSERT_EQ(kMaxIpv6ExtensionHeaders, 4);
  const ParsedPacket p = parse(FrameBuilder().eth().ipv6(kClient6, kVip6)
                                   .hop_by_hop().dest_opts().routing().dest_opts()
                                   .udp(kClientPort, kVipPort).build());
  expect_ok(p);
  EXPECT_EQ(p.l4_offset, 54 + 32);
  expect_key(p.key, make_key(kClient6, kVip6, kClientPort, kVipPort, 17));
}

// One header more than the limit is dropped.
TEST_F(ParseTest, Ipv6TooManyExtensionHeaders) {
  expect_drop(parse(FrameBuilder().eth().ipv6(kClient6, kVip6)
                        .hop_by_hop().dest_opts().routing().dest_opts().dest_opts()
                        .udp(kClientPort, kVipPort).build()),
              DropReason::kBadIpv6ExtensionHeader);
  // A fragment header counts toward the limit too.
  expect_drop(parse(FrameBuilder().eth().ipv6(kClient6, kVip6)
                        .hop_by_hop().routing().dest_opts().fragment(0, true).dest_opts()
                        .udp(kClientPort, kVipPort).build()),
              DropReason::kBadIpv6ExtensionHeader);
}

// Hop-by-hop anywhere but first is misplaced.
TEST_F(ParseTest, Ipv6HopByHopNotFirst) {
  expect_drop(parse(FrameBuilder().eth().ipv6(kClient6, kVip6).dest_opts().hop_by_hop()
                        .tcp(kClientPort, kVipPort).build()),
              DropReason::kBadIpv6ExtensionHeader);
}

// An extension header whose length runs past the packet is dropped.
TEST_F(ParseTest, Ipv6ExtensionHeaderBeyondPacket) {
  // Dest opts claims (10 + 1) * 8 = 88 bytes; the packet has 8 + 20.
  expect_drop(parse(FrameBuilder().eth().ipv6(kClient6, kVip6)
                        .ext_header(SLUICE_IPPROTO_DSTOPTS, {0, 10, 1, 4, 0, 0, 0, 0})
                        .tcp(kClientPort, kVipPort).build()),
              DropReason::kBadIpv6ExtensionHeader);
  // Bytes beyond the payload length (padding) do not count as packet.
  expect_drop(parse(FrameBuilder().eth().ipv6(kClient6, kVip6)
                        .ext_header(SLUICE_IPPROTO_DSTOPTS, {0, 1, 1, 12, 0, 0, 0, 0})
                        .ip_proto(SLUICE_IPPROTO_NONE).pad(8).build()),
              DropReason::kBadIpv6ExtensionHeader);
}

// ESP (or any header we do not skip) ends parsing: that protocol, no ports.
TEST_F(ParseTest, Ipv6UnknownNextHeaderEndsParsing) {
  const ParsedPacket esp = parse(FrameBuilder().eth().ipv6(kClient6, kVip6).dest_opts()
                                     .ip_proto(50).payload(24).build());
  expect_ok(esp);
  EXPECT_EQ(esp.l4_offset, 54 + 8);
  expect_key(esp.key, make_key(kClient6, kVip6, 0, 0, 50));

  const ParsedPacket none = parse(FrameBuilder().eth().ipv6(kClient6, kVip6).build());
  expect_ok(none);
  EXPECT_EQ(none.l4_offset, 54);
  EXPECT_EQ(none.l3_end, 54);
  expect_key(none.key, make_key(kClient6, kVip6, 0, 0, SLUICE_IPPROTO_NONE));
}

// IPv4 protocols other than TCP/UDP/ICMP: protocol set, no ports (IPIP here).
TEST_F(ParseTest, Ipv4OtherProtocolHasNoPorts) {
  const ParsedPacket p = parse(FrameBuilder().eth().ipv4(kClient4, kVip4)
                                   .ip_proto(SLUICE_IPPROTO_IPIP).payload(quoted_reply_v4())
                                   .build());
  expect_ok(p);
  expect_key(p.key, make_key(kClient4, kVip4, 0, 0, SLUICE_IPPROTO_IPIP));
  EXPECT_FALSE(p.has_inner);
}

// ICMPv6 carried over IPv4 (or ICMP over IPv6) is just another protocol.
TEST_F(ParseTest, IcmpOfTheOtherFamilyIsNotIcmp) {
  const ParsedPacket p = parse(FrameBuilder().eth().ipv4(kClient4, kVip4)
                                   .ip_proto(SLUICE_IPPROTO_ICMPV6).payload(4).build());
  expect_ok(p);
  EXPECT_EQ(p.icmp_type, 0);
  expect_key(p.key, make_key(kClient4, kVip4, 0, 0, SLUICE_IPPROTO_ICMPV6));

  const ParsedPacket q = parse(FrameBuilder().eth().ipv6(kClient6, kVip6)
                                   .ip_proto(SLUICE_IPPROTO_ICMP).payload(4).build());
  expect_ok(q);
  expect_key(q.key, make_key(kClient6, kVip6, 0, 0, SLUICE_IPPROTO_ICMP));
}

// --- ICMP -----------------------------------------------------------------------

// ICMP echo: type and code, no ports, nothing quoted.
TEST_F(ParseTest, IcmpEchoV4) {
  const ParsedPacket p = parse(FrameBuilder().eth().ipv4(kClient4, kVip4)
                                   .icmp_echo(0x1234, 7).payload(56).build());
  expect_ok(p);
  EXPECT_EQ(p.icmp_type, SLUICE_ICMP_ECHO_REQUEST);
  EXPECT_EQ(p.icmp_code, 0);
  EXPECT_EQ(p.l4_offset, 34);
  expect_key(p.key, make_key(kClient4, kVip4, 0, 0, SLUICE_IPPROTO_ICMP));
  EXPECT_FALSE(p.has_inner);
  expect_key(p.inner, sluice_flow_key{});
}

// ICMPv6 echo reply likewise.
TEST_F(ParseTest, IcmpEchoV6) {
  const ParsedPacket p = parse(FrameBuilder().eth().ipv6(kClient6, kVip6)
                                   .icmp_echo(1, 2, /*request=*/false).build());
  expect_ok(p);
  EXPECT_EQ(p.icmp_type, SLUICE_ICMPV6_ECHO_REPLY);
  expect_key(p.key, make_key(kClient6, kVip6, 0, 0, SLUICE_IPPROTO_ICMPV6));
  EXPECT_FALSE(p.has_inner);
}

// Frag-needed quotes VIP:80 -> client; inner reads client -> VIP:80.
TEST_F(ParseTest, IcmpFragNeededQuotesReversedFlow) {
  const ParsedPacket p = parse(FrameBuilder().eth().ipv4(kRouter4, kVip4)
                                   .icmp_frag_needed(1400, quoted_reply_v4()).build());
  expect_ok(p);
  EXPECT_EQ(p.icmp_type, SLUICE_ICMP_DEST_UNREACH);
  EXPECT_EQ(p.icmp_code, SLUICE_ICMP_FRAG_NEEDED);
  expect_key(p.key, make_key(kRouter4, kVip4, 0, 0, SLUICE_IPPROTO_ICMP));
  ASSERT_TRUE(p.has_inner);
  expect_key(p.inner, make_key(kClient4, kVip4, kClientPort, kVipPort, 6));
  EXPECT_EQ(p.l3_end, 14 + 20 + 8 + 40);
}

// Time exceeded quoting UDP; only 8 bytes of L4 quoted is enough.
TEST_F(ParseTest, IcmpTimeExceededUdpQuote) {
  std::vector<uint8_t> quote = quoted_reply_v4(SLUICE_IPPROTO_UDP);
  quote.resize(28);  // IP header + 8 bytes: the RFC 792 minimum
  const ParsedPacket p = parse(FrameBuilder().eth().ipv4(kRouter4, kVip4)
                                   .icmp_time_exceeded(quote).build());
  expect_ok(p);
  EXPECT_EQ(p.icmp_type, SLUICE_ICMP_TIME_EXCEEDED);
  ASSERT_TRUE(p.has_inner);
  expect_key(p.inner, make_key(kClient4, kVip4, kClientPort, kVipPort, 17));
}

// Port unreachable (type 3, code 3) is an error too.
TEST_F(ParseTest, IcmpPortUnreachableHasInner) {
  const ParsedPacket p = parse(FrameBuilder().eth().ipv4(kRouter4, kVip4)
                                   .icmp(SLUICE_ICMP_DEST_UNREACH, 3, 0,
                                         quoted_reply_v4(SLUICE_IPPROTO_UDP)).build());
  expect_ok(p);
  EXPECT_EQ(p.icmp_code, 3);
  ASSERT_TRUE(p.has_inner);
  expect_key(p.inner, make_key(kClient4, kVip4, kClientPort, kVipPort, 17));
}

// A quoted header with options: its L4 starts at its own IHL*4.
TEST_F(ParseTest, IcmpQuoteWithIpv4Options) {
  const std::vector<uint8_t> quote = FrameBuilder().ipv4(kVip4, kClient4)
                                         .ipv4_options({1, 1, 1, 1, 1, 1, 1, 0})
                                         .tcp(kVipPort, kClientPort).build();
  const ParsedPacket p = parse(FrameBuilder().eth().ipv4(kRouter4, kVip4)
                                   .icmp_frag_needed(1400, quote).build());
  expect_ok(p);
  ASSERT_TRUE(p.has_inner);
  expect_key(p.inner, make_key(kClient4, kVip4, kClientPort, kVipPort, 6));
}

// A quoted ICMP echo or non-first fragment has no ports.
TEST_F(ParseTest, IcmpQuoteWithoutPorts) {
  const std::vector<uint8_t> echo = FrameBuilder().ipv4(kVip4, kClient4).icmp_echo(9, 9).build();
  const ParsedPacket p = parse(FrameBuilder().eth().ipv4(kRouter4, kVip4)
                                   .icmp_frag_needed(1400, echo).build());
  expect_ok(p);
  ASSERT_TRUE(p.has_inner);
  expect_key(p.inner, make_key(kClient4, kVip4, 0, 0, SLUICE_IPPROTO_ICMP));

  const std::vector<uint8_t> frag = FrameBuilder().ipv4(kVip4, kClient4).fragment(1480, true)
                                        .ip_proto(SLUICE_IPPROTO_TCP).payload(8, 0x77).build();
  const ParsedPacket q = parse(FrameBuilder().eth().ipv4(kRouter4, kVip4)
                                   .icmp_time_exceeded(frag).build());
  expect_ok(q);
  ASSERT_TRUE(q.has_inner);
  expect_key(q.inner, make_key(kClient4, kVip4, 0, 0, SLUICE_IPPROTO_TCP));
}

// ICMP types that are not errors (redirect, timestamp) quote nothing we read.
TEST_F(ParseTest, IcmpNonErrorTypesHaveNoInner) {
  for (uint8_t type : {5, 4, 12, 13}) {
    const ParsedPacket p = parse(FrameBuilder().eth().ipv4(kRouter4, kVip4)
                                     .icmp(type, 0, 0, quoted_reply_v4()).build());
    expect_ok(p);
    EXPECT_EQ(p.icmp_type, type);
    EXPECT_FALSE(p.has_inner) << "type " << int{type};
  }
}

// Packet-too-big quoting IPv6 with an extension header.
TEST_F(ParseTest, Icmpv6PacketTooBigQuotesReversedFlow) {
  const std::vector<uint8_t> quote = FrameBuilder().ipv6(kVip6, kClient6).dest_opts(16)
                                         .tcp(kVipPort, kClientPort).build();
  const ParsedPacket p = parse(FrameBuilder().eth().vlan(3).ipv6(kRouter6, kVip6)
                                   .icmpv6_packet_too_big(1280, quote).build());
  expect_ok(p);
  EXPECT_EQ(p.icmp_type, SLUICE_ICMPV6_PACKET_TOO_BIG);
  EXPECT_EQ(p.icmp_code, 0);
  expect_key(p.key, make_key(kRouter6, kVip6, 0, 0, SLUICE_IPPROTO_ICMPV6));
  ASSERT_TRUE(p.has_inner);
  expect_key(p.inner, make_key(kClient6, kVip6, kClientPort, kVipPort, 6));
}

// ICMPv6 destination unreachable (1) and time exceeded (3) are errors too.
TEST_F(ParseTest, Icmpv6OtherErrorsHaveInner) {
  for (uint8_t type : {1, 3}) {
    const ParsedPacket p = parse(FrameBuilder().eth().ipv6(kRouter6, kVip6)
                                     .icmp(type, 0, 0, quoted_reply_v6()).build());
    expect_ok(p);
    ASSERT_TRUE(p.has_inner) << "type " << int{type};
    expect_key(p.inner, make_key(kClient6, kVip6, kClientPort, kVipPort, 6));
  }
}

// Parameter problem (4) and informational types carry no inner flow.
TEST_F(ParseTest, Icmpv6NonErrorTypesHaveNoInner) {
  for (uint8_t type : {4, 128, 135}) {
    const ParsedPacket p = parse(FrameBuilder().eth().ipv6(kRouter6, kVip6)
                                     .icmp(type, 0, 0, quoted_reply_v6()).build());
    expect_ok(p);
    EXPECT_FALSE(p.has_inner) << "type " << int{type};
  }
}

// A quoted IPv6 first fragment keeps its ports; a later one has none.
TEST_F(ParseTest, Icmpv6QuotedFragments) {
  const std::vector<uint8_t> first = FrameBuilder().ipv6(kVip6, kClient6).fragment(0, true)
                                         .udp(kVipPort, kClientPort).payload(8).build();
  const ParsedPacket p = parse(FrameBuilder().eth().ipv6(kRouter6, kVip6)
                                   .icmpv6_packet_too_big(1280, first).build());
  expect_ok(p);
  ASSERT_TRUE(p.has_inner);
  expect_key(p.inner, make_key(kClient6, kVip6, kClientPort, kVipPort, 17));

  const std::vector<uint8_t> later = FrameBuilder().ipv6(kVip6, kClient6).fragment(1232, false)
                                         .ip_proto(SLUICE_IPPROTO_UDP).payload(8).build();
  const ParsedPacket q = parse(FrameBuilder().eth().ipv6(kRouter6, kVip6)
                                   .icmpv6_packet_too_big(1280, later).build());
  expect_ok(q);
  ASSERT_TRUE(q.has_inner);
  expect_key(q.inner, make_key(kClient6, kVip6, 0, 0, SLUICE_IPPROTO_UDP));
}

// Quotes cut short anywhere before IP header + 8 bytes are kTruncatedIcmpInner.
TEST_F(ParseTest, IcmpQuoteCutShort) {
  const std::vector<uint8_t> full = quoted_reply_v4();
  for (size_t n = 0; n < 28; ++n) {
    const std::vector<uint8_t> quote(full.begin(), full.begin() + n);
    expect_drop(parse(FrameBuilder().eth().ipv4(kRouter4, kVip4)
                          .icmp_frag_needed(1400, quote).build()),
                DropReason::kTruncatedIcmpInner);
  }
  // A quote with options needs IHL*4 + 8 bytes: 32 + 7 is one short.
  const std::vector<uint8_t> with_options =
      FrameBuilder().ipv4(kVip4, kClient4).ipv4_options({1, 1, 1, 1, 1, 1, 1, 0})
          .tcp(kVipPort, kClientPort).build();
  const std::vector<uint8_t> short_quote(with_options.begin(), with_options.begin() + 28 + 7);
  expect_drop(parse(FrameBuilder().eth().ipv4(kRouter4, kVip4)
                        .icmp_frag_needed(1400, short_quote).build()),
              DropReason::kTruncatedIcmpInner);
}

// IPv6 quotes: header, extension headers and 8 bytes of L4 must all fit.
TEST_F(ParseTest, Icmpv6QuoteCutShort) {
  const std::vector<uint8_t> full = FrameBuilder().ipv6(kVip6, kClient6).hop_by_hop(16)
                                        .tcp(kVipPort, kClientPort).build();
  ASSERT_EQ(full.size(), 40u + 16u + 20u);
  for (size_t n = 0; n < 40 + 16 + 8; ++n) {
    const std::vector<uint8_t> quote(full.begin(), full.begin() + n);
    expect_drop(parse(FrameBuilder().eth().ipv6(kRouter6, kVip6)
                          .icmpv6_packet_too_big(1280, quote).build()),
                DropReason::kTruncatedIcmpInner);
  }
}

// A quote that is not the family of its ICMP is dropped as a bad version.
TEST_F(ParseTest, IcmpQuoteBadVersion) {
  expect_drop(parse(FrameBuilder().eth().ipv4(kRouter4, kVip4)
                        .icmp_frag_needed(1400, quoted_reply_v6()).build()),
              DropReason::kBadIpVersion);
  std::vector<uint8_t> v4_quote = quoted_reply_v4();
  v4_quote.resize(48, 0);  // long enough for an IPv6 header
  expect_drop(parse(FrameBuilder().eth().ipv6(kRouter6, kVip6)
                        .icmpv6_packet_too_big(1280, v4_quote).build()),
              DropReason::kBadIpVersion);
}

// A quoted IHL below 5 is dropped as a bad header length.
TEST_F(ParseTest, IcmpQuoteBadIhl) {
  for (uint8_t ihl = 0; ihl < 5; ++ihl) {
    const std::vector<uint8_t> quote = FrameBuilder().ipv4(kVip4, kClient4).set_ihl(ihl)
                                           .tcp(kVipPort, kClientPort).build();
    expect_drop(parse(FrameBuilder().eth().ipv4(kRouter4, kVip4)
                          .icmp_frag_needed(1400, quote).build()),
                DropReason::kBadIpHeaderLength);
  }
}

// A quoted IPv6 packet with too many extension headers.
TEST_F(ParseTest, Icmpv6QuoteTooManyExtensionHeaders) {
  const std::vector<uint8_t> quote = FrameBuilder().ipv6(kVip6, kClient6).hop_by_hop()
                                         .dest_opts().routing().dest_opts().dest_opts()
                                         .tcp(kVipPort, kClientPort).build();
  expect_drop(parse(FrameBuilder().eth().ipv6(kRouter6, kVip6)
                        .icmpv6_packet_too_big(1280, quote).build()),
              DropReason::kBadIpv6ExtensionHeader);
}

// --- Not IP ---------------------------------------------------------------------

// ARP goes to the host: only L2 fields are set.
TEST_F(ParseTest, ArpIsNotIp) {
  const ParsedPacket p = parse(FrameBuilder().eth().arp().build());
  EXPECT_EQ(p.status, kNotIp);
  EXPECT_EQ(p.drop_reason, DropReason::kNone);
  EXPECT_EQ(p.ethertype, SLUICE_ETHERTYPE_ARP);
  EXPECT_FALSE(p.has_vlan);
  EXPECT_EQ(p.l3_offset, 14);
  expect_key(p.key, sluice_flow_key{});

  const ParsedPacket tagged = parse(FrameBuilder().eth().vlan(100).arp().build());
  EXPECT_EQ(tagged.status, kNotIp);
  EXPECT_TRUE(tagged.has_vlan);
  EXPECT_EQ(tagged.vlan_tci, 100);
  EXPECT_EQ(tagged.ethertype, SLUICE_ETHERTYPE_ARP);
  EXPECT_EQ(tagged.l3_offset, 18);
}

// Any other ethertype (LLDP here), even with nothing after it, is not IP.
TEST_F(ParseTest, OtherEthertypeIsNotIp) {
  const ParsedPacket p = parse(FrameBuilder().eth().ethertype(0x88cc).build());
  EXPECT_EQ(p.status, kNotIp);
  EXPECT_EQ(p.ethertype, 0x88cc);
  EXPECT_EQ(p.l3_offset, 14);
}

// --- Padding and lengths --------------------------------------------------------

// Bytes past the IP total length are Ethernet padding and are ignored.
TEST_F(ParseTest, EthernetPaddingIgnored) {
  const ParsedPacket p = parse(FrameBuilder().eth().ipv4(kClient4, kVip4)
                                   .tcp(kClientPort, kVipPort).pad_to(60).build());
  expect_ok(p);
  EXPECT_EQ(p.l3_end, 54);
  expect_key(p.key, make_key(kClient4, kVip4, kClientPort, kVipPort, 6));

  // Padding that looks like UDP payload does not lengthen the datagram:
  // the UDP length is checked against the IP packet, not the frame.
  const ParsedPacket q = parse(FrameBuilder().eth().ipv6(kClient6, kVip6)
                                   .udp(kClientPort, kVipPort).pad(20).build());
  expect_ok(q);
  EXPECT_EQ(q.l3_end, 62);
}

// IHL 0..4 is below the minimum header.
TEST_F(ParseTest, Ipv4IhlBelowFive) {
  for (uint8_t ihl = 0; ihl < 5; ++ihl) {
    expect_drop(parse(FrameBuilder().eth().ipv4(kClient4, kVip4).set_ihl(ihl)
                          .tcp(kClientPort, kVipPort).payload(40).build()),
                DropReason::kBadIpHeaderLength);
  }
}

// An IHL that reaches past the frame.
TEST_F(ParseTest, Ipv4IhlBeyondFrame) {
  // IHL 15 = 60 bytes; the frame holds 20 + 8 after Ethernet.
  expect_drop(parse(FrameBuilder().eth().ipv4(kClient4, kVip4).set_ihl(15)
                        .udp(kClientPort, kVipPort).build()),
              DropReason::kBadIpHeaderLength);
  // IHL 6 = 24 bytes with exactly 23 bytes of IP in the frame.
  expect_drop(parse(FrameBuilder().eth().ipv4(kClient4, kVip4).set_ihl(6)
                        .ip_proto(253).payload(3).build()),
              DropReason::kBadIpHeaderLength);
}

// Total length below the header length, or beyond the frame.
TEST_F(ParseTest, Ipv4BadTotalLength) {
  for (uint16_t total : {0, 1, 19}) {
    expect_drop(parse(FrameBuilder().eth().ipv4(kClient4, kVip4).set_total_length(total)
                          .tcp(kClientPort, kVipPort).build()),
                DropReason::kBadIpTotalLength);
  }
  // Below IHL*4 when there are options (24-byte header, total 23).
  expect_drop(parse(FrameBuilder().eth().ipv4(kClient4, kVip4).ipv4_options({1, 1, 1, 0})
                        .set_total_length(23).tcp(kClientPort, kVipPort).build()),
              DropReason::kBadIpTotalLength);
  // 40 bytes of IP in the frame: 41 and 65535 are too large.
  for (uint16_t total : {41, 65535}) {
    expect_drop(parse(FrameBuilder().eth().ipv4(kClient4, kVip4).set_total_length(total)
                          .tcp(kClientPort, kVipPort).build()),
                DropReason::kBadIpTotalLength);
  }
}

// A total length that covers just the header is a valid (empty) packet,
// but then the TCP header is outside the packet.
TEST_F(ParseTest, Ipv4TotalLengthBoundsL4) {
  const ParsedPacket p = parse(FrameBuilder().eth().ipv4(kClient4, kVip4).set_total_length(20)
                                   .ip_proto(253).payload(20).build());
  expect_ok(p);
  EXPECT_EQ(p.l3_end, 34);
  expect_drop(parse(FrameBuilder().eth().ipv4(kClient4, kVip4).set_total_length(39)
                        .tcp(kClientPort, kVipPort).build()),
              DropReason::kTruncatedL4);
}

// IPv6 payload length beyond the frame.
TEST_F(ParseTest, Ipv6PayloadLengthBeyondFrame) {
  for (uint16_t len : {21, 1000, 65535}) {
    expect_drop(parse(FrameBuilder().eth().ipv6(kClient6, kVip6).set_payload_length(len)
                          .tcp(kClientPort, kVipPort).build()),
                DropReason::kBadIpTotalLength);
  }
  // Payload length 0 (jumbogram marker) leaves no room for the TCP header.
  expect_drop(parse(FrameBuilder().eth().ipv6(kClient6, kVip6).set_payload_length(0)
                        .tcp(kClientPort, kVipPort).build()),
              DropReason::kTruncatedL4);
}

// TCP data offset 0..4 is below the minimum header.
TEST_F(ParseTest, TcpDataOffsetBelowFive) {
  for (uint8_t doff = 0; doff < 5; ++doff) {
    expect_drop(parse(FrameBuilder().eth().ipv4(kClient4, kVip4)
                          .tcp(kClientPort, kVipPort).set_tcp_data_offset(doff).payload(40)
                          .build()),
                DropReason::kBadTcpDataOffset);
    expect_drop(parse(FrameBuilder().eth().ipv6(kClient6, kVip6)
                          .tcp(kClientPort, kVipPort).set_tcp_data_offset(doff).payload(40)
                          .build()),
                DropReason::kBadTcpDataOffset);
  }
}

// A data offset past the packet; one that covers the payload is fine.
TEST_F(ParseTest, TcpDataOffsetBeyondPacket) {
  // 20 + 10 bytes of TCP: offset 8 (32 bytes) is 2 too many, 15 is far out.
  for (uint8_t doff : {8, 15}) {
    expect_drop(parse(FrameBuilder().eth().ipv4(kClient4, kVip4)
                          .tcp(kClientPort, kVipPort).set_tcp_data_offset(doff).payload(10)
                          .build()),
                DropReason::kBadTcpDataOffset);
  }
  // Padding in the frame beyond the IP packet must not count.
  expect_drop(parse(FrameBuilder().eth().ipv4(kClient4, kVip4).tcp(kClientPort, kVipPort)
                        .set_tcp_data_offset(6).pad(20).build()),
              DropReason::kBadTcpDataOffset);
  const ParsedPacket p = parse(FrameBuilder().eth().ipv4(kClient4, kVip4)
                                   .tcp(kClientPort, kVipPort).set_tcp_data_offset(7).payload(8)
                                   .build());
  expect_ok(p);
}

// UDP length below the header.
TEST_F(ParseTest, UdpLengthBelowEight) {
  for (uint16_t len = 0; len < 8; ++len) {
    expect_drop(parse(FrameBuilder().eth().ipv4(kClient4, kVip4)
                          .udp(kClientPort, kVipPort).set_udp_length(len).payload(4).build()),
                DropReason::kBadUdpLength);
    expect_drop(parse(FrameBuilder().eth().ipv6(kClient6, kVip6)
                          .udp(kClientPort, kVipPort).set_udp_length(len).payload(4).build()),
                DropReason::kBadUdpLength);
  }
}

// UDP length beyond the IP packet; shorter than it is accepted.
TEST_F(ParseTest, UdpLengthBeyondPacket) {
  for (uint16_t len : {13, 65535}) {  // the datagram is 8 + 4 = 12 bytes
    expect_drop(parse(FrameBuilder().eth().ipv4(kClient4, kVip4)
                          .udp(kClientPort, kVipPort).set_udp_length(len).payload(4).build()),
                DropReason::kBadUdpLength);
  }
  const ParsedPacket p = parse(FrameBuilder().eth().ipv4(kClient4, kVip4)
                                   .udp(kClientPort, kVipPort).set_udp_length(8).payload(4)
                                   .build());
  expect_ok(p);
  expect_key(p.key, make_key(kClient4, kVip4, kClientPort, kVipPort, 17));
}

// --- L2 and version errors -------------------------------------------------------

// A second tag of either kind after the first is kNestedVlan.
TEST_F(ParseTest, NestedVlan) {
  const uint16_t kTpids[] = {SLUICE_ETHERTYPE_VLAN, SLUICE_ETHERTYPE_QINQ};
  for (uint16_t outer : kTpids) {
    for (uint16_t inner : kTpids) {
      expect_drop(parse(FrameBuilder().eth().vlan(10, outer).vlan(20, inner)
                            .ipv4(kClient4, kVip4).tcp(kClientPort, kVipPort).build()),
                  DropReason::kNestedVlan);
    }
  }
  // Detected from the tag alone, even with nothing after it.
  expect_drop(parse(FrameBuilder().eth().vlan(10).ethertype(SLUICE_ETHERTYPE_VLAN).build()),
              DropReason::kNestedVlan);
}

// The IP version must match the ethertype.
TEST_F(ParseTest, BadIpVersion) {
  for (uint8_t version : {0, 5, 6, 15}) {
    expect_drop(parse(FrameBuilder().eth().ipv4(kClient4, kVip4).set_version(version)
                          .tcp(kClientPort, kVipPort).build()),
                DropReason::kBadIpVersion);
  }
  for (uint8_t version : {0, 4, 7}) {
    expect_drop(parse(FrameBuilder().eth().ipv6(kClient6, kVip6).set_version(version)
                          .tcp(kClientPort, kVipPort).build()),
                DropReason::kBadIpVersion);
  }
  // An IPv4 packet behind the IPv6 ethertype, long enough for a v6 header.
  expect_drop(parse(FrameBuilder().eth().ethertype(SLUICE_ETHERTYPE_IPV6).ipv4(kClient4, kVip4)
                        .tcp(kClientPort, kVipPort).build()),
              DropReason::kBadIpVersion);
}

// --- Fragments ------------------------------------------------------------------

// IPv4 first fragment: a fragment, but its ports are parsed.
TEST_F(ParseTest, Ipv4FirstFragment) {
  const ParsedPacket p = parse(FrameBuilder().eth().ipv4(kClient4, kVip4).fragment(0, true)
                                   .tcp(kClientPort, kVipPort, SLUICE_TCP_ACK).payload(1460)
                                   .build());
  expect_ok(p);
  EXPECT_TRUE(p.is_fragment);
  EXPECT_TRUE(p.first_fragment);
  EXPECT_FALSE(p.dont_fragment);
  expect_key(p.key, make_key(kClient4, kVip4, kClientPort, kVipPort, 6));
  EXPECT_EQ(p.tcp_flags, SLUICE_TCP_ACK);
}

// A UDP first fragment: its UDP length counts later fragments and exceeds
// this packet, which is not an error.
TEST_F(ParseTest, Ipv4FirstFragmentUdpLengthCoversDatagram) {
  const ParsedPacket p = parse(FrameBuilder().eth().ipv4(kClient4, kVip4).fragment(0, true)
                                   .udp(kClientPort, kVipPort).set_udp_length(3000).payload(1472)
                                   .build());
  expect_ok(p);
  EXPECT_TRUE(p.first_fragment);
  expect_key(p.key, make_key(kClient4, kVip4, kClientPort, kVipPort, 17));
}

// Middle and last IPv4 fragments: no L4 header, no ports.
TEST_F(ParseTest, Ipv4LaterFragments) {
  for (bool more : {true, false}) {
    // 4 bytes of data: too short for any L4 header, which is fine here.
    const ParsedPacket p = parse(FrameBuilder().eth().ipv4(kClient4, kVip4).fragment(1480, more)
                                     .ip_proto(SLUICE_IPPROTO_TCP).payload(4).build());
    expect_ok(p);
    EXPECT_TRUE(p.is_fragment);
    EXPECT_FALSE(p.first_fragment);
    EXPECT_EQ(p.l4_offset, 34);
    EXPECT_EQ(p.l3_end, 38);
    expect_key(p.key, make_key(kClient4, kVip4, 0, 0, SLUICE_IPPROTO_TCP));
    EXPECT_EQ(p.tcp_flags, 0);
  }
  // A later fragment of an ICMP error is not parsed as ICMP.
  const ParsedPacket q = parse(FrameBuilder().eth().ipv4(kRouter4, kVip4).fragment(8, false)
                                   .ip_proto(SLUICE_IPPROTO_ICMP)
                                   .payload({3, 4, 0, 0, 0, 0, 5, 120}).build());
  expect_ok(q);
  EXPECT_EQ(q.icmp_type, 0);
  EXPECT_FALSE(q.has_inner);
}

// DF alone (offset 0, no MF) is not a fragment.
TEST_F(ParseTest, Ipv4DontFragmentIsNotAFragment) {
  const ParsedPacket p = parse(FrameBuilder().eth().ipv4(kClient4, kVip4).dont_fragment()
                                   .tcp(kClientPort, kVipPort).build());
  expect_ok(p);
  EXPECT_TRUE(p.dont_fragment);
  EXPECT_FALSE(p.is_fragment);
  EXPECT_FALSE(p.first_fragment);
}

// IPv6 first fragment: ports parsed past the fragment header.
TEST_F(ParseTest, Ipv6FirstFragment) {
  const ParsedPacket p = parse(FrameBuilder().eth().ipv6(kClient6, kVip6).fragment(0, true)
                                   .udp(kClientPort, kVipPort).set_udp_length(4000).payload(1000)
                                   .build());
  expect_ok(p);
  EXPECT_TRUE(p.is_fragment);
  EXPECT_TRUE(p.first_fragment);
  EXPECT_EQ(p.l4_offset, 54 + 8);
  expect_key(p.key, make_key(kClient6, kVip6, kClientPort, kVipPort, 17));
}

// IPv6 middle and last fragments, also behind other extension headers.
TEST_F(ParseTest, Ipv6LaterFragments) {
  for (bool more : {true, false}) {
    const ParsedPacket p = parse(FrameBuilder().eth().ipv6(kClient6, kVip6).hop_by_hop()
                                     .fragment(1232, more).ip_proto(SLUICE_IPPROTO_TCP)
                                     .payload(3).build());
    expect_ok(p);
    EXPECT_TRUE(p.is_fragment);
    EXPECT_FALSE(p.first_fragment);
    EXPECT_EQ(p.l4_offset, 54 + 8 + 8);
    expect_key(p.key, make_key(kClient6, kVip6, 0, 0, SLUICE_IPPROTO_TCP));
  }
  // After a later fragment's header nothing is parsed, not even what looks
  // like more extension headers.
  const ParsedPacket q = parse(FrameBuilder().eth().ipv6(kClient6, kVip6).fragment(16, false)
                                   .ip_proto(SLUICE_IPPROTO_DSTOPTS).payload(2).build());
  expect_ok(q);
  EXPECT_EQ(q.key.proto, SLUICE_IPPROTO_DSTOPTS);
}

// A fragment header with offset 0 and no M flag is a whole packet (RFC 6946).
TEST_F(ParseTest, Ipv6AtomicFragmentIsNotAFragment) {
  const ParsedPacket p = parse(FrameBuilder().eth().ipv6(kClient6, kVip6).fragment(0, false)
                                   .tcp(kClientPort, kVipPort).build());
  expect_ok(p);
  EXPECT_FALSE(p.is_fragment);
  EXPECT_FALSE(p.first_fragment);
  EXPECT_EQ(p.l4_offset, 62);
  expect_key(p.key, make_key(kClient6, kVip6, kClientPort, kVipPort, 6));
}

// Two fragment headers in one packet are malformed.
TEST_F(ParseTest, Ipv6TwoFragmentHeaders) {
  expect_drop(parse(FrameBuilder().eth().ipv6(kClient6, kVip6).fragment(0, true)
                        .fragment(0, true).tcp(kClientPort, kVipPort).build()),
              DropReason::kBadIpv6ExtensionHeader);
}

// --- Output hygiene and limits ------------------------------------------------------

// A reused ParsedPacket carries nothing over from the previous packet.
TEST_F(ParseTest, OutputFullyReset) {
  ParsedPacket p;
  const auto icmp = FrameBuilder().eth().vlan(9).ipv4(kRouter4, kVip4)
                        .icmp_frag_needed(1400, quoted_reply_v4()).build();
  parse_packet(icmp.data(), static_cast<uint32_t>(icmp.size()), &p);
  ASSERT_TRUE(p.has_inner);
  const auto arp = FrameBuilder().eth().arp().build();
  parse_packet(arp.data(), static_cast<uint32_t>(arp.size()), &p);
  EXPECT_EQ(p.status, kNotIp);
  EXPECT_FALSE(p.has_vlan);
  EXPECT_EQ(p.vlan_tci, 0);
  EXPECT_FALSE(p.has_inner);
  EXPECT_EQ(p.icmp_type, 0);
  EXPECT_EQ(p.l3_end, 0);
  expect_key(p.key, sluice_flow_key{});
  expect_key(p.inner, sluice_flow_key{});

  ParsedPacket q;
  std::memset(static_cast<void*>(&q), 0xa5, sizeof(q));
  parse_packet(nullptr, 0, &q);
  expect_drop(q, DropReason::kTruncatedEthernet);
  EXPECT_EQ(q.l3_offset, 0);
  EXPECT_FALSE(q.has_inner);
  expect_key(q.key, sluice_flow_key{});
}

// Offsets are 16-bit: frames are read as at most 65535 bytes, so a packet
// claiming to end past that is dropped; shorter ones in a longer frame parse.
TEST_F(ParseTest, FrameBeyond64KiB) {
  const auto ok = FrameBuilder().eth().ipv4(kClient4, kVip4).udp(kClientPort, kVipPort)
                      .pad(70000).build();
  const ParsedPacket p = parse(ok);
  expect_ok(p);
  EXPECT_EQ(p.l3_end, 42);

  // IPv6 payload 65535 ends at byte 65589 of the frame.
  const auto jumbo = FrameBuilder().eth().ipv6(kClient6, kVip6).udp(kClientPort, kVipPort)
                         .payload(65535 - 8).build();
  ASSERT_EQ(jumbo.size(), 65589u);
  expect_drop(parse(jumbo), DropReason::kBadIpTotalLength);
}

// --- Every truncation ---------------------------------------------------------------

// IPv4 TCP: eth 14, IP 20, TCP 20, payload 6 = 60 bytes.
TEST_F(ParseTest, TruncateIpv4Tcp) {
  FrameBuilder b;
  b.eth().ipv4(kClient4, kVip4).tcp(kClientPort, kVipPort).payload(6);
  expect_every_truncation(b, {{0, 13, kMalformed, DropReason::kTruncatedEthernet},
                              {14, 33, kMalformed, DropReason::kTruncatedIp},
                              {34, 59, kMalformed, DropReason::kBadIpTotalLength},
                              {60, 60, kOk, DropReason::kNone}});
  expect_every_shortening(b, {{0, 13, kMalformed, DropReason::kTruncatedEthernet},
                              {14, 33, kMalformed, DropReason::kTruncatedIp},
                              {34, 53, kMalformed, DropReason::kTruncatedL4},
                              {54, 60, kOk, DropReason::kNone}});
}

// VLAN, IPv4 options (8) and TCP options (8): 18 + 28 + 28 + 4 = 78 bytes.
TEST_F(ParseTest, TruncateVlanIpv4OptionsTcpOptions) {
  FrameBuilder b;
  b.eth().vlan(100).ipv4(kClient4, kVip4).ipv4_options({0x94, 0x04, 0, 0, 1, 1, 1, 0})
      .tcp(kClientPort, kVipPort, SLUICE_TCP_SYN)
      .tcp_options({0x02, 0x04, 0x05, 0xb4, 0x01, 0x01, 0x04, 0x02}).payload(4);
  expect_every_truncation(b, {{0, 17, kMalformed, DropReason::kTruncatedEthernet},
                              {18, 37, kMalformed, DropReason::kTruncatedIp},
                              {38, 45, kMalformed, DropReason::kBadIpHeaderLength},
                              {46, 77, kMalformed, DropReason::kBadIpTotalLength},
                              {78, 78, kOk, DropReason::kNone}});
  expect_every_shortening(b, {{0, 17, kMalformed, DropReason::kTruncatedEthernet},
                              {18, 37, kMalformed, DropReason::kTruncatedIp},
                              {38, 45, kMalformed, DropReason::kBadIpHeaderLength},
                              {46, 65, kMalformed, DropReason::kTruncatedL4},
                              {66, 73, kMalformed, DropReason::kBadTcpDataOffset},
                              {74, 78, kOk, DropReason::kNone}});
}

// IPv4 UDP: 14 + 20 + 8 + 10 = 52 bytes.
TEST_F(ParseTest, TruncateIpv4Udp) {
  FrameBuilder b;
  b.eth().ipv4(kClient4, kVip4).udp(kClientPort, kVipPort).payload(10);
  expect_every_truncation(b, {{0, 13, kMalformed, DropReason::kTruncatedEthernet},
                              {14, 33, kMalformed, DropReason::kTruncatedIp},
                              {34, 51, kMalformed, DropReason::kBadIpTotalLength},
                              {52, 52, kOk, DropReason::kNone}});
  // The UDP length keeps claiming 18 bytes once the header is whole.
  expect_every_shortening(b, {{0, 13, kMalformed, DropReason::kTruncatedEthernet},
                              {14, 33, kMalformed, DropReason::kTruncatedIp},
                              {34, 41, kMalformed, DropReason::kTruncatedL4},
                              {42, 51, kMalformed, DropReason::kBadUdpLength},
                              {52, 52, kOk, DropReason::kNone}});
}

// IPv4 ICMP echo: 14 + 20 + 8 + 8 = 50 bytes.
TEST_F(ParseTest, TruncateIpv4IcmpEcho) {
  FrameBuilder b;
  b.eth().ipv4(kClient4, kVip4).icmp_echo(1, 1).payload(8);
  expect_every_truncation(b, {{0, 13, kMalformed, DropReason::kTruncatedEthernet},
                              {14, 33, kMalformed, DropReason::kTruncatedIp},
                              {34, 49, kMalformed, DropReason::kBadIpTotalLength},
                              {50, 50, kOk, DropReason::kNone}});
  expect_every_shortening(b, {{0, 13, kMalformed, DropReason::kTruncatedEthernet},
                              {14, 33, kMalformed, DropReason::kTruncatedIp},
                              {34, 41, kMalformed, DropReason::kTruncatedL4},
                              {42, 50, kOk, DropReason::kNone}});
}

// VLAN, ICMP frag-needed quoting a 40-byte TCP reply: 18 + 20 + 8 + 40 = 86.
TEST_F(ParseTest, TruncateVlanIcmpFragNeeded) {
  FrameBuilder b;
  b.eth().vlan(7).ipv4(kRouter4, kVip4).icmp_frag_needed(1400, quoted_reply_v4());
  expect_every_truncation(b, {{0, 17, kMalformed, DropReason::kTruncatedEthernet},
                              {18, 37, kMalformed, DropReason::kTruncatedIp},
                              {38, 85, kMalformed, DropReason::kBadIpTotalLength},
                              {86, 86, kOk, DropReason::kNone}});
  // Quote: IP header ends at 66, its first 8 L4 bytes at 74.
  expect_every_shortening(b, {{0, 17, kMalformed, DropReason::kTruncatedEthernet},
                              {18, 37, kMalformed, DropReason::kTruncatedIp},
                              {38, 45, kMalformed, DropReason::kTruncatedL4},
                              {46, 73, kMalformed, DropReason::kTruncatedIcmpInner},
                              {74, 86, kOk, DropReason::kNone}});
}

// IPv6 TCP: 14 + 40 + 20 + 6 = 80 bytes.
TEST_F(ParseTest, TruncateIpv6Tcp) {
  FrameBuilder b;
  b.eth().ipv6(kClient6, kVip6).tcp(kClientPort, kVipPort).payload(6);
  expect_every_truncation(b, {{0, 13, kMalformed, DropReason::kTruncatedEthernet},
                              {14, 53, kMalformed, DropReason::kTruncatedIp},
                              {54, 79, kMalformed, DropReason::kBadIpTotalLength},
                              {80, 80, kOk, DropReason::kNone}});
  expect_every_shortening(b, {{0, 13, kMalformed, DropReason::kTruncatedEthernet},
                              {14, 53, kMalformed, DropReason::kTruncatedIp},
                              {54, 73, kMalformed, DropReason::kTruncatedL4},
                              {74, 80, kOk, DropReason::kNone}});
}

// VLAN, IPv6 hop-by-hop (8), dest opts (16), routing (8), UDP, payload 3:
// 18 + 40 + 32 + 8 + 3 = 101 bytes.
TEST_F(ParseTest, TruncateVlanIpv6ExtensionHeadersUdp) {
  FrameBuilder b;
  b.eth().vlan(100).ipv6(kClient6, kVip6).hop_by_hop().dest_opts(16).routing()
      .udp(kClientPort, kVipPort).payload(3);
  expect_every_truncation(b, {{0, 17, kMalformed, DropReason::kTruncatedEthernet},
                              {18, 57, kMalformed, DropReason::kTruncatedIp},
                              {58, 100, kMalformed, DropReason::kBadIpTotalLength},
                              {101, 101, kOk, DropReason::kNone}});
  expect_every_shortening(b, {{0, 17, kMalformed, DropReason::kTruncatedEthernet},
                              {18, 57, kMalformed, DropReason::kTruncatedIp},
                              {58, 89, kMalformed, DropReason::kBadIpv6ExtensionHeader},
                              {90, 97, kMalformed, DropReason::kTruncatedL4},
                              {98, 100, kMalformed, DropReason::kBadUdpLength},
                              {101, 101, kOk, DropReason::kNone}});
}

// IPv6 ICMPv6 echo: 14 + 40 + 8 + 4 = 66 bytes.
TEST_F(ParseTest, TruncateIpv6IcmpEcho) {
  FrameBuilder b;
  b.eth().ipv6(kClient6, kVip6).icmp_echo(1, 1).payload(4);
  expect_every_truncation(b, {{0, 13, kMalformed, DropReason::kTruncatedEthernet},
                              {14, 53, kMalformed, DropReason::kTruncatedIp},
                              {54, 65, kMalformed, DropReason::kBadIpTotalLength},
                              {66, 66, kOk, DropReason::kNone}});
  expect_every_shortening(b, {{0, 13, kMalformed, DropReason::kTruncatedEthernet},
                              {14, 53, kMalformed, DropReason::kTruncatedIp},
                              {54, 61, kMalformed, DropReason::kTruncatedL4},
                              {62, 66, kOk, DropReason::kNone}});
}

// Packet-too-big quoting IPv6 + dest opts + TCP: 14 + 40 + 8 + 40 + 8 + 20.
TEST_F(ParseTest, TruncateIcmpv6PacketTooBig) {
  const std::vector<uint8_t> quote = FrameBuilder().ipv6(kVip6, kClient6).dest_opts()
                                         .tcp(kVipPort, kClientPort).build();
  FrameBuilder b;
  b.eth().ipv6(kRouter6, kVip6).icmpv6_packet_too_big(1280, quote);
  expect_every_truncation(b, {{0, 13, kMalformed, DropReason::kTruncatedEthernet},
                              {14, 53, kMalformed, DropReason::kTruncatedIp},
                              {54, 129, kMalformed, DropReason::kBadIpTotalLength},
                              {130, 130, kOk, DropReason::kNone}});
  // Quote: IPv6 header ends at 102, dest opts at 110, 8 L4 bytes at 118.
  expect_every_shortening(b, {{0, 13, kMalformed, DropReason::kTruncatedEthernet},
                              {14, 53, kMalformed, DropReason::kTruncatedIp},
                              {54, 61, kMalformed, DropReason::kTruncatedL4},
                              {62, 117, kMalformed, DropReason::kTruncatedIcmpInner},
                              {118, 130, kOk, DropReason::kNone}});
}

// Padding past the IP packet: cutting it away never matters.
TEST_F(ParseTest, TruncatePaddedIpv4Tcp) {
  FrameBuilder b;
  b.eth().ipv4(kClient4, kVip4).tcp(kClientPort, kVipPort).pad_to(60);
  expect_every_truncation(b, {{0, 13, kMalformed, DropReason::kTruncatedEthernet},
                              {14, 33, kMalformed, DropReason::kTruncatedIp},
                              {34, 53, kMalformed, DropReason::kBadIpTotalLength},
                              {54, 60, kOk, DropReason::kNone}});
  const std::vector<uint8_t> full = b.build();
  for (size_t n = 54; n <= 60; ++n) {
    const ParsedPacket p = parse_prefix(full, n);
    EXPECT_EQ(p.l3_end, 54) << "cut at " << n;
    expect_key(p.key, make_key(kClient4, kVip4, kClientPort, kVipPort, 6));
  }
}

// ARP: only the Ethernet header is needed to say "not IP".
TEST_F(ParseTest, TruncateArp) {
  FrameBuilder b;
  b.eth().vlan(5).arp();
  expect_every_truncation(b, {{0, 17, kMalformed, DropReason::kTruncatedEthernet},
                              {18, 46, kNotIp, DropReason::kNone}});
}

}  // namespace
}  // namespace sluice::engine
