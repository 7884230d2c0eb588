// SPDX-License-Identifier: Apache-2.0
// Tests of control/core/event_hub.h: numbering and order, the history a
// late subscriber replays, the notice of what it cannot have, the bounded
// queue of a slow subscriber (a gap, never a blocked publisher), and
// closing.
#include "control/core/event_hub.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace sluice::control {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

EventDetail change(uint64_t revision) {
  return ConfigChangedEvent{revision, "SetWeights", "web", "weights", "test"};
}

uint64_t revision_of(const ControlEvent& e) {
  return std::get<ConfigChangedEvent>(e.detail).revision;
}

// What the subscription holds now, without waiting.
std::vector<ControlEvent> drain(EventSubscription& s) {
  std::vector<ControlEvent> out;
  while (auto e = s.next(steady_clock::now())) out.push_back(*e);
  return out;
}

// Sequence numbers of events; 0 for notices.
std::vector<uint64_t> sequences(const std::vector<ControlEvent>& events) {
  std::vector<uint64_t> out;
  for (const ControlEvent& e : events) out.push_back(e.sequence);
  return out;
}

std::unique_ptr<EventSubscription> subscribe(EventHub& hub, std::optional<uint64_t> start) {
  SubscribeResult r = hub.subscribe(start);
  EXPECT_FALSE(r.error) << r.error->message;
  return std::move(r.subscription);
}

// Events are numbered from 1 and reach every subscriber in that order.
TEST(EventHubTest, NumbersAndOrder) {
  EventHub hub;
  auto a = subscribe(hub, std::nullopt);
  auto b = subscribe(hub, std::nullopt);
  EXPECT_EQ(a->live_from(), 1u);
  for (uint64_t r = 1; r <= 5; ++r) EXPECT_EQ(hub.publish(change(r)), r);
  for (EventSubscription* s : {a.get(), b.get()}) {
    const auto events = drain(*s);
    EXPECT_EQ(sequences(events), (std::vector<uint64_t>{1, 2, 3, 4, 5}));
    for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(revision_of(events[i]), i + 1);
  }
  EXPECT_EQ(hub.next_sequence(), 6u);
}

// A live subscriber gets nothing from before it subscribed.
TEST(EventHubTest, LiveOnlyByDefault) {
  EventHub hub;
  hub.publish(change(1));
  auto s = subscribe(hub, std::nullopt);
  EXPECT_EQ(s->live_from(), 2u);
  EXPECT_TRUE(drain(*s).empty());
  hub.publish(change(2));
  EXPECT_EQ(sequences(drain(*s)), (std::vector<uint64_t>{2}));
}

// A start sequence replays the held events from there, then live ones.
TEST(EventHubTest, ReplaysFromStart) {
  EventHub hub;
  for (uint64_t r = 1; r <= 4; ++r) hub.publish(change(r));
  auto s = subscribe(hub, 3);
  hub.publish(change(5));
  EXPECT_EQ(sequences(drain(*s)), (std::vector<uint64_t>{3, 4, 5}));
  // 0 and 1 both mean "the oldest held"; the next sequence means "from now".
  EXPECT_EQ(sequences(drain(*subscribe(hub, 0))), (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(sequences(drain(*subscribe(hub, 1))), (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_TRUE(drain(*subscribe(hub, 6)).empty());
}

// Asking for events older than the history holds: a notice naming them
// comes first, then what is held.
TEST(EventHubTest, HistoryIsBounded) {
  EventHub hub({/*history=*/3, /*subscriber_queue=*/16});
  for (uint64_t r = 1; r <= 10; ++r) hub.publish(change(r));
  auto s = subscribe(hub, 2);
  const auto events = drain(*s);
  EXPECT_EQ(sequences(events), (std::vector<uint64_t>{0, 8, 9, 10}));
  const auto& lost = std::get<EventsLostNotice>(events[0].detail);
  EXPECT_EQ(lost.first_sequence, 2u);
  EXPECT_EQ(lost.last_sequence, 7u);
  EXPECT_EQ(lost.reason, EventsLostNotice::Reason::kHistory);
}

// With no history at all, a start in the past is all lost.
TEST(EventHubTest, NoHistory) {
  EventHub hub({/*history=*/0, /*subscriber_queue=*/16});
  EXPECT_EQ(hub.publish(change(1)), 1u);
  EXPECT_EQ(hub.publish(change(2)), 2u);
  const auto events = drain(*subscribe(hub, 1));
  ASSERT_EQ(events.size(), 1u);
  const auto& lost = std::get<EventsLostNotice>(events[0].detail);
  EXPECT_EQ(lost.first_sequence, 1u);
  EXPECT_EQ(lost.last_sequence, 2u);
}

// A start beyond the next sequence number (a client of an earlier run of
// sluiced) is refused, naming the field.
TEST(EventHubTest, StartBeyondNextIsRefused) {
  EventHub hub;
  hub.publish(change(1));
  const SubscribeResult r = hub.subscribe(3);
  EXPECT_FALSE(r.subscription);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error->message,
            "start_sequence: 3 is beyond the next event's sequence number 2 (sequence numbers "
            "start again at 1 when sluiced restarts)");
  EXPECT_TRUE(hub.subscribe(2).subscription);
}

// A subscriber that does not read loses events once its queue is full: a
// notice names exactly those it lost, between what it had and what came
// after it read again. Another subscriber loses nothing.
TEST(EventHubTest, GapWhenTheQueueIsFull) {
  EventHub hub({/*history=*/100, /*subscriber_queue=*/3});
  auto slow = subscribe(hub, std::nullopt);
  auto fast = subscribe(hub, std::nullopt);
  std::vector<ControlEvent> fast_got;
  for (uint64_t r = 1; r <= 7; ++r) {
    hub.publish(change(r));
    for (auto& e : drain(*fast)) fast_got.push_back(e);
  }
  EXPECT_EQ(sequences(fast_got), (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(hub.events_lost_total(), 4u);
  // The slow one takes one event (room for one more), then two more come:
  // 8 fits (after the notice of 4..7), 9 finds the queue full again.
  ASSERT_EQ(slow->next(steady_clock::now())->sequence, 1u);
  hub.publish(change(8));
  hub.publish(change(9));
  const auto rest = drain(*slow);
  ASSERT_EQ(sequences(rest), (std::vector<uint64_t>{2, 3, 0, 8, 0}));
  const auto& lost = std::get<EventsLostNotice>(rest[2].detail);
  EXPECT_EQ(lost.first_sequence, 4u);
  EXPECT_EQ(lost.last_sequence, 7u);
  EXPECT_EQ(lost.reason, EventsLostNotice::Reason::kTooSlow);
  const auto& lost_again = std::get<EventsLostNotice>(rest[4].detail);
  EXPECT_EQ(lost_again.first_sequence, 9u);
  EXPECT_EQ(lost_again.last_sequence, 9u);
  EXPECT_EQ(hub.events_lost_total(), 5u);
}

// A gap still pending when the queue is empty is reported on its own.
TEST(EventHubTest, PendingGapIsReportedWhenDrained) {
  EventHub hub({/*history=*/100, /*subscriber_queue=*/1});
  auto s = subscribe(hub, std::nullopt);
  hub.publish(change(1));
  hub.publish(change(2));
  hub.publish(change(3));
  const auto events = drain(*s);
  ASSERT_EQ(sequences(events), (std::vector<uint64_t>{1, 0}));
  const auto& lost = std::get<EventsLostNotice>(events[1].detail);
  EXPECT_EQ(lost.first_sequence, 2u);
  EXPECT_EQ(lost.last_sequence, 3u);
  hub.publish(change(4));
  EXPECT_EQ(sequences(drain(*s)), (std::vector<uint64_t>{4}));
}

// Replayed history does not count against the live queue.
TEST(EventHubTest, ReplayLeavesRoomForLiveEvents) {
  EventHub hub({/*history=*/100, /*subscriber_queue=*/2});
  for (uint64_t r = 1; r <= 10; ++r) hub.publish(change(r));
  auto s = subscribe(hub, 1);
  hub.publish(change(11));
  hub.publish(change(12));
  const auto events = drain(*s);
  ASSERT_EQ(events.size(), 12u);
  EXPECT_EQ(events.back().sequence, 12u);
  EXPECT_EQ(hub.events_lost_total(), 0u);
}

// A subscriber that never reads does not slow publishers down, and the
// hub's memory for it stays bounded.
TEST(EventHubTest, SlowSubscriberDoesNotBlockPublishers) {
  EventHub hub({/*history=*/64, /*subscriber_queue=*/8});
  auto idle = subscribe(hub, std::nullopt);
  std::atomic<bool> done{false};
  std::thread publisher([&] {
    for (uint64_t r = 1; r <= 100000; ++r) hub.publish(change(r));
    done = true;
  });
  publisher.join();
  EXPECT_TRUE(done);
  EXPECT_EQ(hub.events_lost_total(), 100000u - 8u);
  const auto events = drain(*idle);
  ASSERT_EQ(events.size(), 9u);  // 8 events and the notice
  EXPECT_EQ(events.back().sequence, 0u);
  EXPECT_EQ(std::get<EventsLostNotice>(events.back().detail).last_sequence, 100000u);
}

// A reader waiting for an event wakes when one is published from another thread.
TEST(EventHubTest, WaitingReaderWakes) {
  EventHub hub;
  auto s = subscribe(hub, std::nullopt);
  std::thread later([&] {
    std::this_thread::sleep_for(milliseconds(20));
    hub.publish(change(1));
  });
  const auto start = steady_clock::now();
  const std::optional<ControlEvent> e = s->next(start + std::chrono::seconds(10));
  later.join();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->sequence, 1u);
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(5));
  // Nothing more: the wait ends at its deadline.
  EXPECT_FALSE(s->next(steady_clock::now() + milliseconds(10)));
  EXPECT_FALSE(s->closed());
}

// Events published from several threads reach a subscriber each exactly
// once, in sequence order.
TEST(EventHubTest, ConcurrentPublishersKeepOrder) {
  EventHub hub({/*history=*/16, /*subscriber_queue=*/100000});
  auto s = subscribe(hub, std::nullopt);
  std::vector<std::thread> publishers;
  for (int t = 0; t < 4; ++t) {
    publishers.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) hub.publish(WorkerAppliedEvent{0, 1});
    });
  }
  for (auto& t : publishers) t.join();
  const auto events = drain(*s);
  ASSERT_EQ(events.size(), 4000u);
  for (size_t i = 0; i < events.size(); ++i) ASSERT_EQ(events[i].sequence, i + 1);
}

// Closing ends subscriptions after what they had queued, refuses new
// subscribers and drops later events.
TEST(EventHubTest, CloseEndsSubscriptions) {
  EventHub hub;
  auto s = subscribe(hub, std::nullopt);
  hub.publish(change(1));
  std::thread closer([&] {
    std::this_thread::sleep_for(milliseconds(20));
    hub.close();
  });
  EXPECT_EQ(s->next(steady_clock::now() + std::chrono::seconds(10))->sequence, 1u);
  EXPECT_FALSE(s->closed());
  const auto start = steady_clock::now();
  EXPECT_FALSE(s->next(start + std::chrono::seconds(10)));  // woken by close()
  closer.join();
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_TRUE(s->closed());
  EXPECT_EQ(hub.publish(change(2)), 0u);
  const SubscribeResult late = hub.subscribe(std::nullopt);
  ASSERT_TRUE(late.error);
  EXPECT_EQ(late.error->code, ErrorCode::kUnavailable);
}

// A subscription dropped by its reader leaves the hub.
TEST(EventHubTest, DroppedSubscriptionsLeave) {
  EventHub hub;
  auto a = subscribe(hub, std::nullopt);
  {
    auto b = subscribe(hub, std::nullopt);
    EXPECT_EQ(hub.subscriber_count(), 2u);
  }
  hub.publish(change(1));
  EXPECT_EQ(hub.subscriber_count(), 1u);
  // A subscription may outlive its hub: it is closed.
  std::unique_ptr<EventSubscription> orphan;
  {
    EventHub short_lived;
    orphan = subscribe(short_lived, std::nullopt);
  }
  EXPECT_TRUE(orphan->closed());
  EXPECT_FALSE(orphan->next(steady_clock::now() + milliseconds(10)));
}

}  // namespace
}  // namespace sluice::control
