// SPDX-License-Identifier: Apache-2.0
// Tests of control/core/drain_status.h over hand-made censuses: which
// backends a service, pool or backend target covers, NOT_FOUND for what is
// not there, live flows summed per worker, and the safe-to-remove rule (no
// live flow; or every live flow idle for the quiet time, counting the
// census's own age), with the backends that still get new flows named.
#include "control/core/drain_status.h"

#include <algorithm>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sluice::control {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

engine::IpAddress ip(const char* text) { return *engine::IpAddress::parse(text); }

class DrainStatusTest : public ::testing::Test {
 protected:
  DrainStatusTest() {
    engine::EngineConfig c;
    c.seed = {1, 2};
    c.forwarding.source_v4 = ip("10.0.0.2");
    engine::ServiceConfig web;
    web.name = "web";
    web.vip = ip("192.0.2.10");
    web.port = 80;
    web.maglev_table_size = 7;
    web.pools = {{"stable", 90, {{ip("10.1.0.1")}, {ip("10.1.0.2")}}},
                 {"canary", 10, {{ip("10.2.0.1"), 1, engine::BackendState::kDraining}}}};
    c.services = {web};
    auto r = compiler_.compile(c, 4);
    EXPECT_TRUE(r.errors.empty());
    snapshot_ = r.snapshot;
    census_.workers.resize(2);
  }

  uint32_t slot(const char* address) const {
    for (const auto& b : snapshot_->services()[0].backends) {
      if (b.address == ip(address)) return b.counter_slot;
    }
    ADD_FAILURE() << "no backend " << address;
    return 0;
  }
  // Adds live flows of a backend on a worker, keeping each worker's census in slot order.
  void flows(uint32_t worker, const char* address, uint32_t n, uint32_t oldest_ms, uint32_t idle_ms) {
    auto& w = census_.workers[worker];
    w.push_back({slot(address), n, oldest_ms, idle_ms});
    std::sort(w.begin(), w.end(), [](const auto& a, const auto& b) { return a.backend_slot < b.backend_slot; });
  }
  DrainResult ask(const std::string& target, uint32_t quiet_ms = 30000, uint64_t age_ms = 0,
                  const HealthByBackend* health = nullptr) {
    DrainQuery q;
    q.service = "web";
    q.target = target;
    q.quiet_ms = quiet_ms;
    return evaluate_drain(*snapshot_, census_, q, age_ms, health);
  }

  engine::SnapshotCompiler compiler_;
  std::shared_ptr<const engine::Snapshot> snapshot_;
  FlowCensus census_;
};

TEST_F(DrainStatusTest, TargetsAreTheServiceAPoolOrABackend) {
  DrainResult r = ask("");
  ASSERT_FALSE(r.error);
  EXPECT_EQ(r.answer.target_kind, "service");
  EXPECT_THAT(r.answer.backends, ElementsAre("10.1.0.1", "10.1.0.2", "10.2.0.1"));
  EXPECT_EQ(r.answer.revision, 4u);

  r = ask("stable");
  ASSERT_FALSE(r.error);
  EXPECT_EQ(r.answer.target_kind, "pool");
  EXPECT_THAT(r.answer.backends, ElementsAre("10.1.0.1", "10.1.0.2"));

  r = ask("10.2.0.1");
  ASSERT_FALSE(r.error);
  EXPECT_EQ(r.answer.target_kind, "backend");
  EXPECT_THAT(r.answer.backends, ElementsAre("10.2.0.1"));
}

TEST_F(DrainStatusTest, UnknownServiceOrTargetIsNotFound) {
  DrainQuery q;
  q.service = "nope";
  DrainResult r = evaluate_drain(*snapshot_, census_, q, 0, nullptr);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, ErrorCode::kNotFound);
  EXPECT_THAT(r.error->message, HasSubstr("\"nope\""));

  for (const char* target : {"blue", "10.9.9.9", "10.1.0.1/32"}) {
    r = ask(target);
    ASSERT_TRUE(r.error) << target;
    EXPECT_EQ(r.error->code, ErrorCode::kNotFound);
    EXPECT_THAT(r.error->message, HasSubstr(target));
  }
}

TEST_F(DrainStatusTest, NoLiveFlowIsSafe) {
  flows(0, "10.1.0.1", 5, 1000, 10);  // another backend's flows do not count
  const DrainResult r = ask("10.2.0.1");
  ASSERT_FALSE(r.error);
  EXPECT_EQ(r.answer.active.flows, 0u);
  EXPECT_THAT(r.answer.active.by_worker, ElementsAre(0u, 0u));
  EXPECT_FALSE(r.answer.active.newest_idle_ms);
  EXPECT_TRUE(r.answer.safe_to_remove);
  EXPECT_THAT(r.answer.reason, HasSubstr("no live flow"));
  // Draining: it gets no new flows.
  EXPECT_TRUE(r.answer.still_receiving.empty());
}

TEST_F(DrainStatusTest, LiveFlowsSummedOverWorkersAndBackends) {
  flows(0, "10.1.0.1", 3, 5000, 200);
  flows(1, "10.1.0.1", 2, 9000, 50);
  flows(1, "10.1.0.2", 4, 1000, 20);
  const DrainResult r = ask("stable");
  ASSERT_FALSE(r.error);
  EXPECT_EQ(r.answer.active.flows, 9u);
  EXPECT_THAT(r.answer.active.by_worker, ElementsAre(3u, 6u));
  EXPECT_EQ(r.answer.active.oldest_age_ms, 9000u);
  ASSERT_TRUE(r.answer.active.newest_idle_ms);
  EXPECT_EQ(*r.answer.active.newest_idle_ms, 20u);  // the most recent packet of any
  EXPECT_FALSE(r.answer.safe_to_remove);
  EXPECT_THAT(r.answer.reason, HasSubstr("9 live flows"));
  EXPECT_THAT(r.answer.still_receiving, ElementsAre("10.1.0.1", "10.1.0.2"));
}

// Every live flow idle for the quiet time: safe; the census's age counts
// as idle time too (it saw the flows that long ago).
TEST_F(DrainStatusTest, QuietFlowsAreSafeCountingTheCensusAge) {
  flows(0, "10.2.0.1", 2, 60000, 25000);
  DrainResult r = ask("canary", /*quiet_ms=*/30000, /*age_ms=*/1000);
  EXPECT_FALSE(r.answer.safe_to_remove);
  EXPECT_EQ(*r.answer.active.newest_idle_ms, 26000u);
  r = ask("canary", 30000, /*age_ms=*/5000);
  EXPECT_TRUE(r.answer.safe_to_remove);
  EXPECT_THAT(r.answer.reason, HasSubstr("idle"));
  r = ask("canary", /*quiet_ms=*/25000, 0);
  EXPECT_TRUE(r.answer.safe_to_remove);
  r = ask("canary", /*quiet_ms=*/25001, 0);
  EXPECT_FALSE(r.answer.safe_to_remove);
}

// An unhealthy backend gets no new flows: not "still receiving".
TEST_F(DrainStatusTest, UnhealthyBackendsAreNotStillReceiving) {
  HealthByBackend health;
  health[{"web", ip("10.1.0.1")}].state = HealthState::kUnhealthy;
  health[{"web", ip("10.1.0.2")}].state = HealthState::kHealthy;
  const DrainResult r = ask("stable", 30000, 0, &health);
  EXPECT_THAT(r.answer.still_receiving, ElementsAre("10.1.0.2"));
  EXPECT_THAT(r.answer.reason, HasSubstr("1 backends still get new flows"));
}

}  // namespace
}  // namespace sluice::control
