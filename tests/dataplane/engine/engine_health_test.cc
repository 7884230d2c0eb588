// Tests of how dataplane/engine/engine.cc reads the BackendHealthTable:
// UNHEALTHY backends get no new flows (next Maglev probes, then the
// fallback pool), counted in health_skips and never in circuit_skips; their
// established flows stay unless the service says kReschedule.
#include <gtest/gtest.h>

#include <string>

#include "dataplane/engine/backend_health.h"
#include "dataplane/engine/engine.h"
#include "tests/dataplane/engine/engine_fixture.h"

namespace sluice::engine {
namespace {

class EngineHealthTest : public EngineTest {
 protected:
  EngineHealthTest() : health_(small_options().backend_counter_slots) {
    worker_.set_health_table(&health_);
  }

  void mark(const std::string& address, uint8_t health) {
    health_.set(backend_named(address).counter_slot, health);
  }

  BackendHealthTable health_;
};

// A new flow whose Maglev slot holds an unhealthy backend goes to another
// backend of the same pool; the skip is a health skip, once per flow.
TEST_F(EngineHealthTest, UnhealthyBackendSkippedForNextOne) {
  const std::string bad = "10.1.0.2";
  const uint16_t port = port_for(bad, "198.51.100.1", 0);
  mark(bad, SLUICE_HEALTH_UNHEALTHY);
  const Decision d = send(tcp("198.51.100.1", port, SLUICE_TCP_SYN), 0);
  ASSERT_EQ(d.verdict.action, Action::kForward);
  EXPECT_NE(backend_of(d), bad);
  EXPECT_EQ(pool_of(d), "stable");
  EXPECT_FALSE(d.fallback);
  EXPECT_EQ(worker_.counters().health_skips, 1u);
  EXPECT_EQ(worker_.counters().circuit_skips, 0u);
  // No flow at all reaches it while it is unhealthy.
  for (uint16_t p = 1000; p < 3000; ++p) {
    ASSERT_NE(backend_of(send(tcp("198.51.100.2", p, SLUICE_TCP_SYN), 1)), bad) << p;
  }
  EXPECT_EQ(backend_signals(bad).new_flows, 0u);
}

// UNKNOWN and HEALTHY backends are served; so is everyone without a table.
TEST_F(EngineHealthTest, UnknownAndHealthyServed) {
  const std::string b = "10.1.0.3";
  const uint16_t port = port_for(b, "198.51.100.3", 0);
  mark(b, SLUICE_HEALTH_HEALTHY);
  EXPECT_EQ(backend_of(send(tcp("198.51.100.3", port, SLUICE_TCP_SYN), 0)), b);
  mark(b, SLUICE_HEALTH_UNKNOWN);
  EXPECT_EQ(backend_of(send(tcp("198.51.100.3", port, SLUICE_TCP_SYN | SLUICE_TCP_ACK), 1)), b);
  mark(b, SLUICE_HEALTH_UNHEALTHY);
  worker_.set_health_table(nullptr);
  const uint16_t other = port_for(b, "198.51.100.4", 0);
  EXPECT_EQ(backend_of(send(tcp("198.51.100.4", other, SLUICE_TCP_SYN), 2)), b);
  EXPECT_EQ(worker_.counters().health_skips, 0u);
}

// A pool whose every backend is unhealthy sheds its share to the fallback
// pool, as a pool of open circuits does.
TEST_F(EngineHealthTest, WholePoolUnhealthyFallsBack) {
  config_.services[0].pools[0].weight = 0;
  config_.services[0].pools[1].weight = 100;
  publish();
  mark("10.2.0.1", SLUICE_HEALTH_UNHEALTHY);
  mark("10.2.0.2", SLUICE_HEALTH_UNHEALTHY);
  const Decision d = send(tcp("198.51.100.5", 4000, SLUICE_TCP_SYN), 0);
  ASSERT_EQ(d.verdict.action, Action::kForward);
  EXPECT_EQ(pool_of(d), "stable");
  EXPECT_TRUE(d.fallback);
  EXPECT_EQ(worker_.counters().fallback_used, 1u);
  EXPECT_EQ(worker_.counters().health_skips, 1u);
  EXPECT_EQ(worker_.counters().circuit_skips, 0u);
  // One healthy again: the pool takes its flows back.
  mark("10.2.0.2", SLUICE_HEALTH_HEALTHY);
  EXPECT_EQ(backend_of(send(tcp("198.51.100.5", 4001, SLUICE_TCP_SYN), 1)), "10.2.0.2");
}

// An unhealthy backend does not use up a half-open circuit's trial: the
// health check comes first.
TEST_F(EngineHealthTest, UnhealthySkipTakesNoCircuitTrial) {
  const std::string bad = "10.1.0.2";
  for (const char* client : {"198.51.100.30", "198.51.101.31"}) {  // two /24s
    const uint16_t p = port_for(bad, client, 0);
    send(tcp(client, p, SLUICE_TCP_SYN), 0);
    send(tcp(client, p, SLUICE_TCP_SYN), 600);
  }
  const uint64_t fp = backend_named(bad).fingerprint;
  ASSERT_EQ(worker_.circuits().state(fp, 600), CircuitState::kOpen);
  mark(bad, SLUICE_HEALTH_UNHEALTHY);
  const uint16_t p = port_for(bad, "198.51.100.32", 0);
  // Past the ejection: half-open with one trial, but unhealthy.
  EXPECT_NE(backend_of(send(tcp("198.51.100.32", p, SLUICE_TCP_SYN), 5700)), bad);
  const uint64_t circuit_skips = worker_.counters().circuit_skips;
  mark(bad, SLUICE_HEALTH_HEALTHY);
  const uint16_t q = port_for(bad, "198.51.100.33", 0);
  EXPECT_EQ(backend_of(send(tcp("198.51.100.33", q, SLUICE_TCP_SYN), 5701)), bad);  // the trial
  EXPECT_EQ(worker_.counters().circuit_skips, circuit_skips);
}

// A SYN retry is not steered to an unhealthy backend either.
TEST_F(EngineHealthTest, SynRetryAvoidsUnhealthy) {
  config_.services[0].pools[0].backends = {{ip("10.1.0.1")}, {ip("10.1.0.2")}};
  config_.services[0].fallback_pool = "canary";
  publish();
  const Decision first = send(tcp("198.51.100.6", 4002, SLUICE_TCP_SYN), 0);
  const std::string a = backend_of(first), b = a == "10.1.0.1" ? "10.1.0.2" : "10.1.0.1";
  ASSERT_EQ(pool_of(first), "stable");
  mark(b, SLUICE_HEALTH_UNHEALTHY);
  const Decision retry = send(tcp("198.51.100.6", 4002, SLUICE_TCP_SYN), 600);
  EXPECT_TRUE(retry.steered);
  EXPECT_EQ(pool_of(retry), "canary");  // the only other stable backend is unhealthy
  EXPECT_EQ(worker_.counters().health_skips, 0u);  // no new flow
}

// unhealthy_flows = kKeep (the default): established flows of a backend
// that turns unhealthy stay on it.
TEST_F(EngineHealthTest, UnhealthyKeepsEstablishedFlows) {
  const std::string b = connect("198.51.100.7", 4003, 0);
  mark(b, SLUICE_HEALTH_UNHEALTHY);
  EXPECT_EQ(backend_of(send(tcp("198.51.100.7", 4003, SLUICE_TCP_ACK), 1)), b);
  EXPECT_EQ(worker_.counters().unhealthy_rescheduled, 0u);
}

// unhealthy_flows = kReschedule: the next packet moves the flow (counted in
// unhealthy_rescheduled, not flows_rescheduled), and it stays where it went.
TEST_F(EngineHealthTest, RescheduleMovesEstablishedFlows) {
  config_.services[0].health_check.type = HealthCheckType::kTcp;
  config_.services[0].health_check.unhealthy_flows = UnhealthyFlows::kReschedule;
  publish();
  const std::string b = connect("198.51.100.8", 4004, 0);
  send(tcp("198.51.100.8", 4004, SLUICE_TCP_ACK), 1);  // healthy: stays
  EXPECT_EQ(worker_.counters().unhealthy_rescheduled, 0u);
  mark(b, SLUICE_HEALTH_UNHEALTHY);
  const Decision moved = send(tcp("198.51.100.8", 4004, SLUICE_TCP_ACK), 2);
  ASSERT_EQ(moved.verdict.action, Action::kForward);
  EXPECT_NE(backend_of(moved), b);
  EXPECT_EQ(worker_.counters().unhealthy_rescheduled, 1u);
  EXPECT_EQ(worker_.counters().flows_rescheduled, 0u);
  EXPECT_EQ(backend_of(send(tcp("198.51.100.8", 4004, SLUICE_TCP_ACK), 3)), backend_of(moved));
  EXPECT_EQ(worker_.counters().unhealthy_rescheduled, 1u);
  // A new connection on the tuple of a finished one is no reschedule.
  send(tcp("198.51.100.8", 4004, SLUICE_TCP_FIN | SLUICE_TCP_ACK), 4);
  mark(backend_of(moved), SLUICE_HEALTH_UNHEALTHY);
  send(tcp("198.51.100.8", 4004, SLUICE_TCP_SYN), 5);
  EXPECT_EQ(worker_.counters().unhealthy_rescheduled, 1u);
}

}  // namespace
}  // namespace sluice::engine
