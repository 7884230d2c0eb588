// SPDX-License-Identifier: Apache-2.0
// The DPDK runtime seen by the control core: publication and generation
// acknowledgements go through the runtime's RCU SnapshotPublisher; counters,
// circuit states and flow censuses are read from each worker's engine while
// it forwards: counters as relaxed atomics (engine/relaxed.h: each value
// whole, a moment stale at worst), circuit slots under the table's sequence
// counter (engine/seqlock.h: a slot as one change left it, or skipped and
// reported in its last known state, never torn), flow entries copied and
// checked (engine/flow_census.cc); backend health goes into the runtime's
// one BackendHealthTable.
#pragma once


#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "control/core/dataplane_sink.h"
#include "dataplane/dpdk/runtime.h"
#include "dataplane/engine/flow_census.h"
#include "dataplane/engine/mtu_check.h"

namespace sluice::control {

class DpdkDataplaneSink final : public DataplaneSink {
 public:
  explicit DpdkDataplaneSink(dpdk::DpdkRuntime& runtime) : runtime_(runtime) {}

  // DataplaneSink
  std::string kind() const override { return "dpdk"; }
  // The port's MTU is set once at start; a change of services may still
  // need more than it carries (mtu_check.h).
  std::vector<std::string> check(const engine::Snapshot& snapshot) const override {
    return engine::mtu_misfits(snapshot, runtime_.port_mtu());
  }
  // A pointer swap the workers pick up: cannot fail.
  bool publish(std::shared_ptr<const engine::Snapshot> snapshot, std::string*) override {
    runtime_.publisher().publish(std::move(snapshot));
    return true;
  }
  bool wait_applied(uint64_t generation, std::chrono::steady_clock::time_point until) override {
    const auto now = std::chrono::steady_clock::now();
    const auto left = until > now ? std::chrono::duration_cast<std::chrono::milliseconds>(until - now)
                                  : std::chrono::milliseconds(0);
    return runtime_.publisher().wait_applied(generation, left);
  }
  std::vector<uint64_t> worker_generations() const override {
    return runtime_.publisher().worker_generations();
  }

  DataplaneStats stats(const engine::Snapshot* snapshot) const override {
    DataplaneStats out;
    const std::vector<uint64_t> generations = runtime_.publisher().worker_generations();
    std::vector<std::vector<CircuitSample>> circuits;
    if (snapshot) circuits = circuit_states(*snapshot);
    for (uint32_t i = 0; i < runtime_.worker_count(); ++i) {
      const engine::Worker& engine = runtime_.worker_engine(i);
      WorkerSample w;
      w.generation = i < generations.size() ? generations[i] : 0;
      w.label = worker_label(i);
      w.counters = engine::read_counters(engine.counters());
      w.circuits = engine.circuits().stats();
      w.circuits_tracked = engine.circuits().tracked();
      w.circuits_capacity = engine.circuits().capacity();
      const dpdk::PortCounters port = runtime_.worker_port_counters(i);
#define SLUICE_X(name, help) w.dataplane_counters.emplace_back(#name, port.name);
      SLUICE_PORT_COUNTERS(SLUICE_X)
#undef SLUICE_X
      w.dataplane_counters.emplace_back("circuit_reads_skipped", circuit_reads_skipped(i));
      if (i < circuits.size()) w.circuits_not_closed = std::move(circuits[i]);
      out.workers.push_back(std::move(w));
    }
    return out;
  }

  // One health table for all workers (DpdkRuntime::health): a relaxed byte
  // store they see on their next new flow.
  void set_backend_health(uint32_t backend_slot, uint8_t health) override {
    runtime_.health().set(backend_slot, health);
  }

  // Each worker's flow table, read while it forwards (engine/flow_census.h),
  // at the workers' clock.
  FlowCensus flow_census(const engine::Snapshot& snapshot) const override {
    FlowCensus out;
    out.taken_at = std::chrono::steady_clock::now();
    const uint32_t now = worker_now_ms();
    for (uint32_t i = 0; i < runtime_.worker_count(); ++i) {
      out.workers.push_back(engine::census_flows(runtime_.worker_engine(i).flows(), snapshot, now));
      out.labels.push_back(worker_label(i));
    }
    out.duration = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - out.taken_at);
    return out;
  }

  // A slot the worker kept changing through every read attempt
  // (CircuitTable::read_state) is reported in the state this sink last read
  // for it (closed if never), and counted in circuit_reads_skipped: stale
  // for a second, where a torn read would report a transition that never
  // happened.
  std::vector<std::vector<CircuitSample>> circuit_states(
      const engine::Snapshot& snapshot) const override {
    const uint32_t now = worker_now_ms();
    std::vector<std::vector<CircuitSample>> out(runtime_.worker_count());
    std::lock_guard<std::mutex> lock(last_mutex_);
    last_.resize(runtime_.worker_count());
    skipped_.resize(runtime_.worker_count());
    for (uint32_t i = 0; i < runtime_.worker_count(); ++i) {
      const engine::CircuitTable& table = runtime_.worker_engine(i).circuits();
      std::map<uint64_t, engine::CircuitState> read;
      // Healthy backends hold no slot: with none tracked, all are closed.
      if (table.tracked() != 0) {
        for (const engine::CompiledService& s : snapshot.services()) {
          for (const engine::CompiledBackend& b : s.backends) {
            engine::CircuitState state;
            if (!table.read_state(b.fingerprint, now, &state)) {
              ++skipped_[i];
              auto it = last_[i].find(b.fingerprint);
              state = it == last_[i].end() ? engine::CircuitState::kClosed : it->second;
            }
            if (state != engine::CircuitState::kClosed) read[b.fingerprint] = state;
          }
        }
      }
      for (const auto& [fp, state] : read) out[i].push_back({fp, state});
      last_[i] = std::move(read);
    }
    return out;
  }

 private:
  std::string worker_label(uint32_t i) const {
    return "lcore " + std::to_string(runtime_.worker_lcore(i));
  }

  uint64_t circuit_reads_skipped(uint32_t worker) const {
    std::lock_guard<std::mutex> lock(last_mutex_);
    return worker < skipped_.size() ? skipped_[worker] : 0;
  }

  // The workers' millisecond clock (dataplane/dpdk/worker_clock.h).
  uint32_t worker_now_ms() const { return runtime_.clock().now_ms(); }

  dpdk::DpdkRuntime& runtime_;
  // Per worker, the states circuit_states() last reported that are not
  // closed (what a skipped read falls back to).
  mutable std::mutex last_mutex_;
  mutable std::vector<std::map<uint64_t, engine::CircuitState>> last_;
  mutable std::vector<uint64_t> skipped_;  // reads skipped, per worker
};

}  // namespace sluice::control
