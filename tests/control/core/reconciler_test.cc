// SPDX-License-Identifier: Apache-2.0
// Tests of control/core/reconciler.h over the fake dataplane of tests/mocks
// made to misbehave: publications it refuses are retried with doubling
// backoff until taken, a newer snapshot replaces the pending one, and the
// serving state (events, listener) follows faults and lag past the grace.
#include "control/core/reconciler.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "tests/mocks/control/fake_dataplane_sink.h"

namespace sluice::control {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

class ReconcilerTest : public ::testing::Test {
 protected:
  ReconcilerTest() {
    options_.first_retry = milliseconds(100);
    options_.max_retry = milliseconds(800);
    options_.grace = milliseconds(1000);
    subscription_ = std::move(events_.subscribe(std::nullopt).subscription);
  }

  std::shared_ptr<const engine::Snapshot> snapshot(uint64_t generation) {
    engine::EngineConfig config;
    config.seed = {1, 2};
    auto r = compiler_.compile(config, generation);
    EXPECT_TRUE(r.errors.empty());
    return r.snapshot;
  }
  std::vector<DataplaneHealthEvent> health_events() {
    std::vector<DataplaneHealthEvent> out;
    while (auto e = subscription_->next(Clock::now())) {
      if (auto* h = std::get_if<DataplaneHealthEvent>(&e->detail)) out.push_back(*h);
    }
    return out;
  }

  fakes::FakeDataplaneSink dataplane_{2};
  EventHub events_;
  ReconcilerOptions options_;
  engine::SnapshotCompiler compiler_;
  std::unique_ptr<EventSubscription> subscription_;
};

// A publication the dataplane takes is counted, and nothing is left to retry.
TEST_F(ReconcilerTest, PublicationTaken) {
  Reconciler r(dataplane_, events_, options_);
  EXPECT_TRUE(r.publish(snapshot(1)));
  const ReconcilerReport report = r.report();
  EXPECT_EQ(report.desired_revision, 1u);
  EXPECT_EQ(report.published_revision, 1u);
  EXPECT_EQ(report.attempts, 1u);
  EXPECT_EQ(report.failures, 0u);
  EXPECT_FALSE(r.next_retry());
  EXPECT_EQ(dataplane_.worker_generations(), (std::vector<uint64_t>{1, 1}));
}

// Refused four times: retried after 100, 200, 400 ms, then taken; not before it is due.
TEST_F(ReconcilerTest, RetriesWithDoublingBackoffUntilTaken) {
  Reconciler r(dataplane_, events_, options_);
  dataplane_.fail_publications(4, "bpf_map_update_elem: Cannot allocate memory");
  std::shared_ptr<const engine::Snapshot> one = snapshot(1);  // compiled before the clock starts
  const Clock::time_point t0 = Clock::now();
  EXPECT_FALSE(r.publish(one));
  EXPECT_EQ(r.report().publish_error, "bpf_map_update_elem: Cannot allocate memory");
  std::vector<milliseconds> gaps;
  Clock::time_point last = t0;
  for (int i = 0; i < 10 && r.next_retry(); ++i) {
    const Clock::time_point due = *r.next_retry();
    gaps.push_back(std::chrono::duration_cast<milliseconds>(due - last));
    const uint32_t calls = dataplane_.publish_calls();
    r.tick(due - milliseconds(1));  // not yet due: no attempt
    EXPECT_EQ(dataplane_.publish_calls(), calls);
    r.tick(due);
    EXPECT_EQ(dataplane_.publish_calls(), calls + 1);
    last = due;
  }
  ASSERT_EQ(gaps.size(), 4u);
  EXPECT_NEAR(gaps[0].count(), 100, 5);  // from publish(), which read the clock itself
  EXPECT_EQ(gaps[1], milliseconds(200));
  EXPECT_EQ(gaps[2], milliseconds(400));
  EXPECT_EQ(gaps[3], milliseconds(800));
  const ReconcilerReport report = r.report();
  EXPECT_EQ(report.attempts, 5u);
  EXPECT_EQ(report.failures, 4u);
  EXPECT_EQ(report.published_revision, 1u);
  EXPECT_EQ(report.publish_error, "");
  EXPECT_EQ(dataplane_.worker_generations(), (std::vector<uint64_t>{1, 1}));
}

// The backoff stops doubling at max_retry.
TEST_F(ReconcilerTest, BackoffIsBounded) {
  Reconciler r(dataplane_, events_, options_);
  dataplane_.fail_publications(1000);
  r.publish(snapshot(1));
  Clock::duration gap{};
  for (int i = 0; i < 8; ++i) {
    const Clock::time_point due = *r.next_retry();
    r.tick(due);
    gap = *r.next_retry() - due;
    EXPECT_LE(gap, options_.max_retry);
  }
  EXPECT_EQ(gap, options_.max_retry);
  EXPECT_EQ(r.report().failures, 9u);
}

// A newer snapshot replaces the refused one: the old one is never published after it.
TEST_F(ReconcilerTest, NewerSnapshotReplacesPendingOne) {
  Reconciler r(dataplane_, events_, options_);
  dataplane_.fail_publications(1);
  EXPECT_FALSE(r.publish(snapshot(1)));
  EXPECT_TRUE(r.publish(snapshot(2)));
  EXPECT_FALSE(r.next_retry());
  r.tick(Clock::now() + std::chrono::hours(1));
  ASSERT_EQ(dataplane_.published().size(), 1u);
  EXPECT_EQ(dataplane_.published()[0]->generation(), 2u);
}

// Behind past the grace: NOT serving (event, listener), then serving again once taken.
TEST_F(ReconcilerTest, BehindPastGraceIsNotServingUntilConverged) {
  Reconciler r(dataplane_, events_, options_);
  std::vector<std::pair<bool, std::string>> calls;
  r.set_serving_listener([&](bool serving, const std::string& reason) {
    calls.emplace_back(serving, reason);
  });
  ASSERT_TRUE(r.publish(snapshot(1)));
  dataplane_.fail_publications(1000, "no memory");
  const Clock::time_point t0 = Clock::now();
  EXPECT_FALSE(r.publish(snapshot(2)));
  r.tick(t0 + milliseconds(50));
  EXPECT_EQ(r.condition(), Reconciler::Condition::kConverged);  // within the grace
  EXPECT_TRUE(health_events().empty());
  r.tick(t0 + milliseconds(1200));
  EXPECT_EQ(r.condition(), Reconciler::Condition::kBehind);
  EXPECT_FALSE(r.report().serving);
  std::vector<DataplaneHealthEvent> events = health_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].serving);
  EXPECT_EQ(events[0].desired_revision, 2u);
  EXPECT_EQ(events[0].applied_revision, 1u);
  EXPECT_NE(events[0].reason.find("forwards with revision 1, not the desired 2"), std::string::npos)
      << events[0].reason;
  EXPECT_NE(events[0].reason.find("last: no memory"), std::string::npos) << events[0].reason;

  dataplane_.fail_publications(0);
  r.tick(*r.next_retry());
  EXPECT_EQ(r.condition(), Reconciler::Condition::kConverged);
  events = health_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].serving);
  EXPECT_EQ(events[0].applied_revision, 2u);
  EXPECT_EQ(events[0].reason, "");
  ASSERT_EQ(calls.size(), 3u);  // the current state at once, then each change
  EXPECT_TRUE(calls[0].first);
  EXPECT_FALSE(calls[1].first);
  EXPECT_TRUE(calls[2].first);
}

// A worker that does not adopt the published revision is behind too.
TEST_F(ReconcilerTest, StuckWorkerIsBehind) {
  Reconciler r(dataplane_, events_, options_);
  dataplane_.set_follow(false);
  ASSERT_TRUE(r.publish(snapshot(1)));
  dataplane_.advance(0);
  const Clock::time_point t0 = Clock::now();
  r.tick(t0);
  r.tick(t0 + milliseconds(1001) + options_.grace);
  EXPECT_EQ(r.condition(), Reconciler::Condition::kBehind);
  dataplane_.advance(1);
  r.tick(t0 + milliseconds(3000));
  EXPECT_EQ(r.condition(), Reconciler::Condition::kConverged);
}

// A fault is NOT serving at the next tick, whatever the generations say.
TEST_F(ReconcilerTest, FaultIsNotServingAtOnce) {
  Reconciler r(dataplane_, events_, options_);
  ASSERT_TRUE(r.publish(snapshot(1)));
  dataplane_.set_fault("XDP program on eth1 was detached");
  r.tick(Clock::now());
  EXPECT_EQ(r.condition(), Reconciler::Condition::kFault);
  EXPECT_EQ(r.report().reason, "dataplane fault: XDP program on eth1 was detached");
  std::vector<DataplaneHealthEvent> events = health_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].serving);
  dataplane_.set_fault("");
  r.tick(Clock::now());
  EXPECT_EQ(r.condition(), Reconciler::Condition::kConverged);
  events = health_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].serving);
}

// Its own thread retries until the dataplane takes the snapshot.
TEST_F(ReconcilerTest, ThreadConverges) {
  options_.first_retry = milliseconds(2);
  options_.poll_interval = milliseconds(5);
  Reconciler r(dataplane_, events_, options_);
  dataplane_.fail_publications(3);
  EXPECT_FALSE(r.publish(snapshot(7)));
  r.start();
  const Clock::time_point until = Clock::now() + std::chrono::seconds(5);
  while (r.report().published_revision != 7 && Clock::now() < until) {
    std::this_thread::sleep_for(milliseconds(2));
  }
  r.stop();
  EXPECT_EQ(r.report().published_revision, 7u);
  EXPECT_EQ(dataplane_.publish_calls(), 4u);
}

}  // namespace
}  // namespace sluice::control
