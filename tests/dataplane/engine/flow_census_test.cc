// Tests of dataplane/engine/flow_census.cc: live flows per backend slot of a
// worker's flow table, their oldest age and newest idle time.
#include "dataplane/engine/flow_census.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/dataplane/engine/engine_fixture.h"

namespace sluice::engine {
namespace {

class FlowCensusTest : public EngineTest {
 protected:
  std::vector<SlotFlows> census(uint32_t now_ms) const {
    return census_flows(worker_.flows(), *snapshot_, now_ms);
  }
  // The census line of a backend, or an empty one (flows 0).
  static SlotFlows of(const std::vector<SlotFlows>& c, uint32_t slot) {
    for (const SlotFlows& f : c) {
      if (f.backend_slot == slot) return f;
    }
    return {};
  }
  SlotFlows of(const std::vector<SlotFlows>& c, const std::string& backend) const {
    return of(c, backend_named(backend).counter_slot);
  }
  static uint32_t total(const std::vector<SlotFlows>& c) {
    uint32_t n = 0;
    for (const SlotFlows& f : c) n += f.flows;
    return n;
  }
};

// Flows are counted on their backend's slot, with the age of the oldest
// (from its first packet) and the idle time of the most recently active;
// slots without flows are left out, the others come in slot order.
TEST_F(FlowCensusTest, CountsAgesAndIdlePerBackend) {
  const std::string x = "10.1.0.1", y = "10.1.0.4";
  const uint16_t a = port_for(x, "198.51.100.1", 0), b = port_for(x, "198.51.100.2", 0);
  const uint16_t c = port_for(y, "198.51.100.3", 0);
  send(tcp("198.51.100.1", a, SLUICE_TCP_SYN), 1000);
  send(tcp("198.51.100.1", a, SLUICE_TCP_ACK), 1010);
  send(tcp("198.51.100.1", a, SLUICE_TCP_ACK), 5000);
  send(tcp("198.51.100.2", b, SLUICE_TCP_SYN), 2000);
  send(tcp("198.51.100.2", b, SLUICE_TCP_ACK), 2001);
  send(tcp("198.51.100.3", c, SLUICE_TCP_SYN), 3000);  // handshake pending: live too
  const std::vector<SlotFlows> all = census(6000);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_LT(all[0].backend_slot, all[1].backend_slot);
  const SlotFlows fx = of(all, x), fy = of(all, y);
  EXPECT_EQ(fx.flows, 2u);
  EXPECT_EQ(fx.oldest_age_ms, 5000u);   // 6000 - 1000
  EXPECT_EQ(fx.newest_idle_ms, 1000u);  // 6000 - 5000
  EXPECT_EQ(fy.flows, 1u);
  EXPECT_EQ(fy.oldest_age_ms, 3000u);
  EXPECT_EQ(fy.newest_idle_ms, 3000u);
}

// Expired entries are not flows, whatever their state's timeout.
TEST_F(FlowCensusTest, SkipsExpiredEntries) {
  send(tcp("198.51.100.4", 4000, SLUICE_TCP_SYN), 0);  // tcp_syn_ms 10000
  const std::string est = connect("198.51.100.4", 4001, 0);  // tcp_established_ms 3 h
  EXPECT_EQ(total(census(9999)), 2u);
  const std::vector<SlotFlows> later = census(10000);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(of(later, est).flows, 1u);
  EXPECT_EQ(of(census(10799999), est).flows, 1u);
  EXPECT_TRUE(census(10800000).empty());
}

// Flows of a service the snapshot no longer has, or of a backend removed
// from its service, are not counted; a draining backend's are.
TEST_F(FlowCensusTest, SkipsForeignServicesAndRemovedBackends) {
  ServiceConfig api = web_service();
  api.name = "api";
  api.port = 443;
  config_.services.push_back(api);
  publish();
  for (uint16_t p = 1000; p < 1100; ++p) {
    connect("198.51.100.5", p, 0);
    send(tcp("198.51.100.5", p, SLUICE_TCP_SYN, "192.0.2.10", 443), 0);
  }
  const std::vector<SlotFlows> before = census(1);
  EXPECT_EQ(total(before), 200u);
  // api goes; in web, 10.1.0.1 is removed and 10.1.0.2 drains.
  const uint32_t removed_slot = backend_named("10.1.0.1").counter_slot;
  const uint32_t removed_flows = of(before, removed_slot).flows;
  const uint32_t draining_flows = of(before, "10.1.0.2").flows;
  ASSERT_GT(removed_flows, 0u);
  ASSERT_GT(draining_flows, 0u);
  config_.services.pop_back();
  auto& stable = config_.services[0].pools[0].backends;
  stable.erase(stable.begin());
  stable[0].state = BackendState::kDraining;
  publish();
  const std::vector<SlotFlows> after = census(1);
  EXPECT_EQ(of(after, removed_slot).flows, 0u);
  EXPECT_EQ(of(after, "10.1.0.2").flows, draining_flows);
  EXPECT_EQ(total(after), 100u - removed_flows);
}

// Age runs from the first packet: a SYN retry steered elsewhere keeps it.
TEST_F(FlowCensusTest, AgeFromFirstSynAcrossRetry) {
  send(tcp("198.51.100.6", 4002, SLUICE_TCP_SYN), 1000);
  const Decision retry = send(tcp("198.51.100.6", 4002, SLUICE_TCP_SYN), 1600);
  ASSERT_TRUE(retry.steered);
  const SlotFlows f = of(census(2000), backend_of(retry));
  EXPECT_EQ(f.flows, 1u);
  EXPECT_EQ(f.oldest_age_ms, 1000u);
  EXPECT_EQ(f.newest_idle_ms, 400u);
}

// A census whose clock is a little behind the worker's (it read the clock,
// then the worker went on) sees fresh flows as fresh, not 49 days old.
TEST_F(FlowCensusTest, WorkerAheadOfCensusClock) {
  const std::string b = connect("198.51.100.7", 4003, 5000);
  const SlotFlows f = of(census(4990), b);
  EXPECT_EQ(f.flows, 1u);
  EXPECT_EQ(f.oldest_age_ms, 0u);
  EXPECT_EQ(f.newest_idle_ms, 0u);
}

// An empty table has nothing to report.
TEST_F(FlowCensusTest, EmptyTable) { EXPECT_TRUE(census(0).empty()); }

}  // namespace
}  // namespace sluice::engine
