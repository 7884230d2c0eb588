// SPDX-License-Identifier: Apache-2.0
#include "control/core/event_hub.h"

#include <algorithm>
#include <condition_variable>
#include <string>

namespace sluice::control {

// One subscriber's queue. Shared between the hub (weakly: a subscriber that
// goes away just drops out) and the subscription handed to the reader.
class EventHub::Queue {
 public:
  Queue(size_t capacity, uint64_t live_from) : capacity_(capacity), live_from_(live_from) {}

  // Called by the hub, under its mutex. Never waits for the reader.
  // Returns false when the event was lost for this subscriber.
  bool offer(const ControlEvent& event) {
    std::lock_guard lock(mutex_);
    if (closed_) return true;
    if (items_.size() >= capacity_) {
      if (gap_) {
        gap_->last_sequence = event.sequence;
      } else {
        gap_ = EventsLostNotice{event.sequence, event.sequence, EventsLostNotice::Reason::kTooSlow};
      }
      return false;
    }
    // The gap came before this event: the notice goes first.
    if (gap_) items_.push_back(take_gap());
    items_.push_back(event);
    ready_.notify_one();
    return true;
  }
  // Replayed history and its notice, before the subscription is handed out.
  void preload(ControlEvent event) { items_.push_back(std::move(event)); }

  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    ready_.notify_all();
  }

  std::optional<ControlEvent> next(std::chrono::steady_clock::time_point until) {
    std::unique_lock lock(mutex_);
    ready_.wait_until(lock, until, [&] { return !items_.empty() || gap_ || closed_; });
    if (!items_.empty()) {
      ControlEvent e = std::move(items_.front());
      items_.pop_front();
      return e;
    }
    if (gap_) return take_gap();
    return std::nullopt;
  }
  bool closed() const {
    std::lock_guard lock(mutex_);
    return closed_ && items_.empty() && !gap_;
  }
  uint64_t live_from() const { return live_from_; }

 private:
  ControlEvent take_gap() {
    ControlEvent notice{0, std::chrono::system_clock::now(), *gap_};
    gap_.reset();
    return notice;
  }

  const size_t capacity_;
  const uint64_t live_from_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<ControlEvent> items_;
  std::optional<EventsLostNotice> gap_;  // live events lost since the last queued one
  bool closed_ = false;
};

// What a reader holds: the queue, shared with the hub.
class EventHub::Subscription final : public EventSubscription {
 public:
  explicit Subscription(std::shared_ptr<EventHub::Queue> queue) : queue_(std::move(queue)) {}
  std::optional<ControlEvent> next(std::chrono::steady_clock::time_point until) override {
    return queue_->next(until);
  }
  bool closed() const override { return queue_->closed(); }
  uint64_t live_from() const override { return queue_->live_from(); }

 private:
  std::shared_ptr<EventHub::Queue> queue_;
};

EventHub::EventHub(EventHubOptions options) : options_(options) {}

EventHub::~EventHub() { close(); }

uint64_t EventHub::publish(EventDetail detail) {
  std::lock_guard lock(mutex_);
  if (closed_) return 0;
  const uint64_t sequence = next_sequence_++;
  ControlEvent event{sequence, std::chrono::system_clock::now(), std::move(detail)};
  size_t live = 0;
  for (const std::weak_ptr<Queue>& weak : subscribers_) {
    if (std::shared_ptr<Queue> q = weak.lock()) {
      if (!q->offer(event)) ++events_lost_;
      subscribers_[live++] = weak;
    }
  }
  subscribers_.resize(live);  // subscribers that went away drop out here
  history_.push_back(std::move(event));
  if (history_.size() > options_.history) history_.pop_front();
  return sequence;
}

SubscribeResult EventHub::subscribe(std::optional<uint64_t> start) {
  std::lock_guard lock(mutex_);
  SubscribeResult result;
  if (closed_) {
    result.error = CallError{ErrorCode::kUnavailable, "sluiced is shutting down"};
    return result;
  }
  if (start && *start > next_sequence_) {
    result.error = CallError{
        ErrorCode::kInvalidArgument,
        "start_sequence: " + std::to_string(*start) + " is beyond the next event's sequence number " +
            std::to_string(next_sequence_) +
            " (sequence numbers start again at 1 when sluiced restarts)"};
    return result;
  }
  std::vector<const ControlEvent*> replay;
  std::optional<EventsLostNotice> lost;
  if (start) {
    const uint64_t first = std::max<uint64_t>(*start, 1);
    const uint64_t oldest_held = history_.empty() ? next_sequence_ : history_.front().sequence;
    if (first < oldest_held) {
      lost = EventsLostNotice{first, oldest_held - 1, EventsLostNotice::Reason::kHistory};
    }
    for (const ControlEvent& e : history_) {
      if (e.sequence >= first) replay.push_back(&e);
    }
  }
  // The replay does not count against the live queue: a subscriber that
  // asks for history gets it, and room for live events besides.
  auto queue = std::make_shared<Queue>(
      options_.subscriber_queue + replay.size() + (lost ? 1 : 0), next_sequence_);
  if (lost) queue->preload(ControlEvent{0, std::chrono::system_clock::now(), *lost});
  for (const ControlEvent* e : replay) queue->preload(*e);
  subscribers_.push_back(queue);
  result.subscription = std::make_unique<Subscription>(std::move(queue));
  return result;
}

void EventHub::close() {
  std::lock_guard lock(mutex_);
  closed_ = true;
  for (const std::weak_ptr<Queue>& weak : subscribers_) {
    if (std::shared_ptr<Queue> q = weak.lock()) q->close();
  }
  subscribers_.clear();
}

uint64_t EventHub::next_sequence() const {
  std::lock_guard lock(mutex_);
  return next_sequence_;
}

size_t EventHub::subscriber_count() const {
  std::lock_guard lock(mutex_);
  return static_cast<size_t>(std::count_if(subscribers_.begin(), subscribers_.end(),
                                           [](const std::weak_ptr<Queue>& w) { return !w.expired(); }));
}

uint64_t EventHub::events_lost_total() const {
  std::lock_guard lock(mutex_);
  return events_lost_;
}

}  // namespace sluice::control
