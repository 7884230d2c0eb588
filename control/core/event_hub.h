// SPDX-License-Identifier: Apache-2.0
// The events of sluiced (control/api/control_events.h), numbered, kept and
// handed to every subscriber (each WatchEvents stream).
//
// publish() gives an event the next sequence number and the current time,
// keeps it in a bounded history (the latest `history` events) and queues it
// for every subscriber. It never waits for a subscriber: each has a bounded
// queue, and a subscriber whose queue is full loses the event. Its next
// read then returns an EventsLostNotice naming the sequence numbers it
// missed (they are consecutive: once full, a queue takes nothing until it
// has room again), before the events queued after the gap. So the control
// core, which publishes under its own lock, is never held up by a client
// that reads slowly or not at all.
//
// subscribe(start) replays the held events from `start` on (a notice first
// for any older ones no longer held), then the live ones. Publishers are
// serialised by one mutex, so every subscriber sees events in sequence
// order. close() ends every subscription once it has taken what was queued.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "control/api/control_core.h"
#include "control/api/control_events.h"

namespace sluice::control {

struct EventHubOptions {
  size_t history = 4096;           // events kept for subscribers that start earlier
  size_t subscriber_queue = 1024;  // live events queued per subscriber
};

class EventHub {
 public:
  explicit EventHub(EventHubOptions options = {});
  ~EventHub();
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // Numbers, stamps, keeps and distributes the event; returns its sequence
  // number (0 once closed: the event is dropped).
  uint64_t publish(EventDetail detail);
  // A subscription from sequence `start` (0 and 1 both mean the oldest
  // held), or to live events only (nullopt). kInvalidArgument when `start`
  // is beyond the next sequence number.
  SubscribeResult subscribe(std::optional<uint64_t> start);
  // Ends every subscription (after its queued events) and refuses new
  // events and subscribers.
  void close();

  uint64_t next_sequence() const;
  size_t subscriber_count() const;      // live subscriptions
  uint64_t events_lost_total() const;   // deliveries dropped for slow subscribers

 private:
  class Queue;
  class Subscription;

  const EventHubOptions options_;
  mutable std::mutex mutex_;  // guards everything below; taken before a Queue's
  uint64_t next_sequence_ = 1;
  std::deque<ControlEvent> history_;
  std::vector<std::weak_ptr<Queue>> subscribers_;
  uint64_t events_lost_ = 0;
  bool closed_ = false;
};

}  // namespace sluice::control
