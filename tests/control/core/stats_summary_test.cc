// SPDX-License-Identifier: Apache-2.0
// Tests of control/core/stats_summary.h over hand-made samples: counters by
// name in declared order, sums over workers, traffic named through the
// snapshot's counter slots (slots a worker does not count read as 0),
// circuit states per worker, the service filter, and no snapshot.
#include "control/core/stats_summary.h"

#include <algorithm>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sluice::control {
namespace {

using ::testing::ElementsAre;
using engine::CircuitState;

engine::IpAddress ip(const char* text) { return *engine::IpAddress::parse(text); }

engine::EngineConfig two_services() {
  engine::EngineConfig c;
  c.seed = {3, 4};
  c.forwarding.source_v4 = ip("10.0.0.2");
  engine::ServiceConfig web;
  web.name = "web";
  web.vip = ip("192.0.2.10");
  web.port = 80;
  web.maglev_table_size = 7;
  web.pools = {{"stable", 90, {{ip("10.1.0.2")}, {ip("10.1.0.1")}}},
               {"canary", 10, {{ip("10.2.0.1"), 3, engine::BackendState::kDraining}}}};
  engine::ServiceConfig api = web;
  api.name = "api";
  api.port = 443;
  api.pools = {{"blue", 1, {{ip("10.3.0.1")}}}};
  c.services = {web, api};
  return c;
}

class StatsSummaryTest : public ::testing::Test {
 protected:
  StatsSummaryTest() {
    auto r = compiler_.compile(two_services(), 9);
    EXPECT_TRUE(r.errors.empty());
    snapshot_ = r.snapshot;
  }

  const engine::CompiledService& service(const char* name) const {
    for (const auto& s : snapshot_->services()) {
      if (s.config.name == name) return s;
    }
    throw std::runtime_error("no service");
  }
  const engine::CompiledBackend& backend(const char* service_name, const char* address) const {
    for (const auto& b : service(service_name).backends) {
      if (b.address == ip(address)) return b;
    }
    throw std::runtime_error("no backend");
  }

  // A worker sample with counter vectors sized for the snapshot's slots.
  WorkerSample worker(uint64_t generation) const {
    WorkerSample w;
    w.generation = generation;
    w.counters.services.resize(compiler_.service_slots());
    w.counters.pools.resize(compiler_.pool_slots());
    w.counters.backends.resize(compiler_.backend_slots());
    return w;
  }

  engine::SnapshotCompiler compiler_;
  std::shared_ptr<const engine::Snapshot> snapshot_;
};

uint64_t value(const std::vector<NamedCounter>& counters, const std::string& name) {
  for (const NamedCounter& c : counters) {
    if (c.name == name) return c.value;
  }
  ADD_FAILURE() << "no counter " << name;
  return 0;
}

std::vector<std::string> names(const std::vector<NamedCounter>& counters) {
  std::vector<std::string> out;
  for (const NamedCounter& c : counters) out.push_back(c.name);
  return out;
}

// Every engine counter and drop reason is there by name, in declared
// order; per worker and summed.
TEST_F(StatsSummaryTest, CountersByNameAndSummed) {
  DataplaneStats sample;
  sample.workers = {worker(9), worker(8)};
  sample.workers[0].counters.rx_packets = 10;
  sample.workers[1].counters.rx_packets = 5;
  sample.workers[1].counters.snapshot_switches = 2;
  sample.workers[0].counters.drops[static_cast<int>(engine::DropReason::kFragment)] = 3;
  sample.workers[1].counters.drops[static_cast<int>(engine::DropReason::kFragment)] = 4;
  sample.workers[0].label = "lcore 1";
  sample.workers[0].dataplane_counters = {{"rx_bursts", 7}, {"tx_packets", 1}};
  sample.workers[1].dataplane_counters = {{"rx_bursts", 2}, {"tx_packets", 1}};
  sample.workers[0].circuits.opened = 1;
  sample.workers[1].circuits.opened = 2;
  sample.workers[0].circuits_tracked = 1;
  sample.workers[0].circuits_capacity = 64;
  sample.workers[1].circuits_capacity = 64;

  const StatsResult r = summarize_stats(sample, snapshot_.get());
  ASSERT_FALSE(r.error);
  const ControlStats& s = r.stats;
  EXPECT_EQ(s.revision, 9u);
  ASSERT_EQ(s.workers.size(), 2u);
  EXPECT_EQ(s.workers[0].worker, 0u);
  EXPECT_EQ(s.workers[1].worker, 1u);
  EXPECT_EQ(s.workers[1].generation, 8u);
  EXPECT_EQ(s.workers[0].label, "lcore 1");

  std::vector<std::string> expected_counters;
#define SLUICE_X(name, help) expected_counters.push_back(#name);
  SLUICE_WORKER_COUNTERS(SLUICE_X)
#undef SLUICE_X
  EXPECT_EQ(names(s.total.counters), expected_counters);
  EXPECT_EQ(names(s.workers[1].stats.counters), expected_counters);
  ASSERT_EQ(s.total.drops.size(), static_cast<size_t>(engine::kDropReasonCount - 1));
  EXPECT_EQ(s.total.drops[0].name,
            engine::drop_reason_name(static_cast<engine::DropReason>(1)));

  EXPECT_EQ(value(s.workers[0].stats.counters, "rx_packets"), 10u);
  EXPECT_EQ(value(s.total.counters, "rx_packets"), 15u);
  EXPECT_EQ(value(s.total.counters, "snapshot_switches"), 2u);
  EXPECT_EQ(value(s.total.drops, "fragment"), 7u);
  EXPECT_EQ(value(s.workers[1].stats.drops, "fragment"), 4u);
  EXPECT_EQ(names(s.total.dataplane), (std::vector<std::string>{"rx_bursts", "tx_packets"}));
  EXPECT_EQ(value(s.total.dataplane, "rx_bursts"), 9u);
  EXPECT_EQ(value(s.workers[0].stats.dataplane, "rx_bursts"), 7u);
  EXPECT_EQ(s.total.circuits.opened, 3u);
  EXPECT_EQ(s.total.circuits_tracked, 1u);
  EXPECT_EQ(s.total.circuits_capacity, 128u);
}

// Traffic is named through the snapshot's slots and summed over workers;
// backends in configured order within pools, with weight and state.
TEST_F(StatsSummaryTest, TrafficByName) {
  DataplaneStats sample;
  sample.workers = {worker(9), worker(9)};
  const auto& web = service("web");
  for (WorkerSample& w : sample.workers) {
    w.counters.services[web.counter_slot] = {3, 300};
    w.counters.pools[web.pools[1].counter_slot] = {1, 100};
    w.counters.backends[backend("web", "10.2.0.1").counter_slot] = {1, 100};
    w.counters.backends[backend("web", "10.1.0.1").counter_slot] = {2, 200};
  }
  const ControlStats s = summarize_stats(sample, snapshot_.get()).stats;
  ASSERT_EQ(s.services.size(), 2u);
  EXPECT_EQ(s.services[0].name, "web");
  EXPECT_EQ(s.services[0].traffic.packets, 6u);
  EXPECT_EQ(s.services[0].traffic.bytes, 600u);
  ASSERT_EQ(s.services[0].pools.size(), 2u);
  const PoolStats& stable = s.services[0].pools[0];
  EXPECT_EQ(stable.name, "stable");
  EXPECT_EQ(stable.weight, 90u);
  EXPECT_EQ(stable.traffic.packets, 0u);
  ASSERT_EQ(stable.backends.size(), 2u);
  EXPECT_EQ(stable.backends[0].address, ip("10.1.0.1"));  // sorted by address
  EXPECT_EQ(stable.backends[0].traffic.packets, 4u);
  EXPECT_EQ(stable.backends[1].traffic.packets, 0u);
  const PoolStats& canary = s.services[0].pools[1];
  EXPECT_EQ(canary.traffic.bytes, 200u);
  EXPECT_EQ(canary.backends[0].weight, 3u);
  EXPECT_EQ(canary.backends[0].state, engine::BackendState::kDraining);
  EXPECT_EQ(s.services[1].name, "api");
  EXPECT_EQ(s.services[1].pools[0].backends[0].traffic.packets, 0u);
}

// A worker whose counter vectors are shorter than a slot (sized before the
// slot existed) counts 0 there rather than reading out of bounds.
TEST_F(StatsSummaryTest, SlotsBeyondAWorkersCountersReadZero) {
  DataplaneStats sample;
  sample.workers = {worker(9), WorkerSample{}};
  sample.workers[0].counters.services[service("api").counter_slot] = {5, 50};
  const ControlStats s = summarize_stats(sample, snapshot_.get()).stats;
  EXPECT_EQ(s.services[1].traffic.packets, 5u);
  EXPECT_EQ(s.services[0].traffic.packets, 0u);
}

// Circuit states per backend and worker: closed unless sampled otherwise;
// one entry per worker, whatever the worker reported.
TEST_F(StatsSummaryTest, CircuitsPerWorker) {
  DataplaneStats sample;
  sample.workers = {worker(9), worker(9), worker(9)};
  const uint64_t canary = backend("web", "10.2.0.1").fingerprint;
  const uint64_t stable = backend("web", "10.1.0.2").fingerprint;
  sample.workers[1].circuits_not_closed = {{canary, CircuitState::kOpen},
                                           {stable, CircuitState::kHalfOpen}};
  sample.workers[2].circuits_not_closed = {{canary, CircuitState::kHalfOpen},
                                           {12345, CircuitState::kOpen}};  // not in the snapshot
  const ControlStats s = summarize_stats(sample, snapshot_.get()).stats;
  const auto& pools = s.services[0].pools;
  EXPECT_THAT(pools[1].backends[0].circuits,
              ElementsAre(CircuitState::kClosed, CircuitState::kOpen, CircuitState::kHalfOpen));
  EXPECT_THAT(pools[0].backends[1].circuits,
              ElementsAre(CircuitState::kClosed, CircuitState::kHalfOpen, CircuitState::kClosed));
  EXPECT_THAT(pools[0].backends[0].circuits,
              ElementsAre(CircuitState::kClosed, CircuitState::kClosed, CircuitState::kClosed));
}

// The filter keeps one service (workers whole); unknown names are NOT_FOUND.
TEST_F(StatsSummaryTest, ServiceFilter) {
  DataplaneStats sample;
  sample.workers = {worker(9)};
  const StatsResult api = summarize_stats(sample, snapshot_.get(), "api");
  ASSERT_FALSE(api.error);
  ASSERT_EQ(api.stats.services.size(), 1u);
  EXPECT_EQ(api.stats.services[0].name, "api");
  EXPECT_EQ(api.stats.workers.size(), 1u);
  const StatsResult none = summarize_stats(sample, snapshot_.get(), "API");
  ASSERT_TRUE(none.error);
  EXPECT_EQ(none.error->code, ErrorCode::kNotFound);
  EXPECT_EQ(none.error->message, "no service named \"API\"");
}

// Without a snapshot: workers and totals, no services; a filter finds nothing.
TEST_F(StatsSummaryTest, NoSnapshot) {
  DataplaneStats sample;
  sample.workers = {worker(0)};
  sample.workers[0].counters.to_host = 4;
  const StatsResult r = summarize_stats(sample, nullptr);
  ASSERT_FALSE(r.error);
  EXPECT_EQ(r.stats.revision, 0u);
  EXPECT_TRUE(r.stats.services.empty());
  EXPECT_EQ(value(r.stats.total.counters, "to_host"), 4u);
  EXPECT_EQ(summarize_stats(sample, nullptr, "web").error->code, ErrorCode::kNotFound);
  // No workers at all (a dataplane not started): empty, not an error.
  const StatsResult empty = summarize_stats(DataplaneStats{}, snapshot_.get());
  ASSERT_FALSE(empty.error);
  EXPECT_TRUE(empty.stats.workers.empty());
  EXPECT_EQ(value(empty.stats.total.counters, "rx_packets"), 0u);
  EXPECT_TRUE(empty.stats.services[0].pools[0].backends[0].circuits.empty());
}

}  // namespace
}  // namespace sluice::control

namespace sluice::control {
namespace {

// Every golden signal and the handshake histograms are summed over workers
// and named by slot; the census gives each backend its live flows per
// worker, and each pool the sum of its backends'; health is attached by
// (service, address), and backends without an entry stay unknown.
TEST_F(StatsSummaryTest, SignalsHistogramsActiveFlowsAndHealth) {
  DataplaneStats sample;
  sample.workers = {worker(9), worker(9)};
  for (auto& w : sample.workers) {
    w.counters.pool_handshakes.resize(compiler_.pool_slots());
    w.counters.backend_handshakes.resize(compiler_.backend_slots());
  }
  const engine::CompiledBackend& b1 = backend("web", "10.1.0.1");
  const engine::CompiledBackend& b2 = backend("web", "10.1.0.2");
  const uint32_t stable = service("web").pools[0].counter_slot;
  sample.workers[0].counters.backends[b1.counter_slot].client_resets = 2;
  sample.workers[1].counters.backends[b1.counter_slot].client_resets = 3;
  sample.workers[1].counters.backends[b1.counter_slot].handshakes_expired = 4;
  sample.workers[0].counters.pools[stable].connect_failures = 6;
  sample.workers[0].counters.backend_handshakes[b1.counter_slot].record(3);
  sample.workers[1].counters.backend_handshakes[b1.counter_slot].record(700);
  sample.workers[1].counters.pool_handshakes[stable].record(3);

  FlowCensus census;
  census.workers = {{engine::SlotFlows{b1.counter_slot, 5, 9000, 40}},
                    {engine::SlotFlows{b1.counter_slot, 1, 100, 10},
                     engine::SlotFlows{b2.counter_slot, 2, 20000, 500}}};
  std::sort(census.workers[1].begin(), census.workers[1].end(),
            [](const auto& a, const auto& b) { return a.backend_slot < b.backend_slot; });
  HealthByBackend health;
  health[{"web", ip("10.1.0.2")}] = BackendHealth{HealthState::kUnhealthy, true, "status 503", 1, 7, 3, 42};
  health[{"api", ip("10.1.0.1")}] = BackendHealth{HealthState::kHealthy, true, "ok", 0, 1, 0, 1};

  const StatsResult r = summarize_stats(sample, snapshot_.get(), "web", &census, &health);
  ASSERT_FALSE(r.error);
  const PoolStats& pool = r.stats.services[0].pools[0];
  ASSERT_EQ(pool.name, "stable");
  EXPECT_EQ(pool.traffic.connect_failures, 6u);
  EXPECT_EQ(pool.handshakes.count(), 1u);
  const BackendStats* first = nullptr;
  const BackendStats* second = nullptr;
  for (const BackendStats& b : pool.backends) (b.address == ip("10.1.0.1") ? first : second) = &b;
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->traffic.client_resets, 5u);
  EXPECT_EQ(first->traffic.handshakes_expired, 4u);
  EXPECT_EQ(first->handshakes.count(), 2u);
  EXPECT_EQ(first->handshakes.sum_ms, 703u);
  EXPECT_EQ(first->handshakes.buckets[sluice_handshake_bucket(3)], 1u);
  EXPECT_EQ(first->handshakes.buckets[sluice_handshake_bucket(700)], 1u);

  EXPECT_EQ(first->active.flows, 6u);
  EXPECT_THAT(first->active.by_worker, ElementsAre(5u, 1u));
  EXPECT_EQ(first->active.oldest_age_ms, 9000u);
  EXPECT_EQ(first->active.newest_idle_ms, 10u);
  EXPECT_EQ(second->active.flows, 2u);
  EXPECT_THAT(second->active.by_worker, ElementsAre(0u, 2u));
  EXPECT_EQ(pool.active.flows, 8u);
  EXPECT_THAT(pool.active.by_worker, ElementsAre(5u, 3u));
  EXPECT_EQ(pool.active.oldest_age_ms, 20000u);
  EXPECT_EQ(pool.active.newest_idle_ms, 10u);
  // The canary's backend has no flows: zeros, no idle time.
  const PoolStats& canary = r.stats.services[0].pools[1];
  EXPECT_EQ(canary.active.flows, 0u);
  EXPECT_FALSE(canary.active.newest_idle_ms);
  EXPECT_THAT(canary.backends[0].active.by_worker, ElementsAre(0u, 0u));

  // Health by (service, address): the "api" entry does not leak into "web".
  EXPECT_EQ(second->health.state, HealthState::kUnhealthy);
  EXPECT_EQ(second->health.last_result, "status 503");
  EXPECT_EQ(first->health.state, HealthState::kUnknown);
  EXPECT_FALSE(first->health.checked);
}

}  // namespace
}  // namespace sluice::control
