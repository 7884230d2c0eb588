// SPDX-License-Identifier: Apache-2.0
// A hand-built sample for the /metrics tests, and a MetricsSource that
// serves it.
#pragma once

#include <atomic>

#include "control/metrics/metrics_source.h"

namespace sluice::control::metrics {

// Two workers at revision 7 (desired 8). Service "web.v2-canary_1" (an odd
// but valid name: dots, dash, underscore, digits) with pool "blue" holding
// an IPv4 backend (healthy, checked, circuit open on worker 1, handshake
// times in three buckets) and an IPv6 backend (draining, unchecked).
inline ControlStats sample_stats() {
  auto ip = [](const char* text) { return *engine::IpAddress::parse(text); };
  ControlStats s;
  s.uptime_ms = 90500;
  s.revision = 7;
  s.desired_revision = 8;
  s.dataplane = "dpdk";
  s.census_age_ms = 250;
  s.census_duration_us = 1500;
  for (uint32_t w = 0; w < 2; ++w) {
    EngineStats e;
    e.counters = {{"rx_packets", 1000 + w}, {"health_skips", 3 * w}};
    e.drops = {{"truncated-ip", 0}, {"fragment", 5 * w}};
    e.circuits.opened = w;
    e.circuits_tracked = w;
    e.circuits_capacity = 64;
    e.dataplane = {{"rx_bursts", 40 + w}};
    s.workers.push_back({w, 7, "lcore " + std::to_string(w + 1), e});
  }

  BackendStats v4;
  v4.address = ip("10.0.0.1");
  v4.weight = 3;
  v4.traffic.packets = 12345678901234;  // large: printed as an integer, not 1.2e13
  v4.traffic.bytes = 999;
  v4.traffic.handshakes_completed = 4;
  v4.traffic.ejections = 1;
  // Non-cumulative, as the dataplane keeps them: 1 under 1 ms, 2 in
  // (2, 5] ms, 1 beyond 5 s; sum 7010 ms.
  v4.handshakes.buckets[0] = 1;
  v4.handshakes.buckets[2] = 2;
  v4.handshakes.buckets[SLUICE_HANDSHAKE_BUCKETS - 1] = 1;
  v4.handshakes.sum_ms = 7010;
  v4.circuits = {engine::CircuitState::kClosed, engine::CircuitState::kOpen};
  v4.active.flows = 5;
  v4.active.by_worker = {2, 3};
  v4.active.oldest_age_ms = 61500;
  v4.health.state = HealthState::kHealthy;
  v4.health.checked = true;
  v4.health.checks = 20;
  v4.health.failures = 2;
  v4.health.transitions = 1;

  BackendStats v6;
  v6.address = ip("2001:db8::1");
  v6.state = engine::BackendState::kDraining;
  v6.circuits = {engine::CircuitState::kHalfOpen, engine::CircuitState::kClosed};

  PoolStats pool;
  pool.name = "blue";
  pool.weight = 90;
  pool.traffic = v4.traffic;
  pool.traffic.ejections = 0;
  pool.handshakes = v4.handshakes;
  pool.active = v4.active;
  pool.backends = {v4, v6};

  ServiceStats service;
  service.name = "web.v2-canary_1";
  service.traffic = pool.traffic;
  service.pools = {pool};
  s.services = {service};
  return s;
}

inline ControlStatus sample_status() {
  ControlStatus s;
  s.dataplane = "dpdk";
  s.worker_generations = {7, 6};
  s.revision = 7;
  s.uptime_ms = 90500;
  s.version = "0.1.0";
  s.applied_revision = 6;
  s.publish_attempts = 9;
  s.publish_failures = 2;
  s.dataplane_fault = "XDP program detached";
  s.serving = false;
  return s;
}

// Serves sample_stats() and counts the samples taken.
class FakeMetricsSource : public MetricsSource {
 public:
  ControlStats stats() override {
    ++samples;
    return sample_stats();
  }
  ControlStatus status() override { return sample_status(); }

  std::atomic<int> samples{0};
};

}  // namespace sluice::control::metrics
