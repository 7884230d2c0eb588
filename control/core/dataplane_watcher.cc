// SPDX-License-Identifier: Apache-2.0
#include "control/core/dataplane_watcher.h"

#include <algorithm>
#include <set>

namespace sluice::control {

DataplaneWatcher::DataplaneWatcher(const DataplaneSink& dataplane, EventHub& events,
                                   SnapshotSource snapshot)
    : dataplane_(dataplane), events_(events), snapshot_(std::move(snapshot)) {}

DataplaneWatcher::~DataplaneWatcher() { stop(); }

void DataplaneWatcher::set_suspect_listener(SuspectListener listener) {
  std::lock_guard lock(poll_mutex_);
  suspect_ = std::move(listener);
}

void DataplaneWatcher::poll() {
  std::lock_guard lock(poll_mutex_);
  poll_generations();
  poll_circuits();
  baseline_ = true;
}

void DataplaneWatcher::poll_generations() {
  // While the dataplane has a fault its generations say nothing about what
  // forwards (the maps move, the program may be gone): no "applied" is
  // announced then; whatever moved is announced once the fault clears.
  if (!dataplane_.fault().empty()) return;
  const std::vector<uint64_t> now = dataplane_.worker_generations();
  if (now.empty()) return;
  const uint64_t lowest = *std::min_element(now.begin(), now.end());
  if (baseline_ && now.size() == generations_.size()) {
    for (uint32_t w = 0; w < now.size(); ++w) {
      if (now[w] > generations_[w]) events_.publish(WorkerAppliedEvent{w, now[w]});
    }
    if (lowest > applied_) {
      events_.publish(RevisionAppliedEvent{lowest, static_cast<uint32_t>(now.size())});
    }
  }
  generations_ = now;
  applied_ = lowest;
}

const std::multimap<uint64_t, DataplaneWatcher::BackendName>& DataplaneWatcher::names_of(
    const std::shared_ptr<const engine::Snapshot>& snapshot) {
  if (named_ != snapshot) {
    named_ = snapshot;
    names_.clear();
    for (const engine::CompiledService& s : snapshot->services()) {
      for (const engine::CompiledBackend& b : s.backends) {
        names_.emplace(b.fingerprint,
                       BackendName{s.config.name, s.pools[b.pool].name, b.address.to_string(),
                                   b.address});
      }
    }
  }
  return names_;
}

void DataplaneWatcher::poll_circuits() {
  const std::shared_ptr<const engine::Snapshot> snapshot = snapshot_();
  if (!snapshot) return;
  const std::vector<std::vector<CircuitSample>> samples = dataplane_.circuit_states(*snapshot);
  std::vector<States> now(samples.size());
  for (size_t w = 0; w < samples.size(); ++w) {
    for (const CircuitSample& c : samples[w]) now[w][c.fingerprint] = c.state;
  }
  if (baseline_ && now.size() == circuits_.size()) {
    const auto& names = names_of(snapshot);
    auto state_in = [](const States& states, uint64_t fp) {
      auto it = states.find(fp);
      return it == states.end() ? engine::CircuitState::kClosed : it->second;
    };
    for (uint32_t w = 0; w < now.size(); ++w) {
      // Fingerprints not closed before or now: the only ones that can differ.
      States changed = circuits_[w];
      changed.insert(now[w].begin(), now[w].end());
      for (const auto& [fp, ignored] : changed) {
        const engine::CircuitState from = state_in(circuits_[w], fp);
        const engine::CircuitState to = state_in(now[w], fp);
        if (from == to) continue;
        auto [first, last] = names.equal_range(fp);
        for (auto it = first; it != last; ++it) {
          const BackendName& n = it->second;
          events_.publish(CircuitChangedEvent{n.service, n.pool, n.address, w, from, to});
        }
      }
    }
  }
  report_suspects(now, snapshot);
  circuits_ = std::move(now);
}

void DataplaneWatcher::report_suspects(const std::vector<States>& now,
                                       const std::shared_ptr<const engine::Snapshot>& snapshot) {
  if (!suspect_) return;
  std::set<uint64_t> suspected;
  for (const States& states : now) {
    for (const auto& [fp, state] : states) {
      if (state == engine::CircuitState::kSuspected) suspected.insert(fp);
    }
  }
  if (suspected.empty()) return;
  const auto& names = names_of(snapshot);
  for (const uint64_t fp : suspected) {
    auto [first, last] = names.equal_range(fp);
    for (auto it = first; it != last; ++it) suspect_(it->second.service, it->second.ip);
  }
}

void DataplaneWatcher::start(std::chrono::milliseconds interval) {
  thread_.start([this, interval] {
    poll();
    return PeriodicThread::Clock::now() + interval;
  });
}

void DataplaneWatcher::stop() { thread_.stop(); }

}  // namespace sluice::control
