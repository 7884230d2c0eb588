// Tests of the golden signals dataplane/engine/engine.cc counts per service,
// pool and backend slot (signal_list.h): which frame counts what, on which
// slots, and the handshake-time histograms. The XDP program must count the
// same (tests/ebpf/xdp_parity_test.cc).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dataplane/engine/engine.h"
#include "tests/dataplane/engine/engine_fixture.h"

namespace sluice::engine {
namespace {

class EngineSignalsTest : public EngineTest {
 protected:
  // `field` on web's service slot, on `pool`'s slot and on `backend`'s slot.
  std::vector<uint64_t> on_slots(uint64_t TrafficCounter::*field, const std::string& pool,
                                 const std::string& backend) const {
    return {service_signals().*field, pool_signals(pool).*field, backend_signals(backend).*field};
  }
  static std::vector<uint64_t> all(uint64_t n) { return {n, n, n}; }

  // `field` summed over every backend slot of web.
  uint64_t over_backends(uint64_t TrafficCounter::*field) const {
    uint64_t n = 0;
    for (const CompiledBackend& b : web().backends) n += worker_.counters().backends[b.counter_slot].*field;
    return n;
  }

  // Empty bursts until the sweep has visited every bucket of worker `w`
  // (4 buckets per burst) once.
  void sweep_all(Worker& w, uint64_t now_ms) {
    const uint32_t buckets = w.flows().capacity() / FlowTable::kWays;
    for (uint32_t i = 0; i < buckets / 4 + 1; ++i) {
      w.process_burst(snapshot_.get(), nullptr, nullptr, 0, now_ms * 1000000);
    }
  }
  Decision send_to(Worker& w, const std::vector<uint8_t>& frame, uint64_t now_ms) {
    Buffer b(frame);
    return w.process_one(snapshot_.get(), b.pkt, now_ms * 1000000);
  }
  uint64_t expired_on_service(const Worker& w) const {
    return w.counters().services[web().counter_slot].handshakes_expired;
  }
};

// A new flow counts new_flows, packets and bytes on its service, its pool
// and its backend, and nowhere else; its next packet adds a packet only.
TEST_F(EngineSignalsTest, NewFlowCountedOnItsSlots) {
  const std::vector<uint8_t> syn = tcp("198.51.100.1", 4000, SLUICE_TCP_SYN);
  const Decision d = send(syn, 0);
  const std::string b = backend_of(d), pool = pool_of(d);
  EXPECT_EQ(on_slots(&TrafficCounter::new_flows, pool, b), all(1));
  EXPECT_EQ(on_slots(&TrafficCounter::packets, pool, b), all(1));
  EXPECT_EQ(on_slots(&TrafficCounter::bytes, pool, b), all(syn.size()));
  send(tcp("198.51.100.1", 4000, SLUICE_TCP_ACK), 1);
  EXPECT_EQ(on_slots(&TrafficCounter::new_flows, pool, b), all(1));
  EXPECT_EQ(on_slots(&TrafficCounter::packets, pool, b), all(2));
  EXPECT_EQ(over_backends(&TrafficCounter::new_flows), 1u);
  const std::string other_pool = pool == "stable" ? "canary" : "stable";
  EXPECT_EQ(pool_signals(other_pool).new_flows, 0u);
  // Ejections exist on backend slots only; nothing failed here.
  EXPECT_EQ(on_slots(&TrafficCounter::ejections, pool, b), all(0));
}

// The client's first non-SYN packet completes the handshake once, on the
// flow's slots; later packets do not count again.
TEST_F(EngineSignalsTest, HandshakeCompletedOnce) {
  const Decision d = send(tcp("198.51.100.2", 4001, SLUICE_TCP_SYN), 100);
  send(tcp("198.51.100.2", 4001, SLUICE_TCP_ACK), 130);
  send(tcp("198.51.100.2", 4001, SLUICE_TCP_ACK | SLUICE_TCP_PSH), 140);
  EXPECT_EQ(on_slots(&TrafficCounter::handshakes_completed, pool_of(d), backend_of(d)), all(1));
  EXPECT_EQ(over_backends(&TrafficCounter::handshakes_completed), 1u);
  EXPECT_EQ(worker_.counters().handshakes_completed, 1u);
  // An untracked flow (first packet an ACK) completes nothing.
  send(tcp("198.51.100.2", 4002, SLUICE_TCP_ACK), 150);
  send(tcp("198.51.100.2", 4002, SLUICE_TCP_ACK), 160);
  EXPECT_EQ(service_signals().handshakes_completed, 1u);
  EXPECT_EQ(service_signals().new_flows, 2u);
}

// Handshake times land in the first bucket whose bound (ms) is >= the time,
// or past 5000 ms in the last (+Inf) one, in the pool's and the backend's
// histogram, which also sum the times.
TEST_F(EngineSignalsTest, HandshakeHistogramBucketEdges) {
  config_.services[0].pools = {{"stable", 1, {{ip("10.1.0.1")}}}};
  publish();
  const uint32_t bounds[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000};
  ASSERT_EQ(std::vector<uint32_t>(std::begin(kHandshakeBoundsMs), std::end(kHandshakeBoundsMs)),
            std::vector<uint32_t>(std::begin(bounds), std::end(bounds)));
  const struct {
    uint32_t ms;
    int bucket;
  } cases[] = {{0, 0},    {1, 0},     {2, 1},     {3, 2},     {5, 2},     {6, 3},     {10, 3},
               {11, 4},   {20, 4},    {21, 5},    {50, 5},    {51, 6},    {100, 6},   {101, 7},
               {200, 7},  {201, 8},   {500, 8},   {501, 9},   {1000, 9},  {1001, 10}, {2000, 10},
               {2001, 11}, {5000, 11}, {5001, 12}, {9999, 12}};
  HandshakeHistogram expected;
  uint16_t port = 6000;
  for (const auto& c : cases) {
    const uint64_t start = 20000u * port;  // flows far apart: nothing else expires meanwhile
    send(tcp("198.51.100.3", port, SLUICE_TCP_SYN), start);
    send(tcp("198.51.100.3", port, SLUICE_TCP_ACK), start + c.ms);
    expected.buckets[c.bucket]++;
    expected.sum_ms += c.ms;
    ++port;
  }
  for (const HandshakeHistogram* h : {&pool_handshakes("stable"), &backend_handshakes("10.1.0.1")}) {
    for (int i = 0; i < SLUICE_HANDSHAKE_BUCKETS; ++i) {
      EXPECT_EQ(h->buckets[i], expected.buckets[i]) << "bucket " << i;
    }
    EXPECT_EQ(h->sum_ms, expected.sum_ms);
    EXPECT_EQ(h->count(), std::size(cases));
  }
  EXPECT_EQ(on_slots(&TrafficCounter::handshakes_completed, "stable", "10.1.0.1"),
            all(std::size(cases)));
}

// A SYN repeated less than syn_retry_min_ms (500) after the flow's previous
// packet is no failure, however long ago the first SYN was; one repeated
// 500 ms after the previous packet is, on the backend that did not answer.
TEST_F(EngineSignalsTest, ConnectFailureTimedFromPreviousPacket) {
  const Decision first = send(tcp("198.51.100.4", 4003, SLUICE_TCP_SYN), 0);
  const std::string a = backend_of(first), pool = pool_of(first);
  for (uint64_t t : {400, 800, 1200, 1699}) send(tcp("198.51.100.4", 4003, SLUICE_TCP_SYN), t);
  EXPECT_EQ(service_signals().connect_failures, 0u);
  const Decision retry = send(tcp("198.51.100.4", 4003, SLUICE_TCP_SYN), 2199);
  EXPECT_TRUE(retry.steered);
  EXPECT_EQ(on_slots(&TrafficCounter::connect_failures, pool, a), all(1));
  EXPECT_EQ(backend_signals(backend_of(retry)).connect_failures, 0u);
  EXPECT_EQ(worker_.counters().connect_failures, 1u);
}

// Handshake time runs from the flow's FIRST SYN, across a retry steered to
// another backend: the failure is the first backend's, the handshake (and
// its time) the second's.
TEST_F(EngineSignalsTest, HandshakeTimedFromFirstSynAcrossSteeredRetry) {
  const Decision first = send(tcp("198.51.100.5", 4004, SLUICE_TCP_SYN), 1000);
  const Decision retry = send(tcp("198.51.100.5", 4004, SLUICE_TCP_SYN), 1600);
  ASSERT_TRUE(retry.steered);
  const std::string a = backend_of(first), b = backend_of(retry), pool = pool_of(first);
  ASSERT_EQ(pool_of(retry), pool);
  send(tcp("198.51.100.5", 4004, SLUICE_TCP_ACK), 1700);
  EXPECT_EQ(on_slots(&TrafficCounter::connect_failures, pool, a), all(1));
  EXPECT_EQ(on_slots(&TrafficCounter::handshakes_completed, pool, b), all(1));
  EXPECT_EQ(backend_signals(a).handshakes_completed, 0u);
  EXPECT_EQ(backend_handshakes(b).sum_ms, 700u);  // 1700 - 1000, not 1700 - 1600
  EXPECT_EQ(backend_handshakes(b).buckets[9], 1u);  // (500, 1000]
  EXPECT_EQ(backend_handshakes(a).count(), 0u);
  EXPECT_EQ(pool_handshakes(pool).sum_ms, 700u);
}

// A circuit opening is an ejection of that backend (its slot only); a
// failed half-open trial reopening it is another.
TEST_F(EngineSignalsTest, EjectionsOnTheBackendSlot) {
  const std::string bad = "10.1.0.2";
  for (const char* client : {"198.51.100.30", "198.51.101.31"}) {  // two /24s
    const uint16_t port = port_for(bad, client, 0);
    ASSERT_EQ(backend_of(send(tcp(client, port, SLUICE_TCP_SYN), 0)), bad);
    send(tcp(client, port, SLUICE_TCP_SYN), 600);  // failure (threshold 2)
  }
  EXPECT_EQ(backend_signals(bad).ejections, 1u);
  EXPECT_EQ(backend_signals(bad).connect_failures, 2u);
  EXPECT_EQ(service_signals().ejections, 0u);
  EXPECT_EQ(pool_signals("stable").ejections, 0u);
  EXPECT_EQ(over_backends(&TrafficCounter::ejections), 1u);
  // After the 5 s ejection, a trial flow; its SYN retry fails: reopened.
  const uint16_t trial = port_for(bad, "198.51.100.32", 0);
  ASSERT_EQ(backend_of(send(tcp("198.51.100.32", trial, SLUICE_TCP_SYN), 5700)), bad);
  send(tcp("198.51.100.32", trial, SLUICE_TCP_SYN), 6300);
  EXPECT_EQ(backend_signals(bad).ejections, 2u);
}

// client_resets: a tracked flow entering CLOSING on an RST, or an unknown
// flow whose first packet is an RST. Not an RST after a FIN (already
// closing), not an RST after an RST, not a FIN.
TEST_F(EngineSignalsTest, ClientResets) {
  const char* c = "198.51.100.6";
  const std::string reset = connect(c, 5000, 0);
  send(tcp(c, 5000, SLUICE_TCP_RST | SLUICE_TCP_ACK), 1);
  send(tcp(c, 5000, SLUICE_TCP_RST), 2);
  EXPECT_EQ(backend_signals(reset).client_resets, 1u);
  connect(c, 5001, 0);
  send(tcp(c, 5001, SLUICE_TCP_FIN | SLUICE_TCP_ACK), 1);
  send(tcp(c, 5001, SLUICE_TCP_RST), 2);
  EXPECT_EQ(service_signals().client_resets, 1u);
  const Decision unknown = send(tcp(c, 5002, SLUICE_TCP_RST), 3);
  EXPECT_EQ(unknown.verdict.action, Action::kForward);
  EXPECT_EQ(backend_signals(backend_of(unknown)).client_resets, backend_of(unknown) == reset ? 2u : 1u);
  EXPECT_EQ(service_signals().client_resets, 2u);
  EXPECT_EQ(service_signals().new_flows, 3u);
  send(tcp(c, 5003, SLUICE_TCP_FIN | SLUICE_TCP_ACK), 5);
  EXPECT_EQ(service_signals().client_resets, 2u);
  EXPECT_EQ(over_backends(&TrafficCounter::client_resets), 2u);
}

// The packet path: a SYN_SENT entry its own 5-tuple finds expired is
// counted once, as it leaves; the tuple's new flow starts afresh, and an
// expired established flow counts nothing.
TEST_F(EngineSignalsTest, ExpiredHandshakeCountedByPacketPathOnce) {
  const char* c = "198.51.100.7";
  send(tcp(c, 5100, SLUICE_TCP_SYN), 0);
  // 9999 ms idle: not expired yet (tcp_syn_ms 10000), but a failed connect:
  // the flow moves to another backend, whose handshake then expires.
  const Decision retry = send(tcp(c, 5100, SLUICE_TCP_SYN), 9999);
  ASSERT_TRUE(retry.flow_hit);
  EXPECT_EQ(service_signals().handshakes_expired, 0u);
  const Decision again = send(tcp(c, 5100, SLUICE_TCP_SYN), 9999 + 10000);
  EXPECT_FALSE(again.flow_hit);
  EXPECT_EQ(on_slots(&TrafficCounter::handshakes_expired, pool_of(retry), backend_of(retry)),
            all(1));
  EXPECT_EQ(service_signals().new_flows, 2u);
  // The new flow completes; a sweep of the whole table finds nothing more.
  send(tcp(c, 5100, SLUICE_TCP_ACK), 20000);
  sweep_all(worker_, 30000);
  EXPECT_EQ(service_signals().handshakes_expired, 1u);
  // An established flow idle past its timeout is no expired handshake.
  connect(c, 5101, 0);
  send(tcp(c, 5101, SLUICE_TCP_ACK), 300000 + 1);
  EXPECT_EQ(service_signals().handshakes_expired, 1u);
  EXPECT_EQ(over_backends(&TrafficCounter::handshakes_expired), 1u);
}

// The sweep counts each expired SYN_SENT entry it frees, once.
TEST_F(EngineSignalsTest, ExpiredHandshakeCountedBySweepOnce) {
  WorkerOptions o = small_options();
  o.flow_capacity = 64;  // 8 buckets: two bursts sweep them all
  Worker w(o);
  const char* c = "198.51.100.8";
  for (uint16_t port = 5200; port < 5203; ++port) send_to(w, tcp(c, port, SLUICE_TCP_SYN), 0);
  send_to(w, tcp(c, 5202, SLUICE_TCP_ACK), 1);  // established: not a failed handshake
  sweep_all(w, 9999);
  EXPECT_EQ(expired_on_service(w), 0u);
  sweep_all(w, 10000);
  EXPECT_EQ(expired_on_service(w), 2u);
  EXPECT_EQ(w.flows().occupied(), 1u);
  sweep_all(w, 20000);
  send_to(w, tcp(c, 5200, SLUICE_TCP_SYN), 20001);  // the tuple again: a new flow, nothing to count
  EXPECT_EQ(expired_on_service(w), 2u);
}

// Insert reclaiming an expired SYN_SENT entry of another flow (both buckets
// full) counts it, once; the sweep then counts only the others.
TEST_F(EngineSignalsTest, ExpiredHandshakeCountedByInsertOnce) {
  WorkerOptions o = small_options();
  o.flow_capacity = 8;  // one bucket of 8 ways
  Worker w(o);
  const char* c = "198.51.100.9";
  for (uint16_t port = 5300; port < 5308; ++port) send_to(w, tcp(c, port, SLUICE_TCP_SYN), 0);
  ASSERT_EQ(w.flows().occupied(), 8u);
  send_to(w, tcp(c, 5400, SLUICE_TCP_SYN), 10000);  // a 9th flow: reclaims one
  EXPECT_EQ(expired_on_service(w), 1u);
  EXPECT_EQ(w.flows().stats().expirations, 1u);
  EXPECT_EQ(w.flows().stats().evictions, 0u);
  sweep_all(w, 10000);  // frees the other 7, not the 9th (just started)
  EXPECT_EQ(expired_on_service(w), 8u);
  sweep_all(w, 10001);
  EXPECT_EQ(expired_on_service(w), 8u);
  uint64_t on_backends = 0;
  for (const CompiledBackend& b : web().backends) {
    on_backends += w.counters().backends[b.counter_slot].handshakes_expired;
  }
  EXPECT_EQ(on_backends, 8u);
}

// An expired entry whose backend the service no longer has counts on the
// service slot only.
TEST_F(EngineSignalsTest, ExpiredHandshakeOfRemovedBackendCountsOnService) {
  const char* c = "198.51.100.10";
  const Decision d = send(tcp(c, 5500, SLUICE_TCP_SYN), 0);
  const std::string gone = backend_of(d), pool = pool_of(d);
  const uint32_t gone_slot = backend_named(gone).counter_slot;
  for (PoolConfig& p : config_.services[0].pools) {
    std::erase_if(p.backends, [&](const BackendConfig& b) { return b.address.to_string() == gone; });
  }
  publish();
  send(tcp(c, 5500, SLUICE_TCP_SYN), 10000);
  EXPECT_EQ(service_signals().handshakes_expired, 1u);
  EXPECT_EQ(worker_.counters().backends[gone_slot].handshakes_expired, 0u);
  EXPECT_EQ(over_backends(&TrafficCounter::handshakes_expired), 0u);
  EXPECT_EQ(pool_signals(pool).handshakes_expired, 0u);
}

}  // namespace
}  // namespace sluice::engine
