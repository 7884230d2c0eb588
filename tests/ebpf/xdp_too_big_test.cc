// SPDX-License-Identifier: Apache-2.0
// Packets too big to encapsulate in the XDP program (ebpf/xdp/lib/too_big.h),
// case by case, each frame also through the engine (run_both compares
// verdict, bytes and every counter): the ICMP answers for IPv4 and IPv6,
// IPIP and GUE, with and without a VLAN tag; IPv4 without DF, an ICMP
// error and a multicast source left unanswered; the rate limit. And, XDP
// only, the egress device's own MTU (bpf_check_mtu) below the configured
// maximum frame.
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/ebpf/xdp_parity_harness.h"

namespace sluice::engine::test::parity {
namespace {

constexpr uint64_t kNowNs = 50'000'000'000ULL;

uint16_t be16(const Bytes& f, size_t at) { return static_cast<uint16_t>(f[at] << 8 | f[at + 1]); }

// A TCP service of one backend.
ServiceConfig service(const char* name, const char* vip, uint16_t port, Encapsulation e,
                      const char* backend_address) {
  ServiceConfig s;
  s.name = name;
  s.vip = addr(vip);
  s.port = port;
  s.encapsulation = e;
  s.pools = {pool("main", 1, {backend(addr(backend_address))})};
  return s;
}

class XdpTooBigTest : public XdpParityHarness {
 protected:
  void SetUp() override {
    XdpParityHarness::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    config_ = test_forwarding_config();
    config_.forwarding.max_frame_size = 1514;  // a 1500-byte port
    config_.services = {service("web", "192.0.2.10", 80, Encapsulation::kIpip, "10.1.0.1"),
                        service("gue", "192.0.2.10", 443, Encapsulation::kGue, "10.1.0.1"),
                        service("web6", "2001:db8::10", 80, Encapsulation::kIpip, "fd00:1::1")};
    publish(config_, ++generation_);
  }

  // A full-size TCP segment (IP packet of ip_len bytes) to a VIP.
  static Bytes segment(const char* client, const char* vip, uint16_t port, size_t ip_len,
                       bool df = true, bool vlan = false) {
    FrameBuilder f;
    f.eth();
    if (vlan) f.vlan(42);
    f.ip(addr(client), addr(vip));
    const bool v6 = std::string(vip).find(':') != std::string::npos;
    if (!v6) f.dont_fragment(df);
    return f.tcp(40000, port, SLUICE_TCP_ACK).payload(ip_len - (v6 ? 60 : 40)).build();
  }

  // One frame through both; the XDP verdict must be `action`.
  XdpRun expect(const Bytes& frame, int action, const std::string& what) {
    return expect_action(frame, kNowNs, action, what);
  }

  sluice_xdp_counters counters() { return this_cpu_counters(); }

  EngineConfig config_;
  uint64_t generation_ = 0;
};

// The answers, byte for byte the engine's: IPv4 IPIP (MTU 1480) and GUE
// (1472), tagged (1476), IPv6 over IPv6 IPIP (1460); back out of the
// receiving interface (XDP_TX).
TEST_F(XdpTooBigTest, AnswersMatchTheEngine) {
  XdpRun r = expect(segment("198.51.100.7", "192.0.2.10", 80, 1500), XDP_TX, "ipip");
  ASSERT_EQ(r.frame.size(), 14u + 576u);
  EXPECT_EQ(be16(r.frame, 34 + 6), 1480);
  r = expect(segment("198.51.100.7", "192.0.2.10", 443, 1500), XDP_TX, "gue");
  EXPECT_EQ(be16(r.frame, 34 + 6), 1472);
  r = expect(segment("198.51.100.8", "192.0.2.10", 80, 1500, true, true), XDP_TX, "vlan");
  ASSERT_EQ(r.frame.size(), 18u + 576u);
  EXPECT_EQ(be16(r.frame, 38 + 6), 1476);
  r = expect(segment("2001:db8:5::7", "2001:db8::10", 80, 1500), XDP_TX, "ipv6");
  ASSERT_EQ(r.frame.size(), 14u + 1280u);
  EXPECT_EQ(be16(r.frame, 54 + 6), 1460);
  // What fits is forwarded.
  expect(segment("198.51.100.9", "192.0.2.10", 80, 1480), XDP_TX, "fits");
  expect_no_mismatch();
  const sluice_xdp_counters c = counters();
  EXPECT_EQ(c.too_big_icmp_sent, 4u);
  EXPECT_EQ(c.forwarded, 1u);
}

// No DF, an ICMP error, a multicast source: dropped as too-big, unanswered.
TEST_F(XdpTooBigTest, UnansweredCasesMatchTheEngine) {
  expect(segment("198.51.100.7", "192.0.2.10", 80, 1500, false), XDP_DROP, "no df");
  expect(segment("224.0.0.9", "192.0.2.10", 80, 1500), XDP_DROP, "multicast source");
  expect(segment("ff02::9", "2001:db8::10", 80, 1500), XDP_DROP, "ipv6 multicast source");
  const Bytes quoted = FrameBuilder().ipv4("192.0.2.10", "198.51.100.60").dont_fragment()
                           .tcp(80, 4321).payload(1460).build();
  expect(FrameBuilder().eth().ipv4("203.0.113.1", "192.0.2.10").dont_fragment()
             .icmp_frag_needed(1400, quoted).build(),
         XDP_DROP, "icmp error");
  expect_no_mismatch();
  const sluice_xdp_counters c = counters();
  EXPECT_EQ(c.too_big_no_df, 1u);
  EXPECT_EQ(c.too_big_icmp_sent, 0u);
  EXPECT_EQ(c.drops[SLUICE_DROP_TOO_BIG], 4u);
}

// The per-CPU bucket: burst, then the rate, as the engine's.
TEST_F(XdpTooBigTest, RateLimitMatchesTheEngine) {
  config_.forwarding.icmp_too_big_rate = 10;
  config_.forwarding.icmp_too_big_burst = 3;
  publish(config_, ++generation_);
  for (int i = 0; i < 5; ++i) {
    run_both(segment("198.51.100.7", "192.0.2.10", 80, 1500), kNowNs, "burst");
  }
  run_both(segment("198.51.100.7", "192.0.2.10", 80, 1500), kNowNs + 100'000'000, "refill");
  expect_no_mismatch();
  const sluice_xdp_counters c = counters();
  EXPECT_EQ(c.too_big_icmp_sent, 4u);
  EXPECT_EQ(c.too_big_rate_limited, 2u);
}

// XDP only: the device's MTU (here the loopback of a private network
// namespace, the device BPF_PROG_TEST_RUN runs on) below the configured
// maximum frame wins, read per packet by bpf_check_mtu: a packet the
// configuration lets through is answered with the device's MTU less the
// overhead. (The engine has no device; DPDK's port MTU is fixed at start.)
TEST_F(XdpTooBigTest, DeviceMtuBelowConfiguredFrameIsHonoured) {
  const int home = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(home, 0);
  if (::unshare(CLONE_NEWNET) != 0) {
    ::close(home);
    GTEST_SKIP() << "cannot make a network namespace: " << std::strerror(errno);
  }
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq req{};
  std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
  req.ifr_mtu = 1400;
  const int rc = ::ioctl(fd, SIOCSIFMTU, &req);
  ::close(fd);
  XdpRun r;
  if (rc == 0) r = run_xdp(segment("198.51.100.7", "192.0.2.10", 80, 1480), kNowNs);
  const int back = ::setns(home, CLONE_NEWNET);
  ::close(home);
  ASSERT_EQ(back, 0);
  ASSERT_EQ(rc, 0) << "SIOCSIFMTU lo: " << std::strerror(errno);
  EXPECT_EQ(r.action, XDP_TX);
  ASSERT_EQ(r.frame.size(), 14u + 576u);
  EXPECT_EQ(r.frame[34], 3);
  EXPECT_EQ(be16(r.frame, 34 + 6), 1380);  // 1400 - 20
  // Back home (loopback MTU 65536): the same packet is forwarded.
  EXPECT_EQ(run_xdp(segment("198.51.100.8", "192.0.2.10", 80, 1480), kNowNs).action, XDP_TX);
  EXPECT_EQ(counters().too_big_icmp_sent, 1u);
  EXPECT_EQ(counters().forwarded, 1u);
}

}  // namespace
}  // namespace sluice::engine::test::parity
