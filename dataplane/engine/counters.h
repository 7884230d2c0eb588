// SPDX-License-Identifier: Apache-2.0
// Per-core counters of one engine worker. Each worker owns its block and is
// its only writer (relaxed atomic load and store, relaxed.h: plain moves on
// x86-64, no read-modify-write); readers on other threads copy a block with
// read_counters() and accept slightly stale values, each one whole.
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
#include "dataplane/engine/relaxed.h"
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

  // By the worker that owns it (relaxed.h).
  void record(uint32_t ms) {
    relaxed_inc(buckets[sluice_handshake_bucket(ms)]);
    relaxed_add(sum_ms, ms);
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

  // Adds another worker's counts (for aggregation by readers, on copies).
  void add(const WorkerCounters& other);
};

// A copy of a block its worker is counting into, from another thread: every
// value loaded whole (relaxed.h). The vectors are sized before the worker
// starts and never resized, so their sizes are read plainly.
inline WorkerCounters read_counters(const WorkerCounters& live) {
  WorkerCounters out;
#define SLUICE_X(name, help) out.name = relaxed_load(live.name);
  SLUICE_WORKER_COUNTERS(SLUICE_X)
#undef SLUICE_X
  for (int i = 0; i < kDropReasonCount; ++i) out.drops[i] = relaxed_load(live.drops[i]);
  auto traffic = [](std::vector<TrafficCounter>& to, const std::vector<TrafficCounter>& from) {
    to.resize(from.size());
    for (size_t i = 0; i < from.size(); ++i) {
#define SLUICE_X(name, help) to[i].name = relaxed_load(from[i].name);
      SLUICE_SLOT_SIGNALS(SLUICE_X)
#undef SLUICE_X
    }
  };
  auto histograms = [](std::vector<HandshakeHistogram>& to,
                       const std::vector<HandshakeHistogram>& from) {
    to.resize(from.size());
    for (size_t i = 0; i < from.size(); ++i) {
      for (int b = 0; b < SLUICE_HANDSHAKE_BUCKETS; ++b) {
        to[i].buckets[b] = relaxed_load(from[i].buckets[b]);
      }
      to[i].sum_ms = relaxed_load(from[i].sum_ms);
    }
  };
  traffic(out.services, live.services);
  traffic(out.pools, live.pools);
  traffic(out.backends, live.backends);
  histograms(out.pool_handshakes, live.pool_handshakes);
  histograms(out.backend_handshakes, live.backend_handshakes);
  return out;
}

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
