// SPDX-License-Identifier: Apache-2.0
// The XDP dataplane seen by the control core. A "worker" is the program on
// one CPU: its circuits and counters are that CPU's values of the per-CPU
// maps, and its flows those whose latest packet it carried (the flow table
// is one map shared by every CPU; dataplane/xdp/flow_census.h).
// Publication writes the inactive slot, switches the root and waits for
// the grace period (dataplane/xdp/xdp_publisher.h), so once publish()
// returns every CPU forwards with the new generation, idle CPUs included:
// wait_applied answers truthfully. Backend health is the program's
// "backend_health" map, written in place; the flow census walks its "flows"
// map from here (dataplane/xdp/flow_census.h) and removes the handshakes
// that expired unseen, which stats() then adds to the program's counts.
// fault() is the attachment watch's (xdp_attachment_watch.h): while the
// program on the interface is not the one this sluiced attached, nothing
// forwards with what it publishes, and wait_applied answers false.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "control/core/dataplane_sink.h"
#include "control/daemon/xdp_attachment_watch.h"
#include "dataplane/engine/mtu_check.h"
#include "dataplane/xdp/backend_health.h"
#include "dataplane/xdp/flow_census.h"
#include "dataplane/xdp/xdp_publisher.h"
#include "dataplane/xdp/xdp_stats.h"

namespace sluice::control {

class XdpDataplaneSink final : public DataplaneSink {
 public:
  // port_mtu: the interface's MTU now (0: unknown); attachment: whether
  // our program is still the one attached.
  XdpDataplaneSink(xdp::XdpPublisher& publisher, const xdp::XdpMaps& maps,
                   std::function<uint32_t()> port_mtu, XdpAttachmentWatch& attachment)
      : publisher_(publisher),
        maps_(maps),
        reader_(maps),
        port_mtu_(std::move(port_mtu)),
        attachment_(attachment) {}

  // DataplaneSink
  std::string kind() const override { return "xdp"; }
  // What the maps cannot hold, and services the link's MTU (read now: it
  // may have changed since start) cannot carry (mtu_check.h).
  std::vector<std::string> check(const engine::Snapshot& snapshot) const override {
    std::vector<std::string> out = publisher_.check(snapshot);
    for (std::string& m : engine::mtu_misfits(snapshot, port_mtu_ ? port_mtu_() : 0)) {
      out.push_back(std::move(m));
    }
    return out;
  }
  // check() ran first, so a failure here is the kernel refusing a map
  // update (out of memory): the previous generation stays in force,
  // wait_applied reports the new one as not applied, and the control
  // core's Reconciler retries.
  bool publish(std::shared_ptr<const engine::Snapshot> snapshot, std::string* error) override {
    try {
      publisher_.publish(std::move(snapshot));
      return true;
    } catch (const xdp::XdpError& e) {
      *error = e.what();
      return false;
    }
  }
  // The maps reached every CPU's view, and the program reading them is
  // still ours: asked afresh before and after (a detach may come while
  // waiting), not from the latest housekeeping check.
  bool wait_applied(uint64_t generation, std::chrono::steady_clock::time_point until) override {
    if (!attachment_.check().empty()) return false;
    return publisher_.wait_applied(generation, until) && attachment_.check().empty();
  }
  std::string fault() const override { return attachment_.fault(); }
  std::vector<uint64_t> worker_generations() const override {
    return publisher_.worker_generations();
  }

  DataplaneStats stats(const engine::Snapshot* snapshot) const override {
    xdp::CounterSlots slots;
    if (snapshot) slots = counter_slots(*snapshot);
    std::vector<engine::WorkerCounters> counters = reader_.read_counters(slots);
    expired_.add_to(counters);
    const std::vector<xdp::XdpCpuCircuits> circuits =
        reader_.read_circuits(snapshot, xdp::XdpStatsReader::now_ms());
    const std::vector<uint64_t> generations = publisher_.worker_generations();
    DataplaneStats out;
    for (size_t cpu = 0; cpu < counters.size(); ++cpu) {
      WorkerSample w;
      w.generation = cpu < generations.size() ? generations[cpu] : 0;
      w.label = "cpu " + std::to_string(cpu);
      w.counters = counters[cpu];
      w.circuits_capacity = reader_.circuits_capacity();
      if (cpu < circuits.size()) {
        w.circuits_tracked = circuits[cpu].tracked;
        // Copies the program kept changing: reported in their last known
        // state (dataplane/xdp/circuit_read.h), as the DPDK sink does.
        w.dataplane_counters.emplace_back("circuit_reads_skipped", circuits[cpu].reads_skipped);
        for (const xdp::XdpCircuit& c : circuits[cpu].not_closed) {
          w.circuits_not_closed.push_back({c.fingerprint, c.state});
        }
      }
      out.workers.push_back(std::move(w));
    }
    return out;
  }

  void set_backend_health(uint32_t backend_slot, uint8_t health) override {
    try {
      xdp::set_backend_health(maps_, backend_slot, health);
    } catch (const xdp::XdpError& e) {
      spdlog::error("XDP: health of backend slot {} not set: {}", backend_slot, e.what());
    }
  }

  FlowCensus flow_census(const engine::Snapshot& snapshot) const override {
    FlowCensus out;
    const auto start = std::chrono::steady_clock::now();
    try {
      xdp::XdpFlowCensus census = xdp::census_xdp_flows(maps_, snapshot, xdp::xdp_now_ms());
      expired_.add(census.expired);
      out.workers = std::move(census.cpus);
    } catch (const xdp::XdpError& e) {
      spdlog::error("XDP: flow census failed: {}", e.what());
    }
    out.taken_at = std::chrono::steady_clock::now();
    out.duration = std::chrono::duration_cast<std::chrono::microseconds>(out.taken_at - start);
    out.workers.resize(static_cast<size_t>(reader_.possible_cpus()));
    for (size_t cpu = 0; cpu < out.workers.size(); ++cpu) {
      out.labels.push_back("cpu " + std::to_string(cpu));
    }
    return out;
  }

  std::vector<std::vector<CircuitSample>> circuit_states(
      const engine::Snapshot& snapshot) const override {
    const std::vector<xdp::XdpCpuCircuits> circuits =
        reader_.read_circuits(&snapshot, xdp::XdpStatsReader::now_ms());
    std::vector<std::vector<CircuitSample>> out(circuits.size());
    for (size_t cpu = 0; cpu < circuits.size(); ++cpu) {
      for (const xdp::XdpCircuit& c : circuits[cpu].not_closed) {
        out[cpu].push_back({c.fingerprint, c.state});
      }
    }
    return out;
  }

 private:
  // Traffic vectors sized to the highest counter slot the snapshot uses.
  static xdp::CounterSlots counter_slots(const engine::Snapshot& snapshot) {
    xdp::CounterSlots slots;
    for (const engine::CompiledService& s : snapshot.services()) {
      slots.services = std::max(slots.services, s.counter_slot + 1);
      for (const engine::CompiledPool& p : s.pools) {
        slots.pools = std::max(slots.pools, p.counter_slot + 1);
      }
      for (const engine::CompiledBackend& b : s.backends) {
        slots.backends = std::max(slots.backends, b.counter_slot + 1);
      }
    }
    return slots;
  }

  xdp::XdpPublisher& publisher_;
  xdp::XdpMaps maps_;
  xdp::XdpStatsReader reader_;
  std::function<uint32_t()> port_mtu_;
  XdpAttachmentWatch& attachment_;
  // Handshakes the censuses found expired (the program counts only those a
  // packet finds): added to every stats() reading.
  mutable xdp::ExpiredHandshakeCounts expired_;
};

}  // namespace sluice::control
