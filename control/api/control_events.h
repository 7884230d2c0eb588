// SPDX-License-Identifier: Apache-2.0
// The events the control API streams (WatchEvents), independent of gRPC:
// what each kind says, and the subscription a stream reads them from.
// control/core/event_hub.h numbers, keeps and distributes them;
// control/api/event_messages.h maps them onto sluice.v1.Event.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "control/api/control_stats.h"
#include "dataplane/engine/circuit.h"

namespace sluice::control {

// An accepted configuration change (not a dry run), as it commits.
struct ConfigChangedEvent {
  uint64_t revision = 0;
  std::string method;   // "SetWeights"
  std::string service;
  std::string summary;  // as audited
  std::string peer;
};

// One worker now forwards with `generation`.
struct WorkerAppliedEvent {
  uint32_t worker = 0;
  uint64_t generation = 0;
};

// Every worker forwards with `generation` or later.
struct RevisionAppliedEvent {
  uint64_t generation = 0;
  uint32_t workers = 0;
};

// A backend's circuit changed state on one worker.
struct CircuitChangedEvent {
  std::string service;
  std::string pool;
  std::string backend;  // address
  uint32_t worker = 0;
  engine::CircuitState from = engine::CircuitState::kClosed;
  engine::CircuitState to = engine::CircuitState::kClosed;
};

// A backend's active health checks changed its state.
struct HealthChangedEvent {
  std::string service;
  std::string pool;
  std::string backend;  // address
  HealthState from = HealthState::kUnknown;
  HealthState to = HealthState::kUnknown;
  std::string reason;   // the deciding check's result
};

// Whether sluiced can vouch that the dataplane forwards with the desired
// (saved) revision changed (control/core/reconciler.h): it stops when the
// dataplane reports a fault or stays behind the desired revision past the
// grace, and comes back once the dataplane has converged. gRPC health
// follows it (NOT_SERVING / SERVING).
struct DataplaneHealthEvent {
  bool serving = true;
  uint64_t desired_revision = 0;
  uint64_t applied_revision = 0;  // the lowest any worker forwards with
  std::string reason;             // why not serving; "" when serving
};

// Events first..last will not reach this subscriber: a notice to one
// subscriber (sequence 0), not an event of its own.
struct EventsLostNotice {
  enum class Reason { kHistory, kTooSlow };
  uint64_t first_sequence = 0;
  uint64_t last_sequence = 0;
  Reason reason = Reason::kHistory;
};

using EventDetail = std::variant<ConfigChangedEvent, WorkerAppliedEvent, RevisionAppliedEvent,
                                 CircuitChangedEvent, EventsLostNotice, HealthChangedEvent,
                                 DataplaneHealthEvent>;

struct ControlEvent {
  uint64_t sequence = 0;  // 1, 2, ...; 0 for EventsLostNotice
  std::chrono::system_clock::time_point time;
  EventDetail detail;
};

// What a stream reads events from. Taking events never blocks the side
// that produces them: a subscriber that falls behind loses events (and is
// told so by an EventsLostNotice) instead.
class EventSubscription {
 public:
  virtual ~EventSubscription() = default;
  // The next event, waiting until `until` at most: nullopt when none came
  // in time, or when the subscription is closed and drained (closed()).
  virtual std::optional<ControlEvent> next(std::chrono::steady_clock::time_point until) = 0;
  // True once the producer shut down and every queued event was taken.
  virtual bool closed() const = 0;
  // The sequence number of the first event produced after subscribing.
  virtual uint64_t live_from() const = 0;
};

}  // namespace sluice::control
