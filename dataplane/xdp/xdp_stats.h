// SPDX-License-Identifier: Apache-2.0
// Reading what the XDP program counts, in the engine's terms, so sluiced
// reports an XDP appliance as it reports a DPDK one: each possible CPU is a
// worker with its engine::WorkerCounters (the per-CPU "counters" block, its
// golden signals per counter slot and its handshake histograms per pool and
// backend slot) and its circuit breakers (the per-CPU "circuits" map, read
// with the engine's own state function).
//
// Control-thread reads of maps the program writes without atomics: counter
// values may be a moment stale (as the DPDK runtime's), never torn beyond
// one 8-byte counter; circuits are read by their sequence (circuit_read.h):
// as one change left them, or skipped and reported in their last known
// state, never torn.
#pragma once

#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "dataplane/engine/circuit.h"
#include "dataplane/engine/counters.h"
#include "dataplane/engine/snapshot.h"
#include "dataplane/xdp/xdp_maps.h"

namespace sluice::xdp {

// How many counter slots of each kind to read (SnapshotCompiler's
// service_slots() etc.); slots beyond the maps' size are not counted.
struct CounterSlots {
  uint32_t services = 0;
  uint32_t pools = 0;
  uint32_t backends = 0;
};

// A backend's circuit on one CPU, when it is not closed.
struct XdpCircuit {
  uint64_t fingerprint = 0;
  engine::CircuitState state = engine::CircuitState::kOpen;
};

// The circuit breakers of one CPU.
struct XdpCpuCircuits {
  uint32_t tracked = 0;  // backends with state on this CPU (not the default)
  std::vector<XdpCircuit> not_closed;  // of the backends asked about
  // Circuit copies of this CPU the program kept changing through every read
  // attempt, since the reader was made: reported in their last known state.
  uint64_t reads_skipped = 0;
};

class XdpStatsReader {
 public:
  // Throws XdpError when the maps lack "counters" or "circuits".
  explicit XdpStatsReader(const XdpMaps& maps);

  int possible_cpus() const { return cpus_; }
  uint32_t circuits_capacity() const { return circuits_capacity_; }

  // Counters of every possible CPU (index = CPU number), traffic and
  // histogram vectors sized to `slots` (at most the maps' size). The
  // handshakes_expired the flow census found (flow_census.h) are not in
  // them: the caller adds those. Throws XdpError.
  std::vector<engine::WorkerCounters> read_counters(const CounterSlots& slots) const;

  // Circuit breakers of every possible CPU: how many backends hold state,
  // and which of the backends of `snapshot` (none when null) are not closed
  // at `now_ms` (the program's clock: now_ms()). A CPU's value that changed
  // through every read attempt is taken from the previous call's reading
  // (none: no state), and counted in reads_skipped. Throws XdpError.
  std::vector<XdpCpuCircuits> read_circuits(const engine::Snapshot* snapshot,
                                            uint32_t now_ms) const;

  // The program's clock: wrapping milliseconds of CLOCK_MONOTONIC_COARSE,
  // which bpf_ktime_get_coarse_ns() reads (ebpf/xdp/lib/clock.h).
  static uint32_t now_ms();

 private:
  // Traffic of `count` slots of one kind, into every CPU's vector.
  void read_traffic(int fd, const char* map, uint32_t count,
                    std::vector<engine::TrafficCounter> engine::WorkerCounters::*kind,
                    std::vector<engine::WorkerCounters>& out) const;
  // Handshake histograms of `count` slots of one kind, likewise.
  void read_handshakes(int fd, const char* map, uint32_t count,
                       std::vector<engine::HandshakeHistogram> engine::WorkerCounters::*kind,
                       std::vector<engine::WorkerCounters>& out) const;

  XdpMaps maps_;
  int cpus_ = 0;
  uint32_t circuits_capacity_ = 0;
  uint32_t counter_slots_ = 0;  // size of each traffic map
  // Per CPU, the last consistent copy of each key read_circuits found with
  // state (what a skipped copy falls back to; only keys still in the map),
  // and the copies skipped so far.
  mutable std::mutex circuits_mutex_;
  mutable std::vector<std::unordered_map<uint64_t, sluice_circuit>> last_circuits_;
  mutable std::vector<uint64_t> reads_skipped_;
};

}  // namespace sluice::xdp
