// The backend-side decapsulator (ebpf/decap/decap.bpf.c) run by the kernel
// through BPF_PROG_TEST_RUN on frames that the engine's own encapsulate()
// produced: what comes out must be the original Ethernet header (ethertype
// of the inner family) followed by the client's IP packet, byte for byte.
// Everything that is not an IPIP/GUE packet for us must come out untouched.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <linux/pkt_cls.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "dataplane/engine/config.h"
#include "dataplane/engine/encap.h"
#include "dataplane/engine/packet.h"
#include "dataplane/engine/parse.h"
#include "dataplane/engine/wire.h"
#include "ebpf/decap/decap.h"
#include "tests/dataplane/engine/frame_builder.h"
#include "tests/ebpf/bpf_test_support.h"

#ifndef SLUICE_DECAP_BPF_OBJ
#error "SLUICE_DECAP_BPF_OBJ (path of the built decap.bpf.o) must be defined by the build"
#endif

namespace sluice::engine {
namespace {

namespace bpftest = sluice::test::bpf;

using test::FrameBuilder;
using test::FrameLayout;
using test::load_be16;

using Bytes = std::vector<uint8_t>;

constexpr uint32_t kHeadroom = 128;
constexpr MacAddress kLocalMac = {0x02, 0x5c, 0x00, 0x00, 0x00, 0x02};
constexpr MacAddress kRouterMac = {0x02, 0x5c, 0x00, 0x00, 0x00, 0x01};



// What a test run returned: the action and the frame as it left the program.
struct RunResult {
  int error = 0;  // errno of a refused BPF_PROG_TEST_RUN
  int action = -1;
  Bytes frame;
};

class DecapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!bpftest::can_load_bpf()) {
      GTEST_SKIP() << "needs CAP_BPF (or root) to load decap.bpf.o; run as root to test it";
    }
    libbpf_set_print(bpftest::collect_libbpf_log);
    bpftest::libbpf_log().clear();
    obj_ = bpf_object__open_file(SLUICE_DECAP_BPF_OBJ, nullptr);
    ASSERT_NE(obj_, nullptr) << "cannot open " << SLUICE_DECAP_BPF_OBJ << ": " << bpftest::libbpf_log();
    ASSERT_EQ(bpf_object__load(obj_), 0) << bpftest::libbpf_log();
    bpf_program* prog = bpf_object__find_program_by_name(obj_, "sluice_decap");
    ASSERT_NE(prog, nullptr);
    EXPECT_EQ(bpf_program__type(prog), BPF_PROG_TYPE_SCHED_CLS);
    prog_fd_ = bpf_program__fd(prog);
    config_fd_ = bpf_object__find_map_fd_by_name(obj_, SLUICE_DECAP_CONFIG_MAP);
    stats_fd_ = bpf_object__find_map_fd_by_name(obj_, SLUICE_DECAP_STATS_MAP);
    ASSERT_GE(config_fd_, 0);
    ASSERT_GE(stats_fd_, 0);
  }

  void TearDown() override { bpf_object__close(obj_); }

  // One BPF_PROG_TEST_RUN, repeat 1: the skb is built fresh from `frame`.
  // `error` is the syscall's errno (0 when the program ran).
  RunResult run(const Bytes& frame) const {
    RunResult r;
    Bytes out(frame.size() + 256, 0);
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(),
                .data_out = out.data(),
                .data_size_in = static_cast<uint32_t>(frame.size()),
                .data_size_out = static_cast<uint32_t>(out.size()), .repeat = 1);
    if (bpf_prog_test_run_opts(prog_fd_, &opts) != 0) {
      r.error = errno;
      return r;
    }
    r.action = static_cast<int>(opts.retval);
    out.resize(opts.data_size_out);
    r.frame = std::move(out);
    return r;
  }

  // Sum over CPUs of one decap_stats counter.
  uint64_t counter(uint32_t index) const {
    const int cpus = libbpf_num_possible_cpus();
    std::vector<uint64_t> values(cpus > 0 ? static_cast<size_t>(cpus) : 1, 0);
    EXPECT_EQ(bpf_map_lookup_elem(stats_fd_, &index, values.data()), 0);
    uint64_t sum = 0;
    for (uint64_t v : values) sum += v;
    return sum;
  }

  void set_gue_port(uint32_t port) const {
    const uint32_t key = 0;
    const sluice_decap_config cfg{port};
    ASSERT_EQ(bpf_map_update_elem(config_fd_, &key, &cfg, BPF_ANY), 0);
  }

  // Runs `frame` and expects it back unchanged with TC_ACT_OK, counted
  // under `expected_counter`.
  void expect_untouched(const Bytes& frame, uint32_t expected_counter) const {
    const uint64_t before = counter(expected_counter);
    const RunResult r = run(frame);
    EXPECT_EQ(r.error, 0) << std::strerror(r.error);
    EXPECT_EQ(r.action, TC_ACT_OK);
    EXPECT_EQ(r.frame, frame);
    EXPECT_EQ(counter(expected_counter), before + 1);
  }

  // Runs `encapsulated` and expects `expected` (Ethernet + inner packet),
  // counted under `expected_counter`.
  void expect_decapsulated(const Bytes& encapsulated, const Bytes& expected,
                           uint32_t expected_counter) const {
    const uint64_t before = counter(expected_counter);
    const RunResult r = run(encapsulated);
    EXPECT_EQ(r.error, 0) << std::strerror(r.error);
    EXPECT_EQ(r.action, TC_ACT_OK);
    EXPECT_EQ(r.frame, expected);
    EXPECT_EQ(counter(expected_counter), before + 1);
  }

  // The client's packet as the balancer receives it (an Ethernet frame).
  static Bytes client_v4_frame(size_t payload_len, FrameLayout* layout) {
    return FrameBuilder()
        .eth()
        .ipv4("192.0.2.10", "10.77.100.10")
        .tos(0x28)
        .dont_fragment()
        .tcp(40000, 80, SLUICE_TCP_SYN, 0x01020304)
        .payload(payload_len, 0x5a)
        .pad_to(60)
        .build(layout);
  }

  static Bytes client_v6_frame(size_t payload_len, FrameLayout* layout) {
    return FrameBuilder()
        .eth()
        .ipv6("2001:db8:c::10", "fd77:100::10")
        .flow_label(0x12345)
        .tcp(40001, 80, SLUICE_TCP_SYN, 0x0a0b0c0d)
        .payload(payload_len, 0x6b)
        .build(layout);
  }

  // The frame the engine sends toward `backend` for `client_frame`.
  static Bytes encapsulated(const Bytes& client_frame, Encapsulation kind, const char* source,
                            const char* backend, uint16_t gue_port = 6080) {
    Bytes buf(kHeadroom + client_frame.size(), 0);
    std::memcpy(buf.data() + kHeadroom, client_frame.data(), client_frame.size());
    Packet pkt{buf.data() + kHeadroom, static_cast<uint32_t>(client_frame.size()), kHeadroom};
    ParsedPacket parsed;
    parse_packet(pkt.data, pkt.len, &parsed);
    EXPECT_EQ(parsed.status, ParseStatus::kOk);
    const IpAddress src = test::parse_test_address(source);
    const IpAddress dst = test::parse_test_address(backend);
    EncapParams p;
    p.kind = kind;
    p.gue_port = gue_port;
    p.outer_source = &src;
    p.backend = &dst;
    p.flow_hash = 0x0123456789ab1234;
    p.local_mac = &kLocalMac;
    p.next_hop_mac = &kRouterMac;
    p.max_frame_size = 1614;  // the lab's 1600-byte MTU
    const DropReason reason = encapsulate(pkt, parsed, p);
    EXPECT_EQ(reason, DropReason::kNone) << drop_reason_name(reason);
    return Bytes(pkt.data, pkt.data + pkt.len);
  }

  // What the backend's stack must receive: the encapsulated frame's
  // Ethernet addresses, the inner family's ethertype, the client's IP packet
  // (without the client frame's Ethernet padding).
  static Bytes expected_inner(const Bytes& encapsulated_frame, const Bytes& client_frame,
                              const FrameLayout& layout, uint16_t ethertype) {
    Bytes out(encapsulated_frame.begin(), encapsulated_frame.begin() + 12);
    out.push_back(static_cast<uint8_t>(ethertype >> 8));
    out.push_back(static_cast<uint8_t>(ethertype));
    out.insert(out.end(), client_frame.begin() + static_cast<long>(layout.l3_offset),
               client_frame.begin() + static_cast<long>(layout.ip_end));
    return out;
  }

  // Just the client's IP packet, for hand-built outer headers.
  static Bytes inner_ip(const Bytes& client_frame, const FrameLayout& layout) {
    return Bytes(client_frame.begin() + static_cast<long>(layout.l3_offset),
                 client_frame.begin() + static_cast<long>(layout.ip_end));
  }

  static Bytes eth_then(uint16_t ethertype, const Bytes& l3) {
    Bytes out(kRouterMac.begin(), kRouterMac.end());
    out.insert(out.end(), kLocalMac.begin(), kLocalMac.end());
    out.push_back(static_cast<uint8_t>(ethertype >> 8));
    out.push_back(static_cast<uint8_t>(ethertype));
    out.insert(out.end(), l3.begin(), l3.end());
    return out;
  }

  bpf_object* obj_ = nullptr;
  int prog_fd_ = -1;
  int config_fd_ = -1;
  int stats_fd_ = -1;
};

// --- What the engine sends ---------------------------------------------------

// IPv4 in IPv4 (protocol 4): Ethernet + the client's packet come out.
TEST_F(DecapTest, IpipV4InV4) {
  FrameLayout lay;
  const Bytes client = client_v4_frame(0, &lay);
  const Bytes enc = encapsulated(client, Encapsulation::kIpip, "10.77.0.2", "10.77.0.21");
  ASSERT_EQ(enc.size(), 14u + 20 + 40);
  ASSERT_EQ(enc[14 + 9], 4);
  expect_decapsulated(enc, expected_inner(enc, client, lay, 0x0800), SLUICE_DECAP_IPIP);
}

// IPv6 in IPv6 (next header 41).
TEST_F(DecapTest, IpipV6InV6) {
  FrameLayout lay;
  const Bytes client = client_v6_frame(4, &lay);
  const Bytes enc = encapsulated(client, Encapsulation::kIpip, "fd77::2", "fd77::21");
  ASSERT_EQ(enc[14 + 6], 41);
  expect_decapsulated(enc, expected_inner(enc, client, lay, 0x86dd), SLUICE_DECAP_IPIP);
}

// IPv4 in IPv6 (next header 4): a family change, so the ethertype turns
// from 0x86dd into 0x0800.
TEST_F(DecapTest, IpipV4InV6ChangesEthertype) {
  FrameLayout lay;
  const Bytes client = client_v4_frame(0, &lay);
  const Bytes enc = encapsulated(client, Encapsulation::kIpip, "fd77::2", "fd77::21");
  ASSERT_EQ(load_be16(&enc[12]), 0x86dd);
  ASSERT_EQ(enc[14 + 6], 4);
  expect_decapsulated(enc, expected_inner(enc, client, lay, 0x0800), SLUICE_DECAP_IPIP);
}

// GUE over IPv4 to the default port 6080.
TEST_F(DecapTest, GueV4InV4) {
  FrameLayout lay;
  const Bytes client = client_v4_frame(0, &lay);
  const Bytes enc = encapsulated(client, Encapsulation::kGue, "10.77.0.2", "10.77.0.21");
  ASSERT_EQ(enc[14 + 9], 17);
  ASSERT_EQ(load_be16(&enc[14 + 20 + 2]), 6080);
  expect_decapsulated(enc, expected_inner(enc, client, lay, 0x0800), SLUICE_DECAP_GUE);
}

// GUE over IPv6 carrying IPv6.
TEST_F(DecapTest, GueV6InV6) {
  FrameLayout lay;
  const Bytes client = client_v6_frame(4, &lay);
  const Bytes enc = encapsulated(client, Encapsulation::kGue, "fd77::2", "fd77::21");
  ASSERT_EQ(enc[14 + 6], 17);
  expect_decapsulated(enc, expected_inner(enc, client, lay, 0x86dd), SLUICE_DECAP_GUE);
}

// GUE over IPv6 carrying IPv4: family change through the UDP path.
TEST_F(DecapTest, GueV4InV6ChangesEthertype) {
  FrameLayout lay;
  const Bytes client = client_v4_frame(0, &lay);
  const Bytes enc = encapsulated(client, Encapsulation::kGue, "fd77::2", "fd77::21");
  expect_decapsulated(enc, expected_inner(enc, client, lay, 0x0800), SLUICE_DECAP_GUE);
}

// A full-size client segment (1500-byte IP packet) in each format: the
// payload after the headers survives intact.
TEST_F(DecapTest, FullSizePacketsInEveryFormat) {
  struct Case {
    const char* name;
    bool inner_v6;
    Encapsulation kind;
    const char* source;
    const char* backend;
    uint32_t counter;
  };
  const Case cases[] = {
      {"ipip 4in4", false, Encapsulation::kIpip, "10.77.0.2", "10.77.0.21", SLUICE_DECAP_IPIP},
      {"ipip 6in6", true, Encapsulation::kIpip, "fd77::2", "fd77::21", SLUICE_DECAP_IPIP},
      {"ipip 4in6", false, Encapsulation::kIpip, "fd77::2", "fd77::21", SLUICE_DECAP_IPIP},
      {"gue 4in4", false, Encapsulation::kGue, "10.77.0.2", "10.77.0.21", SLUICE_DECAP_GUE},
      {"gue 6in6", true, Encapsulation::kGue, "fd77::2", "fd77::21", SLUICE_DECAP_GUE},
      {"gue 4in6", false, Encapsulation::kGue, "fd77::2", "fd77::21", SLUICE_DECAP_GUE},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    FrameLayout lay;
    const Bytes client = c.inner_v6 ? client_v6_frame(1500 - 40 - 20, &lay)
                                    : client_v4_frame(1500 - 20 - 20, &lay);
    ASSERT_EQ(lay.ip_end - lay.l3_offset, 1500u);
    const Bytes enc = encapsulated(client, c.kind, c.source, c.backend);
    expect_decapsulated(enc, expected_inner(enc, client, lay, c.inner_v6 ? 0x86dd : 0x0800),
                        c.counter);
  }
}

// --- Other well-formed tunnels -------------------------------------------------

// An outer IPv4 header with options (IHL 6): all 24 bytes are removed.
TEST_F(DecapTest, IpipOuterWithOptions) {
  FrameLayout lay;
  const Bytes inner = inner_ip(client_v4_frame(8, &lay), lay);
  const Bytes enc = FrameBuilder()
                        .eth(kRouterMac, kLocalMac)
                        .ipv4("10.77.0.2", "10.77.0.21")
                        .ipv4_options({0x01, 0x01, 0x01, 0x01})  // four NOPs
                        .ip_proto(4)
                        .payload(inner)
                        .build();
  ASSERT_EQ(enc[14], 0x46);
  expect_decapsulated(enc, eth_then(0x0800, inner), SLUICE_DECAP_IPIP);
}

// IPv6 in IPv4 (protocol 41) is not a pair the engine emits, but a family
// change the decapsulator handles alike.
TEST_F(DecapTest, IpipV6InV4ChangesEthertype) {
  FrameLayout lay;
  const Bytes inner = inner_ip(client_v6_frame(4, &lay), lay);
  const Bytes enc = FrameBuilder()
                        .eth(kRouterMac, kLocalMac)
                        .ipv4("10.77.0.2", "10.77.0.21")
                        .ip_proto(41)
                        .payload(inner)
                        .build();
  expect_decapsulated(enc, eth_then(0x86dd, inner), SLUICE_DECAP_IPIP);
}

// Ethernet padding after a short outer packet stays behind the inner
// packet (the stack trims it by the inner length), nothing else changes.
TEST_F(DecapTest, PaddingAfterOuterPacketIsKept) {
  FrameLayout lay;
  const Bytes inner = inner_ip(client_v4_frame(0, &lay), lay);
  Bytes enc = FrameBuilder()
                  .eth(kRouterMac, kLocalMac)
                  .ipv4("10.77.0.2", "10.77.0.21")
                  .ip_proto(4)
                  .payload(inner)
                  .pad(6)
                  .build();
  Bytes expected = eth_then(0x0800, inner);
  expected.insert(expected.end(), 6, 0);
  expect_decapsulated(enc, expected, SLUICE_DECAP_IPIP);
}

// A GUE port set in decap_config replaces the default: 7000 is stripped,
// 6080 is then an ordinary UDP port.
TEST_F(DecapTest, ConfiguredGuePortReplacesDefault) {
  FrameLayout lay;
  const Bytes client = client_v4_frame(0, &lay);
  const Bytes to_7000 = encapsulated(client, Encapsulation::kGue, "10.77.0.2", "10.77.0.21", 7000);
  const Bytes to_6080 = encapsulated(client, Encapsulation::kGue, "10.77.0.2", "10.77.0.21", 6080);
  set_gue_port(7000);
  expect_decapsulated(to_7000, expected_inner(to_7000, client, lay, 0x0800), SLUICE_DECAP_GUE);
  expect_untouched(to_6080, SLUICE_DECAP_PASSED);
  set_gue_port(0);  // back to the default
  expect_decapsulated(to_6080, expected_inner(to_6080, client, lay, 0x0800), SLUICE_DECAP_GUE);
}

// An out-of-range port in the config falls back to the default rather than
// matching port (value & 0xffff).
TEST_F(DecapTest, OutOfRangeConfiguredPortMeansDefault) {
  FrameLayout lay;
  const Bytes client = client_v4_frame(0, &lay);
  const Bytes enc = encapsulated(client, Encapsulation::kGue, "10.77.0.2", "10.77.0.21", 6080);
  set_gue_port(0x10000 + 7000);
  expect_decapsulated(enc, expected_inner(enc, client, lay, 0x0800), SLUICE_DECAP_GUE);
}

// --- Not for us: untouched ----------------------------------------------------

// Plain TCP over IPv4 and IPv6, as the backend's own traffic arrives.
TEST_F(DecapTest, PlainTcpUntouched) {
  FrameLayout lay;
  expect_untouched(client_v4_frame(10, &lay), SLUICE_DECAP_PASSED);
  expect_untouched(client_v6_frame(10, &lay), SLUICE_DECAP_PASSED);
}

// GUE to a port that is not configured is ordinary UDP.
TEST_F(DecapTest, GueToAnotherPortUntouched) {
  FrameLayout lay;
  const Bytes client = client_v4_frame(0, &lay);
  expect_untouched(encapsulated(client, Encapsulation::kGue, "10.77.0.2", "10.77.0.21", 6081),
                   SLUICE_DECAP_PASSED);
  expect_untouched(encapsulated(client, Encapsulation::kGue, "fd77::2", "fd77::21", 6081),
                   SLUICE_DECAP_PASSED);
}

// UDP from port 6080 (source, not destination) is not GUE.
TEST_F(DecapTest, UdpFromGuePortUntouched) {
  expect_untouched(FrameBuilder()
                       .eth()
                       .ipv4("10.77.0.2", "10.77.0.21")
                       .udp(6080, 53)
                       .payload(28, 0x45)
                       .build(),
                   SLUICE_DECAP_PASSED);
}

// ARP, and a non-IP ethertype.
TEST_F(DecapTest, NonIpUntouched) {
  expect_untouched(FrameBuilder().eth().arp().pad_to(60).build(), SLUICE_DECAP_PASSED);
  expect_untouched(FrameBuilder().eth().ethertype(0x88cc).payload(46).build(),
                   SLUICE_DECAP_PASSED);
}

// A VLAN-tagged tunnel packet: on a real device the kernel strips the tag
// before tc runs; a tag still in the data is not parsed.
TEST_F(DecapTest, VlanTaggedFrameUntouched) {
  FrameLayout lay;
  const Bytes inner = inner_ip(client_v4_frame(0, &lay), lay);
  expect_untouched(FrameBuilder()
                       .eth(kRouterMac, kLocalMac)
                       .vlan(100)
                       .ipv4("10.77.0.2", "10.77.0.21")
                       .ip_proto(4)
                       .payload(inner)
                       .build(),
                   SLUICE_DECAP_PASSED);
}

// --- Malformed or truncated: untouched, no crash -------------------------------

// Outer headers cut short at every length up to the first bytes of the
// inner header: never decapsulated, never dropped. This kernel's
// BPF_PROG_TEST_RUN itself refuses (EINVAL) an IPv4/IPv6 frame shorter than
// the base IP header, so those lengths only check that nothing else happens;
// the verifier has proven the program's bounds checks for them anyway.
TEST_F(DecapTest, TruncatedOuterHeadersUntouched) {
  FrameLayout lay;
  const Bytes client = client_v4_frame(0, &lay);
  const Bytes v4_ipip = encapsulated(client, Encapsulation::kIpip, "10.77.0.2", "10.77.0.21");
  const Bytes v4_gue = encapsulated(client, Encapsulation::kGue, "10.77.0.2", "10.77.0.21");
  const Bytes v6_ipip = encapsulated(client, Encapsulation::kIpip, "fd77::2", "fd77::21");
  const Bytes v6_gue = encapsulated(client, Encapsulation::kGue, "fd77::2", "fd77::21");
  int ran = 0;
  for (const Bytes* whole : {&v4_ipip, &v4_gue, &v6_ipip, &v6_gue}) {
    const size_t base = 14 + (load_be16(&(*whole)[12]) == 0x86dd ? 40 : 20);
    const size_t outer = whole->size() - 40;  // the inner IPv4/TCP SYN is 40 bytes
    for (size_t len = 14; len < outer + 20; ++len) {
      SCOPED_TRACE(std::to_string(whole->size()) + "-byte frame cut to " + std::to_string(len));
      const Bytes cut(whole->begin(), whole->begin() + static_cast<long>(len));
      const RunResult r = run(cut);
      if (len < base && r.error == EINVAL) continue;  // refused by the harness
      ASSERT_EQ(r.error, 0) << std::strerror(r.error);
      EXPECT_EQ(r.action, TC_ACT_OK);
      EXPECT_EQ(r.frame, cut);
      ++ran;
    }
  }
  // At least every length from the end of the base header on: the 20 bytes
  // of the inner header for IPIP, plus the 8 of UDP for GUE.
  EXPECT_GE(ran, 2 * 20 + 2 * 28);
}

// The inner header cut short (10 of its 20 bytes), outer lengths consistent.
TEST_F(DecapTest, TruncatedInnerHeaderUntouched) {
  FrameLayout lay;
  const Bytes inner = inner_ip(client_v4_frame(0, &lay), lay);
  expect_untouched(FrameBuilder()
                       .eth(kRouterMac, kLocalMac)
                       .ipv4("10.77.0.2", "10.77.0.21")
                       .ip_proto(4)
                       .payload(Bytes(inner.begin(), inner.begin() + 10))
                       .build(),
                   SLUICE_DECAP_BAD);
}

// An IHL that reaches past the frame.
TEST_F(DecapTest, OuterIhlPastFrameUntouched) {
  expect_untouched(FrameBuilder()
                       .eth(kRouterMac, kLocalMac)
                       .ipv4("10.77.0.2", "10.77.0.21")
                       .ip_proto(4)
                       .set_ihl(15)
                       .payload(16, 0x45)
                       .build(),
                   SLUICE_DECAP_BAD);
}

// IHL below 5 and a wrong version nibble are not IPv4 packets to strip.
TEST_F(DecapTest, BadOuterVersionOrIhlUntouched) {
  FrameLayout lay;
  const Bytes inner = inner_ip(client_v4_frame(0, &lay), lay);
  FrameBuilder base;
  base.eth(kRouterMac, kLocalMac).ipv4("10.77.0.2", "10.77.0.21").ip_proto(4).payload(inner);
  expect_untouched(FrameBuilder(base).set_ihl(4).build(), SLUICE_DECAP_PASSED);
  expect_untouched(FrameBuilder(base).set_version(6).build(), SLUICE_DECAP_PASSED);
}

// Protocol 4 with an IPv6 packet inside (and 41 with IPv4): the inner
// version contradicts the outer protocol.
TEST_F(DecapTest, InnerVersionMismatchUntouched) {
  FrameLayout lay4;
  FrameLayout lay6;
  const Bytes inner4 = inner_ip(client_v4_frame(0, &lay4), lay4);
  const Bytes inner6 = inner_ip(client_v6_frame(4, &lay6), lay6);
  expect_untouched(FrameBuilder()
                       .eth(kRouterMac, kLocalMac)
                       .ipv4("10.77.0.2", "10.77.0.21")
                       .ip_proto(4)
                       .payload(inner6)
                       .build(),
                   SLUICE_DECAP_BAD);
  expect_untouched(FrameBuilder()
                       .eth(kRouterMac, kLocalMac)
                       .ipv6("fd77::2", "fd77::21")
                       .ip_proto(41)
                       .payload(inner4)
                       .build(),
                   SLUICE_DECAP_BAD);
}

// GUE whose payload is neither IPv4 nor IPv6 (variant 0 GUE header, or
// junk): counted as bad, untouched.
TEST_F(DecapTest, GueWithNonIpPayloadUntouched) {
  expect_untouched(FrameBuilder()
                       .eth(kRouterMac, kLocalMac)
                       .ipv4("10.77.0.2", "10.77.0.21")
                       .udp(49152, 6080)
                       .payload(40, 0x00)
                       .build(),
                   SLUICE_DECAP_BAD);
}

// An outer IPv4 fragment (first or later) cannot be stripped before
// reassembly.
TEST_F(DecapTest, OuterFragmentUntouched) {
  FrameLayout lay;
  const Bytes inner = inner_ip(client_v4_frame(0, &lay), lay);
  FrameBuilder base;
  base.eth(kRouterMac, kLocalMac).ipv4("10.77.0.2", "10.77.0.21").ip_proto(4).payload(inner);
  expect_untouched(FrameBuilder(base).fragment(0, true).build(), SLUICE_DECAP_BAD);
  expect_untouched(FrameBuilder(base).fragment(1480, false).build(), SLUICE_DECAP_BAD);
}

// An IPv6 extension header before the tunnel protocol is not looked
// through: the packet goes to the stack as it is.
TEST_F(DecapTest, Ipv6ExtensionHeaderBeforeTunnelUntouched) {
  FrameLayout lay;
  const Bytes inner = inner_ip(client_v4_frame(0, &lay), lay);
  expect_untouched(FrameBuilder()
                       .eth(kRouterMac, kLocalMac)
                       .ipv6("fd77::2", "fd77::21")
                       .dest_opts()
                       .ip_proto(4)
                       .payload(inner)
                       .build(),
                   SLUICE_DECAP_PASSED);
}

}  // namespace
}  // namespace sluice::engine
