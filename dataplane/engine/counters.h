// SPDX-License-Identifier: Apache-2.0
// Per-core counters of one engine worker. Each worker owns its block and is
// its only writer (plain increments, no atomics); readers aggregate blocks
// across workers and accept slightly stale values.
//
// Worker-wide counters are declared once, as an X-macro, so the struct, the
// names printed by tools and the exported stats cannot drift apart.
// Traffic per service, pool and backend is indexed by counter slots the
// snapshot compiler assigns by name and never reuses, so counts survive
// configuration changes that reorder backends.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "dataplane/engine/counter_list.h"
#include "dataplane/engine/verdict.h"

namespace sluice::engine {

// The list: counter_list.h (plain C, shared with the XDP program).

struct TrafficCounter {
  uint64_t packets = 0;
  uint64_t bytes = 0;
};

struct WorkerCounters {
#define SLUICE_X(name, help) uint64_t name = 0;
  SLUICE_WORKER_COUNTERS(SLUICE_X)
#undef SLUICE_X
  std::array<uint64_t, kDropReasonCount> drops{};
  // Indexed by counter slot; sized once when the worker starts.
  std::vector<TrafficCounter> services;
  std::vector<TrafficCounter> pools;
  std::vector<TrafficCounter> backends;

  // Adds another worker's counts (for aggregation by readers).
  void add(const WorkerCounters& other);
};

inline void WorkerCounters::add(const WorkerCounters& other) {
#define SLUICE_X(name, help) name += other.name;
  SLUICE_WORKER_COUNTERS(SLUICE_X)
#undef SLUICE_X
  for (int i = 0; i < kDropReasonCount; ++i) drops[i] += other.drops[i];
  auto add_vec = [](std::vector<TrafficCounter>& to, const std::vector<TrafficCounter>& from) {
    if (to.size() < from.size()) to.resize(from.size());
    for (size_t i = 0; i < from.size(); ++i) {
      to[i].packets += from[i].packets;
      to[i].bytes += from[i].bytes;
    }
  };
  add_vec(services, other.services);
  add_vec(pools, other.pools);
  add_vec(backends, other.backends);
}

}  // namespace sluice::engine
