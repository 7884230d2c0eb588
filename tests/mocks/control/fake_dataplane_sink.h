// SPDX-License-Identifier: Apache-2.0
// A dataplane for tests of the control core and what sits on it: its
// workers are real decision engines (engine::Worker), fed one frame at a
// time by the test with process(), on a clock the test sets, so counters,
// flow tables and circuit breakers behave exactly as in a dataplane, with
// no NIC, thread or DPDK.
//
// The workers share one BackendHealthTable, as a real dataplane's do:
// set_backend_health() writes it. flow_census() counts each engine's flow
// table at the fake clock.
//
// Workers adopt each published snapshot at once (follow, the default), or
// only when the test says so (set_follow(false), then advance()), so that
// a test can hold a worker on an older generation.
//
// It can also misbehave as a real dataplane may: fail_publications(n)
// refuses the next n publications (as the kernel refusing an XDP map
// update: the workers keep what they had), and set_fault() makes fault()
// report that this process can no longer vouch for what forwards (an XDP
// program detached behind sluiced's back). Thread-safe: the core,
// a DataplaneWatcher thread and the gRPC server call in from their threads.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "control/core/dataplane_sink.h"
#include "dataplane/engine/backend_health.h"
#include "dataplane/engine/engine.h"
#include "dataplane/engine/flow_census.h"

namespace sluice::control::fakes {

class FakeDataplaneSink final : public DataplaneSink {
 public:
  // Small tables: tests need few flows and backends.
  static engine::WorkerOptions small_worker() {
    engine::WorkerOptions o;
    o.flow_capacity = 1024;
    o.circuit_capacity = 64;
    o.service_counter_slots = 64;
    o.pool_counter_slots = 256;
    o.backend_counter_slots = 1024;
    return o;
  }

  explicit FakeDataplaneSink(uint32_t workers = 1,
                             const engine::WorkerOptions& options = small_worker())
      : health_(options.backend_counter_slots), adopted_(workers) {
    for (uint32_t i = 0; i < workers; ++i) {
      engines_.push_back(std::make_unique<engine::Worker>(options));
      engines_.back()->set_health_table(&health_);
    }
  }

  // --- Test controls ---
  void set_follow(bool follow) {
    std::lock_guard lock(mutex_);
    follow_ = follow;
    if (follow_) adopt_all();
  }
  // The worker adopts the latest published snapshot.
  void advance(uint32_t worker) {
    std::lock_guard lock(mutex_);
    if (!published_.empty()) adopted_[worker] = published_.back();
    moved_.notify_all();
  }
  // The engine clock of process() and of circuit states.
  void set_now_ms(uint32_t now_ms) {
    std::lock_guard lock(mutex_);
    now_ms_ = now_ms;
  }
  // Runs one frame through the worker's engine with the snapshot it has
  // adopted; `frame` is rewritten (encapsulated) as the engine decides.
  engine::Decision process(uint32_t worker, std::vector<uint8_t>& frame) {
    std::lock_guard lock(mutex_);
    constexpr uint32_t kHeadroom = 128;
    std::vector<uint8_t> buffer(kHeadroom + frame.size() + kHeadroom);
    std::copy(frame.begin(), frame.end(), buffer.begin() + kHeadroom);
    engine::Packet packet{buffer.data() + kHeadroom, static_cast<uint32_t>(frame.size()),
                          kHeadroom};
    const engine::Decision d = engines_[worker]->process_one(adopted_[worker].get(), packet,
                                                             uint64_t{now_ms_} * 1000000);
    frame.assign(packet.data, packet.data + packet.len);
    return d;
  }
  std::vector<std::shared_ptr<const engine::Snapshot>> published() const {
    std::lock_guard lock(mutex_);
    return published_;
  }
  // The next `count` publications fail with `error` and change nothing.
  void fail_publications(uint32_t count, std::string error = "injected publication failure") {
    std::lock_guard lock(mutex_);
    failures_left_ = count;
    failure_error_ = std::move(error);
  }
  // Every publish() call, failed ones included.
  uint32_t publish_calls() const {
    std::lock_guard lock(mutex_);
    return publish_calls_;
  }
  // What fault() answers ("" for none). While set, wait_applied() answers
  // false, as the DataplaneSink contract asks.
  void set_fault(std::string fault) {
    std::lock_guard lock(mutex_);
    fault_ = std::move(fault);
    moved_.notify_all();
  }

  // --- DataplaneSink ---
  std::string kind() const override { return "fake"; }
  bool publish(std::shared_ptr<const engine::Snapshot> snapshot, std::string* error) override {
    std::lock_guard lock(mutex_);
    ++publish_calls_;
    if (failures_left_ > 0) {
      --failures_left_;
      *error = failure_error_;
      return false;
    }
    published_.push_back(std::move(snapshot));
    if (follow_) adopt_all();
    return true;
  }
  bool wait_applied(uint64_t generation, std::chrono::steady_clock::time_point until) override {
    std::unique_lock lock(mutex_);
    return moved_.wait_until(lock, until, [&] {
      return fault_.empty() &&
             std::all_of(adopted_.begin(), adopted_.end(),
                         [&](const auto& s) { return s && s->generation() >= generation; });
    });
  }
  std::string fault() const override {
    std::lock_guard lock(mutex_);
    return fault_;
  }
  std::vector<uint64_t> worker_generations() const override {
    std::lock_guard lock(mutex_);
    std::vector<uint64_t> out;
    for (const auto& s : adopted_) out.push_back(s ? s->generation() : 0);
    return out;
  }
  DataplaneStats stats(const engine::Snapshot* snapshot) const override {
    std::vector<std::vector<CircuitSample>> circuits;
    if (snapshot) circuits = circuit_states(*snapshot);
    std::lock_guard lock(mutex_);
    DataplaneStats out;
    for (uint32_t i = 0; i < engines_.size(); ++i) {
      const engine::Worker& e = *engines_[i];
      WorkerSample w;
      w.generation = adopted_[i] ? adopted_[i]->generation() : 0;
      w.label = "fake " + std::to_string(i);
      w.counters = e.counters();
      w.circuits = e.circuits().stats();
      w.circuits_tracked = e.circuits().tracked();
      w.circuits_capacity = e.circuits().capacity();
      w.dataplane_counters = {{"frames_processed", e.counters().rx_packets}};
      if (i < circuits.size()) w.circuits_not_closed = std::move(circuits[i]);
      out.workers.push_back(std::move(w));
    }
    return out;
  }
  void set_backend_health(uint32_t backend_slot, uint8_t health) override {
    health_.set(backend_slot, health);  // atomic: no lock needed, as in a dataplane
  }
  FlowCensus flow_census(const engine::Snapshot& snapshot) const override {
    std::lock_guard lock(mutex_);
    FlowCensus out;
    out.taken_at = std::chrono::steady_clock::now();
    for (uint32_t i = 0; i < engines_.size(); ++i) {
      out.workers.push_back(engine::census_flows(engines_[i]->flows(), snapshot, now_ms_));
      out.labels.push_back("fake " + std::to_string(i));
    }
    out.duration = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - out.taken_at);
    return out;
  }
  // The health table the workers read (tests check what was set).
  const engine::BackendHealthTable& health() const { return health_; }
  std::vector<std::vector<CircuitSample>> circuit_states(
      const engine::Snapshot& snapshot) const override {
    std::lock_guard lock(mutex_);
    std::vector<std::vector<CircuitSample>> out(engines_.size());
    for (uint32_t i = 0; i < engines_.size(); ++i) {
      for (const engine::CompiledService& s : snapshot.services()) {
        for (const engine::CompiledBackend& b : s.backends) {
          const engine::CircuitState state = engines_[i]->circuits().state(b.fingerprint, now_ms_);
          if (state != engine::CircuitState::kClosed) out[i].push_back({b.fingerprint, state});
        }
      }
    }
    return out;
  }

 private:
  void adopt_all() {
    if (published_.empty()) return;
    for (auto& s : adopted_) s = published_.back();
    moved_.notify_all();
  }

  mutable std::mutex mutex_;
  std::condition_variable moved_;
  engine::BackendHealthTable health_;  // before engines_: they read it
  std::vector<std::unique_ptr<engine::Worker>> engines_;
  std::vector<std::shared_ptr<const engine::Snapshot>> adopted_;  // by worker
  std::vector<std::shared_ptr<const engine::Snapshot>> published_;
  bool follow_ = true;
  uint32_t now_ms_ = 0;
  uint32_t failures_left_ = 0;
  std::string failure_error_;
  uint32_t publish_calls_ = 0;
  std::string fault_;
};

}  // namespace sluice::control::fakes
