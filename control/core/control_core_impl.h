// SPDX-License-Identifier: Apache-2.0
// ControlCore's implementation: the one place where the desired state
// changes.
//
// Each mutation, under one mutex (mutations are rare and must be totally
// ordered):
//   1. permission and compare-and-set (expected_revision) checks;
//   2. the change applied to a copy of the state;
//   3. the whole resulting configuration validated and compiled into an
//      engine snapshot (nothing is published or saved if anything fails);
//   4. dry run: audited and answered here;
//   5. the new state saved durably at revision + 1 (a failed save changes
//      nothing), audited, announced as a ConfigChanged event, then handed
//      to the Reconciler (reconciler.h), which publishes it with
//      generation == revision and retries, with backoff, while the
//      dataplane refuses it;
//   6. outside the mutex, optionally waiting until every worker forwards
//      with the new generation.
// Generation numbers equal revisions, so "applied" means "every worker
// forwards with this revision or a later one, the dataplane took it, and
// it reports no fault" (DataplaneSink::fault).
//
// The core also owns the event hub (event_hub.h) behind WatchEvents; the
// daemon's DataplaneWatcher publishes the dataplane's events into it.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "control/api/control_core.h"
#include "control/core/dataplane_sink.h"
#include "control/core/event_hub.h"
#include "control/core/flow_census_cache.h"
#include "control/core/health_tracker.h"
#include "control/core/reconciler.h"
#include "control/state/state_store.h"
#include "dataplane/engine/snapshot.h"

namespace sluice::control {

struct ControlCoreOptions {
  sluice_hash_seed seed{};
  engine::ForwardingConfig forwarding;
  std::string version = "0.1.0";
  EventHubOptions events;
  ReconcilerOptions reconciler;
};

class ControlCoreImpl final : public ControlCore {
 public:
  ControlCoreImpl(const ControlCoreOptions& options, StateStore& store, AuditLog& audit,
                  DataplaneSink& dataplane);

  // Loads the saved state and publishes it (generation == its revision).
  // False, with *error, when the state cannot be loaded or compiled: the
  // daemon must then refuse to start.
  bool start(std::string* error);

  // ControlCore
  MutationResult apply_service(const Caller& caller, const engine::ServiceConfig& service,
                               const MutationOptions& options) override;
  MutationResult delete_service(const Caller& caller, const std::string& name,
                                const MutationOptions& options) override;
  MutationResult set_weights(const Caller& caller, const std::string& service,
                             const std::map<std::string, uint32_t>& weights,
                             const MutationOptions& options) override;
  MutationResult set_backend_state(const Caller& caller, const std::string& service,
                                   const engine::IpAddress& backend, engine::BackendState state,
                                   const MutationOptions& options) override;
  std::optional<engine::ServiceConfig> get_service(const std::string& name,
                                                   uint64_t* revision) const override;
  std::vector<engine::ServiceConfig> list_services(uint64_t* revision) const override;
  ControlStatus status() const override;
  FlowAnswer explain_flow(const FlowQuery& query, uint64_t* revision) const override;
  StatsResult stats(const std::string& service) const override;
  DrainResult drain_status(const DrainQuery& query) const override;
  SubscribeResult watch_events(std::optional<uint64_t> start) override;
  void audit_refusal(const Caller& caller, const std::string& method, const std::string& service,
                     bool dry_run, const std::string& reason) override;

  // The snapshot currently published (for stats and explain).
  std::shared_ptr<const engine::Snapshot> snapshot() const;
  // Where events are published (configuration changes by the core itself,
  // the dataplane's by a DataplaneWatcher); close() it at shutdown to end
  // every WatchEvents stream.
  EventHub& events() { return events_; }
  // The live-flow census behind stats and drain status; the daemon starts
  // its thread (tests may call fresh() instead).
  FlowCensusCache& census() { return census_; }
  // Retries refused publications and says whether the dataplane has
  // converged; the daemon starts its thread (tests may call tick()).
  Reconciler& reconciler() { return reconciler_; }
  // Active health checking, told of every publication from now on (and of
  // the current snapshot at once). Not owned; null detaches.
  void set_health_tracker(HealthTracker* tracker);

 private:
  // Changes `services` in place, or returns the error that refuses the call.
  using Change = std::function<std::optional<CallError>(std::vector<engine::ServiceConfig>&,
                                                        std::string& summary)>;
  MutationResult mutate(const Caller& caller, const char* method, const std::string& service,
                        const MutationOptions& options, const Change& change);
  engine::EngineConfig engine_config(const std::vector<engine::ServiceConfig>& services) const;
  uint64_t uptime_ms() const;
  // Publishes snapshot_ and tells the health tracker (mutex_ held).
  void publish_locked();
  // True once `revision` is applied (see the top) before `until`; else
  // false with the error that says why.
  bool wait_applied(uint64_t revision, std::chrono::steady_clock::time_point until,
                    CallError* why);
  void audit(const Caller& caller, const std::string& method, const std::string& service,
             uint64_t before, uint64_t after, bool accepted, bool dry_run,
             const std::string& summary);

  const ControlCoreOptions options_;
  StateStore& store_;
  AuditLog& audit_;
  DataplaneSink& dataplane_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  EventHub events_;
  // After events_ and dataplane_, which its thread uses.
  Reconciler reconciler_;

  mutable std::mutex mutex_;  // guards everything below
  HealthTracker* health_ = nullptr;
  DesiredState state_;
  engine::SnapshotCompiler compiler_;
  std::shared_ptr<const engine::Snapshot> snapshot_;

  // Last: its thread reads snapshot_ through snapshot(), so it must stop
  // (be destroyed) before the members above are.
  mutable FlowCensusCache census_;
};

}  // namespace sluice::control
