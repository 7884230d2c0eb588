// SPDX-License-Identifier: Apache-2.0
// TCP state handling of the engine (Worker::handle_flow), pinned one rule at
// a time: SYN, the client's first non-SYN packet, FIN, RST, port reuse and
// each state's idle timeout at its exact boundary. Every assertion reads
// something a caller can observe: the flow-table entry (Worker::flows(),
// state and last-seen time; its timeout is the service's for that state),
// the counters and golden signals, and where a packet goes after a weight
// change moved every new flow to the canary pool (a tracked flow stays on
// its stable backend; a forgotten or rescheduled one goes to the canary).
// The XDP program's twin is tests/ebpf/xdp_tcp_state_test.cc.
#include <cstring>
#include <optional>
#include <string>

#include "dataplane/engine/parse.h"
#include "tests/dataplane/engine/engine_fixture.h"

namespace sluice::engine {
namespace {

// Distinct timeouts, so that an entry in the wrong state expires at the
// wrong time.
constexpr uint32_t kSynMs = 3000;
constexpr uint32_t kEstablishedMs = 20000;
constexpr uint32_t kClosingMs = 2000;
constexpr uint64_t kT0 = 100000;  // ms; any start will do
constexpr const char* kClient = "198.51.100.7";
constexpr const char* kStable = "10.1.0.1";

class TcpStateTest : public EngineTest {
 protected:
  TcpStateTest() {
    config_.services[0].timeouts = {kSynMs, kEstablishedMs, kClosingMs, 5000};
    publish();
  }

  // The flow key of a segment from kClient:port to the VIP.
  static sluice_flow_key key_of(uint16_t port) {
    ParsedPacket p;
    const std::vector<uint8_t> f = tcp(kClient, port, SLUICE_TCP_SYN);
    parse_packet(f.data(), static_cast<uint32_t>(f.size()), &p);
    return p.key;
  }

  // A copy of the table's entry for kClient:port (live or expired), if any.
  std::optional<FlowEntry> entry(uint16_t port) const {
    const sluice_flow_key k = key_of(port);
    std::optional<FlowEntry> found;
    worker_.flows().for_each_entry([&](const FlowEntry& e) {
      if (e.state != FlowState::kEmpty && std::memcmp(&e.key, &k, sizeof k) == 0) found = e;
    });
    return found;
  }

  // The idle timeout the entry of kClient:port has in its state (0: none).
  uint32_t timeout_of(uint16_t port) const {
    const std::optional<FlowEntry> e = entry(port);
    return e ? flow_timeout_ms(e->state, config_.services[0].timeouts) : 0;
  }

  Decision segment(uint16_t port, uint8_t flags, uint64_t now_ms) {
    return send(tcp(kClient, port, flags), now_ms);
  }

  // A client port whose new flow goes to kStable (stable 90 / canary 10).
  uint16_t stable_port(uint16_t after = 0) {
    Worker probe(small_options());
    for (uint16_t port = static_cast<uint16_t>(after + 1); port < 60000; ++port) {
      Buffer b(tcp(kClient, port, SLUICE_TCP_SYN));
      if (backend_of(probe.process_one(snapshot_.get(), b.pkt, 0)) == kStable) return port;
    }
    ADD_FAILURE() << "no port maps to " << kStable;
    return 0;
  }

  // From now on every new flow goes to the canary pool.
  void all_to_canary() {
    config_.services[0].pools[0].weight = 0;
    config_.services[0].pools[1].weight = 100;
    publish();
  }

  static bool on_canary(const Decision& d) { return pool_of(d) == "canary"; }

  // Two flows on kStable brought into the same state at `at` by `setup`;
  // then every new flow goes to the canary. A packet of the first, one ms
  // before the timeout, still finds its entry (stable backend); one of the
  // second, at the timeout, finds it gone (rescheduled to the canary).
  template <typename Setup>
  void expect_expiry_at(uint32_t timeout_ms, Setup&& setup) {
    const uint16_t before = stable_port();
    const uint16_t at = stable_port(before);
    setup(before, kT0);
    setup(at, kT0);
    ASSERT_EQ(timeout_of(before), timeout_ms);
    ASSERT_EQ(timeout_of(at), timeout_ms);
    all_to_canary();
    const Decision alive = segment(before, SLUICE_TCP_ACK, kT0 + timeout_ms - 1);
    EXPECT_TRUE(alive.flow_hit) << "one ms before its timeout the entry is gone";
    EXPECT_EQ(backend_of(alive), kStable);
    const Decision gone = segment(at, SLUICE_TCP_ACK, kT0 + timeout_ms);
    EXPECT_FALSE(gone.flow_hit) << "at its timeout the entry is still there";
    EXPECT_TRUE(on_canary(gone)) << backend_of(gone);
  }

  // SYN, then the client's ACK: an established flow.
  void establish(uint16_t port, uint64_t now_ms) {
    ASSERT_EQ(segment(port, SLUICE_TCP_SYN, now_ms).verdict.action, Action::kForward);
    ASSERT_EQ(segment(port, SLUICE_TCP_ACK, now_ms).verdict.action, Action::kForward);
  }
};

// A SYN creates a SYN_SENT entry on the backend it was sent to, with the
// SYN timeout, counted as a new flow and not yet as a handshake.
TEST_F(TcpStateTest, SynCreatesSynSentEntry) {
  const uint16_t port = stable_port();
  const Decision d = segment(port, SLUICE_TCP_SYN, kT0);
  ASSERT_EQ(d.verdict.action, Action::kForward);
  EXPECT_FALSE(d.flow_hit);
  const std::optional<FlowEntry> e = entry(port);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->state, FlowState::kSynSent);
  EXPECT_EQ(timeout_of(port), kSynMs);
  EXPECT_EQ(e->backend_fingerprint, backend_named(kStable).fingerprint);
  EXPECT_EQ(e->first_seen_ms, kT0);
  EXPECT_EQ(e->last_seen_ms, kT0);
  EXPECT_EQ(worker_.counters().new_flows, 1u);
  EXPECT_EQ(worker_.counters().untracked_tcp, 0u);
  EXPECT_EQ(worker_.counters().handshakes_completed, 0u);
  EXPECT_EQ(backend_signals(kStable).new_flows, 1u);
  // A retransmitted SYN finds it and leaves it waiting for the handshake.
  const Decision again = segment(port, SLUICE_TCP_SYN, kT0 + 100);
  EXPECT_TRUE(again.flow_hit);
  EXPECT_EQ(entry(port)->state, FlowState::kSynSent);
  EXPECT_EQ(worker_.counters().new_flows, 1u);
}

// The client's first non-SYN packet completes the handshake: ESTABLISHED,
// the established timeout, handshakes_completed once (with its time), and
// the flow keeps its backend.
TEST_F(TcpStateTest, FirstNonSynCompletesHandshake) {
  const uint16_t port = stable_port();
  segment(port, SLUICE_TCP_SYN, kT0);
  const Decision ack = segment(port, SLUICE_TCP_ACK, kT0 + 40);
  EXPECT_TRUE(ack.flow_hit);
  EXPECT_EQ(backend_of(ack), kStable);
  const std::optional<FlowEntry> e = entry(port);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->state, FlowState::kEstablished);
  EXPECT_EQ(timeout_of(port), kEstablishedMs);
  EXPECT_EQ(e->first_seen_ms, kT0);
  EXPECT_EQ(e->last_seen_ms, kT0 + 40);
  EXPECT_EQ(worker_.counters().handshakes_completed, 1u);
  EXPECT_EQ(backend_signals(kStable).handshakes_completed, 1u);
  EXPECT_EQ(backend_handshakes(kStable).count(), 1u);
  EXPECT_EQ(backend_handshakes(kStable).sum_ms, 40u);
  // More data is no second handshake.
  segment(port, SLUICE_TCP_ACK | SLUICE_TCP_PSH, kT0 + 50);
  EXPECT_EQ(worker_.counters().handshakes_completed, 1u);
  EXPECT_EQ(entry(port)->state, FlowState::kEstablished);
}

// The client's FIN moves the flow to CLOSING, with the closing timeout; it
// is no reset, and the flow stays on its backend until then.
TEST_F(TcpStateTest, FinMovesToClosing) {
  const uint16_t port = stable_port();
  establish(port, kT0);
  const Decision fin = segment(port, SLUICE_TCP_FIN | SLUICE_TCP_ACK, kT0 + 10);
  EXPECT_TRUE(fin.flow_hit);
  EXPECT_EQ(backend_of(fin), kStable);
  ASSERT_TRUE(entry(port));
  EXPECT_EQ(entry(port)->state, FlowState::kClosing);
  EXPECT_EQ(timeout_of(port), kClosingMs);
  EXPECT_EQ(service_signals().client_resets, 0u);
  // The last ACK of the close keeps it closing (not established again).
  segment(port, SLUICE_TCP_ACK, kT0 + 20);
  EXPECT_EQ(entry(port)->state, FlowState::kClosing);
}

// The client's RST moves the flow to CLOSING and counts a client reset on
// its service, pool and backend, once.
TEST_F(TcpStateTest, RstMovesToClosingAndCountsReset) {
  const uint16_t port = stable_port();
  establish(port, kT0);
  const Decision rst = segment(port, SLUICE_TCP_RST, kT0 + 10);
  EXPECT_TRUE(rst.flow_hit);
  EXPECT_EQ(backend_of(rst), kStable);
  ASSERT_TRUE(entry(port));
  EXPECT_EQ(entry(port)->state, FlowState::kClosing);
  EXPECT_EQ(timeout_of(port), kClosingMs);
  EXPECT_EQ(backend_signals(kStable).client_resets, 1u);
  EXPECT_EQ(pool_signals("stable").client_resets, 1u);
  EXPECT_EQ(service_signals().client_resets, 1u);
  // A second RST of the same flow is not a second reset.
  segment(port, SLUICE_TCP_RST | SLUICE_TCP_ACK, kT0 + 20);
  EXPECT_EQ(service_signals().client_resets, 1u);
}

// An RST (or RST|ACK) as the first packet of a flow nobody saw: a CLOSING
// entry and a client reset; a FIN likewise closes, without a reset.
TEST_F(TcpStateTest, RstOrFinOfUnknownFlowIsClosing) {
  const uint16_t rst = stable_port();
  const uint16_t rst_ack = stable_port(rst);
  const uint16_t fin = stable_port(rst_ack);
  segment(rst, SLUICE_TCP_RST, kT0);
  segment(rst_ack, SLUICE_TCP_RST | SLUICE_TCP_ACK, kT0);
  segment(fin, SLUICE_TCP_FIN | SLUICE_TCP_ACK, kT0);
  for (const uint16_t port : {rst, rst_ack, fin}) {
    ASSERT_TRUE(entry(port)) << port;
    EXPECT_EQ(entry(port)->state, FlowState::kClosing) << port;
  }
  EXPECT_EQ(backend_signals(kStable).client_resets, 2u);
  EXPECT_EQ(worker_.counters().untracked_tcp, 3u);
}

// Port reuse: a SYN on the tuple of an established flow is a new
// connection, scheduled afresh under the current weights (here: to the
// canary), SYN_SENT again from now; an ACK would have stayed.
TEST_F(TcpStateTest, SynOnEstablishedTupleIsScheduledAfresh) {
  const uint16_t port = stable_port();
  establish(port, kT0);
  all_to_canary();
  EXPECT_EQ(backend_of(segment(port, SLUICE_TCP_ACK, kT0 + 10)), kStable);
  const Decision syn = segment(port, SLUICE_TCP_SYN, kT0 + 20);
  EXPECT_FALSE(syn.flow_hit);
  EXPECT_TRUE(on_canary(syn)) << backend_of(syn);
  const std::optional<FlowEntry> e = entry(port);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->state, FlowState::kSynSent);
  EXPECT_EQ(e->first_seen_ms, kT0 + 20);
  EXPECT_EQ(timeout_of(port), kSynMs);
  EXPECT_EQ(worker_.counters().new_flows, 2u);
}

// A SYN reusing the tuple of a closed flow (CLOSING, before and after its
// entry expired) is a new connection too; no handshake expired.
TEST_F(TcpStateTest, SynAfterCloseIsScheduledAfresh) {
  const uint16_t closing = stable_port();
  const uint16_t closed = stable_port(closing);
  establish(closing, kT0);
  establish(closed, kT0);
  segment(closing, SLUICE_TCP_FIN | SLUICE_TCP_ACK, kT0 + 10);
  segment(closed, SLUICE_TCP_RST, kT0 + 10);
  all_to_canary();
  const Decision reuse = segment(closing, SLUICE_TCP_SYN, kT0 + 20);
  EXPECT_FALSE(reuse.flow_hit);
  EXPECT_TRUE(on_canary(reuse)) << backend_of(reuse);
  EXPECT_EQ(entry(closing)->state, FlowState::kSynSent);
  const Decision later = segment(closed, SLUICE_TCP_SYN, kT0 + 10 + kClosingMs);
  EXPECT_FALSE(later.flow_hit);
  EXPECT_TRUE(on_canary(later)) << backend_of(later);
  EXPECT_EQ(entry(closed)->state, FlowState::kSynSent);
  EXPECT_EQ(service_signals().handshakes_expired, 0u);
}

// A SYN_SENT entry expires exactly tcp_syn_ms after its last packet; its
// flow's next packet counts the handshake as expired, once.
TEST_F(TcpStateTest, SynSentExpiresAtSynTimeout) {
  expect_expiry_at(kSynMs, [this](uint16_t port, uint64_t t) {
    ASSERT_EQ(segment(port, SLUICE_TCP_SYN, t).verdict.action, Action::kForward);
  });
  // The flow probed one ms early completed its handshake; the other expired.
  EXPECT_EQ(worker_.counters().handshakes_completed, 1u);
  EXPECT_EQ(service_signals().handshakes_expired, 1u);
  EXPECT_EQ(backend_signals(kStable).handshakes_expired, 1u);
  EXPECT_EQ(pool_signals("stable").handshakes_expired, 1u);
}

// An ESTABLISHED entry expires exactly tcp_established_ms after its last
// packet (no handshake expires).
TEST_F(TcpStateTest, EstablishedExpiresAtEstablishedTimeout) {
  expect_expiry_at(kEstablishedMs, [this](uint16_t port, uint64_t t) { establish(port, t); });
  EXPECT_EQ(service_signals().handshakes_expired, 0u);
}

// A CLOSING entry (after FIN) expires exactly tcp_closing_ms after its last
// packet.
TEST_F(TcpStateTest, ClosingAfterFinExpiresAtClosingTimeout) {
  expect_expiry_at(kClosingMs, [this](uint16_t port, uint64_t t) {
    establish(port, t - 5);
    segment(port, SLUICE_TCP_FIN | SLUICE_TCP_ACK, t);
  });
  EXPECT_EQ(service_signals().handshakes_expired, 0u);
}

// ... and after RST.
TEST_F(TcpStateTest, ClosingAfterRstExpiresAtClosingTimeout) {
  expect_expiry_at(kClosingMs, [this](uint16_t port, uint64_t t) {
    establish(port, t - 5);
    segment(port, SLUICE_TCP_RST, t);
  });
}

}  // namespace
}  // namespace sluice::engine
