// SPDX-License-Identifier: Apache-2.0
// The dataplane's counters as the control API reports them (GetStats, and
// sluiced's stats file): by name, never by counter slot. Built by
// control/core/stats_summary.h from what a DataplaneSink samples and the
// snapshot that names the slots; mapped onto GetStatsResponse by
// control/api/stats_messages.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/engine/circuit.h"
#include "dataplane/engine/config.h"
#include "dataplane/engine/counters.h"

namespace sluice::control {

struct NamedCounter {
  std::string name;
  uint64_t value = 0;
};

// One worker's counters, or their sum over workers.
struct EngineStats {
  std::vector<NamedCounter> counters;   // SLUICE_WORKER_COUNTERS, in order
  std::vector<NamedCounter> drops;      // every drop reason but "none", in order
  engine::CircuitStats circuits;
  uint32_t circuits_tracked = 0;
  uint32_t circuits_capacity = 0;
  std::vector<NamedCounter> dataplane;  // the dataplane's own, by name
};

struct WorkerStats {
  uint32_t worker = 0;
  uint64_t generation = 0;
  std::string label;  // "lcore 1"
  EngineStats stats;
};

// Live flows of a backend or pool, from the latest flow census
// (DataplaneSink::flow_census: bounded-error, taken about once a second).
struct ActiveFlows {
  uint64_t flows = 0;
  std::vector<uint64_t> by_worker;  // by worker index
  uint32_t oldest_age_ms = 0;       // 0 when there is no flow
  // Since the most recent packet of any live flow; nullopt without flows.
  std::optional<uint32_t> newest_idle_ms;

  void add(const ActiveFlows& other);
};

// A backend's active health checks, as sluiced's checker sees them.
enum class HealthState : uint8_t { kUnknown, kHealthy, kUnhealthy };

// "unknown", "healthy", "unhealthy".
inline const char* health_state_name(HealthState s) {
  switch (s) {
    case HealthState::kUnknown: return "unknown";
    case HealthState::kHealthy: return "healthy";
    case HealthState::kUnhealthy: return "unhealthy";
  }
  return "unknown";
}

struct BackendHealth {
  HealthState state = HealthState::kUnknown;
  bool checked = false;         // the service (or pool) has an active check
  std::string last_result;      // "ok", "connect refused", "status 503", ...
  uint64_t transitions = 0;     // healthy <-> unhealthy changes since sluiced started
  uint64_t checks = 0;          // checks finished
  uint64_t failures = 0;        // of them, failed
  uint64_t since_ms = 0;        // sluiced uptime when the state was entered
};

struct BackendStats {
  engine::IpAddress address;
  engine::BackendState state = engine::BackendState::kActive;
  uint32_t weight = 1;
  engine::TrafficCounter traffic;  // every golden signal (signal_list.h)
  engine::HandshakeHistogram handshakes;
  std::vector<engine::CircuitState> circuits;  // by worker index
  ActiveFlows active;
  BackendHealth health;
};

struct PoolStats {
  std::string name;
  uint32_t weight = 0;
  engine::TrafficCounter traffic;
  engine::HandshakeHistogram handshakes;
  ActiveFlows active;  // the sum of its backends'
  std::vector<BackendStats> backends;
};

struct ServiceStats {
  std::string name;
  engine::TrafficCounter traffic;
  std::vector<PoolStats> pools;
};

struct ControlStats {
  uint64_t uptime_ms = 0;   // when sampled
  uint64_t revision = 0;    // of the snapshot whose names label the traffic
  std::string dataplane;    // "dpdk", "none", ...
  uint64_t desired_revision = 0;   // the saved configuration's revision
  uint64_t census_age_ms = 0;      // how old the active-flow figures are
  uint64_t census_duration_us = 0; // how long that census took
  std::vector<WorkerStats> workers;
  EngineStats total;
  std::vector<ServiceStats> services;
};

inline void ActiveFlows::add(const ActiveFlows& other) {
  flows += other.flows;
  if (by_worker.size() < other.by_worker.size()) by_worker.resize(other.by_worker.size());
  for (size_t i = 0; i < other.by_worker.size(); ++i) by_worker[i] += other.by_worker[i];
  if (other.flows > 0) {
    if (other.oldest_age_ms > oldest_age_ms) oldest_age_ms = other.oldest_age_ms;
    if (other.newest_idle_ms && (!newest_idle_ms || *other.newest_idle_ms < *newest_idle_ms)) {
      newest_idle_ms = other.newest_idle_ms;
    }
  }
}

// "closed", "open", "half-open".
inline const char* circuit_state_name(engine::CircuitState state) {
  switch (state) {
    case engine::CircuitState::kClosed: return "closed";
    case engine::CircuitState::kOpen: return "open";
    case engine::CircuitState::kHalfOpen: return "half-open";
    case engine::CircuitState::kSuspected: return "suspected";
  }
  return "unknown";
}

}  // namespace sluice::control
