// SPDX-License-Identifier: Apache-2.0
// Active health checking in sluiced, off the workers: one thread schedules a
// check of every target each interval (plus jitter), hands it to a Prober,
// fails it when timeout_ms passes first, and applies the thresholds
// (health_state_machine.h). Transitions go to a listener; statuses() gives
// every target's health. The control core feeds it targets and marks
// backends in the dataplane; this library depends on neither.
//
// Scheduling (the target's config; Envoy's jitter semantics, but the
// interval runs between the starts of checks, as config.h defines it, where
// Envoy counts it from the end of the previous check):
// - A new target's first check starts at a uniformly random offset within
//   its first interval, so thousands of backends added at once (a restart)
//   do not all connect in the same millisecond.
// - Each next check falls due interval_ms after the previous one was due
//   (so a late start does not shift the cadence), plus uniform random
//   [0, interval_jitter_ms) and [0, interval_ms * interval_jitter_percent /
//   100). If the checker fell more than half an interval behind, it is due
//   an interval after the late start instead, so it never bursts to catch up.
// - A check not finished timeout_ms after it started fails ("timeout after
//   N ms"). A backend has at most one check in flight: one falling due
//   while the previous runs starts when that one ends.
// - At most min(Options::max_in_flight, Prober::capacity()) checks run at
//   once; a due check beyond that waits for a free slot (CheckerStats::delayed).
// - confirm() asks for a check now, out of schedule, because the dataplane's
//   passive signals suspect the backend; if it fails, the backend is
//   UNHEALTHY at once (HealthStateMachine::record_confirmation). At most one
//   per backend per Options::confirm_interval_ms, so a spoofer who keeps a
//   backend suspected costs it one extra check per interval, no more. A
//   check already in flight is taken as the confirmation.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "control/api/control_stats.h"
#include "control/health/health_clock.h"
#include "control/health/health_state_machine.h"
#include "control/health/health_target.h"
#include "control/health/prober.h"

namespace sluice::control::health {

struct HealthTransition {
  HealthTarget target;
  HealthState from = HealthState::kUnknown;
  HealthState to = HealthState::kUnknown;
  std::string reason;  // "3 failures in a row", "1 success", "2 successes in a row"
  std::string detail;  // the deciding check's result: "ok", "status 503", "timeout after 1000 ms"
  uint64_t at_ms = 0;  // uptime (Options::epoch_us) when it happened
};

struct TargetHealth {
  HealthTarget target;
  BackendHealth health;  // checked is always true
};

struct CheckerStats {
  uint64_t targets = 0;
  uint64_t in_flight = 0;
  uint64_t started = 0;         // checks started
  uint64_t finished = 0;        // checks finished, timeouts included
  uint64_t timed_out = 0;       // of them, failed by timeout_ms
  uint64_t delayed = 0;         // checks that waited for a free in-flight slot
  uint64_t confirmations = 0;   // confirm() calls that started (or took over) a check
  uint64_t confirm_limited = 0; // confirm() calls within confirm_interval_ms: ignored
  uint64_t confirmed_unhealthy = 0;  // confirming checks that failed
  int64_t max_lateness_us = 0;  // worst start after the due time
};

struct HealthCheckerOptions {
  // Also limited by Prober::capacity().
  size_t max_in_flight = 16384;
  // The origin of since_ms and at_ms (sluiced's start, in the clock's
  // time); nullopt: the clock's time at construction.
  std::optional<int64_t> epoch_us;
  // Least time between two confirming checks of one backend (confirm()).
  int64_t confirm_interval_ms = 1000;
  // Called, from the checker's thread, with how late each check started
  // (microseconds after its due time). For benchmarks and metrics.
  std::function<void(int64_t lateness_us)> on_check_started;
};

class HealthChecker {
 public:
  using Options = HealthCheckerOptions;
  using Listener = std::function<void(const HealthTransition&)>;

  // `prober`, `clock` and `random` must outlive the checker.
  HealthChecker(Prober& prober, Clock& clock, Random& random, Options options = {});
  // A checker with its own SocketProber, SteadyClock and DefaultRandom.
  static std::unique_ptr<HealthChecker> create(Options options = {});
  ~HealthChecker();  // stop()s

  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Called on every transition, from the checker's thread (the one running
  // run_once), never under the checker's lock: it may call statuses(). Set
  // it before start().
  void set_listener(Listener listener);

  // Replaces the targets (any thread; applied by the checker's next turn).
  // A target whose same_check() twin is already there keeps its state,
  // counters and schedule (its pool and slot are updated); a new or changed
  // one starts UNKNOWN; a missing one is dropped, its probe cancelled.
  // Targets of type kNone are ignored; of duplicates (same backend), the
  // first counts.
  void set_targets(std::vector<HealthTarget> targets);

  // Asks for a confirming check of the backend (service, address) now
  // (any thread; applied by the checker's next turn, which it wakes). A
  // backend without a check, or confirmed less than confirm_interval_ms
  // ago, is left alone.
  void confirm(const std::string& service, const engine::IpAddress& address);

  // Every target's health, in set_targets() order. Any thread.
  std::vector<TargetHealth> statuses() const;
  CheckerStats stats() const;

  // Runs run_once() on a thread of its own until stop(). stop() is prompt:
  // it wakes the prober rather than waiting out a poll.
  void start();
  void stop();

  // One turn of the loop: applies set_targets(), waits up to max_wait_ms
  // for results (less when something falls due sooner), applies them, then
  // fails the checks past their timeout and starts those due (at most
  // kMaxLaunchesPerTurn). Returns when the next check or timeout is due, in
  // the clock's time (INT64_MAX when nothing is scheduled). The thread calls
  // this; tests call it directly with a fake clock instead of start().
  int64_t run_once(int max_wait_ms);

 private:
  struct Entry;
  struct Event {
    int64_t at_us;
    bool is_check;  // false: a probe's timeout (ordered first at a tie)
    uint64_t entry_id;
    uint64_t serial;  // Entry::check_serial or Entry::probe_id; stale if different
    bool operator>(const Event& o) const {
      return std::tie(at_us, is_check, entry_id, serial) >
             std::tie(o.at_us, o.is_check, o.entry_id, o.serial);
    }
  };
  using Transitions = std::vector<HealthTransition>;

  void apply_targets(int64_t now);
  void apply_confirms(int64_t now);
  Entry& add_entry(HealthTarget target, int64_t now);
  void remove_entry(uint64_t id);
  void fire_due_events(int64_t now, Transitions& out);
  void launch(Entry& e, int64_t due, int64_t turn_start);
  void start_waiting(int64_t now);
  void finish(Entry& e, const ProbeResult& result, int64_t now, Transitions& out);
  void schedule_check(Entry& e, int64_t at);
  int64_t jittered_interval_us(const engine::HealthCheckConfig& c);
  size_t limit() const;
  uint64_t uptime_ms(int64_t now) const;
  void notify(Transitions& transitions);

  Prober& prober_;
  Clock& clock_;
  Random& random_;
  const Options options_;
  const int64_t epoch_us_;
  Listener listener_;
  // Only create() sets these: the defaults it owns.
  std::unique_ptr<Prober> owned_prober_;
  std::unique_ptr<Clock> owned_clock_;
  std::unique_ptr<Random> owned_random_;

  mutable std::mutex mu_;  // everything below
  std::optional<std::vector<HealthTarget>> pending_targets_;
  // Confirmations asked since the last turn, in order, and the same as a
  // set: a backend asked again before the turn is confirmed once, found in
  // O(log n) however many backends are suspected at once (a spoofer can
  // make every one of them suspected).
  using BackendKey = std::pair<std::string, engine::IpAddress>;  // (service, address)
  std::vector<BackendKey> pending_confirms_;
  std::set<BackendKey> pending_confirm_set_;
  std::unordered_map<uint64_t, std::unique_ptr<Entry>> entries_;
  std::vector<uint64_t> order_;  // entry ids in set_targets() order
  std::map<BackendKey, uint64_t> by_backend_;  // the entries of order_, by backend
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events_;
  std::deque<std::pair<uint64_t, int64_t>> waiting_;  // (entry id, due) beyond the limit
  std::unordered_map<uint64_t, uint64_t> probes_;     // probe id -> entry id
  // Probes one turn may start, so that a turn with thousands due still
  // reads the results waiting for it soon (and judges no deadline on
  // stale results).
  static constexpr int kMaxLaunchesPerTurn = 256;
  int launches_left_ = 0;
  uint64_t next_entry_id_ = 1;
  uint64_t next_probe_id_ = 1;
  CheckerStats stats_;

  std::vector<std::pair<uint64_t, ProbeResult>> results_;  // loop thread only
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace sluice::control::health
