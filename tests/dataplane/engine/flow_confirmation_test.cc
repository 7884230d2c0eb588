// SPDX-License-Identifier: Apache-2.0
// How the engine enters new flows (flow_table.h FlowState, README "Flow
// state under attack"): a flow whose first packet is not a TCP SYN waits in
// probation for a second packet; a confirmed flow is never evicted for a new
// one; above the per-core new-flow rate, or when a flow's buckets hold only
// confirmed flows, a new flow is forwarded statelessly to the backend
// consistent hashing gives it, and counted.
#include <cstring>
#include <optional>

#include "dataplane/engine/parse.h"
#include "tests/dataplane/engine/engine_fixture.h"

namespace sluice::engine {
namespace {

class FlowConfirmationTest : public EngineTest {
 protected:
  FlowConfirmationTest() {
    config_.services.push_back(web_service());
    config_.services[1].name = "dns";
    config_.services[1].protocol = Protocol::kUdp;
    config_.services[1].port = 53;
    publish();
  }

  static std::vector<uint8_t> udp(const char* client, uint16_t sport) {
    return FrameBuilder().eth().ipv4(client, "192.0.2.10").udp(sport, 53).payload(20).build();
  }

  // The table's entry for `frame`'s flow, if any.
  std::optional<FlowEntry> entry_of(const Worker& w, const std::vector<uint8_t>& frame) const {
    ParsedPacket p;
    parse_packet(frame.data(), static_cast<uint32_t>(frame.size()), &p);
    std::optional<FlowEntry> found;
    w.flows().for_each_entry([&](const FlowEntry& e) {
      if (e.state != FlowState::kEmpty && std::memcmp(&e.key, &p.key, sizeof p.key) == 0) found = e;
    });
    return found;
  }
  std::optional<FlowEntry> entry_of(const std::vector<uint8_t>& frame) const {
    return entry_of(worker_, frame);
  }
};

TEST_F(FlowConfirmationTest, UdpFlowIsConfirmedBySecondDatagram) {
  const auto f = udp("198.51.100.20", 5353);
  const Decision first = send(f, 100);
  ASSERT_EQ(first.verdict.action, Action::kForward);
  ASSERT_TRUE(entry_of(f));
  EXPECT_EQ(entry_of(f)->state, FlowState::kProbation);
  EXPECT_EQ(worker_.counters().flows_confirmed, 0u);
  const Decision second = send(f, 200);
  EXPECT_TRUE(second.flow_hit);
  EXPECT_EQ(backend_of(second), backend_of(first));
  EXPECT_EQ(entry_of(f)->state, FlowState::kUdp);
  EXPECT_EQ(worker_.counters().flows_confirmed, 1u);
  send(f, 300);
  EXPECT_EQ(worker_.counters().flows_confirmed, 1u) << "confirmed once";
}

TEST_F(FlowConfirmationTest, MidStreamTcpIsConfirmedBySecondPacket) {
  const auto ack = tcp("198.51.100.21", 4000, SLUICE_TCP_ACK);
  send(ack, 100);
  EXPECT_EQ(entry_of(ack)->state, FlowState::kProbation);
  EXPECT_EQ(worker_.counters().untracked_tcp, 1u);
  send(ack, 150);
  EXPECT_EQ(entry_of(ack)->state, FlowState::kEstablished);
  EXPECT_EQ(worker_.counters().flows_confirmed, 1u);
  EXPECT_EQ(worker_.counters().handshakes_completed, 0u) << "no handshake was seen";
  // A SYN's flow is confirmed by the handshake, not counted as a probation one.
  connect("198.51.100.21", 4001, 200);
  EXPECT_EQ(worker_.counters().flows_confirmed, 1u);
  EXPECT_EQ(entry_of(tcp("198.51.100.21", 4001, SLUICE_TCP_ACK))->state, FlowState::kEstablished);
}

TEST_F(FlowConfirmationTest, ProbationEndsAtProbationTimeout) {
  config_.services[0].timeouts.probation_ms = 700;
  publish();
  const auto ack = tcp("198.51.100.22", 4000, SLUICE_TCP_ACK);
  send(ack, 1000);
  EXPECT_TRUE(send(ack, 1699).flow_hit) << "alive until 700 ms idle";
  const auto ack2 = tcp("198.51.100.22", 4002, SLUICE_TCP_ACK);
  send(ack2, 2000);
  const uint64_t new_flows = worker_.counters().new_flows;
  EXPECT_FALSE(send(ack2, 2700).flow_hit) << "expired at 700 ms idle";
  EXPECT_EQ(worker_.counters().new_flows, new_flows + 1);
}

TEST_F(FlowConfirmationTest, AboveTheRateNewFlowsGoStatelesslyToTheirBackend) {
  config_.forwarding.new_flow_rate = 1000;  // one per ms
  config_.forwarding.new_flow_burst = 2;
  publish();
  Worker unlimited(small_options());
  uint32_t stateless = 0;
  for (uint16_t port = 5000; port < 5010; ++port) {
    const auto syn = tcp("198.51.100.23", port, SLUICE_TCP_SYN);
    const Decision d = send(syn, 50);
    Buffer b(syn);
    const Decision want = unlimited.process_one(snapshot_.get(), b.pkt, 50 * 1000000ull);
    EXPECT_EQ(backend_of(d), backend_of(want)) << "port " << port;
    if (!entry_of(syn)) ++stateless;
  }
  EXPECT_EQ(stateless, 8u) << "a burst of 2, then nothing in the same ms";
  EXPECT_EQ(worker_.counters().flows_stateless_rate, 8u);
  EXPECT_EQ(worker_.counters().new_flows, 2u) << "stateless flows are no new flows";
  EXPECT_EQ(worker_.counters().forwarded, 10u);
  // A millisecond later there is a token again: the next packet enters.
  const auto later = tcp("198.51.100.23", 5009, SLUICE_TCP_ACK);
  send(later, 51);
  ASSERT_TRUE(entry_of(later));
  EXPECT_EQ(entry_of(later)->state, FlowState::kProbation);
}

TEST_F(FlowConfirmationTest, BucketsFullOfConfirmedFlowsForwardNewOnesStatelessly) {
  WorkerOptions tiny = small_options();
  tiny.flow_capacity = 8;  // one bucket of 8: every key's two buckets are it
  Worker w(tiny);
  auto deliver = [&](const std::vector<uint8_t>& f, uint64_t ms) {
    Buffer b(f);
    return w.process_one(snapshot_.get(), b.pkt, ms * 1000000);
  };
  std::string placed[8];
  for (uint16_t i = 0; i < 8; ++i) {
    placed[i] = backend_of(deliver(tcp("198.51.100.24", 6000 + i, SLUICE_TCP_SYN), 10));
    deliver(tcp("198.51.100.24", 6000 + i, SLUICE_TCP_ACK), 10);
  }
  ASSERT_EQ(w.counters().handshakes_completed, 8u);
  // A flood of new flows: none gets in, none pushes an established one out.
  for (uint16_t i = 0; i < 1000; ++i) {
    EXPECT_EQ(deliver(tcp("203.0.113.9", 100 + i, SLUICE_TCP_SYN), 20).verdict.action,
              Action::kForward);
  }
  EXPECT_EQ(w.counters().flows_stateless_full, 1000u);
  EXPECT_EQ(w.flows().stats().evictions, 0u);
  config_.services[0].pools[0].weight = 0;
  config_.services[0].pools[1].weight = 100;
  publish();
  for (uint16_t i = 0; i < 8; ++i) {
    const Decision d = deliver(tcp("198.51.100.24", 6000 + i, SLUICE_TCP_ACK), 30);
    EXPECT_TRUE(d.flow_hit) << i;
    EXPECT_EQ(backend_of(d), placed[i]) << i;
  }
  // A flow that closes frees its place for the next new flow.
  deliver(tcp("198.51.100.24", 6000, SLUICE_TCP_FIN | SLUICE_TCP_ACK), 40);
  const auto next = tcp("203.0.113.9", 5, SLUICE_TCP_SYN);
  deliver(next, 41);
  EXPECT_TRUE(entry_of(w, next));
  EXPECT_EQ(w.counters().flows_stateless_full, 1000u);
}

}  // namespace
}  // namespace sluice::engine
