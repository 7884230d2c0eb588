// SPDX-License-Identifier: Apache-2.0
// The XDP program's side of race-free circuit reads (issue 11, item 5):
// every in-place change of a "circuits" value leaves its sequence even and
// advanced by 2 (ebpf/xdp/lib/circuit.h), which sluiced's reader relies on
// (dataplane/xdp/circuit_read.h). Driven with BPF_PROG_TEST_RUN on one CPU:
// clients send a SYN and the same SYN again 600 ms later (a connect
// failure, recorded on the first backend's circuit).
#include <cstdio>
#include <cstring>
#include <map>
#include <random>

#include "tests/ebpf/xdp_parity_harness.h"

namespace sluice::engine::test::parity {
namespace {

constexpr uint32_t kClients = 300;
constexpr uint32_t kIpSrcOffset = 14 + 12;
constexpr uint32_t kTcpSportOffset = 14 + 20;

class XdpCircuitSeqTest : public XdpParityHarness {
 protected:
  void SetUp() override {
    XdpParityHarness::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    publish(test_circuit_web_config(), 1);
  }

  // The frame from client src:sport (network order) at now_ns.
  void run(Bytes& frame, uint32_t src, uint16_t sport, uint64_t now_ns) {
    std::memcpy(frame.data() + kIpSrcOffset, &src, 4);
    std::memcpy(frame.data() + kTcpSportOffset, &sport, 2);
    ASSERT_EQ(run_xdp(frame, now_ns).action, XDP_TX);
  }

  // This CPU's circuit of every backend that has a key.
  std::map<uint64_t, sluice_circuit> circuits() {
    std::map<uint64_t, sluice_circuit> out;
    for (const CompiledBackend& b : snapshot_->services()[0].backends) {
      sluice_circuit c{};
      if (read_this_cpu(maps_.circuits, &b.fingerprint, &c)) out[b.fingerprint] = c;
    }
    return out;
  }

  static uint32_t ms(uint64_t ns) { return static_cast<uint32_t>(ns / 1000000); }

  uint8_t health_of(uint64_t fp) const {
    const auto it = health_by_fp_.find(fp);
    return it == health_by_fp_.end() ? SLUICE_HEALTH_UNKNOWN : it->second;
  }

  void mark_all(uint8_t health) {
    for (const CompiledBackend& b : snapshot_->services()[0].backends) {
      set_health(b.counter_slot, health);
      health_by_fp_[b.fingerprint] = health;
    }
  }

  std::map<uint64_t, uint8_t> health_by_fp_;

  // The circuit without its sequence, to tell whether a packet changed it.
  static bool same_state(sluice_circuit a, sluice_circuit b) {
    a.seq = b.seq = 0;
    return std::memcmp(&a, &b, sizeof a) == 0;
  }

  // kClients clients from random sources, each a SYN and a retry; after
  // every packet each circuit's sequence is even, and one that changed
  // has a sequence that advanced. Returns the time after the last packet.
  uint64_t fail_clients() {
    Bytes frame =
        FrameBuilder().eth().ipv4("198.51.100.1", "192.0.2.10").tcp(1000, 80, SLUICE_TCP_SYN).build();
    std::mt19937 rng(7);
    uint64_t now = 1000000000;
    std::map<uint64_t, sluice_circuit> before = circuits();
    for (uint32_t i = 0; i < kClients; ++i) {
      const uint32_t src = static_cast<uint32_t>(rng());
      const auto sport = static_cast<uint16_t>(1024 + rng() % 60000);
      for (const uint64_t at : {now, now + 600000000}) {
        run(frame, src, sport, at);
        if (HasFatalFailure()) return at;
        const std::map<uint64_t, sluice_circuit> after = circuits();
        for (const auto& [fp, c] : after) {
          EXPECT_EQ(c.seq % 2, 0u) << "client " << i << ": backend " << fp << " left mid-change";
          const auto was = before.find(fp);
          const sluice_circuit old = was == before.end() ? sluice_circuit{} : was->second;
          if (!same_state(old, c)) {
            EXPECT_GT(c.seq, old.seq) << "client " << i << ": backend " << fp
                                      << " changed without a new sequence";
          } else if (at == now && sluice_circuit_admit_keeps(&old, ms(at), health_of(fp))) {
            // A first SYN only asks admission: a circuit it cannot change
            // (closed, or ejected with time left) keeps its sequence, so a
            // backend probed by every new flow stays readable for sluiced.
            EXPECT_EQ(c.seq, old.seq) << "client " << i << ": backend " << fp
                                      << " bumped by an admission that changes nothing";
          }
        }
        before = after;
      }
      now += 700000000;
    }
    return now;
  }
};

// Backends whose checks pass: the program only records failures (admission
// is not asked), so every failure is one change: the sequences add up to
// twice the connect failures counted.
TEST_F(XdpCircuitSeqTest, EveryFailureAdvancesTheSequenceByTwo) {
  mark_all(SLUICE_HEALTH_HEALTHY);
  fail_clients();
  if (HasFatalFailure()) return;
  uint64_t seq_sum = 0;
  for (const auto& [fp, c] : circuits()) seq_sum += c.seq;
  const sluice_xdp_counters counters = xdp_counter_block();
  std::printf("[ seq ] %llu connect failures, sequences sum to %llu\n",
              static_cast<unsigned long long>(counters.connect_failures),
              static_cast<unsigned long long>(seq_sum));
  EXPECT_GT(counters.connect_failures, kClients * 9 / 10);
  EXPECT_EQ(seq_sum, 2 * counters.connect_failures);
}

// Without checks circuits open, turn half-open and admit trials: every
// change, whichever call made it, still leaves an even, advanced sequence.
TEST_F(XdpCircuitSeqTest, EveryChangeLeavesAnEvenAdvancedSequence) {
  fail_clients();
  if (HasFatalFailure()) return;
  const sluice_xdp_counters counters = xdp_counter_block();
  EXPECT_GT(counters.connect_failures, kClients * 9 / 10);
  EXPECT_GT(counters.circuit_skips, 0u) << "no circuit opened: the test did not reach admit";
}

}  // namespace
}  // namespace sluice::engine::test::parity
