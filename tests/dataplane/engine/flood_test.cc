// SPDX-License-Identifier: Apache-2.0
// Flow state under attack (README "Flow state under attack"), on the
// engine: 20,000 established connections sit idle in a flow table while
// 1,000,000 spoofed SYNs and then 1,000,000 spoofed ACKs arrive from random
// sources; then the weights move every new flow to the canary pool. Not one
// established connection may move: each must still be tracked, on its
// stable backend. Run with the table the issue measured (65,536 entries,
// where 100k spoofed SYNs used to evict all of them) and with the default
// full-size table, with and without the per-core new-flow rate limit.
// The XDP program's twin: tests/ebpf/xdp_flood_test.cc.
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "tests/dataplane/engine/engine_fixture.h"

namespace sluice::engine {
namespace {

constexpr uint32_t kEstablished = 20000;
constexpr uint32_t kFlood = 1000000;  // of each kind
constexpr uint32_t kIpSrcOffset = 14 + 12;
constexpr uint32_t kTcpSportOffset = 14 + 20;

// (flow capacity, new-flow rate per second; 0: no limit)
class FloodTest : public EngineTest,
                  public ::testing::WithParamInterface<std::tuple<uint32_t, uint32_t>> {
 protected:
  FloodTest() : worker_under_test_(options()) {
    config_.forwarding.new_flow_rate = std::get<1>(GetParam());
    config_.forwarding.new_flow_burst = 250000;
    publish();
  }

  static WorkerOptions options() {
    WorkerOptions o = small_options();
    o.flow_capacity = std::get<0>(GetParam());
    return o;
  }

  // The i-th established client: 100.64.0.0/10, one port each.
  static std::vector<uint8_t> client_segment(uint32_t i, uint8_t flags) {
    const std::string src = "100.64." + std::to_string(i >> 8) + "." + std::to_string(i & 255);
    return tcp(src.c_str(), static_cast<uint16_t>(10000 + i % 50000), flags);
  }

  Decision send_to(Worker& w, const std::vector<uint8_t>& frame, uint64_t now_ns) {
    Buffer b(frame);
    return w.process_one(snapshot_.get(), b.pkt, now_ns);
  }

  // `count` frames like `proto` from random sources and ports, in bursts of
  // 64, one every microsecond from *now_ns on.
  void flood(const std::vector<uint8_t>& proto, uint32_t count, uint64_t* now_ns) {
    constexpr uint32_t kBurst = Worker::kMaxBurst;
    std::vector<Buffer> buffers(kBurst, Buffer(proto));
    Packet packets[kBurst];
    Verdict verdicts[kBurst];
    for (uint32_t sent = 0; sent < count; sent += kBurst) {
      const uint32_t n = std::min(kBurst, count - sent);
      for (uint32_t i = 0; i < n; ++i) {
        Buffer& b = buffers[i];
        b.pkt = {b.storage.data() + kHeadroom, static_cast<uint32_t>(proto.size()), kHeadroom};
        std::memcpy(b.pkt.data, proto.data(), proto.size());
        const uint32_t src = static_cast<uint32_t>(rng_());
        std::memcpy(b.pkt.data + kIpSrcOffset, &src, 4);
        const auto sport = static_cast<uint16_t>(rng_());
        std::memcpy(b.pkt.data + kTcpSportOffset, &sport, 2);
        packets[i] = b.pkt;
      }
      worker_under_test_.process_burst(snapshot_.get(), packets, verdicts, n, *now_ns);
      *now_ns += uint64_t{n} * 1000;
    }
  }

  Worker worker_under_test_;
  std::mt19937_64 rng_{20261207};
};

TEST_P(FloodTest, EstablishedFlowsSurviveSpoofedFloodsAndAWeightChange) {
  Worker& w = worker_under_test_;
  uint64_t now_ns = 1000000000;
  std::vector<std::string> placed(kEstablished);
  for (uint32_t i = 0; i < kEstablished; ++i) {
    const Decision syn = send_to(w, client_segment(i, SLUICE_TCP_SYN), now_ns);
    ASSERT_EQ(syn.verdict.action, Action::kForward);
    placed[i] = backend_of(syn);
    ASSERT_EQ(backend_of(send_to(w, client_segment(i, SLUICE_TCP_ACK), now_ns)), placed[i]);
    now_ns += 1000;
  }
  ASSERT_EQ(w.counters().handshakes_completed, kEstablished);

  const auto start = std::chrono::steady_clock::now();
  flood(tcp("198.51.100.1", 1000, SLUICE_TCP_SYN), kFlood, &now_ns);
  flood(tcp("198.51.100.1", 1000, SLUICE_TCP_ACK), kFlood, &now_ns);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // Every new flow now goes to the canary pool.
  config_.services[0].pools[0].weight = 0;
  config_.services[0].pools[1].weight = 100;
  publish();
  now_ns += 1000000;
  uint32_t moved = 0, hits = 0;
  const uint64_t hits_before = w.counters().flow_hits;
  for (uint32_t i = 0; i < kEstablished; ++i) {
    const Decision d = send_to(w, client_segment(i, SLUICE_TCP_ACK), now_ns);
    if (backend_of(d) != placed[i]) ++moved;
  }
  hits = static_cast<uint32_t>(w.counters().flow_hits - hits_before);
  const FlowTableStats st = w.flows().stats();
  std::printf("[ flood ] capacity %u, rate %u/s: %u moved, %u tracked; evictions %llu, "
              "refused (full) %llu, stateless (rate) %llu, stateless (full) %llu; "
              "%.0f ns/packet (this build)\n",
              w.flows().capacity(), std::get<1>(GetParam()), moved, hits,
              static_cast<unsigned long long>(st.evictions),
              static_cast<unsigned long long>(st.full),
              static_cast<unsigned long long>(w.counters().flows_stateless_rate),
              static_cast<unsigned long long>(w.counters().flows_stateless_full),
              seconds * 1e9 / (2.0 * kFlood));
  EXPECT_EQ(moved, 0u) << "established flows moved by the weight change after the flood";
  EXPECT_EQ(hits, kEstablished) << "established flows no longer tracked";
  // The flood was really there and really entered (or was refused) as designed.
  EXPECT_GT(w.counters().new_flows + w.counters().flows_stateless_rate, uint64_t{kFlood});
  if (std::get<1>(GetParam()) == 0) {
    EXPECT_EQ(w.counters().flows_stateless_rate, 0u);
  } else {
    EXPECT_GT(w.counters().flows_stateless_rate, 0u) << "the rate limit never applied";
  }
}

INSTANTIATE_TEST_SUITE_P(
    TablesAndRates, FloodTest,
    ::testing::Combine(::testing::Values(65536u, 1u << 20), ::testing::Values(0u, 250000u)),
    [](const ::testing::TestParamInfo<std::tuple<uint32_t, uint32_t>>& info) {
      return "capacity" + std::to_string(std::get<0>(info.param)) + "_rate" +
             std::to_string(std::get<1>(info.param));
    });

}  // namespace
}  // namespace sluice::engine
