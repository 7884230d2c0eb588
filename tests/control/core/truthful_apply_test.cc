// SPDX-License-Identifier: Apache-2.0
// Tests of what control/core/control_core_impl.h says about a change once
// it is saved, over a fake dataplane that misbehaves: a publication the
// dataplane refuses is not "applied" until the reconciler's retry is
// taken, a dataplane with a fault never is, and status tells desired from
// applied and why sluiced is not serving.
#include "control/core/control_core_impl.h"

#include <gtest/gtest.h>

#include "tests/mocks/control/fake_dataplane_sink.h"
#include "tests/mocks/control/fake_state_store.h"

namespace sluice::control {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

engine::IpAddress ip(const char* text) { return *engine::IpAddress::parse(text); }

engine::ServiceConfig web(uint32_t canary_weight = 10) {
  engine::ServiceConfig s;
  s.name = "web";
  s.vip = ip("192.0.2.10");
  s.port = 80;
  s.maglev_table_size = 251;
  s.pools = {{"stable", 90, {{ip("10.1.0.1")}}}, {"canary", canary_weight, {{ip("10.2.0.1")}}}};
  return s;
}

class TruthfulApplyTest : public ::testing::Test {
 protected:
  void start(ReconcilerOptions reconciler = {}) {
    ControlCoreOptions o;
    o.seed = {7, 8};
    o.forwarding.source_v4 = ip("10.0.0.2");
    o.reconciler = reconciler;
    core_ = std::make_unique<ControlCoreImpl>(o, store_, audit_, dataplane_);
    std::string error;
    ASSERT_TRUE(core_->start(&error)) << error;
    events_ = std::move(core_->watch_events(std::nullopt).subscription);
  }
  static MutationOptions wait(milliseconds for_how_long) {
    MutationOptions o;
    o.wait_applied_until = Clock::now() + for_how_long;
    return o;
  }
  std::vector<DataplaneHealthEvent> health_events() {
    std::vector<DataplaneHealthEvent> out;
    while (auto e = events_->next(Clock::now())) {
      if (auto* h = std::get_if<DataplaneHealthEvent>(&e->detail)) out.push_back(*h);
    }
    return out;
  }

  fakes::FakeStore store_;
  fakes::FakeAudit audit_;
  fakes::FakeDataplaneSink dataplane_{2};
  std::unique_ptr<ControlCoreImpl> core_;
  std::unique_ptr<EventSubscription> events_;
  Caller operator_{"test", true};
};

// Refused publications: saved, not applied, status says why; applied once a retry is taken.
TEST_F(TruthfulApplyTest, RefusedPublicationIsNotApplied) {
  start();
  dataplane_.fail_publications(1000, "bpf_map_update_elem(services): Cannot allocate memory");
  const MutationResult r = core_->apply_service(operator_, web(), wait(milliseconds(100)));
  ASSERT_TRUE(r.error);
  EXPECT_FALSE(r.applied);
  EXPECT_EQ(r.revision, 1u);
  EXPECT_EQ(store_.saved.revision, 1u);  // saved all the same
  EXPECT_EQ(r.error->code, ErrorCode::kDeadlineExceeded);
  EXPECT_NE(r.error->message.find("Cannot allocate memory"), std::string::npos) << r.error->message;

  ControlStatus s = core_->status();
  EXPECT_EQ(s.revision, 1u);
  EXPECT_EQ(s.applied_revision, 0u);
  EXPECT_EQ(s.published_revision, 0u);
  EXPECT_GE(s.publish_failures, 1u);
  EXPECT_EQ(s.publish_error, "bpf_map_update_elem(services): Cannot allocate memory");

  // Past the grace: not serving, and an event says so.
  core_->reconciler().tick(Clock::now() + std::chrono::seconds(2));
  s = core_->status();
  EXPECT_FALSE(s.serving);
  EXPECT_NE(s.not_serving_reason.find("not the desired 1"), std::string::npos)
      << s.not_serving_reason;
  std::vector<DataplaneHealthEvent> events = health_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].serving);

  // The dataplane takes the retry: applied, serving, and an event again.
  dataplane_.fail_publications(0);
  core_->reconciler().tick(*core_->reconciler().next_retry());
  s = core_->status();
  EXPECT_TRUE(s.serving);
  EXPECT_EQ(s.applied_revision, 1u);
  EXPECT_EQ(s.publish_error, "");
  events = health_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].serving);
  const MutationResult again = core_->set_weights(operator_, "web", {{"canary", 20}},
                                                  wait(milliseconds(1000)));
  ASSERT_FALSE(again.error) << again.error->message;
  EXPECT_TRUE(again.applied);
}

// While the caller waits, the reconciler's thread retries: applied once taken.
TEST_F(TruthfulApplyTest, WaitEndsAppliedWhenRetryIsTaken) {
  ReconcilerOptions fast;
  fast.first_retry = milliseconds(5);
  fast.poll_interval = milliseconds(5);
  start(fast);
  core_->reconciler().start();
  dataplane_.fail_publications(3);
  const MutationResult r = core_->apply_service(operator_, web(), wait(milliseconds(5000)));
  core_->reconciler().stop();
  ASSERT_FALSE(r.error) << r.error->message;
  EXPECT_TRUE(r.applied);
  EXPECT_EQ(dataplane_.worker_generations(), (std::vector<uint64_t>{1, 1}));
  const ControlStatus s = core_->status();
  EXPECT_EQ(s.publish_failures, 3u);
  EXPECT_EQ(s.publish_attempts, 5u);  // the start's, then three refusals and the one taken
}

// A dataplane with a fault: never applied (answered at once), not serving, fault in status.
TEST_F(TruthfulApplyTest, FaultedDataplaneIsNeverApplied) {
  start();
  dataplane_.set_fault("XDP program on eth1 replaced behind sluiced's back");
  const Clock::time_point t0 = Clock::now();
  const MutationResult r = core_->apply_service(operator_, web(), wait(milliseconds(5000)));
  EXPECT_LT(Clock::now() - t0, milliseconds(1000));  // no point waiting out the deadline
  ASSERT_TRUE(r.error);
  EXPECT_FALSE(r.applied);
  EXPECT_EQ(r.error->code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error->message.find("replaced behind"), std::string::npos) << r.error->message;
  EXPECT_EQ(dataplane_.worker_generations(), (std::vector<uint64_t>{1, 1}));  // generations lie

  ControlStatus s = core_->status();
  EXPECT_FALSE(s.serving);  // before any tick
  EXPECT_EQ(s.dataplane_fault, "XDP program on eth1 replaced behind sluiced's back");
  core_->reconciler().tick(Clock::now());
  s = core_->status();
  EXPECT_FALSE(s.serving);
  EXPECT_EQ(s.not_serving_reason, "dataplane fault: XDP program on eth1 replaced behind sluiced's back");
  ASSERT_EQ(health_events().size(), 1u);

  dataplane_.set_fault("");
  core_->reconciler().tick(Clock::now());
  EXPECT_TRUE(core_->status().serving);
  const MutationResult again = core_->set_weights(operator_, "web", {{"canary", 20}},
                                                  wait(milliseconds(1000)));
  ASSERT_FALSE(again.error) << again.error->message;
  EXPECT_TRUE(again.applied);
}

// A fault that appears while the caller waits: not applied.
TEST_F(TruthfulApplyTest, FaultDuringTheWaitIsNotApplied) {
  start();
  dataplane_.set_follow(false);  // the workers hold the old revision...
  std::thread fault([&] {
    std::this_thread::sleep_for(milliseconds(50));
    dataplane_.set_fault("detached");
    dataplane_.set_follow(true);  // ...then adopt it, while the fault stands
  });
  const MutationResult r = core_->apply_service(operator_, web(), wait(milliseconds(300)));
  fault.join();
  ASSERT_TRUE(r.error);
  EXPECT_FALSE(r.applied);
  EXPECT_EQ(r.error->code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace sluice::control
