// SPDX-License-Identifier: Apache-2.0
// TCP state handling of the XDP program (ebpf/xdp/lib/flow.h:
// sluice_handle_flow, sluice_new_flow), pinned one rule at a time as
// tests/dataplane/engine/tcp_state_test.cc pins the engine's: SYN, the
// client's first non-SYN packet, FIN, RST, port reuse and each state's idle
// timeout at its exact boundary. Only the program runs here (run_xdp; the
// engine is used only to find client ports that land on a given backend,
// which parity guarantees). Every assertion reads what userspace can see:
// the flow's entry in the "flows" map (state, times, backend), the
// counters and golden-signal maps, and where a forwarded frame went (its
// outer destination) after a weight change moved every new flow to the
// canary pool.
#include <cstring>
#include <optional>
#include <string>

#include "dataplane/engine/parse.h"
#include "tests/ebpf/xdp_parity_harness.h"

namespace sluice::engine::test::parity {
namespace {

constexpr uint32_t kSynMs = 3000;
constexpr uint32_t kEstablishedMs = 20000;
constexpr uint32_t kClosingMs = 2000;
constexpr uint64_t kT0 = 100000;  // ms
constexpr const char* kClient = "198.51.100.7";
constexpr const char* kVip = "192.0.2.10";
constexpr const char* kStable = "10.1.0.1";

class XdpTcpStateTest : public XdpParityHarness {
 protected:
  void SetUp() override {
    XdpParityHarness::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    publish_weights(90, 10);
  }

  // web: VIP kVip:80, IPIP 4in4, stable (4 backends) and canary (2).
  void publish_weights(uint32_t stable, uint32_t canary) {
    EngineConfig c = test_forwarding_config();
    ServiceConfig s = test_web_service(stable, canary);  // VIP kVip, kStable its first backend
    s.timeouts = {kSynMs, kEstablishedMs, kClosingMs, 5000};
    c.services = {s};
    publish(c, ++generation_);
  }

  void all_to_canary() { publish_weights(0, 100); }

  static Bytes tcp(uint16_t port, uint8_t flags) {
    return FrameBuilder().eth().ipv4(kClient, kVip).tcp(port, 80, flags).build();
  }

  static sluice_flow_key key_of(uint16_t port) {
    ParsedPacket p;
    const Bytes f = tcp(port, SLUICE_TCP_SYN);
    parse_packet(f.data(), static_cast<uint32_t>(f.size()), &p);
    return p.key;
  }

  // The entry for kClient:port (one for every CPU), unless absent or empty.
  std::optional<sluice_xdp_flow> entry(uint16_t port) {
    const sluice_flow_key k = key_of(port);
    sluice_xdp_flow f{};
    // Confirmed flows are in "flows", the others in "flows_new".
    if (bpf_map_lookup_elem(maps_.flows, &k, &f) != 0 &&
        bpf_map_lookup_elem(maps_.flows_new, &k, &f) != 0) {
      return {};
    }
    if (f.state == SLUICE_XDP_FLOW_EMPTY) return {};
    return f;
  }

  // The service's idle timeout for the entry's state (0: no entry).
  uint32_t timeout_of(uint16_t port) {
    const std::optional<sluice_xdp_flow> e = entry(port);
    if (!e) return 0;
    switch (e->state) {
      case SLUICE_XDP_FLOW_SYN_SENT: return kSynMs;
      case SLUICE_XDP_FLOW_ESTABLISHED: return kEstablishedMs;
      case SLUICE_XDP_FLOW_CLOSING: return kClosingMs;
      default: return 0;
    }
  }

  // Where a forwarded 4in4 frame goes (its outer IPv4 destination).
  static std::string backend_of(const XdpRun& r) {
    if (r.action != XDP_TX || r.frame.size() < 34) return "not forwarded";
    return IpAddress::v4(r.frame[30], r.frame[31], r.frame[32], r.frame[33]).to_string();
  }
  static bool on_canary(const XdpRun& r) { return backend_of(r).rfind("10.2.0.", 0) == 0; }

  XdpRun segment(uint16_t port, uint8_t flags, uint64_t now_ms) {
    return run_xdp(tcp(port, flags), now_ms * 1000000);
  }

  sluice_xdp_counters counters() {
    const uint32_t zero = 0;
    sluice_xdp_counters c{};
    EXPECT_TRUE(read_this_cpu(maps_.counters, &zero, &c));
    return c;
  }

  // The golden signals of web's service slot, its stable pool, a backend.
  sluice_xdp_traffic signals(int fd, const char* name, uint32_t slot) {
    return read_slots_this_cpu<sluice_xdp_traffic>(fd, name).at(slot);
  }
  sluice_xdp_traffic service_signals() {
    return signals(maps_.service_traffic, "service_traffic", find_service("web")->counter_slot);
  }
  sluice_xdp_traffic stable_pool_signals() {
    return signals(maps_.pool_traffic, "pool_traffic", find_service("web")->pools[0].counter_slot);
  }
  sluice_xdp_traffic backend_signals(const char* address) {
    return signals(maps_.backend_traffic, "backend_traffic",
                   find_backend("web", addr(address))->counter_slot);
  }
  sluice_handshake_histogram backend_handshakes(const char* address) {
    return read_slots_this_cpu<sluice_handshake_histogram>(maps_.backend_handshakes,
                                                           "backend_handshakes")
        .at(find_backend("web", addr(address))->counter_slot);
  }

  // A client port after `after` whose new flow goes to kStable under the
  // current weights (asked of an engine worker of its own: the same choice).
  uint16_t stable_port(uint16_t after = 0) {
    WorkerOptions o;
    o.flow_capacity = 1024;
    o.circuit_capacity = 64;
    Worker probe(o);
    for (uint16_t port = static_cast<uint16_t>(after + 1); port < 60000; ++port) {
      Bytes f = tcp(port, SLUICE_TCP_SYN);
      Bytes buffer(kHeadroom + f.size());
      std::memcpy(buffer.data() + kHeadroom, f.data(), f.size());
      Packet pkt{buffer.data() + kHeadroom, static_cast<uint32_t>(f.size()), kHeadroom};
      const Decision d = probe.process_one(snapshot_.get(), pkt, 0);
      if (d.service && d.backend != kNoBackendIndex &&
          d.service->backends[d.backend].address.to_string() == kStable) {
        return port;
      }
    }
    ADD_FAILURE() << "no port maps to " << kStable;
    return 0;
  }

  void establish(uint16_t port, uint64_t now_ms) {
    ASSERT_EQ(segment(port, SLUICE_TCP_SYN, now_ms).action, XDP_TX);
    ASSERT_EQ(segment(port, SLUICE_TCP_ACK, now_ms).action, XDP_TX);
  }

  // As in the engine's test: two flows on kStable set up alike at kT0, then
  // every new flow goes to the canary; one ms before the timeout a packet
  // still finds its entry (stable), at the timeout it is rescheduled.
  template <typename Setup>
  void expect_expiry_at(uint32_t timeout_ms, Setup&& setup) {
    const uint16_t before = stable_port();
    const uint16_t at = stable_port(before);
    setup(before, kT0);
    setup(at, kT0);
    ASSERT_EQ(timeout_of(before), timeout_ms);
    ASSERT_EQ(timeout_of(at), timeout_ms);
    all_to_canary();
    const uint64_t hits = counters().flow_hits;
    const XdpRun alive = segment(before, SLUICE_TCP_ACK, kT0 + timeout_ms - 1);
    EXPECT_EQ(backend_of(alive), kStable) << "one ms before its timeout the entry is gone";
    EXPECT_EQ(counters().flow_hits, hits + 1);
    const XdpRun gone = segment(at, SLUICE_TCP_ACK, kT0 + timeout_ms);
    EXPECT_TRUE(on_canary(gone)) << "at its timeout the entry is still there: "
                                 << backend_of(gone);
    EXPECT_EQ(counters().flow_hits, hits + 1);
  }

  uint64_t generation_ = 0;
};

// A SYN creates a SYN_SENT entry on the backend it was sent to, with the
// SYN timeout; a new flow, not yet a handshake.
TEST_F(XdpTcpStateTest, SynCreatesSynSentEntry) {
  const uint16_t port = stable_port();
  EXPECT_EQ(backend_of(segment(port, SLUICE_TCP_SYN, kT0)), kStable);
  const std::optional<sluice_xdp_flow> e = entry(port);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->state, SLUICE_XDP_FLOW_SYN_SENT);
  EXPECT_EQ(timeout_of(port), kSynMs);
  EXPECT_EQ(e->backend_fingerprint, find_backend("web", addr(kStable))->fingerprint);
  EXPECT_EQ(e->first_seen_ms, kT0);
  EXPECT_EQ(e->last_seen_ms, kT0);
  EXPECT_EQ(counters().new_flows, 1u);
  EXPECT_EQ(counters().untracked_tcp, 0u);
  EXPECT_EQ(counters().handshakes_completed, 0u);
  EXPECT_EQ(backend_signals(kStable).new_flows, 1u);
  // A retransmitted SYN finds it and leaves it waiting for the handshake.
  EXPECT_EQ(backend_of(segment(port, SLUICE_TCP_SYN, kT0 + 100)), kStable);
  EXPECT_EQ(entry(port)->state, SLUICE_XDP_FLOW_SYN_SENT);
  EXPECT_EQ(counters().flow_hits, 1u);
  EXPECT_EQ(counters().new_flows, 1u);
}

// The client's first non-SYN packet completes the handshake: ESTABLISHED,
// the established timeout, handshakes_completed once with its time.
TEST_F(XdpTcpStateTest, FirstNonSynCompletesHandshake) {
  const uint16_t port = stable_port();
  segment(port, SLUICE_TCP_SYN, kT0);
  EXPECT_EQ(backend_of(segment(port, SLUICE_TCP_ACK, kT0 + 40)), kStable);
  const std::optional<sluice_xdp_flow> e = entry(port);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->state, SLUICE_XDP_FLOW_ESTABLISHED);
  EXPECT_EQ(timeout_of(port), kEstablishedMs);
  EXPECT_EQ(e->first_seen_ms, kT0);
  EXPECT_EQ(e->last_seen_ms, kT0 + 40);
  EXPECT_EQ(counters().handshakes_completed, 1u);
  EXPECT_EQ(backend_signals(kStable).handshakes_completed, 1u);
  EXPECT_EQ(backend_handshakes(kStable).sum_ms, 40u);
  segment(port, SLUICE_TCP_ACK | SLUICE_TCP_PSH, kT0 + 50);
  EXPECT_EQ(counters().handshakes_completed, 1u);
  EXPECT_EQ(entry(port)->state, SLUICE_XDP_FLOW_ESTABLISHED);
}

// Where entries live (xdp_layout.h): unconfirmed ones (SYN_SENT, a flow
// first seen mid-stream in PROBATION) in "flows_new", and the packet that
// confirms a flow moves its entry to "flows", where no flood reaches it.
TEST_F(XdpTcpStateTest, ConfirmationMovesTheEntryToTheConfirmedMap) {
  auto in = [&](int fd, uint16_t port) {
    const sluice_flow_key k = key_of(port);
    sluice_xdp_flow f{};
    return bpf_map_lookup_elem(fd, &k, &f) == 0;
  };
  const uint16_t port = stable_port();
  segment(port, SLUICE_TCP_SYN, kT0);
  EXPECT_TRUE(in(maps_.flows_new, port));
  EXPECT_FALSE(in(maps_.flows, port));
  segment(port, SLUICE_TCP_ACK, kT0 + 1);
  EXPECT_FALSE(in(maps_.flows_new, port));
  EXPECT_TRUE(in(maps_.flows, port));

  const uint16_t mid = stable_port(port);
  segment(mid, SLUICE_TCP_ACK, kT0);
  EXPECT_EQ(entry(mid)->state, SLUICE_XDP_FLOW_PROBATION);
  EXPECT_TRUE(in(maps_.flows_new, mid));
  segment(mid, SLUICE_TCP_ACK, kT0 + 1);
  EXPECT_EQ(entry(mid)->state, SLUICE_XDP_FLOW_ESTABLISHED);
  EXPECT_TRUE(in(maps_.flows, mid));
  EXPECT_FALSE(in(maps_.flows_new, mid));
  EXPECT_EQ(counters().flows_confirmed, 1u);

  // A new connection on a confirmed tuple starts unconfirmed again, and
  // the old entry leaves "flows": a key is in one map at a time.
  segment(port, SLUICE_TCP_SYN, kT0 + 5000);
  EXPECT_TRUE(in(maps_.flows_new, port));
  EXPECT_FALSE(in(maps_.flows, port));
}

// The client's FIN moves the flow to CLOSING with the closing timeout; no
// reset, and the flow stays on its backend.
TEST_F(XdpTcpStateTest, FinMovesToClosing) {
  const uint16_t port = stable_port();
  establish(port, kT0);
  EXPECT_EQ(backend_of(segment(port, SLUICE_TCP_FIN | SLUICE_TCP_ACK, kT0 + 10)), kStable);
  ASSERT_TRUE(entry(port));
  EXPECT_EQ(entry(port)->state, SLUICE_XDP_FLOW_CLOSING);
  EXPECT_EQ(timeout_of(port), kClosingMs);
  EXPECT_EQ(service_signals().client_resets, 0u);
  segment(port, SLUICE_TCP_ACK, kT0 + 20);
  EXPECT_EQ(entry(port)->state, SLUICE_XDP_FLOW_CLOSING);
}

// The client's RST moves the flow to CLOSING and counts one client reset on
// its service, pool and backend.
TEST_F(XdpTcpStateTest, RstMovesToClosingAndCountsReset) {
  const uint16_t port = stable_port();
  establish(port, kT0);
  EXPECT_EQ(backend_of(segment(port, SLUICE_TCP_RST, kT0 + 10)), kStable);
  ASSERT_TRUE(entry(port));
  EXPECT_EQ(entry(port)->state, SLUICE_XDP_FLOW_CLOSING);
  EXPECT_EQ(timeout_of(port), kClosingMs);
  EXPECT_EQ(backend_signals(kStable).client_resets, 1u);
  EXPECT_EQ(stable_pool_signals().client_resets, 1u);
  EXPECT_EQ(service_signals().client_resets, 1u);
  segment(port, SLUICE_TCP_RST | SLUICE_TCP_ACK, kT0 + 20);
  EXPECT_EQ(service_signals().client_resets, 1u);
}

// An RST (or RST|ACK) first of a flow nobody saw: a CLOSING entry and a
// client reset; a FIN likewise closes, without a reset.
TEST_F(XdpTcpStateTest, RstOrFinOfUnknownFlowIsClosing) {
  const uint16_t rst = stable_port();
  const uint16_t rst_ack = stable_port(rst);
  const uint16_t fin = stable_port(rst_ack);
  segment(rst, SLUICE_TCP_RST, kT0);
  segment(rst_ack, SLUICE_TCP_RST | SLUICE_TCP_ACK, kT0);
  segment(fin, SLUICE_TCP_FIN | SLUICE_TCP_ACK, kT0);
  for (const uint16_t port : {rst, rst_ack, fin}) {
    ASSERT_TRUE(entry(port)) << port;
    EXPECT_EQ(entry(port)->state, SLUICE_XDP_FLOW_CLOSING) << port;
  }
  EXPECT_EQ(backend_signals(kStable).client_resets, 2u);
  EXPECT_EQ(counters().untracked_tcp, 3u);
}

// Port reuse: a SYN on the tuple of an established flow is scheduled afresh
// under the current weights (the canary), SYN_SENT from now.
TEST_F(XdpTcpStateTest, SynOnEstablishedTupleIsScheduledAfresh) {
  const uint16_t port = stable_port();
  establish(port, kT0);
  all_to_canary();
  EXPECT_EQ(backend_of(segment(port, SLUICE_TCP_ACK, kT0 + 10)), kStable);
  const XdpRun syn = segment(port, SLUICE_TCP_SYN, kT0 + 20);
  EXPECT_TRUE(on_canary(syn)) << backend_of(syn);
  const std::optional<sluice_xdp_flow> e = entry(port);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->state, SLUICE_XDP_FLOW_SYN_SENT);
  EXPECT_EQ(e->first_seen_ms, kT0 + 20);
  EXPECT_EQ(timeout_of(port), kSynMs);
  EXPECT_EQ(counters().new_flows, 2u);
}

// A SYN reusing a closed flow's tuple (CLOSING, before and after its entry
// expired) is a new connection too; no handshake expired.
TEST_F(XdpTcpStateTest, SynAfterCloseIsScheduledAfresh) {
  const uint16_t closing = stable_port();
  const uint16_t closed = stable_port(closing);
  establish(closing, kT0);
  establish(closed, kT0);
  segment(closing, SLUICE_TCP_FIN | SLUICE_TCP_ACK, kT0 + 10);
  segment(closed, SLUICE_TCP_RST, kT0 + 10);
  all_to_canary();
  const XdpRun reuse = segment(closing, SLUICE_TCP_SYN, kT0 + 20);
  EXPECT_TRUE(on_canary(reuse)) << backend_of(reuse);
  EXPECT_EQ(entry(closing)->state, SLUICE_XDP_FLOW_SYN_SENT);
  const XdpRun later = segment(closed, SLUICE_TCP_SYN, kT0 + 10 + kClosingMs);
  EXPECT_TRUE(on_canary(later)) << backend_of(later);
  EXPECT_EQ(entry(closed)->state, SLUICE_XDP_FLOW_SYN_SENT);
  EXPECT_EQ(service_signals().handshakes_expired, 0u);
}

// A SYN_SENT entry expires exactly tcp_syn_ms after its last packet; its
// flow's next packet counts the handshake as expired, once.
TEST_F(XdpTcpStateTest, SynSentExpiresAtSynTimeout) {
  expect_expiry_at(kSynMs, [this](uint16_t port, uint64_t t) {
    ASSERT_EQ(segment(port, SLUICE_TCP_SYN, t).action, XDP_TX);
  });
  EXPECT_EQ(counters().handshakes_completed, 1u);
  EXPECT_EQ(service_signals().handshakes_expired, 1u);
  EXPECT_EQ(stable_pool_signals().handshakes_expired, 1u);
  EXPECT_EQ(backend_signals(kStable).handshakes_expired, 1u);
}

TEST_F(XdpTcpStateTest, EstablishedExpiresAtEstablishedTimeout) {
  expect_expiry_at(kEstablishedMs, [this](uint16_t port, uint64_t t) { establish(port, t); });
  EXPECT_EQ(service_signals().handshakes_expired, 0u);
}

TEST_F(XdpTcpStateTest, ClosingAfterFinExpiresAtClosingTimeout) {
  expect_expiry_at(kClosingMs, [this](uint16_t port, uint64_t t) {
    establish(port, t - 5);
    segment(port, SLUICE_TCP_FIN | SLUICE_TCP_ACK, t);
  });
  EXPECT_EQ(service_signals().handshakes_expired, 0u);
}

TEST_F(XdpTcpStateTest, ClosingAfterRstExpiresAtClosingTimeout) {
  expect_expiry_at(kClosingMs, [this](uint16_t port, uint64_t t) {
    establish(port, t - 5);
    segment(port, SLUICE_TCP_RST, t);
  });
}

}  // namespace
}  // namespace sluice::engine::test::parity
