// SPDX-License-Identifier: Apache-2.0
// Counters the API tests give the fake core to answer GetStats with.
#pragma once

#include "control/api/control_stats.h"

namespace sluice::control::api {

// Two workers (lcores 1 and 2) at revision 4; web: stable (two backends)
// and canary (one, open on worker 1, draining); dns: one pool, one backend.
// Counter values scale with `scale`, so that two samples differ.
inline ControlStats sample_stats(uint64_t uptime_ms = 60000, uint64_t scale = 1) {
  using engine::CircuitState;
  auto ip = [](const char* text) { return *engine::IpAddress::parse(text); };
  ControlStats s;
  s.uptime_ms = uptime_ms;
  s.revision = 4;
  s.dataplane = "dpdk";
  for (uint32_t w = 0; w < 2; ++w) {
    EngineStats e;
    e.counters = {{"rx_packets", 600 * scale}, {"forwarded", 500 * scale}, {"dropped", 7 * w},
                  {"new_flows", 50 * scale}, {"circuit_skips", 0}};
    e.drops = {{"truncated-ip", 0}, {"fragment", 7 * w}};
    e.circuits.opened = w;
    e.circuits.failures = 3 * w;
    e.circuits_tracked = w;
    e.circuits_capacity = 64;
    e.dataplane = {{"rx_bursts", 40 * scale}, {"tx_full_dropped", 0}};
    s.workers.push_back({w, 4, "lcore " + std::to_string(w + 1), e});
  }
  s.total.counters = {{"rx_packets", 1200 * scale}, {"forwarded", 1000 * scale}, {"dropped", 7},
                      {"new_flows", 100 * scale}, {"circuit_skips", 0}};
  s.total.drops = {{"truncated-ip", 0}, {"fragment", 7}};
  s.total.circuits.opened = 1;
  s.total.circuits.failures = 3;
  s.total.circuits_tracked = 1;
  s.total.circuits_capacity = 128;
  s.total.dataplane = {{"rx_bursts", 80 * scale}, {"tx_full_dropped", 0}};
  const std::vector<CircuitState> closed{CircuitState::kClosed, CircuitState::kClosed};
  auto backend = [&](const char* address, engine::BackendState state,
                     engine::TrafficCounter traffic, std::vector<CircuitState> circuits) {
    BackendStats b;
    b.address = ip(address);
    b.state = state;
    b.weight = 1;
    b.traffic = traffic;
    b.circuits = std::move(circuits);
    return b;
  };
  auto pool = [](const char* name, uint32_t weight, engine::TrafficCounter traffic,
                 std::vector<BackendStats> backends) {
    PoolStats p;
    p.name = name;
    p.weight = weight;
    p.traffic = traffic;
    p.backends = std::move(backends);
    return p;
  };
  auto traffic = [](uint64_t packets, uint64_t bytes) {
    engine::TrafficCounter t;
    t.packets = packets;
    t.bytes = bytes;
    return t;
  };
  const engine::TrafficCounter per_backend = traffic(300 * scale, 30000 * scale);
  s.services = {
      {"web", traffic(900 * scale, 90000 * scale),
       {pool("stable", 90, traffic(600 * scale, 60000 * scale),
             {backend("10.77.0.21", engine::BackendState::kActive, per_backend, closed),
              backend("10.77.0.22", engine::BackendState::kActive, per_backend, closed)}),
        pool("canary", 10, per_backend,
             {backend("10.77.0.31", engine::BackendState::kDraining, per_backend,
                      {CircuitState::kClosed, CircuitState::kOpen})})}},
      {"dns", traffic(100 * scale, 8000 * scale),
       {pool("blue", 1, traffic(100 * scale, 8000 * scale),
             {backend("2001:db8:1::1", engine::BackendState::kActive,
                      traffic(100 * scale, 8000 * scale), closed)})}}};
  return s;
}

}  // namespace sluice::control::api
