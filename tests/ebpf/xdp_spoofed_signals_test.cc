// SPDX-License-Identifier: Apache-2.0
// Issue 10, item 3, on the XDP program, the twin of
// tests/dataplane/engine/engine_spoofed_signals_test.cc: 100,000 spoofed
// clients from random sources, each sending a SYN and the same SYN again
// 600 ms later, against a pool whose backends pass their checks (health
// HEALTHY in "backend_health"), eject no backend on any CPU; each retry is
// still steered, and the backends are suspected instead. A spoofer confined
// to one /24 ejects nothing from backends without checks either.
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "tests/ebpf/xdp_parity_harness.h"

namespace sluice::engine::test::parity {
namespace {

constexpr uint32_t kSpoofed = 100000;
constexpr uint32_t kIpSrcOffset = 14 + 12;
constexpr uint32_t kTcpSportOffset = 14 + 20;
constexpr const char* kVip = "192.0.2.10";

class XdpSpoofedSignalsTest : public XdpParityHarness {
 protected:
  void SetUp() override {
    XdpParityHarness::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    publish(test_circuit_web_config(), 1);
  }

  void mark_all(uint8_t health) {
    for (const CompiledBackend& b : snapshot_->services()[0].backends) {
      set_health(b.counter_slot, health);
    }
  }

  void run(Bytes& frame, uint32_t src, uint16_t sport, uint64_t now_ns, Bytes& out) {
    std::memcpy(frame.data() + kIpSrcOffset, &src, 4);
    std::memcpy(frame.data() + kTcpSportOffset, &sport, 2);
    skel_->bss->sluice_test_now_ns = now_ns;
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_out = out.data(),
                .data_size_in = static_cast<uint32_t>(frame.size()),
                .data_size_out = static_cast<uint32_t>(out.size()), .repeat = 1);
    ASSERT_EQ(bpf_prog_test_run_opts(prog_fd_, &opts), 0);
    ASSERT_EQ(opts.retval, static_cast<uint32_t>(XDP_TX));
  }

  // kSpoofed clients, 50,000 new a second, each a SYN and the same SYN
  // 600 ms later; source addresses from `source(rng)` (network order).
  template <typename Source>
  uint64_t spoof(Source source) {
    Bytes frame = FrameBuilder().eth().ipv4("198.51.100.1", kVip).tcp(1000, 80, SLUICE_TCP_SYN).build();
    Bytes out(4096);
    std::mt19937 rng(42);
    std::vector<std::pair<uint32_t, uint16_t>> sent(kSpoofed);
    constexpr uint64_t kStartNs = 1000000000, kGapNs = 20000, kRetryNs = 600000000;
    uint32_t retried = 0;
    uint64_t now = kStartNs;
    for (uint32_t i = 0; i < kSpoofed; ++i) {
      now = kStartNs + i * kGapNs;
      while (retried < i && kStartNs + retried * kGapNs + kRetryNs <= now) {
        run(frame, sent[retried].first, sent[retried].second,
            kStartNs + retried * kGapNs + kRetryNs, out);
        ++retried;
        if (HasFatalFailure()) return now;
      }
      sent[i] = {source(rng), static_cast<uint16_t>(1024 + rng() % 60000)};
      run(frame, sent[i].first, sent[i].second, now, out);
      if (HasFatalFailure()) return now;
    }
    for (; retried < kSpoofed; ++retried) {
      now = kStartNs + retried * kGapNs + kRetryNs;
      run(frame, sent[retried].first, sent[retried].second, now, out);
      if (HasFatalFailure()) return now;
    }
    return now + 1;
  }

  // Backends whose circuit is open or half-open on this CPU at now_ns.
  uint32_t ejected(uint64_t now_ns, uint32_t* suspected) {
    uint32_t n = 0;
    *suspected = 0;
    for (const CompiledBackend& b : snapshot_->services()[0].backends) {
      sluice_circuit c{};
      if (!read_this_cpu(maps_.circuits, &b.fingerprint, &c) || c.phase == SLUICE_CIRCUIT_FREE) {
        continue;
      }
      const uint8_t state = sluice_circuit_state(&c, static_cast<uint32_t>(now_ns / 1000000));
      n += sluice_circuit_is_ejected(state);
      *suspected += state == SLUICE_CIRCUIT_SUSPECTED;
    }
    return n;
  }

  sluice_xdp_counters counters() { return xdp_counter_block(); }
};

// Backends whose checks pass: no ejection, every retry steered.
TEST_F(XdpSpoofedSignalsTest, RandomSourcesEjectNoHealthyBackend) {
  mark_all(SLUICE_HEALTH_HEALTHY);
  const uint64_t end = spoof([](std::mt19937& rng) { return static_cast<uint32_t>(rng()); });
  if (HasFatalFailure()) return;
  uint32_t suspected = 0;
  const uint32_t ejected_now = ejected(end, &suspected);
  EXPECT_EQ(ejected_now, 0u);
  const sluice_xdp_counters c = counters();
  std::printf("[ spoof ] %u spoofed SYN retries: %llu connect failures, %llu steered, "
              "%llu suspicions; %u backends ejected, %u suspected now\n",
              kSpoofed, static_cast<unsigned long long>(c.connect_failures),
              static_cast<unsigned long long>(c.syn_retry_steered),
              static_cast<unsigned long long>(c.circuit_suspected), ejected_now, suspected);
  EXPECT_GT(c.connect_failures, kSpoofed * 9 / 10);  // retries whose entry was not evicted
  EXPECT_EQ(c.syn_retry_steered, c.connect_failures);
  EXPECT_GT(c.circuit_suspected, 1000u);
  EXPECT_EQ(c.circuit_skips, 0u);
  EXPECT_GT(suspected, 0u);
}

// Without checks, one /24 counts once per backend and window: no ejection.
TEST_F(XdpSpoofedSignalsTest, OnePrefixEjectsNothingWithoutChecks) {
  const uint64_t end = spoof([](std::mt19937& rng) {
    const uint8_t a[4] = {203, 0, 113, static_cast<uint8_t>(rng())};
    uint32_t v;
    std::memcpy(&v, a, 4);
    return v;
  });
  if (HasFatalFailure()) return;
  uint32_t suspected = 0;
  EXPECT_EQ(ejected(end, &suspected), 0u);
  const sluice_xdp_counters c = counters();
  EXPECT_GT(c.connect_failures, kSpoofed * 9 / 10);
  EXPECT_GT(c.circuit_repeat_sources, c.connect_failures - 1000);
}

}  // namespace
}  // namespace sluice::engine::test::parity
