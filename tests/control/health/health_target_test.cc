// SPDX-License-Identifier: Apache-2.0
#include "control/health/health_target.h"

#include <gtest/gtest.h>

namespace sluice::control::health {
namespace {

using engine::HealthCheckConfig;
using engine::HealthCheckType;

engine::IpAddress ip(const char* text) { return *engine::IpAddress::parse(text); }

class HealthTargetTest : public ::testing::Test {
 protected:
  std::shared_ptr<const engine::Snapshot> compile(std::vector<engine::ServiceConfig> services) {
    engine::EngineConfig config;
    config.forwarding.source_v4 = ip("192.0.2.1");
    config.forwarding.source_v6 = ip("2001:db8::1");
    config.services = std::move(services);
    auto r = compiler_.compile(config, 1);
    EXPECT_TRUE(r.errors.empty()) << r.errors.at(0).to_string();
    return r.snapshot;
  }

  // web:80 with an HTTP check; stable (two backends, one disabled) uses it,
  // canary overrides it with TCP on 9000, dark turns it off.
  static engine::ServiceConfig web() {
    engine::ServiceConfig s;
    s.name = "web";
    s.vip = ip("10.77.100.10");
    s.port = 80;
    s.maglev_table_size = 7;
    s.health_check.type = HealthCheckType::kHttp;
    s.health_check.http_path = "/healthz";
    s.pools.push_back(
        {"stable",
         90,
         {{ip("10.0.0.21"), 1}, {ip("10.0.0.22"), 1, engine::BackendState::kDisabled}}});
    HealthCheckConfig tcp;
    tcp.type = HealthCheckType::kTcp;
    tcp.port = 9000;
    s.pools.push_back({"canary", 10, {{ip("10.0.0.31"), 1, engine::BackendState::kDraining}}, tcp});
    s.pools.push_back({"dark", 0, {{ip("10.0.0.41"), 1}}, HealthCheckConfig{}});
    return s;
  }

  engine::SnapshotCompiler compiler_;
};

// One target per checked, not disabled backend, with the pool's check,
// the resolved port and the backend's counter slot.
TEST_F(HealthTargetTest, FromSnapshot) {
  engine::ServiceConfig unchecked = web();
  unchecked.name = "other";
  unchecked.port = 81;
  unchecked.health_check = HealthCheckConfig{};
  unchecked.pools.resize(1);
  auto snapshot = compile({web(), unchecked});
  const std::vector<HealthTarget> targets = health_targets(*snapshot);
  ASSERT_EQ(targets.size(), 2u);

  EXPECT_EQ(targets[0].service, "web");
  EXPECT_EQ(targets[0].pool, "stable");
  EXPECT_EQ(targets[0].address, ip("10.0.0.21"));
  EXPECT_EQ(targets[0].port, 80);  // the service's
  EXPECT_EQ(targets[0].config.type, HealthCheckType::kHttp);
  EXPECT_EQ(targets[0].config.http_path, "/healthz");

  EXPECT_EQ(targets[1].pool, "canary");
  EXPECT_EQ(targets[1].address, ip("10.0.0.31"));  // draining is still checked
  EXPECT_EQ(targets[1].port, 9000);
  EXPECT_EQ(targets[1].config.type, HealthCheckType::kTcp);

  for (const HealthTarget& t : targets) {
    bool found = false;
    for (const engine::CompiledBackend& b : snapshot->services()[0].backends) {
      if (b.address == t.address) {
        EXPECT_EQ(t.backend_slot, b.counter_slot) << target_name(t);
        found = true;
      }
    }
    EXPECT_TRUE(found);
  }
}

// Identity is (service, address); same_check adds the port and the config.
TEST_F(HealthTargetTest, Identity) {
  HealthTarget a;
  a.service = "web";
  a.address = ip("10.0.0.1");
  a.port = 80;
  HealthTarget b = a;
  b.pool = "other";
  b.backend_slot = 9;
  EXPECT_TRUE(a.same_backend(b));
  EXPECT_TRUE(a.same_check(b));
  b.port = 81;
  EXPECT_TRUE(a.same_backend(b));
  EXPECT_FALSE(a.same_check(b));
  b = a;
  b.config.timeout_ms = 7;
  EXPECT_FALSE(a.same_check(b));
  b = a;
  b.service = "api";
  EXPECT_FALSE(a.same_backend(b));
}

TEST_F(HealthTargetTest, Name) {
  HealthTarget t;
  t.service = "web";
  t.address = ip("10.0.0.1");
  t.port = 80;
  EXPECT_EQ(target_name(t), "web/10.0.0.1:80");
  t.address = ip("2001:db8::1");
  EXPECT_EQ(target_name(t), "web/[2001:db8::1]:80");
}

}  // namespace
}  // namespace sluice::control::health
