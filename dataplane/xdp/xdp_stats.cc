// SPDX-License-Identifier: Apache-2.0
#include "dataplane/xdp/xdp_stats.h"

#include <bpf/libbpf.h>
#include <time.h>

#include <algorithm>
#include <unordered_set>

#include "dataplane/engine/circuit_logic.h"
#include "dataplane/xdp/circuit_read.h"
#include "dataplane/xdp/map_io.h"
#include "ebpf/xdp/xdp_layout.h"

namespace sluice::xdp {
namespace {

static_assert(SLUICE_DROP_REASON_COUNT == engine::kDropReasonCount,
              "the program's drop counters and the engine's DropReason list differ");
// Per-CPU values are copied in 8-byte-aligned strides; these need no rounding.
static_assert(sizeof(sluice_xdp_counters) % 8 == 0);
static_assert(sizeof(sluice_xdp_traffic) % 8 == 0);
static_assert(sizeof(sluice_handshake_histogram) % 8 == 0);
// The program's slot counters are the engine's TrafficCounter, field for
// field (both expand SLUICE_SLOT_SIGNALS).
static_assert(sizeof(sluice_xdp_traffic) == sizeof(engine::TrafficCounter));

engine::WorkerCounters to_engine(const sluice_xdp_counters& c) {
  engine::WorkerCounters w;
#define SLUICE_X(name, help) w.name = c.name;
  SLUICE_WORKER_COUNTERS(SLUICE_X)
#undef SLUICE_X
  std::copy(std::begin(c.drops), std::end(c.drops), w.drops.begin());
  return w;
}

engine::TrafficCounter to_engine(const sluice_xdp_traffic& t) {
  engine::TrafficCounter out;
#define SLUICE_X(name, help) out.name = t.name;
  SLUICE_SLOT_SIGNALS(SLUICE_X)
#undef SLUICE_X
  return out;
}

engine::CircuitState to_engine(uint8_t state) {
  switch (state) {
    case SLUICE_CIRCUIT_OPEN: return engine::CircuitState::kOpen;
    case SLUICE_CIRCUIT_SUSPECTED: return engine::CircuitState::kSuspected;
    case SLUICE_CIRCUIT_HALF_OPEN: return engine::CircuitState::kHalfOpen;
    default: return engine::CircuitState::kClosed;
  }
}

// Reads `count` slots of a per-CPU array map of Raw values (each slot one
// value per possible CPU) into the `kind` vector of each CPU's
// WorkerCounters, storing each with store(engine_value, raw_value).
template <typename Raw, typename Engine, typename Store>
void read_per_cpu_slots(int fd, const char* map, uint32_t count, size_t cpus,
                        std::vector<Engine> engine::WorkerCounters::*kind,
                        std::vector<engine::WorkerCounters>& out, Store&& store) {
  std::vector<Raw> values(count * cpus);
  read_array(fd, map, count, sizeof(Raw) * cpus, values.data());
  for (size_t cpu = 0; cpu < cpus; ++cpu) {
    std::vector<Engine>& v = out[cpu].*kind;
    v.resize(count);
    for (size_t slot = 0; slot < count; ++slot) store(v[slot], values[slot * cpus + cpu]);
  }
}

}  // namespace

XdpStatsReader::XdpStatsReader(const XdpMaps& maps) : maps_(maps) {
  if (maps_.counters < 0 || maps_.circuits < 0) {
    throw XdpError("the XDP program has no \"counters\" or \"circuits\" map to read stats from");
  }
  cpus_ = libbpf_num_possible_cpus();
  if (cpus_ <= 0) throw XdpError("cannot count the possible CPUs (/sys/devices/system/cpu/possible)");
  circuits_capacity_ = map_max_entries(maps_.circuits, "circuits");
  counter_slots_ = std::min({map_max_entries(maps_.service_traffic, "service_traffic"),
                             map_max_entries(maps_.pool_traffic, "pool_traffic"),
                             map_max_entries(maps_.backend_traffic, "backend_traffic"),
                             map_max_entries(maps_.pool_handshakes, "pool_handshakes"),
                             map_max_entries(maps_.backend_handshakes, "backend_handshakes")});
}

uint32_t XdpStatsReader::now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  const uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
  return static_cast<uint32_t>(ns / 1000000);
}

std::vector<engine::WorkerCounters> XdpStatsReader::read_counters(const CounterSlots& slots) const {
  const auto cpus = static_cast<size_t>(cpus_);
  std::vector<sluice_xdp_counters> blocks(cpus);
  read_array(maps_.counters, "counters", 1, sizeof(sluice_xdp_counters) * cpus, blocks.data());
  std::vector<engine::WorkerCounters> out;
  out.reserve(cpus);
  for (const sluice_xdp_counters& c : blocks) out.push_back(to_engine(c));
  read_traffic(maps_.service_traffic, "service_traffic", slots.services,
               &engine::WorkerCounters::services, out);
  read_traffic(maps_.pool_traffic, "pool_traffic", slots.pools, &engine::WorkerCounters::pools, out);
  read_traffic(maps_.backend_traffic, "backend_traffic", slots.backends,
               &engine::WorkerCounters::backends, out);
  read_handshakes(maps_.pool_handshakes, "pool_handshakes", slots.pools,
                  &engine::WorkerCounters::pool_handshakes, out);
  read_handshakes(maps_.backend_handshakes, "backend_handshakes", slots.backends,
                  &engine::WorkerCounters::backend_handshakes, out);
  return out;
}

void XdpStatsReader::read_traffic(int fd, const char* map, uint32_t count,
                                  std::vector<engine::TrafficCounter> engine::WorkerCounters::*kind,
                                  std::vector<engine::WorkerCounters>& out) const {
  read_per_cpu_slots<sluice_xdp_traffic>(
      fd, map, std::min(count, counter_slots_), static_cast<size_t>(cpus_), kind, out,
      [](engine::TrafficCounter& to, const sluice_xdp_traffic& from) { to = to_engine(from); });
}

void XdpStatsReader::read_handshakes(
    int fd, const char* map, uint32_t count,
    std::vector<engine::HandshakeHistogram> engine::WorkerCounters::*kind,
    std::vector<engine::WorkerCounters>& out) const {
  read_per_cpu_slots<sluice_handshake_histogram>(
      fd, map, std::min(count, counter_slots_), static_cast<size_t>(cpus_), kind, out,
      [](engine::HandshakeHistogram& to, const sluice_handshake_histogram& from) { to.add(from); });
}

std::vector<XdpCpuCircuits> XdpStatsReader::read_circuits(const engine::Snapshot* snapshot,
                                                          uint32_t now_ms) const {
  std::unordered_set<uint64_t> asked;
  if (snapshot) {
    for (const engine::CompiledService& svc : snapshot->services()) {
      for (const engine::CompiledBackend& b : svc.backends) asked.insert(b.fingerprint);
    }
  }
  const auto cpus = static_cast<size_t>(cpus_);
  std::vector<XdpCpuCircuits> out(cpus);
  std::vector<sluice_circuit> per_cpu;
  std::vector<uint8_t> skipped;
  std::lock_guard<std::mutex> lock(circuits_mutex_);
  last_circuits_.resize(cpus);
  reads_skipped_.resize(cpus);
  std::vector<std::unordered_map<uint64_t, sluice_circuit>> seen(cpus);
  // Only backends that have misbehaved somewhere hold a key: a short walk.
  for (const uint64_t fp : all_keys<uint64_t>(maps_.circuits, "circuits")) {
    const CircuitLookup lookup = [&](sluice_circuit* values) {
      return lookup_element(maps_.circuits, "circuits", &fp, values);
    };
    if (!read_circuit_consistent(lookup, cpus, per_cpu, skipped)) continue;  // evicted
    for (size_t cpu = 0; cpu < cpus; ++cpu) {
      sluice_circuit c = per_cpu[cpu];
      if (skipped[cpu]) {
        ++reads_skipped_[cpu];
        const auto it = last_circuits_[cpu].find(fp);
        c = it == last_circuits_[cpu].end() ? sluice_circuit{} : it->second;
      }
      if (c.phase == SLUICE_CIRCUIT_FREE) continue;
      seen[cpu].emplace(fp, c);
      ++out[cpu].tracked;
      const engine::CircuitState state = to_engine(sluice_circuit_state(&c, now_ms));
      if (state != engine::CircuitState::kClosed && asked.count(fp)) {
        out[cpu].not_closed.push_back({fp, state});
      }
    }
  }
  last_circuits_ = std::move(seen);
  for (size_t cpu = 0; cpu < cpus; ++cpu) out[cpu].reads_skipped = reads_skipped_[cpu];
  return out;
}

}  // namespace sluice::xdp
