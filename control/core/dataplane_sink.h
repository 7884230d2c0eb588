// SPDX-License-Identifier: Apache-2.0
// What the control core needs from a dataplane: publish a compiled snapshot,
// learn which generation each worker forwards with, and read each worker's
// counters and circuit states. The DPDK runtime provides it in
// control/daemon/dpdk_dataplane_sink.h; tests use
// tests/mocks/control/fake_dataplane_sink.h; an XDP dataplane implements
// the same interface.
//
// Everything here is plain C++ and engine types: no DPDK, libbpf or kernel
// types, so any dataplane that runs the engine's decision logic can report
// in these terms. A "worker" is whatever forwards on its own with its own
// flow table, counters and circuit table: a DPDK lcore, or an XDP program
// instance per CPU. Readers call from control threads while workers
// forward: values may be a moment stale, never torn pointers.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/engine/circuit.h"
#include "dataplane/engine/counters.h"
#include "dataplane/engine/flow_census.h"
#include "dataplane/engine/snapshot.h"

namespace sluice::control {

// A backend's circuit on one worker, when it is not closed.
struct CircuitSample {
  uint64_t fingerprint = 0;  // CompiledBackend::fingerprint
  engine::CircuitState state = engine::CircuitState::kOpen;
};

// What one worker reports.
struct WorkerSample {
  uint64_t generation = 0;  // of the snapshot it forwards with
  std::string label;        // where it runs, for people: "lcore 1", "cpu 3"
  // The engine's counters; traffic vectors are indexed by the counter slots
  // of the snapshot (CompiledService/Pool/Backend::counter_slot).
  engine::WorkerCounters counters;
  engine::CircuitStats circuits;
  uint32_t circuits_tracked = 0;
  uint32_t circuits_capacity = 0;
  // The dataplane's own counters, by name, in a fixed order (DPDK: NIC
  // queue and TAP; XDP: its map counters). May be empty.
  std::vector<std::pair<std::string, uint64_t>> dataplane_counters;
  // Every backend of the snapshot asked about whose circuit is not closed
  // on this worker (an open circuit whose ejection time has passed counts
  // as half-open). Closed is the default and is left out.
  std::vector<CircuitSample> circuits_not_closed;
};

struct DataplaneStats {
  std::vector<WorkerSample> workers;  // by worker index
};

// The live flows of every worker, per backend counter slot
// (engine/flow_census.h), taken off the workers.
struct FlowCensus {
  std::chrono::steady_clock::time_point taken_at{};
  std::chrono::microseconds duration{0};       // how long the scan took
  std::vector<std::vector<engine::SlotFlows>> workers;  // by worker index, each by slot
  std::vector<std::string> labels;             // by worker index, as WorkerSample::label
};

class DataplaneSink {
 public:
  virtual ~DataplaneSink() = default;
  virtual std::string kind() const = 0;  // "dpdk", ...
  // Why `snapshot` cannot be published on this dataplane although it is a
  // valid configuration (an XDP map too small for it, say); empty when it
  // can. Called before a change is saved, so that nothing is accepted that
  // the dataplane would refuse.
  virtual std::vector<std::string> check(const engine::Snapshot& /*snapshot*/) const {
    return {};
  }
  // Makes `snapshot` the one every worker moves to. False, with *error
  // saying why, when the dataplane did not take it (the kernel refused an
  // XDP map update, say): the workers keep the generation they had, and
  // the control core's Reconciler tries again later. check() ran first, so
  // a failure is the environment's, never the snapshot's. DPDK never fails.
  virtual bool publish(std::shared_ptr<const engine::Snapshot> snapshot, std::string* error) = 0;
  // True once every worker forwards with `generation` or later; false when
  // `until` passes first.
  virtual bool wait_applied(uint64_t generation,
                            std::chrono::steady_clock::time_point until) = 0;
  virtual std::vector<uint64_t> worker_generations() const = 0;

  // Every worker's counters and the circuit states of the backends of
  // `snapshot` (none when it is null). Copies counters: for a GetStats call
  // or the stats file, not for a tight loop.
  virtual DataplaneStats stats(const engine::Snapshot* snapshot) const = 0;
  // Only the circuit states, per worker: cheap enough to call a few times
  // a second (sluiced compares them to report circuits opening and
  // closing, since the forwarding path emits no events itself).
  virtual std::vector<std::vector<CircuitSample>> circuit_states(
      const engine::Snapshot& snapshot) const = 0;

  // Marks a backend, by backend counter slot, SLUICE_HEALTH_UNKNOWN,
  // _HEALTHY or _UNHEALTHY (signal_list.h) for every worker. Takes effect on
  // the next new flow, publishes nothing, changes no generation. Slots
  // beyond the dataplane's capacity are ignored. A dataplane starts with
  // every slot UNKNOWN (also when it adopts pinned XDP maps).
  virtual void set_backend_health(uint32_t backend_slot, uint8_t health) = 0;

  // Counts every worker's live flows per backend of `snapshot`. Reads the
  // flow tables while workers forward (bounded-error, see flow_census.h);
  // costs time in proportion to the tables' size: for a cache refreshed
  // about once a second, not for every request.
  virtual FlowCensus flow_census(const engine::Snapshot& snapshot) const = 0;

  // Why this process cannot vouch for what the dataplane forwards right
  // now (its XDP program was detached or replaced behind its back, say);
  // empty while it can. Cheap: read by the control core a few times a
  // second and before answering "applied". While it is non-empty,
  // wait_applied() answers false and health is NOT_SERVING.
  virtual std::string fault() const { return {}; }
};

}  // namespace sluice::control
