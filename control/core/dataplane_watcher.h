// SPDX-License-Identifier: Apache-2.0
// Turns what a dataplane reports into events, by comparison: the forwarding
// path emits nothing itself (it must not lock, allocate or make syscalls),
// so a control thread reads the workers' generations and circuit states a
// few times a second and publishes what changed since the last look:
//   - WorkerApplied when a worker's generation rises, then RevisionApplied
//     when the lowest generation over all workers rises (every worker
//     forwards with that revision); neither while the dataplane reports a
//     fault (DataplaneSink::fault), the rises then announced once it clears;
//   - CircuitChanged when a backend's circuit state on a worker differs,
//     named by the service, pool and address of the current snapshot
//     (a backend that left the configuration goes without an event).
// A state that lasts less than the polling interval can go unseen; events
// say the state last seen and the state now. Every poll also hands each
// backend suspected on some worker (CircuitState::kSuspected) to the suspect
// listener, once per (service, address), for as long as it stays suspected:
// sluiced confirms suspicions with an active check (HealthMonitor::suspect).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "control/core/dataplane_sink.h"
#include "control/core/event_hub.h"
#include "control/core/periodic_thread.h"
#include "dataplane/engine/snapshot.h"

namespace sluice::control {

class DataplaneWatcher {
 public:
  // The snapshot whose backends to watch (the one last published).
  using SnapshotSource = std::function<std::shared_ptr<const engine::Snapshot>()>;
  using SuspectListener =
      std::function<void(const std::string& service, const engine::IpAddress& address)>;

  // The first poll only records where things are; later ones report changes.
  DataplaneWatcher(const DataplaneSink& dataplane, EventHub& events, SnapshotSource snapshot);
  ~DataplaneWatcher();  // stops the thread
  DataplaneWatcher(const DataplaneWatcher&) = delete;
  DataplaneWatcher& operator=(const DataplaneWatcher&) = delete;

  // Called from poll() (see above); any thread.
  void set_suspect_listener(SuspectListener listener);

  // Compares once and publishes what changed.
  void poll();
  // Polls every `interval` on a thread of its own, until stop().
  void start(std::chrono::milliseconds interval);
  void stop();

 private:
  struct BackendName {
    std::string service;
    std::string pool;
    std::string address;
    engine::IpAddress ip;
  };
  using States = std::map<uint64_t, engine::CircuitState>;  // fingerprint -> not closed

  void poll_generations();
  void poll_circuits();
  // Hands the backends suspected on some worker of `now` to suspect_.
  void report_suspects(const std::vector<States>& now,
                       const std::shared_ptr<const engine::Snapshot>& snapshot);
  // fingerprint -> every (service, pool, address) that has it, for `snapshot`.
  const std::multimap<uint64_t, BackendName>& names_of(
      const std::shared_ptr<const engine::Snapshot>& snapshot);

  const DataplaneSink& dataplane_;
  EventHub& events_;
  const SnapshotSource snapshot_;

  std::mutex poll_mutex_;  // one poll at a time; guards the state below
  SuspectListener suspect_;
  bool baseline_ = false;
  std::vector<uint64_t> generations_;
  uint64_t applied_ = 0;
  std::vector<States> circuits_;  // by worker
  std::shared_ptr<const engine::Snapshot> named_;  // the snapshot `names_` describes
  std::multimap<uint64_t, BackendName> names_;

  PeriodicThread thread_;  // last: stopped first
};

}  // namespace sluice::control
