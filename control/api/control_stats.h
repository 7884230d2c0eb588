// SPDX-License-Identifier: Apache-2.0
// The dataplane's counters as the control API reports them (GetStats, and
// sluiced's stats file): by name, never by counter slot. Built by
// control/core/stats_summary.h from what a DataplaneSink samples and the
// snapshot that names the slots; mapped onto GetStatsResponse by
// control/api/stats_messages.h.
#pragma once

#include <cstdint>
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

struct BackendStats {
  engine::IpAddress address;
  engine::BackendState state = engine::BackendState::kActive;
  uint32_t weight = 1;
  engine::TrafficCounter traffic;
  std::vector<engine::CircuitState> circuits;  // by worker index
};

struct PoolStats {
  std::string name;
  uint32_t weight = 0;
  engine::TrafficCounter traffic;
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
  std::vector<WorkerStats> workers;
  EngineStats total;
  std::vector<ServiceStats> services;
};

// "closed", "open", "half-open".
inline const char* circuit_state_name(engine::CircuitState state) {
  switch (state) {
    case engine::CircuitState::kClosed: return "closed";
    case engine::CircuitState::kOpen: return "open";
    case engine::CircuitState::kHalfOpen: return "half-open";
  }
  return "unknown";
}

}  // namespace sluice::control
