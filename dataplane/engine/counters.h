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
#include <iterator>
#include <vector>

#include "dataplane/engine/counter_list.h"
#include "dataplane/engine/signal_list.h"
#include "dataplane/engine/verdict.h"

namespace sluice::engine {

// The list: counter_list.h (plain C, shared with the XDP program).

// The golden signals of one service, pool or backend counter slot
// (SLUICE_SLOT_SIGNALS in signal_list.h: packets, bytes, new_flows,
// handshakes_completed, ...).
struct TrafficCounter {
#define SLUICE_X(name, help) uint64_t name = 0;
  SLUICE_SLOT_SIGNALS(SLUICE_X)
#undef SLUICE_X

  void add(const TrafficCounter& other) {
#define SLUICE_X(name, help) name += other.name;
    SLUICE_SLOT_SIGNALS(SLUICE_X)
#undef SLUICE_X
  }
};

// Handshake times of one pool or backend slot (signal_list.h); zeroed.
struct HandshakeHistogram : sluice_handshake_histogram {
  HandshakeHistogram() : sluice_handshake_histogram{} {}

  void record(uint32_t ms) {
    buckets[sluice_handshake_bucket(ms)]++;
    sum_ms += ms;
  }
  uint64_t count() const {
    uint64_t n = 0;
    for (unsigned long long b : buckets) n += b;
    return n;
  }
  void add(const sluice_handshake_histogram& other) {
    for (int i = 0; i < SLUICE_HANDSHAKE_BUCKETS; ++i) buckets[i] += other.buckets[i];
    sum_ms += other.sum_ms;
  }
};

// The bucket bounds in ms, in order (the last bucket, +Inf, has none).
inline constexpr uint32_t kHandshakeBoundsMs[] = {
#define SLUICE_X(bound) bound,
    SLUICE_HANDSHAKE_BOUNDS_MS(SLUICE_X)
#undef SLUICE_X
};
static_assert(std::size(kHandshakeBoundsMs) + 1 == SLUICE_HANDSHAKE_BUCKETS);

struct WorkerCounters {
#define SLUICE_X(name, help) uint64_t name = 0;
  SLUICE_WORKER_COUNTERS(SLUICE_X)
#undef SLUICE_X
  std::array<uint64_t, kDropReasonCount> drops{};
  // Indexed by counter slot; sized once when the worker starts.
  std::vector<TrafficCounter> services;
  std::vector<TrafficCounter> pools;
  std::vector<TrafficCounter> backends;
  // Handshake-time histograms, indexed by pool and backend counter slot.
  std::vector<HandshakeHistogram> pool_handshakes;
  std::vector<HandshakeHistogram> backend_handshakes;

  // Adds another worker's counts (for aggregation by readers).
  void add(const WorkerCounters& other);
};

inline void WorkerCounters::add(const WorkerCounters& other) {
#define SLUICE_X(name, help) name += other.name;
  SLUICE_WORKER_COUNTERS(SLUICE_X)
#undef SLUICE_X
  for (int i = 0; i < kDropReasonCount; ++i) drops[i] += other.drops[i];
  auto add_vec = [](auto& to, const auto& from) {
    if (to.size() < from.size()) to.resize(from.size());
    for (size_t i = 0; i < from.size(); ++i) to[i].add(from[i]);
  };
  add_vec(services, other.services);
  add_vec(pools, other.pools);
  add_vec(backends, other.backends);
  add_vec(pool_handshakes, other.pool_handshakes);
  add_vec(backend_handshakes, other.backend_handshakes);
}

}  // namespace sluice::engine
