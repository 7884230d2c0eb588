// SPDX-License-Identifier: Apache-2.0
// Field-by-field comparison of engine::ServiceConfig for the round-trip
// tests (the engine types have no operator==; comparing dumps would miss a
// field that the dump itself forgot).
#pragma once

#include <gtest/gtest.h>

#include "dataplane/engine/config.h"

namespace sluice::control::config {

// Field by field, so that a failure names the field.
inline void expect_same_health_check(const engine::HealthCheckConfig& a,
                                     const engine::HealthCheckConfig& b) {
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.interval_ms, b.interval_ms);
  EXPECT_EQ(a.timeout_ms, b.timeout_ms);
  EXPECT_EQ(a.interval_jitter_ms, b.interval_jitter_ms);
  EXPECT_EQ(a.interval_jitter_percent, b.interval_jitter_percent);
  EXPECT_EQ(a.unhealthy_threshold, b.unhealthy_threshold);
  EXPECT_EQ(a.healthy_threshold, b.healthy_threshold);
  EXPECT_EQ(a.port, b.port);
  EXPECT_EQ(a.http_path, b.http_path);
  EXPECT_EQ(a.http_host, b.http_host);
  EXPECT_EQ(a.expected_status_start, b.expected_status_start);
  EXPECT_EQ(a.expected_status_end, b.expected_status_end);
  EXPECT_EQ(a.unhealthy_flows, b.unhealthy_flows);
}

inline void expect_same_service(const engine::ServiceConfig& a, const engine::ServiceConfig& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.vip, b.vip);
  EXPECT_EQ(a.port, b.port);
  EXPECT_EQ(a.protocol, b.protocol);
  EXPECT_EQ(a.affinity, b.affinity);
  EXPECT_EQ(a.client_prefix_v4, b.client_prefix_v4);
  EXPECT_EQ(a.client_prefix_v6, b.client_prefix_v6);
  EXPECT_EQ(a.encapsulation, b.encapsulation);
  EXPECT_EQ(a.gue_port, b.gue_port);
  EXPECT_EQ(a.maglev_table_size, b.maglev_table_size);
  ASSERT_EQ(a.pools.size(), b.pools.size());
  for (size_t i = 0; i < a.pools.size(); ++i) {
    EXPECT_EQ(a.pools[i].name, b.pools[i].name) << "pool " << i;
    EXPECT_EQ(a.pools[i].weight, b.pools[i].weight) << "pool " << i;
    ASSERT_EQ(a.pools[i].backends.size(), b.pools[i].backends.size()) << "pool " << i;
    for (size_t j = 0; j < a.pools[i].backends.size(); ++j) {
      EXPECT_EQ(a.pools[i].backends[j].address, b.pools[i].backends[j].address);
      EXPECT_EQ(a.pools[i].backends[j].weight, b.pools[i].backends[j].weight);
      EXPECT_EQ(a.pools[i].backends[j].state, b.pools[i].backends[j].state);
    }
    EXPECT_EQ(a.pools[i].health_check.has_value(), b.pools[i].health_check.has_value())
        << "pool " << i;
    if (a.pools[i].health_check && b.pools[i].health_check) {
      expect_same_health_check(*a.pools[i].health_check, *b.pools[i].health_check);
    }
  }
  ASSERT_EQ(a.rules.size(), b.rules.size());
  for (size_t i = 0; i < a.rules.size(); ++i) {
    EXPECT_EQ(a.rules[i].source, b.rules[i].source) << "rule " << i;
    EXPECT_EQ(a.rules[i].pool, b.rules[i].pool) << "rule " << i;
  }
  EXPECT_EQ(a.fallback_pool, b.fallback_pool);
  EXPECT_EQ(a.circuit.enabled, b.circuit.enabled);
  EXPECT_EQ(a.circuit.consecutive_failures, b.circuit.consecutive_failures);
  EXPECT_EQ(a.circuit.syn_retry_min_ms, b.circuit.syn_retry_min_ms);
  EXPECT_EQ(a.circuit.base_ejection_ms, b.circuit.base_ejection_ms);
  EXPECT_EQ(a.circuit.max_ejection_ms, b.circuit.max_ejection_ms);
  EXPECT_EQ(a.circuit.half_open_trials, b.circuit.half_open_trials);
  EXPECT_EQ(a.circuit.max_ejected_percent, b.circuit.max_ejected_percent);
  EXPECT_EQ(a.timeouts.tcp_syn_ms, b.timeouts.tcp_syn_ms);
  EXPECT_EQ(a.timeouts.tcp_established_ms, b.timeouts.tcp_established_ms);
  EXPECT_EQ(a.timeouts.tcp_closing_ms, b.timeouts.tcp_closing_ms);
  EXPECT_EQ(a.timeouts.udp_ms, b.timeouts.udp_ms);
  expect_same_health_check(a.health_check, b.health_check);
}

}  // namespace sluice::control::config
