// SPDX-License-Identifier: Apache-2.0
// Flow state under attack on the XDP program (README "Flow state under
// attack"), the twin of tests/dataplane/engine/flood_test.cc: 20,000
// established connections sit idle while 1,000,000 spoofed SYNs and then
// 1,000,000 spoofed ACKs arrive from random sources; then the weights send
// every new flow to the canary pool. Not one established connection may
// move. Unconfirmed entries live in their own LRU map ("flows_new"), so the
// flood churns that map and never the established flows in "flows".
// Run with a 65,536-entry flow map (where 100k spoofed SYNs used to evict
// every idle flow) and the default size, with and without the per-CPU
// new-flow rate limit.
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "dataplane/xdp/xdp_loader.h"
#include "tests/ebpf/xdp_parity_harness.h"

namespace sluice::engine::test::parity {
namespace {

constexpr uint32_t kEstablished = 20000;
constexpr uint32_t kFlood = 1000000;  // of each kind
constexpr uint32_t kIpSrcOffset = 14 + 12;
constexpr uint32_t kTcpSportOffset = 14 + 20;
constexpr const char* kVip = "192.0.2.10";

// (flow map entries, new-flow rate per second; 0: no limit)
class XdpFloodTest : public XdpParityHarness,
                     public ::testing::WithParamInterface<std::tuple<uint32_t, uint32_t>> {
 protected:
  uint32_t flow_map_entries() const override { return std::get<0>(GetParam()); }
  // As sluiced sizes it (control/daemon/xdp_host.cc).
  uint32_t new_flow_map_entries() const override {
    return xdp::unconfirmed_flow_entries(std::get<0>(GetParam()));
  }

  void SetUp() override {
    XdpParityHarness::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    publish_weights(90, 10);
  }

  void publish_weights(uint32_t stable, uint32_t canary) {
    EngineConfig c = test_forwarding_config();
    c.forwarding.new_flow_rate = std::get<1>(GetParam());
    c.forwarding.new_flow_burst = 250000;
    c.services = {test_web_service(stable, canary)};  // VIP kVip
    publish(c, ++generation_);
  }

  static Bytes client_segment(uint32_t i, uint8_t flags) {
    const std::string src = "100.64." + std::to_string(i >> 8) + "." + std::to_string(i & 255);
    return FrameBuilder().eth().ipv4(src.c_str(), kVip).tcp(static_cast<uint16_t>(10000 + i % 50000), 80, flags).build();
  }

  // Where a forwarded 4in4 frame goes (its outer IPv4 destination).
  static std::string backend_of(const XdpRun& r) {
    if (r.action != XDP_TX || r.frame.size() < 34) return "not forwarded";
    return IpAddress::v4(r.frame[30], r.frame[31], r.frame[32], r.frame[33]).to_string();
  }

  // `count` frames like `proto` from random sources and ports, one every
  // microsecond from *now_ns on (the program's test clock).
  void flood(const Bytes& proto, uint32_t count, uint64_t* now_ns) {
    Bytes frame = proto;
    Bytes out(4096);
    for (uint32_t i = 0; i < count; ++i) {
      const auto src = static_cast<uint32_t>(rng_());
      std::memcpy(frame.data() + kIpSrcOffset, &src, 4);
      const auto sport = static_cast<uint16_t>(rng_());
      std::memcpy(frame.data() + kTcpSportOffset, &sport, 2);
      skel_->bss->sluice_test_now_ns = *now_ns;
      LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_out = out.data(),
                  .data_size_in = static_cast<uint32_t>(frame.size()),
                  .data_size_out = static_cast<uint32_t>(out.size()), .repeat = 1);
      ASSERT_EQ(bpf_prog_test_run_opts(prog_fd_, &opts), 0);
      ASSERT_EQ(opts.retval, static_cast<uint32_t>(XDP_TX)) << "flood frame " << i;
      *now_ns += 1000;
    }
  }

  sluice_xdp_counters counters() {
    const uint32_t zero = 0;
    sluice_xdp_counters c{};
    EXPECT_TRUE(read_this_cpu(maps_.counters, &zero, &c));
    return c;
  }

  uint64_t generation_ = 0;
  std::mt19937_64 rng_{20261207};
};

TEST_P(XdpFloodTest, EstablishedFlowsSurviveSpoofedFloodsAndAWeightChange) {
  uint64_t now_ns = 1000000000;
  std::vector<std::string> placed(kEstablished);
  for (uint32_t i = 0; i < kEstablished; ++i) {
    const XdpRun syn = run_xdp(client_segment(i, SLUICE_TCP_SYN), now_ns);
    ASSERT_EQ(syn.action, XDP_TX);
    placed[i] = backend_of(syn);
    ASSERT_EQ(backend_of(run_xdp(client_segment(i, SLUICE_TCP_ACK), now_ns)), placed[i]);
    now_ns += 1000;
  }
  ASSERT_EQ(counters().handshakes_completed, kEstablished);

  const auto start = std::chrono::steady_clock::now();
  flood(FrameBuilder().eth().ipv4("198.51.100.1", kVip).tcp(1000, 80, SLUICE_TCP_SYN).build(),
        kFlood, &now_ns);
  if (HasFatalFailure()) return;
  flood(FrameBuilder().eth().ipv4("198.51.100.1", kVip).tcp(1000, 80, SLUICE_TCP_ACK).build(),
        kFlood, &now_ns);
  if (HasFatalFailure()) return;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  publish_weights(0, 100);  // every new flow to the canary
  now_ns += 1000000;
  const sluice_xdp_counters before = counters();
  uint32_t moved = 0;
  for (uint32_t i = 0; i < kEstablished; ++i) {
    if (backend_of(run_xdp(client_segment(i, SLUICE_TCP_ACK), now_ns)) != placed[i]) ++moved;
  }
  const sluice_xdp_counters after = counters();
  const auto hits = static_cast<uint32_t>(after.flow_hits - before.flow_hits);
  std::printf("[ flood ] flows map %u, rate %u/s: %u moved, %u tracked; new flows %llu, "
              "stateless (rate) %llu; %.0f ns/packet (BPF_PROG_TEST_RUN, syscall included)\n",
              flow_map_entries(), std::get<1>(GetParam()), moved, hits,
              static_cast<unsigned long long>(before.new_flows),
              static_cast<unsigned long long>(before.flows_stateless_rate),
              seconds * 1e9 / (2.0 * kFlood));
  EXPECT_EQ(moved, 0u) << "established flows moved by the weight change after the flood";
  EXPECT_EQ(hits, kEstablished) << "established flows no longer tracked";
  EXPECT_GT(before.new_flows + before.flows_stateless_rate, uint64_t{kFlood});
  if (std::get<1>(GetParam()) == 0) {
    EXPECT_EQ(before.flows_stateless_rate, 0u);
  } else {
    EXPECT_GT(before.flows_stateless_rate, 0u) << "the rate limit never applied";
  }
}

INSTANTIATE_TEST_SUITE_P(
    MapsAndRates, XdpFloodTest,
    ::testing::Combine(::testing::Values(65536u, uint32_t{SLUICE_XDP_FLOWS}),
                       ::testing::Values(0u, 250000u)),
    [](const ::testing::TestParamInfo<std::tuple<uint32_t, uint32_t>>& info) {
      return "entries" + std::to_string(std::get<0>(info.param)) + "_rate" +
             std::to_string(std::get<1>(info.param));
    });

}  // namespace
}  // namespace sluice::engine::test::parity
