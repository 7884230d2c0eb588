// SPDX-License-Identifier: Apache-2.0
// The golden signals and the health rules (signal_list.h, issue 9) case by
// case, on both dataplanes: each frame goes through the engine and the XDP
// program and is compared by XdpParityHarness::run_both (verdict, bytes,
// counters, every slot signal and histogram bucket), and each case also
// states what the XDP program must have counted, read from its maps (so a
// rule both sides got wrong the same way fails too).
//
// Configuration: the parity corpus's step 0 (xdp_parity_corpus.h): "web"
// (10.100.0.10:80, IPIP, flow affinity, stable 90 / canary 10, rule
// 10.50.0.0/16 -> canary, unhealthy_flows keep) and "api" (10.100.0.11:443,
// GUE to IPv6 backends, client-address affinity, unhealthy_flows
// reschedule), with syn_retry_min_ms 500 and tcp_syn_ms 3000.
#include <cstdint>
#include <string>
#include <vector>

#include "tests/ebpf/xdp_parity_harness.h"

namespace sluice::engine::test::parity {
namespace {

constexpr uint64_t kMs = 1000000;  // ns

class XdpSignalsParityTest : public XdpParityHarness {
 protected:
  void SetUp() override {
    XdpParityHarness::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    publish(scenario_config(0), 1);
  }

  static Bytes segment(const char* client, uint16_t sport, uint8_t flags,
                       const char* vip = "10.100.0.10", uint16_t port = 80) {
    return FrameBuilder().eth().ipv4(client, vip).tcp(sport, port, flags).build();
  }

  // One frame through both sides at `at_ms` after kStartNs; returns the
  // backend the engine forwarded it to (nullptr: not forwarded).
  const CompiledBackend* send(const Bytes& frame, uint64_t at_ms, const std::string& label) {
    const Both b = run_both(frame, kStartNs + at_ms * kMs, label);
    const Decision& d = b.engine;
    if (d.verdict.action != Action::kForward || d.service == nullptr) return nullptr;
    return &d.service->backends[d.backend];
  }

  // The program's signals of one slot (this CPU).
  TrafficCounter xdp_signals(int map, uint32_t slot) {
    sluice_xdp_traffic t{};
    EXPECT_TRUE(read_this_cpu(map, &slot, &t));
    TrafficCounter out;
    std::memcpy(static_cast<void*>(&out), &t, sizeof(t));
    return out;
  }

  // The program's handshake histograms summed over the compared slots.
  HandshakeHistogram xdp_histogram_total(int map, const char* name) {
    HandshakeHistogram total;
    for (const sluice_handshake_histogram& h : read_slots_this_cpu<sluice_handshake_histogram>(map, name)) {
      total.add(h);
    }
    return total;
  }

  uint64_t xdp_backend_signal_total(uint64_t TrafficCounter::*signal) {
    uint64_t n = 0;
    for (uint32_t s = 0; s < kSlots; ++s) n += xdp_signals(maps_.backend_traffic, s).*signal;
    return n;
  }
};

// The bucket of a handshake time, written out from the bounds.
uint32_t expected_bucket(uint32_t ms) {
  uint32_t b = 0;
  while (b < std::size(kHandshakeBoundsMs) && ms > kHandshakeBoundsMs[b]) ++b;
  return b;
}

// Handshake times on both sides of every bucket bound, up to past the last
// one (+Inf), each counted once in the pool's and the backend's histogram.
// The client resends its SYN every 400 ms while it waits: too soon after
// its previous packet to be a connect failure (the rule measures from the
// previous packet, not from the first SYN), and the flow stays tracked.
TEST_F(XdpSignalsParityTest, HandshakeTimesLandInTheirBuckets) {
  const uint32_t delays[] = {0,   1,    2,    3,    5,    6,    10,   11,   20,  21,
                             50,  51,   100,  101,  200,  201,  500,  501,  1000, 1001,
                             2000, 2001, 4999, 5000, 5001, 9000};
  std::vector<uint64_t> want(SLUICE_HANDSHAKE_BUCKETS, 0);
  uint64_t want_sum = 0;
  uint64_t t = 0;
  uint16_t port = 20000;
  for (const uint32_t delay : delays) {
    const std::string flow = "delay " + std::to_string(delay) + " ms";
    ASSERT_NE(send(segment("192.0.2.10", port, SLUICE_TCP_SYN), t, flow + " SYN"), nullptr);
    for (uint32_t again = 400; again < delay; again += 400) {
      send(segment("192.0.2.10", port, SLUICE_TCP_SYN), t + again, flow + " SYN again");
    }
    ASSERT_NE(send(segment("192.0.2.10", port, SLUICE_TCP_ACK), t + delay, flow + " ACK"), nullptr);
    ++want[expected_bucket(delay)];
    want_sum += delay;
    t += delay + 10;
    ++port;
  }
  expect_no_mismatch();
  EXPECT_EQ(xdp_counter("connect_failures"), 0u);
  EXPECT_EQ(xdp_counter("handshakes_completed"), std::size(delays));
  EXPECT_EQ(xdp_backend_signal_total(&TrafficCounter::handshakes_completed), std::size(delays));
  for (const auto& [fd, name] : {std::pair{maps_.pool_handshakes, "pool_handshakes"},
                                 std::pair{maps_.backend_handshakes, "backend_handshakes"}}) {
    const HandshakeHistogram h = xdp_histogram_total(fd, name);
    for (uint32_t b = 0; b < SLUICE_HANDSHAKE_BUCKETS; ++b) {
      EXPECT_EQ(h.buckets[b], want[b]) << name << " bucket " << b;
    }
    EXPECT_EQ(h.sum_ms, want_sum) << name;
  }
}

// A SYN again is a connect failure only when it comes at least
// syn_retry_min_ms (500) after the flow's previous packet; the retry is
// steered to another backend, and the handshake time still runs from the
// first SYN.
TEST_F(XdpSignalsParityTest, SynRetryCountsFromThePreviousPacket) {
  const CompiledBackend* first = send(segment("192.0.2.20", 30000, SLUICE_TCP_SYN), 0, "SYN");
  ASSERT_NE(first, nullptr);
  const uint32_t first_slot = first->counter_slot;
  send(segment("192.0.2.20", 30000, SLUICE_TCP_SYN), 300, "SYN +300");
  send(segment("192.0.2.20", 30000, SLUICE_TCP_SYN), 700, "SYN +700 (400 after the previous)");
  EXPECT_EQ(xdp_counter("connect_failures"), 0u) << "800 ms after the first SYN is no failure";
  const CompiledBackend* steered =
      send(segment("192.0.2.20", 30000, SLUICE_TCP_SYN), 1300, "SYN +1300 (600 after)");
  ASSERT_NE(steered, nullptr);
  EXPECT_EQ(xdp_counter("connect_failures"), 1u);
  EXPECT_EQ(xdp_counter("syn_retry_steered"), 1u);
  EXPECT_NE(steered->counter_slot, first_slot);
  EXPECT_EQ(xdp_signals(maps_.backend_traffic, first_slot).connect_failures, 1u);
  EXPECT_EQ(xdp_signals(maps_.backend_traffic, steered->counter_slot).connect_failures, 0u);
  send(segment("192.0.2.20", 30000, SLUICE_TCP_ACK), 1500, "ACK +1500");
  expect_no_mismatch();
  sluice_handshake_histogram h{};
  const uint32_t slot = steered->counter_slot;
  ASSERT_TRUE(read_this_cpu(maps_.backend_handshakes, &slot, &h));
  EXPECT_EQ(h.buckets[expected_bucket(1500)], 1u);
  EXPECT_EQ(h.sum_ms, 1500u);
  EXPECT_EQ(xdp_signals(maps_.backend_traffic, slot).handshakes_completed, 1u);
}

// A SYN_SENT entry idle for tcp_syn_ms (3000) is a handshake that expired:
// the next packet of the flow counts it, once, and starts a new flow.
TEST_F(XdpSignalsParityTest, ExpiredHandshakeIsCountedByTheNextPacket) {
  const CompiledBackend* b = send(segment("192.0.2.30", 31000, SLUICE_TCP_SYN), 0, "SYN");
  ASSERT_NE(b, nullptr);
  const uint32_t slot = b->counter_slot;
  // Another flow, resent 2999 ms later: alive (a retry, not an expiry).
  ASSERT_NE(send(segment("192.0.2.32", 31002, SLUICE_TCP_SYN), 1, "SYN 3"), nullptr);
  send(segment("192.0.2.32", 31002, SLUICE_TCP_SYN), 3000, "SYN 3 +2999 (alive)");
  EXPECT_EQ(xdp_backend_signal_total(&TrafficCounter::handshakes_expired), 0u);
  EXPECT_EQ(xdp_counter("connect_failures"), 1u);
  // Idle 3000 ms since its previous packet: expired.
  send(segment("192.0.2.30", 31000, SLUICE_TCP_SYN), 3000, "SYN +3000 (expired)");
  EXPECT_EQ(xdp_signals(maps_.backend_traffic, slot).handshakes_expired, 1u);
  EXPECT_EQ(xdp_backend_signal_total(&TrafficCounter::handshakes_expired), 1u);
  EXPECT_EQ(xdp_counter("new_flows"), 3u);
  // The new entry's handshake runs from its own first SYN.
  send(segment("192.0.2.30", 31000, SLUICE_TCP_ACK), 3010, "ACK +3010");
  EXPECT_EQ(xdp_histogram_total(maps_.backend_handshakes, "backend_handshakes").sum_ms, 10u);

  // An ACK after the expiry: counted too, and the ACK is an untracked flow.
  const CompiledBackend* c = send(segment("192.0.2.31", 31001, SLUICE_TCP_SYN), 7000, "SYN 2");
  ASSERT_NE(c, nullptr);
  send(segment("192.0.2.31", 31001, SLUICE_TCP_ACK), 10500, "ACK 2 +3500");
  EXPECT_EQ(xdp_backend_signal_total(&TrafficCounter::handshakes_expired), 2u);
  EXPECT_EQ(xdp_counter("untracked_tcp"), 1u);
  EXPECT_EQ(xdp_counter("handshakes_completed"), 1u);
  expect_no_mismatch();
}

// A handshake that expired after its backend left the configuration counts
// on its service only.
TEST_F(XdpSignalsParityTest, ExpiredHandshakeOfARemovedBackendCountsOnTheService) {
  // Find a flow that goes to 10.1.0.1, which step 5 removes.
  uint16_t port = 0;
  for (uint16_t p = 32000; p < 32400 && port == 0; ++p) {
    const CompiledBackend* b = send(segment("192.0.2.40", p, SLUICE_TCP_SYN), 0, "SYN");
    if (b != nullptr && b->address == v4(10, 1, 0, 1)) port = p;
  }
  ASSERT_NE(port, 0) << "no flow of 400 went to 10.1.0.1";
  const CompiledService* web = find_service("web");
  ASSERT_NE(web, nullptr);
  const uint32_t service_slot = web->counter_slot;
  const uint32_t backend_slot = find_backend("web", v4(10, 1, 0, 1))->counter_slot;
  const uint64_t before = xdp_signals(maps_.service_traffic, service_slot).handshakes_expired;
  publish(scenario_config(5), 2);
  send(segment("192.0.2.40", port, SLUICE_TCP_SYN), 3000, "SYN after expiry");
  EXPECT_EQ(xdp_signals(maps_.service_traffic, service_slot).handshakes_expired, before + 1);
  EXPECT_EQ(xdp_signals(maps_.backend_traffic, backend_slot).handshakes_expired, 0u);
  expect_no_mismatch();
}

// client_resets: a tracked flow entering CLOSING on an RST, or an unknown
// flow whose first packet is an RST; not an RST after a FIN.
TEST_F(XdpSignalsParityTest, ClientResetsFollowTheRstRules) {
  uint64_t t = 0;
  auto resets = [&] { return xdp_backend_signal_total(&TrafficCounter::client_resets); };
  send(segment("192.0.2.50", 33000, SLUICE_TCP_RST), t++, "RST first");
  EXPECT_EQ(resets(), 1u);
  send(segment("192.0.2.50", 33001, SLUICE_TCP_RST | SLUICE_TCP_ACK), t++, "RST+ACK first");
  EXPECT_EQ(resets(), 2u);
  send(segment("192.0.2.50", 33002, SLUICE_TCP_FIN | SLUICE_TCP_ACK), t++, "FIN first");
  EXPECT_EQ(resets(), 2u);
  for (const uint8_t flags : {SLUICE_TCP_SYN, SLUICE_TCP_ACK, SLUICE_TCP_FIN | SLUICE_TCP_ACK,
                              SLUICE_TCP_RST}) {
    send(segment("192.0.2.50", 33003, flags), t++, "FIN then RST");
  }
  EXPECT_EQ(resets(), 2u) << "an RST after a FIN is no reset";
  for (const uint8_t flags : {SLUICE_TCP_SYN, SLUICE_TCP_ACK, SLUICE_TCP_RST}) {
    send(segment("192.0.2.50", 33004, flags), t++, "established, RST");
  }
  EXPECT_EQ(resets(), 3u);
  for (const uint8_t flags : {SLUICE_TCP_SYN, SLUICE_TCP_RST}) {
    send(segment("192.0.2.50", 33005, flags), t++, "SYN, RST");
  }
  EXPECT_EQ(resets(), 4u);
  expect_no_mismatch();
}

// An unhealthy backend gets no new flow (health_skips, not circuit_skips);
// unknown and healthy ones are served.
TEST_F(XdpSignalsParityTest, NewFlowsSkipAnUnhealthyBackend) {
  const CompiledBackend* sick = find_backend("web", v4(10, 1, 0, 4));
  ASSERT_NE(sick, nullptr);
  set_health(sick->counter_slot, SLUICE_HEALTH_UNHEALTHY);
  uint32_t to_sick = 0;
  for (uint16_t p = 0; p < 300; ++p) {
    const CompiledBackend* b =
        send(segment("192.0.2.60", static_cast<uint16_t>(34000 + p), SLUICE_TCP_SYN), p, "SYN");
    to_sick += b != nullptr && b->address == sick->address;
  }
  EXPECT_EQ(to_sick, 0u);
  EXPECT_GT(xdp_counter("health_skips"), 0u);
  EXPECT_EQ(xdp_counter("circuit_skips"), 0u);
  EXPECT_EQ(xdp_signals(maps_.backend_traffic, sick->counter_slot).new_flows, 0u);

  set_health(sick->counter_slot, SLUICE_HEALTH_HEALTHY);
  const uint64_t skips = xdp_counter("health_skips");
  for (uint16_t p = 0; p < 300; ++p) {
    const CompiledBackend* b =
        send(segment("192.0.2.61", static_cast<uint16_t>(34000 + p), SLUICE_TCP_SYN), 1000 + p,
             "SYN, healthy again");
    to_sick += b != nullptr && b->address == sick->address;
  }
  EXPECT_GT(to_sick, 0u);
  EXPECT_EQ(xdp_counter("health_skips"), skips);
  expect_no_mismatch();
}

// A pool whose every backend is unhealthy sheds its share to the fallback
// pool, as if every circuit were open.
TEST_F(XdpSignalsParityTest, AnUnhealthyPoolFallsBack) {
  for (const IpAddress& a : {v4(10, 1, 1, 1), v4(10, 1, 1, 2)}) {
    set_health(find_backend("web", a)->counter_slot, SLUICE_HEALTH_UNHEALTHY);
  }
  for (uint16_t p = 0; p < 50; ++p) {
    // 10.50.0.0/16 is pinned to canary by a rule.
    const CompiledBackend* b =
        send(segment("10.50.1.7", static_cast<uint16_t>(35000 + p), SLUICE_TCP_SYN), p, "SYN");
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b->pool, 0u) << "went to canary";
  }
  EXPECT_EQ(xdp_counter("fallback_used"), 50u);
  EXPECT_EQ(xdp_counter("health_skips"), 50u);
  expect_no_mismatch();
}

// unhealthy_flows keep (web): an established flow stays on its backend
// when that turns unhealthy.
TEST_F(XdpSignalsParityTest, EstablishedFlowsStayOnAnUnhealthyBackendByDefault) {
  const CompiledBackend* b = send(segment("192.0.2.70", 36000, SLUICE_TCP_SYN), 0, "SYN");
  ASSERT_NE(b, nullptr);
  send(segment("192.0.2.70", 36000, SLUICE_TCP_ACK), 1, "ACK");
  set_health(b->counter_slot, SLUICE_HEALTH_UNHEALTHY);
  const IpAddress address = b->address;
  const CompiledBackend* after = send(segment("192.0.2.70", 36000, SLUICE_TCP_ACK), 2, "data");
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(after->address, address);
  EXPECT_EQ(xdp_counter("unhealthy_rescheduled"), 0u);
  expect_no_mismatch();
}

// unhealthy_flows reschedule (api): the flow's next packet moves it, counted
// in unhealthy_rescheduled and not in flows_rescheduled; it stays on its new
// backend afterwards.
TEST_F(XdpSignalsParityTest, UnhealthyFlowsRescheduleWhenTheServiceSaysSo) {
  auto api = [](uint8_t flags) { return segment("192.0.2.80", 37000, flags, "10.100.0.11", 443); };
  const CompiledBackend* b = send(api(SLUICE_TCP_SYN), 0, "SYN");
  ASSERT_NE(b, nullptr);
  send(api(SLUICE_TCP_ACK), 1, "ACK");
  const IpAddress address = b->address;
  set_health(b->counter_slot, SLUICE_HEALTH_UNHEALTHY);
  const CompiledBackend* moved = send(api(SLUICE_TCP_ACK), 2, "data, backend unhealthy");
  ASSERT_NE(moved, nullptr);
  EXPECT_NE(moved->address, address);
  EXPECT_EQ(xdp_counter("unhealthy_rescheduled"), 1u);
  EXPECT_EQ(xdp_counter("flows_rescheduled"), 0u);
  const CompiledBackend* again = send(api(SLUICE_TCP_ACK), 3, "data again");
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->address, moved->address);
  EXPECT_EQ(xdp_counter("unhealthy_rescheduled"), 1u);
  expect_no_mismatch();
}

// Ejections: each opening of a backend's circuit, on its backend slot only.
TEST_F(XdpSignalsParityTest, EjectionsCountCircuitOpenings) {
  // Three failures (consecutive_failures 3) from three client /24s open a
  // circuit: SYNs resent 600 ms apart on flows of one backend.
  const CompiledBackend* target = find_backend("web", v4(10, 1, 0, 2));
  ASSERT_NE(target, nullptr);
  uint64_t t = 0;
  uint32_t failures = 0;
  for (uint16_t p = 38000; p < 38400 && failures < 3; ++p) {
    const std::string client = "198.51." + std::to_string(100 + failures) + ".90";
    const CompiledBackend* b = send(segment(client.c_str(), p, SLUICE_TCP_SYN), t, "SYN");
    if (b == nullptr || b->address != target->address) continue;
    t += 600;
    send(segment(client.c_str(), p, SLUICE_TCP_SYN), t, "SYN again");
    ++failures;
  }
  ASSERT_EQ(failures, 3u);
  EXPECT_EQ(xdp_signals(maps_.backend_traffic, target->counter_slot).ejections, 1u);
  EXPECT_EQ(xdp_backend_signal_total(&TrafficCounter::ejections), 1u);
  EXPECT_EQ(xdp_signals(maps_.pool_traffic, find_service("web")->pools[0].counter_slot).ejections,
            0u);
  expect_no_mismatch();
}

}  // namespace
}  // namespace sluice::engine::test::parity
