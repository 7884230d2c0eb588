// SPDX-License-Identifier: Apache-2.0
// Byte-exact tests of encapsulation and echo replies. Expected values are
// written out as literals (worked out by hand and with an independent
// script), never computed by the code under test.
#include "dataplane/engine/encap.h"

#include <gtest/gtest.h>

#include <cstring>
#include <iterator>
#include <random>
#include <vector>

#include "dataplane/engine/parse.h"
#include "dataplane/engine/wire.h"
#include "tests/dataplane/engine/frame_builder.h"

namespace sluice::engine {
namespace {

using test::FrameBuilder;
using test::FrameLayout;
using test::load_be16;
using test::load_be32;

using Bytes = std::vector<uint8_t>;

constexpr uint32_t kHeadroom = 128;
constexpr uint32_t kGuard = 64;
constexpr uint32_t kTailroom = 64;
constexpr uint8_t kMarker = 0xc5;  // fills the headroom: stray writes show
constexpr uint64_t kFlowHash = 0x0123456789ab1234;
constexpr uint16_t kVlanTci = 0x2064;  // PCP 1, VID 100

constexpr MacAddress kLocalMac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
constexpr MacAddress kNextHopMac = {0x02, 0x00, 0x00, 0x00, 0x00, 0xfe};

// One output variant of a supported pair, with its expected values.
struct Variant {
  const char* name;
  Encapsulation kind;
  bool vlan;
  uint32_t frame_len;  // whole output frame, input padding dropped
  uint16_t ip_length;  // outer IPv4 total length or IPv6 payload length
  uint8_t protocol;    // outer IPv4 protocol or IPv6 next header
  uint16_t checksum;   // outer IPv4 header checksum (IPv4 outer only)
};

// Inner IPv4/TCP (40 bytes) inside IPv4: 14/18 + 20 (+8) + 40.
constexpr Variant kV4InV4[] = {
    {"ipip", Encapsulation::kIpip, false, 74, 60, 4, 0x2492},
    {"ipip+vlan", Encapsulation::kIpip, true, 78, 60, 4, 0x2492},
    {"gue", Encapsulation::kGue, false, 82, 68, 17, 0x247d},
    {"gue+vlan", Encapsulation::kGue, true, 86, 68, 17, 0x247d},
};
// Inner IPv6/TCP with 4 payload bytes (64 bytes) inside IPv6.
constexpr Variant kV6InV6[] = {
    {"ipip", Encapsulation::kIpip, false, 118, 64, 41, 0},
    {"ipip+vlan", Encapsulation::kIpip, true, 122, 64, 41, 0},
    {"gue", Encapsulation::kGue, false, 126, 72, 17, 0},
    {"gue+vlan", Encapsulation::kGue, true, 130, 72, 17, 0},
};
// Inner IPv4/TCP (40 bytes) inside IPv6.
constexpr Variant kV4InV6[] = {
    {"ipip", Encapsulation::kIpip, false, 94, 40, 4, 0},
    {"ipip+vlan", Encapsulation::kIpip, true, 98, 40, 4, 0},
    {"gue", Encapsulation::kGue, false, 102, 48, 17, 0},
    {"gue+vlan", Encapsulation::kGue, true, 106, 48, 17, 0},
};

// IPv6 version/class/label word: version 6, the inner traffic class, and
// the low 20 bits of kFlowHash (0xb1234).
constexpr uint32_t kV6InV6Word0 = 0x6b8b1234;  // traffic class 0xb8
constexpr uint32_t kV4InV6Word0 = 0x628b1234;  // TOS 0x28

class EncapTest : public ::testing::Test {
 protected:
  // The client's SYN to the VIP over IPv4: 40 bytes of IP, padded by the
  // sender to the 60-byte Ethernet minimum.
  static Bytes inner_v4_frame(bool vlan, bool df = true, FrameLayout* layout = nullptr) {
    FrameBuilder b;
    b.eth();
    if (vlan) b.vlan(kVlanTci);
    return b.ipv4("192.0.2.10", "198.51.100.1")
        .tos(0x28)
        .ttl(63)
        .ipv4_id(0x1c46)
        .dont_fragment(df)
        .tcp(40000, 80, SLUICE_TCP_SYN, 0x01020304)
        .pad_to(60)
        .build(layout);
  }

  // The same over IPv6 with 4 payload bytes and 2 trailing bytes past the
  // IP packet.
  static Bytes inner_v6_frame(bool vlan, FrameLayout* layout = nullptr) {
    FrameBuilder b;
    b.eth();
    if (vlan) b.vlan(kVlanTci);
    return b.ipv6("2001:db8:c::10", "2001:db8:f::1")
        .tos(0xb8)
        .flow_label(0x12345)
        .ttl(61)
        .tcp(40001, 443, SLUICE_TCP_SYN, 0x0a0b0c0d)
        .payload({'p', 'i', 'n', 'g'})
        .pad(2)
        .build(layout);
  }

  EncapParams params(Encapsulation kind, bool outer_v6) const {
    EncapParams p;
    p.kind = kind;
    p.gue_port = 6080;
    p.outer_source = outer_v6 ? &source_v6_ : &source_v4_;
    p.backend = outer_v6 ? &backend_v6_ : &backend_v4_;
    p.flow_hash = kFlowHash;
    p.local_mac = &kLocalMac;
    p.next_hop_mac = &kNextHopMac;
    p.max_frame_size = 1554;
    return p;
  }

  // Places `frame` in buf_ behind `headroom` bytes, which sit behind kGuard
  // more (not offered as headroom): all are marker bytes, so a write before
  // the allowed start shows up as a failed comparison, not heap corruption.
  void load_raw(const Bytes& frame, uint32_t headroom = kHeadroom) {
    buf_.assign(kGuard + headroom + frame.size() + kTailroom, kMarker);
    uint8_t* data = buf_.data() + kGuard + headroom;
    std::memcpy(data, frame.data(), frame.size());
    pkt_ = Packet{data, static_cast<uint32_t>(frame.size()), headroom};
    parse_packet(pkt_.data, pkt_.len, &parsed_);
  }

  // load_raw() of a frame that must parse as IP.
  void load(const Bytes& frame, uint32_t headroom = kHeadroom) {
    load_raw(frame, headroom);
    ASSERT_EQ(parsed_.status, ParseStatus::kOk) << drop_reason_name(parsed_.drop_reason);
  }

  Bytes output() const { return Bytes(pkt_.data, pkt_.data + pkt_.len); }

  // Saves buf_ and pkt_ so that expect_unchanged() can compare after a
  // refused call.
  void snapshot() {
    saved_buf_ = buf_;
    saved_pkt_ = pkt_;
  }
  void expect_unchanged() const {
    EXPECT_EQ(pkt_.data, saved_pkt_.data);
    EXPECT_EQ(pkt_.len, saved_pkt_.len);
    EXPECT_EQ(pkt_.headroom, saved_pkt_.headroom);
    EXPECT_EQ(buf_, saved_buf_);
  }

  // Checks every byte of the encapsulated frame in pkt_ against the
  // variant's literals: L2, outer IP, UDP, the inner packet (unchanged,
  // padding gone), and that nothing before the new frame was written.
  void check_variant(const Variant& v, bool outer_v6, uint32_t ipv6_word0,
                     const Bytes& inner) const {
    SCOPED_TRACE(v.name);
    ASSERT_EQ(pkt_.len, v.frame_len);
    const uint32_t grown = v.frame_len - static_cast<uint32_t>(inner.size()) -
                           (v.vlan ? 18u : 14u);  // the outer headers
    EXPECT_EQ(pkt_.headroom, kHeadroom - grown);
    EXPECT_EQ(pkt_.data, buf_.data() + kGuard + kHeadroom - grown);
    for (const uint8_t* p = buf_.data(); p < pkt_.data; ++p) ASSERT_EQ(*p, kMarker);

    const uint8_t* f = pkt_.data;
    EXPECT_EQ(Bytes(f, f + 6), (Bytes{0x02, 0x00, 0x00, 0x00, 0x00, 0xfe}));
    EXPECT_EQ(Bytes(f + 6, f + 12), (Bytes{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}));
    size_t off = 12;
    if (v.vlan) {
      EXPECT_EQ(load_be16(f + 12), 0x8100);
      EXPECT_EQ(load_be16(f + 14), 0x2064);
      off += 4;
    }
    EXPECT_EQ(load_be16(f + off), outer_v6 ? 0x86dd : 0x0800);
    off += 2;

    const uint8_t* ip = f + off;
    if (outer_v6) {
      EXPECT_EQ(load_be32(ip), ipv6_word0);
      EXPECT_EQ(load_be16(ip + 4), v.ip_length);
      EXPECT_EQ(ip[6], v.protocol);
      EXPECT_EQ(ip[7], 64);  // hop limit
      EXPECT_EQ(Bytes(ip + 8, ip + 24),
                (Bytes{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01}));
      EXPECT_EQ(Bytes(ip + 24, ip + 40),
                (Bytes{0x20, 0x01, 0x0d, 0xb8, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02}));
      off += 40;
    } else {
      EXPECT_EQ(ip[0], 0x45);                  // version 4, IHL 5
      EXPECT_EQ(ip[1], 0x28);                  // TOS of the inner packet
      EXPECT_EQ(load_be16(ip + 2), v.ip_length);
      EXPECT_EQ(load_be16(ip + 4), 0x0000);    // ID
      EXPECT_EQ(load_be16(ip + 6), 0x4000);    // DF, offset 0
      EXPECT_EQ(ip[8], 64);                    // TTL
      EXPECT_EQ(ip[9], v.protocol);
      EXPECT_EQ(load_be16(ip + 10), v.checksum);
      EXPECT_TRUE(test::ipv4_header_checksum_ok(ip));
      EXPECT_EQ(Bytes(ip + 12, ip + 16), (Bytes{10, 0, 0, 1}));
      EXPECT_EQ(Bytes(ip + 16, ip + 20), (Bytes{10, 1, 2, 3}));
      off += 20;
    }
    if (v.kind == Encapsulation::kGue) {
      const uint8_t* udp = f + off;
      EXPECT_EQ(load_be16(udp), 0xd234);  // 49152 + (kFlowHash % 16384 = 0x1234)
      EXPECT_EQ(load_be16(udp + 2), 6080);
      EXPECT_EQ(load_be16(udp + 4), v.ip_length - (outer_v6 ? 0 : 20));
      EXPECT_EQ(load_be16(udp + 6), 0x0000);
      off += 8;
    }
    EXPECT_EQ(Bytes(f + off, f + pkt_.len), inner);

    // The output is a frame our own parser accepts as the outer packet.
    ParsedPacket out;
    parse_packet(pkt_.data, pkt_.len, &out);
    ASSERT_EQ(out.status, ParseStatus::kOk) << drop_reason_name(out.drop_reason);
    EXPECT_EQ(out.key.family, outer_v6 ? SLUICE_AF_INET6 : SLUICE_AF_INET);
    EXPECT_EQ(out.key.proto, v.protocol);
    EXPECT_EQ(out.l3_end, pkt_.len);
  }

  // Encapsulates every variant of one pair and checks each.
  void run_variants(const Variant (&variants)[4], bool inner_v6, bool outer_v6,
                    uint32_t ipv6_word0) {
    for (const Variant& v : variants) {
      FrameLayout lay;
      const Bytes frame = inner_v6 ? inner_v6_frame(v.vlan, &lay) : inner_v4_frame(v.vlan, true, &lay);
      ASSERT_GT(lay.frame_len, lay.ip_end);  // the input does carry padding
      const Bytes inner(frame.begin() + lay.l3_offset, frame.begin() + lay.ip_end);
      load(frame);
      ASSERT_EQ(encapsulate(pkt_, parsed_, params(v.kind, outer_v6)), DropReason::kNone) << v.name;
      check_variant(v, outer_v6, ipv6_word0, inner);
    }
  }

  IpAddress source_v4_ = IpAddress::v4(10, 0, 0, 1);
  IpAddress backend_v4_ = IpAddress::v4(10, 1, 2, 3);
  IpAddress source_v6_ = *IpAddress::parse("2001:db8::1");
  IpAddress backend_v6_ = *IpAddress::parse("2001:db8:1::2");

  std::vector<uint8_t> buf_;
  Packet pkt_{};
  ParsedPacket parsed_;
  std::vector<uint8_t> saved_buf_;
  Packet saved_pkt_{};
};

// Overhead is the outer IP header plus 8 for GUE's UDP header, no L2.
TEST_F(EncapTest, OverheadPerKindAndFamily) {
  EXPECT_EQ(encap_overhead(Encapsulation::kIpip, SLUICE_AF_INET), 20u);
  EXPECT_EQ(encap_overhead(Encapsulation::kIpip, SLUICE_AF_INET6), 40u);
  EXPECT_EQ(encap_overhead(Encapsulation::kGue, SLUICE_AF_INET), 28u);
  EXPECT_EQ(encap_overhead(Encapsulation::kGue, SLUICE_AF_INET6), 48u);
}

// IPv4 in IPv4: IPIP and GUE, with and without VLAN, every field.
TEST_F(EncapTest, Ipv4InIpv4AllVariants) {
  run_variants(kV4InV4, /*inner_v6=*/false, /*outer_v6=*/false, 0);
}

// IPv6 in IPv6: IPIP and GUE, with and without VLAN, every field.
TEST_F(EncapTest, Ipv6InIpv6AllVariants) {
  run_variants(kV6InV6, /*inner_v6=*/true, /*outer_v6=*/true, kV6InV6Word0);
}

// IPv4 in IPv6: IPIP and GUE, with and without VLAN, every field.
TEST_F(EncapTest, Ipv4InIpv6AllVariants) {
  run_variants(kV4InV6, /*inner_v6=*/false, /*outer_v6=*/true, kV4InV6Word0);
}

// Whole-frame golden: IPv4 in IPv4, IPIP, VLAN kept, padding dropped.
TEST_F(EncapTest, GoldenIpv4InIpv4IpipVlan) {
  load(inner_v4_frame(/*vlan=*/true));
  ASSERT_EQ(encapsulate(pkt_, parsed_, params(Encapsulation::kIpip, false)), DropReason::kNone);
  const Bytes golden = {
      // Ethernet: next hop, local, 802.1Q TCI 0x2064, IPv4.
      0x02, 0x00, 0x00, 0x00, 0x00, 0xfe, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
      0x81, 0x00, 0x20, 0x64, 0x08, 0x00,
      // Outer IPv4: TOS 0x28, length 60, ID 0, DF, TTL 64, proto 4.
      0x45, 0x28, 0x00, 0x3c, 0x00, 0x00, 0x40, 0x00, 0x40, 0x04, 0x24, 0x92,
      0x0a, 0x00, 0x00, 0x01, 0x0a, 0x01, 0x02, 0x03,
      // Inner IPv4 + TCP SYN, as received.
      0x45, 0x28, 0x00, 0x28, 0x1c, 0x46, 0x40, 0x00, 0x3f, 0x06, 0x33, 0x23,
      0xc0, 0x00, 0x02, 0x0a, 0xc6, 0x33, 0x64, 0x01,
      0x9c, 0x40, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00,
      0x50, 0x02, 0xff, 0xff, 0x23, 0x0d, 0x00, 0x00,
  };
  EXPECT_EQ(output(), golden);
}

// Whole-frame golden: IPv6 in IPv6, GUE, no VLAN, trailing bytes dropped.
TEST_F(EncapTest, GoldenIpv6InIpv6Gue) {
  load(inner_v6_frame(/*vlan=*/false));
  ASSERT_EQ(encapsulate(pkt_, parsed_, params(Encapsulation::kGue, true)), DropReason::kNone);
  const Bytes golden = {
      // Ethernet: next hop, local, IPv6.
      0x02, 0x00, 0x00, 0x00, 0x00, 0xfe, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
      0x86, 0xdd,
      // Outer IPv6: class 0xb8, label 0xb1234, payload 72, UDP, hop limit 64.
      0x6b, 0x8b, 0x12, 0x34, 0x00, 0x48, 0x11, 0x40,
      0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x01,
      0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x02,
      // UDP: 53812 -> 6080, length 72, no checksum.
      0xd2, 0x34, 0x17, 0xc0, 0x00, 0x48, 0x00, 0x00,
      // Inner IPv6 + TCP SYN + "ping", as received.
      0x6b, 0x81, 0x23, 0x45, 0x00, 0x18, 0x06, 0x3d,
      0x20, 0x01, 0x0d, 0xb8, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x10,
      0x20, 0x01, 0x0d, 0xb8, 0x00, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x01,
      0x9c, 0x41, 0x01, 0xbb, 0x0a, 0x0b, 0x0c, 0x0d, 0x00, 0x00, 0x00, 0x00,
      0x50, 0x02, 0xff, 0xff, 0xc1, 0x5b, 0x00, 0x00, 0x70, 0x69, 0x6e, 0x67,
  };
  EXPECT_EQ(output(), golden);
}

// Whole-frame golden: IPv4 in IPv6, GUE, VLAN kept, padding dropped.
TEST_F(EncapTest, GoldenIpv4InIpv6GueVlan) {
  load(inner_v4_frame(/*vlan=*/true));
  ASSERT_EQ(encapsulate(pkt_, parsed_, params(Encapsulation::kGue, true)), DropReason::kNone);
  const Bytes golden = {
      // Ethernet: next hop, local, 802.1Q TCI 0x2064, IPv6.
      0x02, 0x00, 0x00, 0x00, 0x00, 0xfe, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
      0x81, 0x00, 0x20, 0x64, 0x86, 0xdd,
      // Outer IPv6: class 0x28, label 0xb1234, payload 48, UDP, hop limit 64.
      0x62, 0x8b, 0x12, 0x34, 0x00, 0x30, 0x11, 0x40,
      0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x01,
      0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x02,
      // UDP: 53812 -> 6080, length 48, no checksum.
      0xd2, 0x34, 0x17, 0xc0, 0x00, 0x30, 0x00, 0x00,
      // Inner IPv4 + TCP SYN, as received.
      0x45, 0x28, 0x00, 0x28, 0x1c, 0x46, 0x40, 0x00, 0x3f, 0x06, 0x33, 0x23,
      0xc0, 0x00, 0x02, 0x0a, 0xc6, 0x33, 0x64, 0x01,
      0x9c, 0x40, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00,
      0x50, 0x02, 0xff, 0xff, 0x23, 0x0d, 0x00, 0x00,
  };
  EXPECT_EQ(output(), golden);
}

// Without DF inside, the outer IPv4 header has no DF, and an ID that is
// unique per inner datagram (RFC 6864: a non-atomic datagram may be
// fragmented): the inner ID mixed with the flow hash; the checksum covers
// it. With DF (the golden tests above) the ID is 0.
TEST_F(EncapTest, OuterDfFollowsInnerDf) {
  const auto header_sum_ok = [](const uint8_t* h) {
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2) sum += load_be16(h + i);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
    return sum == 0xffff;
  };
  uint16_t first_outer = 0;
  for (const Encapsulation kind : {Encapsulation::kIpip, Encapsulation::kGue}) {
    load(inner_v4_frame(false, /*df=*/false));
    const uint16_t inner_id = parsed_.ip_id;
    EXPECT_EQ(inner_id, load_be16(pkt_.data + 14 + 4)) << "the parser reads the inner ID";
    ASSERT_EQ(encapsulate(pkt_, parsed_, params(kind, false)), DropReason::kNone);
    EXPECT_EQ(load_be16(pkt_.data + 14 + 6), 0x0000) << "DF clear, offset 0";
    EXPECT_EQ(load_be16(pkt_.data + 14 + 4),
              static_cast<uint16_t>(inner_id ^ static_cast<uint16_t>(kFlowHash >> 16)));
    EXPECT_NE(load_be16(pkt_.data + 14 + 4), 0) << "this frame's inner ID and hash give no 0";
    EXPECT_TRUE(header_sum_ok(pkt_.data + 14));
    first_outer = load_be16(pkt_.data + 14 + 4);
  }
  // Two datagrams of one flow with different inner IDs get different outer IDs.
  load(inner_v4_frame(false, /*df=*/false));
  pkt_.data[14 + 4] ^= 0x01;  // the inner ID, before parsing sees it
  load(std::vector<uint8_t>(pkt_.data, pkt_.data + pkt_.len));
  const uint16_t other_inner = parsed_.ip_id;
  ASSERT_EQ(encapsulate(pkt_, parsed_, params(Encapsulation::kIpip, false)), DropReason::kNone);
  EXPECT_EQ(load_be16(pkt_.data + 14 + 4),
            static_cast<uint16_t>(other_inner ^ static_cast<uint16_t>(kFlowHash >> 16)));
  EXPECT_NE(load_be16(pkt_.data + 14 + 4), first_outer);
}

// The GUE source port is 49152 + hash % 16384: both ends of the range.
TEST_F(EncapTest, GueSourcePortFormula) {
  struct {
    uint64_t hash;
    uint16_t port;
  } const cases[] = {
      {0x0000000000000000, 49152}, {0x0000000000003fff, 65535},
      {0x0000000000004000, 49152}, {0xffffffffffffffff, 65535},
      {0x8000000000002a5b, 59995},  // 49152 + 0x2a5b (10843)
  };
  for (const auto& c : cases) {
    load(inner_v4_frame(false));
    EncapParams p = params(Encapsulation::kGue, false);
    p.flow_hash = c.hash;
    ASSERT_EQ(encapsulate(pkt_, parsed_, p), DropReason::kNone);
    EXPECT_EQ(load_be16(pkt_.data + 14 + 20), c.port) << std::hex << c.hash;
  }
}

// The outer IPv6 flow label is the low 20 bits of the hash, no more.
TEST_F(EncapTest, FlowLabelIsLow20BitsOfHash) {
  struct {
    uint64_t hash;
    uint32_t word0;
  } const cases[] = {
      {0x0000000000000000, 0x62800000},
      {0xffffffffffffffff, 0x628fffff},
      {0xfedcba9876543210, 0x62843210},
  };
  for (const auto& c : cases) {
    load(inner_v4_frame(false));
    EncapParams p = params(Encapsulation::kIpip, true);
    p.flow_hash = c.hash;
    ASSERT_EQ(encapsulate(pkt_, parsed_, p), DropReason::kNone);
    EXPECT_EQ(load_be32(pkt_.data + 14), c.word0) << std::hex << c.hash;
  }
}

// An 802.1ad tag is kept with its own TPID, not rewritten to 802.1Q.
TEST_F(EncapTest, QinQTagKeptWithItsTpid) {
  load(FrameBuilder()
           .eth()
           .vlan(0x0fff, SLUICE_ETHERTYPE_QINQ)
           .ipv4("192.0.2.10", "198.51.100.1")
           .udp(5000, 53)
           .payload(20)
           .build());
  ASSERT_EQ(encapsulate(pkt_, parsed_, params(Encapsulation::kIpip, false)), DropReason::kNone);
  EXPECT_EQ(load_be16(pkt_.data + 12), 0x88a8);
  EXPECT_EQ(load_be16(pkt_.data + 14), 0x0fff);
  EXPECT_EQ(load_be16(pkt_.data + 16), 0x0800);
}

// IPv4 options are part of the inner packet and travel unchanged.
TEST_F(EncapTest, Ipv4OptionsTravelInside) {
  FrameLayout lay;
  const Bytes frame = FrameBuilder()
                          .eth()
                          .ipv4("192.0.2.10", "198.51.100.1")
                          .ipv4_options({0x94, 0x04, 0x00, 0x00})  // router alert
                          .tcp(40000, 80)
                          .payload(3)
                          .build(&lay);
  load(frame);
  ASSERT_EQ(encapsulate(pkt_, parsed_, params(Encapsulation::kIpip, false)), DropReason::kNone);
  EXPECT_EQ(pkt_.len, 14u + 20u + 47u);
  EXPECT_EQ(load_be16(pkt_.data + 14 + 2), 20 + 47);
  EXPECT_TRUE(test::ipv4_header_checksum_ok(pkt_.data + 14));
  EXPECT_EQ(Bytes(pkt_.data + 34, pkt_.data + pkt_.len),
            Bytes(frame.begin() + lay.l3_offset, frame.begin() + lay.ip_end));
}

// Headroom exactly the size of the outer headers is enough; one byte less is
// refused with kNoHeadroom and the packet is left as it was.
TEST_F(EncapTest, HeadroomBoundary) {
  struct {
    bool inner_v6;
    bool outer_v6;
    Encapsulation kind;
    uint32_t needed;
  } const cases[] = {
      {false, false, Encapsulation::kIpip, 20}, {false, false, Encapsulation::kGue, 28},
      {true, true, Encapsulation::kIpip, 40},   {true, true, Encapsulation::kGue, 48},
      {false, true, Encapsulation::kIpip, 40},  {false, true, Encapsulation::kGue, 48},
  };
  for (const auto& c : cases) {
    for (bool vlan : {false, true}) {
      SCOPED_TRACE(testing::Message() << "inner_v6=" << c.inner_v6 << " outer_v6=" << c.outer_v6
                                      << " needed=" << c.needed << " vlan=" << vlan);
      const Bytes frame = c.inner_v6 ? inner_v6_frame(vlan) : inner_v4_frame(vlan);
      const EncapParams p = params(c.kind, c.outer_v6);

      load(frame, c.needed - 1);
      snapshot();
      EXPECT_EQ(encapsulate(pkt_, parsed_, p), DropReason::kNoHeadroom);
      expect_unchanged();

      load(frame, c.needed);
      ASSERT_EQ(encapsulate(pkt_, parsed_, p), DropReason::kNone);
      EXPECT_EQ(pkt_.data, buf_.data() + kGuard);
      EXPECT_EQ(pkt_.headroom, 0u);
      for (uint32_t i = 0; i < kGuard; ++i) ASSERT_EQ(buf_[i], kMarker);
    }
  }
}

// A result of exactly max_frame_size is sent; one byte over is kTooBig and
// the packet is left as it was.
TEST_F(EncapTest, MaxFrameSizeBoundary) {
  struct {
    bool inner_v6;
    bool outer_v6;
    Encapsulation kind;
    bool vlan;
    uint32_t out_len;
  } const cases[] = {
      {false, false, Encapsulation::kIpip, false, 74},
      {false, false, Encapsulation::kGue, true, 86},
      {true, true, Encapsulation::kGue, false, 126},
      {false, true, Encapsulation::kIpip, true, 98},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.out_len);
    const Bytes frame = c.inner_v6 ? inner_v6_frame(c.vlan) : inner_v4_frame(c.vlan);
    EncapParams p = params(c.kind, c.outer_v6);

    p.max_frame_size = c.out_len - 1;
    load(frame);
    snapshot();
    EXPECT_EQ(encapsulate(pkt_, parsed_, p), DropReason::kTooBig);
    expect_unchanged();

    p.max_frame_size = c.out_len;
    load(frame);
    ASSERT_EQ(encapsulate(pkt_, parsed_, p), DropReason::kNone);
    EXPECT_EQ(pkt_.len, c.out_len);
  }
}

// The default limit (1514 + 40) fits a full 1500-byte IP packet in IPIP
// over IPv6 exactly; GUE's 8 more bytes do not fit.
TEST_F(EncapTest, FullSizePacketAgainstDefaultLimit) {
  const Bytes frame = FrameBuilder()
                          .eth()
                          .ipv4("192.0.2.10", "198.51.100.1")
                          .tcp(40000, 80)
                          .payload(1500 - 40)
                          .build();
  load(frame);
  ASSERT_EQ(encapsulate(pkt_, parsed_, params(Encapsulation::kIpip, true)), DropReason::kNone);
  EXPECT_EQ(pkt_.len, 1554u);

  load(frame);
  snapshot();
  EXPECT_EQ(encapsulate(pkt_, parsed_, params(Encapsulation::kGue, true)), DropReason::kTooBig);
  expect_unchanged();
}

// An outer IPv4 total length that would pass 65535 is kTooBig even when the
// frame limit allows it (the 16-bit field would wrap).
TEST_F(EncapTest, OuterLengthFieldOverflowIsTooBig) {
  // Inner 65515 bytes + 20 = 65535: fits exactly.
  Bytes frame = FrameBuilder()
                    .eth()
                    .ipv4("192.0.2.10", "198.51.100.1")
                    .udp(5000, 53)
                    .payload(65515 - 28)
                    .build();
  load(frame);
  EncapParams p = params(Encapsulation::kIpip, false);
  p.max_frame_size = 1 << 20;
  ASSERT_EQ(encapsulate(pkt_, parsed_, p), DropReason::kNone);
  EXPECT_EQ(load_be16(pkt_.data + 14 + 2), 65535);
  EXPECT_TRUE(test::ipv4_header_checksum_ok(pkt_.data + 14));

  // One byte more inside would make 65536.
  frame = FrameBuilder()
              .eth()
              .ipv4("192.0.2.10", "198.51.100.1")
              .udp(5000, 53)
              .payload(65516 - 28)
              .build();
  load(frame);
  snapshot();
  EXPECT_EQ(encapsulate(pkt_, parsed_, p), DropReason::kTooBig);
  expect_unchanged();

  // GUE adds 8 more: 65507 inside is the largest.
  p.kind = Encapsulation::kGue;
  frame = FrameBuilder()
              .eth()
              .ipv4("192.0.2.10", "198.51.100.1")
              .udp(5000, 53)
              .payload(65508 - 28)
              .build();
  load(frame);
  snapshot();
  EXPECT_EQ(encapsulate(pkt_, parsed_, p), DropReason::kTooBig);
  expect_unchanged();
}

// IPv6 inside IPv4 is not a supported pair: refused, packet unchanged.
TEST_F(EncapTest, Ipv6InIpv4Refused) {
  for (Encapsulation kind : {Encapsulation::kIpip, Encapsulation::kGue}) {
    for (bool vlan : {false, true}) {
      load(inner_v6_frame(vlan));
      snapshot();
      EXPECT_EQ(encapsulate(pkt_, parsed_, params(kind, false)), DropReason::kUnsupportedProtocol);
      expect_unchanged();
    }
  }
}

// A parse that did not find an IP packet (ARP) is refused, packet unchanged.
TEST_F(EncapTest, NonIpParseRefused) {
  load_raw(FrameBuilder().eth().arp().build());
  ASSERT_EQ(parsed_.status, ParseStatus::kNotIp);
  snapshot();
  EXPECT_EQ(encapsulate(pkt_, parsed_, params(Encapsulation::kIpip, false)),
            DropReason::kUnsupportedProtocol);
  expect_unchanged();
}

// 10k random frames (both families, random sizes, TOS, DF, VLAN, kind): the
// outer IPv4 checksum always verifies and the inner bytes always match.
TEST_F(EncapTest, RandomFramesStayValid) {
  std::mt19937_64 rng(0x5eed5eedu);
  auto random_address = [&](uint8_t family) {
    IpAddress a;
    a.family = family;
    const int n = family == SLUICE_AF_INET ? 4 : 16;
    for (int i = 0; i < n; ++i) a.bytes[i] = static_cast<uint8_t>(rng());
    return a;
  };
  int v4_outer = 0;
  int v6_outer = 0;
  for (int i = 0; i < 10000; ++i) {
    const bool inner_v6 = rng() & 1;
    const bool outer_v6 = inner_v6 || (rng() & 1);
    const bool vlan = rng() & 1;
    const bool df = rng() & 1;
    const bool udp = rng() & 1;
    const Encapsulation kind = (rng() & 1) ? Encapsulation::kGue : Encapsulation::kIpip;
    const uint8_t tos = static_cast<uint8_t>(rng());
    const size_t size = rng() % 1401;
    Bytes payload(size);
    for (uint8_t& b : payload) b = static_cast<uint8_t>(rng());
    const uint8_t family = inner_v6 ? SLUICE_AF_INET6 : SLUICE_AF_INET;

    FrameBuilder b;
    b.eth();
    if (vlan) b.vlan(static_cast<uint16_t>(rng()));
    b.ip(random_address(family), random_address(family)).tos(tos);
    if (!inner_v6) b.dont_fragment(df);
    if (udp) {
      b.udp(static_cast<uint16_t>(rng()), static_cast<uint16_t>(rng()));
    } else {
      b.tcp(static_cast<uint16_t>(rng()), static_cast<uint16_t>(rng()));
    }
    FrameLayout lay;
    const Bytes frame = b.payload(payload).pad_to(60).build(&lay);
    const Bytes inner(frame.begin() + lay.l3_offset, frame.begin() + lay.ip_end);
    load(frame);
    if (HasFatalFailure()) return;

    EncapParams p = params(kind, outer_v6);
    const IpAddress src = random_address(outer_v6 ? SLUICE_AF_INET6 : SLUICE_AF_INET);
    const IpAddress dst = random_address(outer_v6 ? SLUICE_AF_INET6 : SLUICE_AF_INET);
    p.outer_source = &src;
    p.backend = &dst;
    p.flow_hash = rng();
    ASSERT_EQ(encapsulate(pkt_, parsed_, p), DropReason::kNone) << "frame " << i;

    const uint32_t l2 = vlan ? 18 : 14;
    const uint32_t front = l2 + encap_overhead(kind, outer_v6 ? SLUICE_AF_INET6 : SLUICE_AF_INET);
    ASSERT_EQ(pkt_.len, front + inner.size()) << "frame " << i;
    ASSERT_EQ(Bytes(pkt_.data + front, pkt_.data + pkt_.len), inner) << "frame " << i;
    const uint8_t* ip = pkt_.data + l2;
    if (outer_v6) {
      ++v6_outer;
      ASSERT_EQ(load_be32(ip), (6u << 28) | (uint32_t{tos} << 20) | (p.flow_hash & 0xfffff));
    } else {
      ++v4_outer;
      ASSERT_TRUE(test::ipv4_header_checksum_ok(ip)) << "frame " << i;
      ASSERT_EQ(ip[1], tos);
      ASSERT_EQ(load_be16(ip + 6), df ? 0x4000 : 0x0000);
      ASSERT_EQ(load_be16(ip + 2), pkt_.len - l2);
    }
    if (kind == Encapsulation::kGue) {
      const uint8_t* udp_hdr = pkt_.data + front - 8;
      ASSERT_EQ(load_be16(udp_hdr), 49152 + p.flow_hash % 16384);
      ASSERT_EQ(load_be16(udp_hdr + 4), pkt_.len - front + 8);
    }
  }
  // Both outer families were exercised in bulk.
  EXPECT_GT(v4_outer, 2000);
  EXPECT_GT(v6_outer, 5000);
}

// ---------------------------------------------------------------------------
// Echo replies.

class EchoReplyTest : public EncapTest {};

// IPv4: addresses and MACs swapped, type 0, TTL 64, checksums valid, the
// rest echoed; the result is the frame a builder makes for that reply.
TEST_F(EchoReplyTest, Ipv4EchoReply) {
  FrameLayout lay;
  const Bytes request = FrameBuilder()
                            .eth()
                            .ipv4("198.51.100.7", "192.0.2.1")
                            .ttl(57)
                            .ipv4_id(0x4321)
                            .icmp_echo(0x1234, 7)
                            .payload(8, 0x61)
                            .pad_to(60)
                            .build(&lay);
  ASSERT_EQ(load_be16(request.data() + lay.l4_offset + 2), 0x603f);  // request checksum
  load(request);
  ASSERT_EQ(make_echo_reply(pkt_, parsed_), DropReason::kNone);

  const uint8_t* f = pkt_.data;
  EXPECT_EQ(pkt_.len, 60u);
  EXPECT_EQ(Bytes(f, f + 6), (Bytes{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}));
  EXPECT_EQ(Bytes(f + 6, f + 12), (Bytes{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}));
  const uint8_t* ip = f + 14;
  EXPECT_EQ(ip[8], 64);
  EXPECT_EQ(load_be16(ip + 10), 0x4b7c);
  EXPECT_TRUE(test::ipv4_header_checksum_ok(ip));
  EXPECT_EQ(Bytes(ip + 12, ip + 16), (Bytes{192, 0, 2, 1}));
  EXPECT_EQ(Bytes(ip + 16, ip + 20), (Bytes{198, 51, 100, 7}));
  const uint8_t* icmp = f + lay.l4_offset;
  EXPECT_EQ(icmp[0], SLUICE_ICMP_ECHO_REPLY);
  EXPECT_EQ(icmp[1], 0);
  EXPECT_EQ(load_be16(icmp + 2), 0x683f);
  EXPECT_EQ(test::icmp_checksum(icmp, lay.ip_end - lay.l4_offset), 0);
  EXPECT_EQ(load_be16(icmp + 4), 0x1234);
  EXPECT_EQ(load_be16(icmp + 6), 7);
  EXPECT_EQ(Bytes(icmp + 8, f + lay.ip_end), Bytes(8, 0x61));

  const Bytes expected = FrameBuilder()
                             .eth(test::kTestSrcMac, test::kTestDstMac)
                             .ipv4("192.0.2.1", "198.51.100.7")
                             .ttl(64)
                             .ipv4_id(0x4321)
                             .icmp_echo(0x1234, 7, /*request=*/false)
                             .payload(8, 0x61)
                             .pad_to(60)
                             .build();
  EXPECT_EQ(output(), expected);
}

// IPv6: the ICMPv6 checksum (with its pseudo-header) is valid afterwards.
TEST_F(EchoReplyTest, Ipv6EchoReply) {
  FrameLayout lay;
  const Bytes request = FrameBuilder()
                            .eth()
                            .ipv6("2001:db8:c::7", "2001:db8:f::1")
                            .ttl(55)
                            .icmp_echo(0xbeef, 1)
                            .payload(56, 0x5a)
                            .build(&lay);
  ASSERT_EQ(load_be16(request.data() + lay.l4_offset + 2), 0x831d);  // request checksum
  load(request);
  ASSERT_EQ(make_echo_reply(pkt_, parsed_), DropReason::kNone);

  const uint8_t* f = pkt_.data;
  EXPECT_EQ(Bytes(f, f + 6), (Bytes{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}));
  EXPECT_EQ(Bytes(f + 6, f + 12), (Bytes{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}));
  const uint8_t* ip = f + 14;
  EXPECT_EQ(ip[7], 64);
  EXPECT_EQ(Bytes(ip + 8, ip + 24),
            (Bytes{0x20, 0x01, 0x0d, 0xb8, 0x00, 0x0f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01}));
  EXPECT_EQ(Bytes(ip + 24, ip + 40),
            (Bytes{0x20, 0x01, 0x0d, 0xb8, 0x00, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07}));
  const uint8_t* icmp = f + lay.l4_offset;
  EXPECT_EQ(icmp[0], SLUICE_ICMPV6_ECHO_REPLY);
  EXPECT_EQ(load_be16(icmp + 2), 0x821d);
  EXPECT_EQ(test::icmpv6_checksum(ip, icmp, lay.ip_end - lay.l4_offset), 0);
  EXPECT_EQ(load_be16(icmp + 4), 0xbeef);
  EXPECT_EQ(load_be16(icmp + 6), 1);
  EXPECT_EQ(Bytes(icmp + 8, f + lay.ip_end), Bytes(56, 0x5a));

  const Bytes expected = FrameBuilder()
                             .eth(test::kTestSrcMac, test::kTestDstMac)
                             .ipv6("2001:db8:f::1", "2001:db8:c::7")
                             .ttl(64)
                             .icmp_echo(0xbeef, 1, /*request=*/false)
                             .payload(56, 0x5a)
                             .build();
  EXPECT_EQ(output(), expected);
}

// A VLAN tag stays; IPv4 options are echoed and covered by the recomputed
// header checksum; IPv6 extension headers are skipped to find ICMPv6.
TEST_F(EchoReplyTest, VlanOptionsAndExtensionHeaders) {
  load(FrameBuilder()
           .eth()
           .vlan(kVlanTci)
           .ipv4("198.51.100.7", "192.0.2.1")
           .ipv4_options({0x01, 0x01, 0x01, 0x00})  // NOPs, EOL
           .icmp_echo(1, 2)
           .payload(5, 0x77)
           .build());
  ASSERT_EQ(make_echo_reply(pkt_, parsed_), DropReason::kNone);
  EXPECT_EQ(load_be16(pkt_.data + 12), 0x8100);
  EXPECT_EQ(load_be16(pkt_.data + 14), kVlanTci);
  EXPECT_EQ(output(), FrameBuilder()
                          .eth(test::kTestSrcMac, test::kTestDstMac)
                          .vlan(kVlanTci)
                          .ipv4("192.0.2.1", "198.51.100.7")
                          .ipv4_options({0x01, 0x01, 0x01, 0x00})
                          .icmp_echo(1, 2, false)
                          .payload(5, 0x77)
                          .build());

  load(FrameBuilder()
           .eth()
           .ipv6("2001:db8:c::7", "2001:db8:f::1")
           .hop_by_hop()
           .dest_opts(16)
           .icmp_echo(3, 4)
           .payload(9, 0x11)
           .build());
  ASSERT_EQ(make_echo_reply(pkt_, parsed_), DropReason::kNone);
  EXPECT_EQ(output(), FrameBuilder()
                          .eth(test::kTestSrcMac, test::kTestDstMac)
                          .ipv6("2001:db8:f::1", "2001:db8:c::7")
                          .hop_by_hop()
                          .dest_opts(16)
                          .icmp_echo(3, 4, false)
                          .payload(9, 0x11)
                          .build());
}

// Only the type changes: a nonzero code is echoed, and the checksum still
// verifies.
TEST_F(EchoReplyTest, CodeEchoedAsReceived) {
  FrameLayout lay;
  load(FrameBuilder()
           .eth()
           .ipv4("198.51.100.7", "192.0.2.1")
           .icmp(SLUICE_ICMP_ECHO_REQUEST, 3, 0x00010002)
           .payload(4, 0x42)
           .build(&lay));
  ASSERT_EQ(make_echo_reply(pkt_, parsed_), DropReason::kNone);
  const uint8_t* icmp = pkt_.data + lay.l4_offset;
  EXPECT_EQ(icmp[0], SLUICE_ICMP_ECHO_REPLY);
  EXPECT_EQ(icmp[1], 3);
  EXPECT_EQ(test::icmp_checksum(icmp, lay.ip_end - lay.l4_offset), 0);
}

// Anything but an echo request is refused with kBadIcmp and left unchanged.
TEST_F(EchoReplyTest, NonEchoRequestRefused) {
  const Bytes quoted = FrameBuilder().ipv4("192.0.2.1", "198.51.100.7").tcp(80, 40000).build();
  const Bytes quoted6 =
      FrameBuilder().ipv6("2001:db8:f::1", "2001:db8:c::7").tcp(443, 40000).build();
  const Bytes frames[] = {
      FrameBuilder().eth().ipv4("198.51.100.7", "192.0.2.1").icmp_echo(1, 1, false).build(),
      FrameBuilder().eth().ipv4("198.51.100.7", "192.0.2.1").icmp_frag_needed(1400, quoted).build(),
      FrameBuilder().eth().ipv4("198.51.100.7", "192.0.2.1").icmp(13, 0).build(),  // timestamp
      FrameBuilder().eth().ipv4("198.51.100.7", "192.0.2.1").tcp(40000, 80).build(),
      FrameBuilder().eth().ipv6("2001:db8:c::7", "2001:db8:f::1").icmp_echo(1, 1, false).build(),
      FrameBuilder()
          .eth()
          .ipv6("2001:db8:c::7", "2001:db8:f::1")
          .icmpv6_packet_too_big(1280, quoted6)
          .build(),
      FrameBuilder().eth().ipv6("2001:db8:c::7", "2001:db8:f::1").udp(5000, 7).build(),
      // Type 128 under IPv4 is not an IPv4 echo request (that is 8).
      FrameBuilder().eth().ipv4("198.51.100.7", "192.0.2.1").icmp(128, 0).build(),
      // Type 8 under IPv6 is not an ICMPv6 echo request (that is 128).
      FrameBuilder().eth().ipv6("2001:db8:c::7", "2001:db8:f::1").icmp(8, 0).build(),
  };
  for (size_t i = 0; i < std::size(frames); ++i) {
    SCOPED_TRACE(i);
    load(frames[i]);
    snapshot();
    EXPECT_EQ(make_echo_reply(pkt_, parsed_), DropReason::kBadIcmp);
    expect_unchanged();
  }
}

// The protocol is checked, not only the type: a parse of a TCP packet whose
// icmp_type says "echo request" is still refused.
TEST_F(EchoReplyTest, TypeWithoutIcmpProtocolRefused) {
  load(FrameBuilder().eth().ipv4("198.51.100.7", "192.0.2.1").tcp(40000, 80).build());
  parsed_.icmp_type = SLUICE_ICMP_ECHO_REQUEST;
  snapshot();
  EXPECT_EQ(make_echo_reply(pkt_, parsed_), DropReason::kBadIcmp);
  expect_unchanged();

  load(FrameBuilder().eth().ipv6("2001:db8:c::7", "2001:db8:f::1").udp(5000, 7).build());
  parsed_.icmp_type = SLUICE_ICMPV6_ECHO_REQUEST;
  snapshot();
  EXPECT_EQ(make_echo_reply(pkt_, parsed_), DropReason::kBadIcmp);
  expect_unchanged();
}

// A parse that is not kOk, or claims an ICMP header past the packet's end, is
// refused rather than trusted.
TEST_F(EchoReplyTest, InconsistentParseRefused) {
  load(FrameBuilder().eth().ipv4("198.51.100.7", "192.0.2.1").icmp_echo(1, 1).build());
  parsed_.l3_end = static_cast<uint16_t>(parsed_.l4_offset + 7);
  snapshot();
  EXPECT_EQ(make_echo_reply(pkt_, parsed_), DropReason::kBadIcmp);
  expect_unchanged();

  load(FrameBuilder().eth().ipv4("198.51.100.7", "192.0.2.1").icmp_echo(1, 1).build());
  parsed_.l3_end = static_cast<uint16_t>(pkt_.len + 1);
  snapshot();
  EXPECT_EQ(make_echo_reply(pkt_, parsed_), DropReason::kBadIcmp);
  expect_unchanged();

  load(FrameBuilder().eth().ipv4("198.51.100.7", "192.0.2.1").icmp_echo(1, 1).build());
  parsed_.status = ParseStatus::kMalformed;
  snapshot();
  EXPECT_EQ(make_echo_reply(pkt_, parsed_), DropReason::kBadIcmp);
  expect_unchanged();
}

// A fragmented echo request is refused: its checksum covers data we lack.
TEST_F(EchoReplyTest, FragmentedEchoRefused) {
  const Bytes frames[] = {
      FrameBuilder()
          .eth()
          .ipv4("198.51.100.7", "192.0.2.1")
          .fragment(0, /*more_fragments=*/true)
          .icmp_echo(1, 1)
          .payload(64)
          .build(),
      FrameBuilder()
          .eth()
          .ipv6("2001:db8:c::7", "2001:db8:f::1")
          .fragment(0, /*more_fragments=*/true)
          .icmp_echo(1, 1)
          .payload(64)
          .build(),
  };
  for (const Bytes& frame : frames) {
    load(frame);
    ASSERT_TRUE(parsed_.is_fragment);
    snapshot();
    EXPECT_EQ(make_echo_reply(pkt_, parsed_), DropReason::kBadIcmp);
    expect_unchanged();
  }
}

// Random identifiers, sequences and payloads: the incrementally updated
// checksum always equals a full recomputation.
TEST_F(EchoReplyTest, RandomEchoChecksumsVerify) {
  std::mt19937_64 rng(0xec40u);
  for (int i = 0; i < 2000; ++i) {
    const bool v6 = i & 1;
    Bytes payload(rng() % 200);
    for (uint8_t& b : payload) b = static_cast<uint8_t>(rng());
    const auto id = static_cast<uint16_t>(rng());
    const auto seq = static_cast<uint16_t>(rng());
    FrameBuilder b;
    b.eth();
    if (v6) {
      b.ipv6("2001:db8:c::7", "2001:db8:f::1");
    } else {
      b.ipv4("198.51.100.7", "192.0.2.1");
    }
    FrameLayout lay;
    load(b.ttl(static_cast<uint8_t>(rng())).icmp_echo(id, seq).payload(payload).build(&lay));
    ASSERT_EQ(make_echo_reply(pkt_, parsed_), DropReason::kNone);
    const uint8_t* ip = pkt_.data + 14;
    const uint8_t* icmp = pkt_.data + lay.l4_offset;
    const size_t len = lay.ip_end - lay.l4_offset;
    if (v6) {
      ASSERT_EQ(test::icmpv6_checksum(ip, icmp, len), 0) << "case " << i;
    } else {
      ASSERT_EQ(test::icmp_checksum(icmp, len), 0) << "case " << i;
      ASSERT_TRUE(test::ipv4_header_checksum_ok(ip)) << "case " << i;
    }
    ASSERT_EQ(load_be16(icmp + 4), id);
    ASSERT_EQ(load_be16(icmp + 6), seq);
    ASSERT_EQ(Bytes(icmp + 8, icmp + len), payload);
  }
}

}  // namespace
}  // namespace sluice::engine
