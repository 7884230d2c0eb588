// SPDX-License-Identifier: Apache-2.0
// Makes the dataplane converge on the desired (saved) configuration, and
// says whether it has.
//
// The control core hands every snapshot it saves to publish(). The
// dataplane may refuse it (DataplaneSink::publish false: the kernel refused
// an XDP map update); the change is saved and audited by then, so instead
// of dropping it the reconciler keeps the latest desired snapshot and
// retries it with exponential backoff (first_retry, doubling, at most
// max_retry) until the dataplane takes it. A newer snapshot replaces the
// pending one and is tried at once: snapshots are whole configurations, so
// only the latest matters, and publications never go backwards (every
// publication, first try or retry, is made under one mutex).
//
// Every tick (its own thread, every poll_interval, sooner when a retry is
// due) it also compares what the dataplane reports with what is desired:
//   - fault: DataplaneSink::fault() is non-empty: not serving at once;
//   - behind: the lowest worker generation has stayed below the desired
//     revision for longer than `grace` (a refused publication not yet
//     retried with success, a stuck worker): not serving;
//   - converged otherwise (a revision being adopted within the grace
//     counts as converged: publication takes a moment).
// When that condition changes, it publishes a DataplaneHealthEvent and
// tells the serving listener (sluiced sets gRPC health from it).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "control/core/dataplane_sink.h"
#include "control/core/event_hub.h"
#include "control/core/periodic_thread.h"
#include "dataplane/engine/snapshot.h"

namespace sluice::control {

struct ReconcilerOptions {
  std::chrono::milliseconds first_retry{100};
  std::chrono::milliseconds max_retry{5000};
  // Behind the desired revision for longer than this: not serving. Long
  // enough for a DPDK worker to finish its burst and an XDP publication to
  // wait out its grace period; short enough for a load balancer in front
  // to stop sending here within seconds.
  std::chrono::milliseconds grace{1000};
  // How often the thread compares (start()): a fault shows within this.
  std::chrono::milliseconds poll_interval{100};
};

// What status, metrics and health report (ControlStatus carries it).
struct ReconcilerReport {
  uint64_t desired_revision = 0;    // of the latest snapshot handed to publish()
  uint64_t published_revision = 0;  // of the latest one the dataplane took
  uint64_t attempts = 0;            // publish() calls on the dataplane, retries included
  uint64_t failures = 0;            // of which refused
  std::string publish_error;        // the last refusal while desired is not published
  bool serving = true;
  std::string reason;               // why not serving; "" while serving
};

class Reconciler {
 public:
  enum class Condition { kConverged, kBehind, kFault };
  using ServingListener = std::function<void(bool serving, const std::string& reason)>;
  using Clock = std::chrono::steady_clock;

  Reconciler(DataplaneSink& dataplane, EventHub& events, ReconcilerOptions options = {});
  ~Reconciler();  // stops the thread
  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

  // Makes `snapshot` the desired one and publishes it now. True when the
  // dataplane took it; false (logged, counted) when it refused: a retry is
  // then due first_retry from now.
  bool publish(std::shared_ptr<const engine::Snapshot> snapshot);

  // Retries the pending snapshot if its retry is due at `now`, then
  // compares the dataplane with the desired revision (see above). Returns
  // when the next tick is due.
  Clock::time_point tick(Clock::time_point now);

  // Ticks on a thread of its own until stop().
  void start();
  void stop();

  // Called at once with the current state, then on every change, from
  // whichever thread ticks; null detaches.
  void set_serving_listener(ServingListener listener);

  ReconcilerReport report() const;
  // When the pending snapshot is retried next; nullopt when none is pending.
  std::optional<Clock::time_point> next_retry() const;
  Condition condition() const;

 private:
  // One publication of desired_ (mutex_ held); counts, logs and schedules.
  bool attempt_locked(Clock::time_point now);
  std::string reason_locked(Clock::time_point now, uint64_t applied) const;

  DataplaneSink& dataplane_;
  EventHub& events_;
  const ReconcilerOptions options_;

  mutable std::mutex mutex_;  // guards everything below; held over each publication
  std::shared_ptr<const engine::Snapshot> desired_;
  uint64_t published_ = 0;
  bool pending_ = false;  // desired_ not taken by the dataplane yet
  Clock::time_point retry_at_{};
  std::chrono::milliseconds backoff_{0};
  uint64_t attempts_ = 0;
  uint64_t failures_ = 0;
  std::string publish_error_;
  std::optional<Clock::time_point> behind_since_;
  Condition condition_ = Condition::kConverged;
  std::string reason_;
  ServingListener listener_;

  std::mutex tick_mutex_;  // one tick at a time, so that listener calls keep their order
  PeriodicThread thread_;  // last: stopped first
};

}  // namespace sluice::control
