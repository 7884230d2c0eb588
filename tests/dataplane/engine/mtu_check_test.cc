// SPDX-License-Identifier: Apache-2.0
// The maximum frame against the port's MTU, and services against both
// (dataplane/engine/mtu_check.h): what refuses a configuration, what warns.
#include "dataplane/engine/mtu_check.h"

#include <gtest/gtest.h>

#include "tests/dataplane/engine/engine_fixture.h"

namespace sluice::engine {
namespace {

ServiceConfig service(const char* vip, const char* backend, Encapsulation e) {
  ServiceConfig s = web_service();
  s.vip = ip(vip);
  s.encapsulation = e;
  s.pools = {{"p", 1, {{ip(backend)}}}};
  return s;
}

// The port's MTU wins over a larger max_frame_size, with a warning naming
// the field; a smaller one, or an unknown MTU (0), changes nothing.
TEST(MtuCheckTest, PortMtuLimitsTheMaximumFrame) {
  std::vector<ConfigError> warnings;
  EXPECT_EQ(effective_max_frame(1554, 1500, &warnings), 1514u);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0].field, "forwarding.max_frame_size");
  EXPECT_NE(warnings[0].message.find("MTU 1500"), std::string::npos) << warnings[0].message;
  warnings.clear();
  EXPECT_EQ(effective_max_frame(1514, 1600, &warnings), 1514u);
  EXPECT_EQ(effective_max_frame(1554, 0, &warnings), 1554u);
  EXPECT_TRUE(warnings.empty());
}

// The client MTU of each encapsulation and outer family at a 1514-byte frame.
TEST(MtuCheckTest, ClientMtuPerEncapsulation) {
  EXPECT_EQ(client_mtu(service("192.0.2.1", "10.0.0.1", Encapsulation::kIpip), 1514), 1480u);
  EXPECT_EQ(client_mtu(service("192.0.2.1", "10.0.0.1", Encapsulation::kGue), 1514), 1472u);
  EXPECT_EQ(client_mtu(service("192.0.2.1", "fd00::1", Encapsulation::kIpip), 1514), 1460u);
  EXPECT_EQ(client_mtu(service("2001:db8::1", "fd00::1", Encapsulation::kGue), 1514), 1452u);
}

// An IPv6 service whose tunnel leaves less than 1280 is an error naming the
// service's encapsulation; at exactly 1280 it passes (with the MSS warning).
TEST(MtuCheckTest, Ipv6BelowMinimumIsAnError) {
  const ServiceConfig s = service("2001:db8::1", "fd00::1", Encapsulation::kGue);
  std::vector<ConfigError> warnings;
  auto errors = check_service_mtu(s, "services[3]", 14 + 1280 + 47, &warnings);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].field, "services[3].encapsulation");
  EXPECT_NE(errors[0].message.find("leaves 1279 bytes for IPv6"), std::string::npos)
      << errors[0].message;
  EXPECT_NE(errors[0].message.find("at least 1280"), std::string::npos);
  errors = check_service_mtu(s, "services[3]", 14 + 1280 + 48, &warnings);
  EXPECT_TRUE(errors.empty());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].message.find("TCP MSS to 1220"), std::string::npos) << warnings[0].message;
}

// IPv4: below 576 is an error; below 1500 a warning with the MSS to clamp
// to; 1500 and more nothing.
TEST(MtuCheckTest, Ipv4LimitsAndWarnings) {
  const ServiceConfig s = service("192.0.2.1", "10.0.0.1", Encapsulation::kIpip);
  std::vector<ConfigError> warnings;
  EXPECT_EQ(check_service_mtu(s, "services[0]", 14 + 575 + 20, &warnings).size(), 1u);
  EXPECT_TRUE(check_service_mtu(s, "services[0]", 1514, &warnings).empty());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0].field, "services[0].encapsulation");
  EXPECT_NE(warnings[0].message.find("TCP MSS to 1440"), std::string::npos) << warnings[0].message;
  warnings.clear();
  EXPECT_TRUE(check_service_mtu(s, "services[0]", 1534, &warnings).empty());
  EXPECT_TRUE(warnings.empty());
}

// On a change: every service of a snapshot, named by name, under the port's
// MTU (which also caps the snapshot's maximum frame).
TEST(MtuCheckTest, SnapshotMisfitsNameTheService) {
  EngineConfig c;
  c.forwarding.max_frame_size = 1554;
  c.forwarding.source_v4 = ip("10.0.0.2");
  c.forwarding.source_v6 = ip("fd00::2");
  c.services = {service("192.0.2.1", "10.0.0.1", Encapsulation::kIpip),
                service("2001:db8::1", "fd00::1", Encapsulation::kGue)};
  c.services[1].name = "web6";
  SnapshotCompiler compiler;
  auto r = compiler.compile(c, 1);
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].to_string();
  EXPECT_TRUE(mtu_misfits(*r.snapshot, 1500).empty());
  const auto misfits = mtu_misfits(*r.snapshot, 1300);  // 1300 - 48 < 1280
  ASSERT_EQ(misfits.size(), 1u);
  EXPECT_EQ(misfits[0].rfind("service \"web6\".encapsulation: ", 0), 0u) << misfits[0];
}

}  // namespace
}  // namespace sluice::engine
