// SPDX-License-Identifier: Apache-2.0
#include "control/config/service_mapping.h"

#include <gmock/gmock.h>
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include "tests/control/config/service_compare.h"

namespace sluice::control::config {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// A valid service with two pools, in protobuf text format.
constexpr const char* kWeb = R"pb(
  name: "web" vip: "10.77.100.10" port: 80
  pools { name: "stable" weight: 90 backends { address: "10.77.0.21" } backends { address: "10.77.0.22" } }
  pools { name: "canary" weight: 10 backends { address: "10.77.0.31" } }
)pb";

class ServiceMappingTest : public ::testing::Test {
 protected:
  static v1::Service service(const std::string& text) {
    v1::Service s;
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &s)) << text;
    return s;
  }
  static v1::ServiceList list(std::initializer_list<std::string> texts) {
    v1::ServiceList l;
    for (const std::string& t : texts) *l.add_services() = service(t);
    return l;
  }
  // The errors of mapping and validating these services, as "field: message".
  static std::vector<std::string> errors_of(const v1::ServiceList& l) {
    MappedServices m = services_from_proto(l);
    EXPECT_EQ(m.services.empty(), !m.errors.empty() || l.services_size() == 0);
    std::vector<std::string> out;
    for (const auto& e : m.errors) out.push_back(e.to_string());
    return out;
  }
  static std::vector<std::string> errors_of(const std::string& text) { return errors_of(list({text})); }
  static engine::ServiceConfig mapped(const std::string& text) {
    MappedServices m = services_from_proto(list({text}));
    EXPECT_THAT(m.errors, IsEmpty());
    return m.services.empty() ? engine::ServiceConfig{} : m.services[0];
  }
};

// --- Good input ---

// Absent optional fields and UNSPECIFIED enums take the engine's defaults.
TEST_F(ServiceMappingTest, DefaultsFromAbsentFields) {
  const engine::ServiceConfig s = mapped(kWeb);
  const engine::ServiceConfig d;  // the engine's defaults
  EXPECT_EQ(s.name, "web");
  EXPECT_EQ(s.vip, engine::IpAddress::v4(10, 77, 100, 10));
  EXPECT_EQ(s.port, 80);
  EXPECT_EQ(s.protocol, engine::Protocol::kTcp);
  EXPECT_EQ(s.affinity, engine::Affinity::kFlow);
  EXPECT_EQ(s.client_prefix_v4, 24);
  EXPECT_EQ(s.client_prefix_v6, 64);
  EXPECT_EQ(s.encapsulation, engine::Encapsulation::kIpip);
  EXPECT_EQ(s.gue_port, 6080);
  EXPECT_EQ(s.maglev_table_size, 65537u);
  EXPECT_EQ(s.fallback_pool, "");
  EXPECT_THAT(s.rules, IsEmpty());
  ASSERT_EQ(s.pools.size(), 2u);
  EXPECT_EQ(s.pools[0].name, "stable");
  EXPECT_EQ(s.pools[0].weight, 90u);
  EXPECT_EQ(s.pools[1].weight, 10u);
  ASSERT_EQ(s.pools[0].backends.size(), 2u);
  EXPECT_EQ(s.pools[0].backends[1].address, engine::IpAddress::v4(10, 77, 0, 22));
  EXPECT_EQ(s.pools[0].backends[1].weight, 1u);
  EXPECT_EQ(s.pools[0].backends[1].state, engine::BackendState::kActive);
  EXPECT_EQ(s.circuit.enabled, d.circuit.enabled);
  EXPECT_EQ(s.circuit.consecutive_failures, 3u);
  EXPECT_EQ(s.circuit.max_ejected_percent, 50u);
  EXPECT_EQ(s.timeouts.tcp_established_ms, 10800000u);
  EXPECT_EQ(s.timeouts.probation_ms, 5000u);
  EXPECT_EQ(s.timeouts.udp_ms, 30000u);
  EXPECT_EQ(s.health_check, engine::HealthCheckConfig{});
  EXPECT_EQ(s.health_check.type, engine::HealthCheckType::kNone);
  EXPECT_FALSE(s.pools[0].health_check.has_value());
}

// Every field set explicitly reaches the engine unchanged.
TEST_F(ServiceMappingTest, EveryFieldMapped) {
  const engine::ServiceConfig s = mapped(R"pb(
    name: "dns" vip: "2001:db8::53" port: 53 protocol: PROTOCOL_UDP
    affinity: AFFINITY_CLIENT_PREFIX client_prefix_v4: 0 client_prefix_v6: 48
    encapsulation: ENCAPSULATION_GUE gue_port: 7777 maglev_table_size: 251
    pools { name: "blue" weight: 0 backends { address: "2001:db8::1" weight: 5 state: BACKEND_STATE_DRAINING } }
    pools { name: "green" weight: 3 backends { address: "2001:db8::2" state: BACKEND_STATE_DISABLED }
                                    backends { address: "2001:db8::3" state: BACKEND_STATE_ACTIVE } }
    rules { source_cidr: "2001:db8:77::/48" pool: "blue" }
    fallback_pool: "green"
    circuit { enabled: false consecutive_failures: 7 syn_retry_min_ms: 0 base_ejection_ms: 100
              max_ejection_ms: 1000 half_open_trials: 2 max_ejected_percent: 0 }
    timeouts { tcp_syn_ms: 1 tcp_established_ms: 2 tcp_closing_ms: 3 udp_ms: 4 }
  )pb");
  EXPECT_EQ(s.vip, *engine::IpAddress::parse("2001:db8::53"));
  EXPECT_EQ(s.protocol, engine::Protocol::kUdp);
  EXPECT_EQ(s.affinity, engine::Affinity::kClientPrefix);
  EXPECT_EQ(s.client_prefix_v4, 0);  // explicit 0 is 0, not the default
  EXPECT_EQ(s.client_prefix_v6, 48);
  EXPECT_EQ(s.encapsulation, engine::Encapsulation::kGue);
  EXPECT_EQ(s.gue_port, 7777);
  EXPECT_EQ(s.maglev_table_size, 251u);
  EXPECT_EQ(s.pools[0].weight, 0u);
  EXPECT_EQ(s.pools[0].backends[0].weight, 5u);
  EXPECT_EQ(s.pools[0].backends[0].state, engine::BackendState::kDraining);
  EXPECT_EQ(s.pools[1].backends[0].state, engine::BackendState::kDisabled);
  EXPECT_EQ(s.pools[1].backends[1].state, engine::BackendState::kActive);
  ASSERT_EQ(s.rules.size(), 1u);
  EXPECT_EQ(s.rules[0].source, *engine::Cidr::parse("2001:db8:77::/48"));
  EXPECT_EQ(s.rules[0].pool, "blue");
  EXPECT_EQ(s.fallback_pool, "green");
  EXPECT_FALSE(s.circuit.enabled);
  EXPECT_EQ(s.circuit.consecutive_failures, 7u);
  EXPECT_EQ(s.circuit.syn_retry_min_ms, 0u);
  EXPECT_EQ(s.circuit.base_ejection_ms, 100u);
  EXPECT_EQ(s.circuit.max_ejection_ms, 1000u);
  EXPECT_EQ(s.circuit.half_open_trials, 2u);
  EXPECT_EQ(s.circuit.max_ejected_percent, 0u);
  EXPECT_EQ(s.timeouts.tcp_syn_ms, 1u);
  EXPECT_EQ(s.timeouts.tcp_established_ms, 2u);
  EXPECT_EQ(s.timeouts.tcp_closing_ms, 3u);
  EXPECT_EQ(s.timeouts.udp_ms, 4u);
}

// A partly written circuit policy keeps the defaults of the fields left out.
TEST_F(ServiceMappingTest, PartialPolicies) {
  const engine::ServiceConfig s =
      mapped(std::string(kWeb) + "circuit { consecutive_failures: 9 } timeouts { udp_ms: 5 }");
  EXPECT_TRUE(s.circuit.enabled);
  EXPECT_EQ(s.circuit.consecutive_failures, 9u);
  EXPECT_EQ(s.circuit.base_ejection_ms, 5000u);
  EXPECT_EQ(s.timeouts.udp_ms, 5u);
  EXPECT_EQ(s.timeouts.tcp_syn_ms, 10000u);
}

// Every health check field written reaches the engine unchanged.
TEST_F(ServiceMappingTest, HealthCheckEveryField) {
  const engine::ServiceConfig s = mapped(std::string(kWeb) + R"pb(
    health_check { type: HEALTH_CHECK_TYPE_HTTPS interval_ms: 5000 timeout_ms: 4000
                   interval_jitter_ms: 7 interval_jitter_percent: 9 unhealthy_threshold: 4
                   healthy_threshold: 5 port: 8443 http_path: "/ready" http_host: "web.example"
                   expected_status_start: 200 expected_status_end: 205
                   unhealthy_flows: UNHEALTHY_FLOWS_RESCHEDULE })pb");
  const engine::HealthCheckConfig& h = s.health_check;
  EXPECT_EQ(h.type, engine::HealthCheckType::kHttps);
  EXPECT_EQ(h.interval_ms, 5000u);
  EXPECT_EQ(h.timeout_ms, 4000u);
  EXPECT_EQ(h.interval_jitter_ms, 7u);
  EXPECT_EQ(h.interval_jitter_percent, 9u);
  EXPECT_EQ(h.unhealthy_threshold, 4u);
  EXPECT_EQ(h.healthy_threshold, 5u);
  EXPECT_EQ(h.port, 8443);
  EXPECT_EQ(h.http_path, "/ready");
  EXPECT_EQ(h.http_host, "web.example");
  EXPECT_EQ(h.expected_status_start, 200u);
  EXPECT_EQ(h.expected_status_end, 205u);
  EXPECT_EQ(h.unhealthy_flows, engine::UnhealthyFlows::kReschedule);
  // A partly written check keeps the defaults of what is left out.
  const engine::HealthCheckConfig p =
      mapped(std::string(kWeb) + "health_check { type: HEALTH_CHECK_TYPE_TCP timeout_ms: 50 "
                                 "interval_ms: 100 }")
          .health_check;
  EXPECT_EQ(p.type, engine::HealthCheckType::kTcp);
  EXPECT_EQ(p.interval_ms, 100u);
  EXPECT_EQ(p.timeout_ms, 50u);
  EXPECT_EQ(p.unhealthy_threshold, 3u);
  EXPECT_EQ(p.http_path, "/");
  EXPECT_EQ(p.unhealthy_flows, engine::UnhealthyFlows::kKeep);
}

// A pool's override starts from the service's check: what it leaves out is
// the service's, what it writes replaces it.
TEST_F(ServiceMappingTest, PoolHealthCheckInherits) {
  const engine::ServiceConfig s = mapped(R"pb(
    name: "web" vip: "10.77.100.10" port: 80
    health_check { type: HEALTH_CHECK_TYPE_HTTP interval_ms: 3000 http_path: "/healthz"
                   http_host: "web" unhealthy_flows: UNHEALTHY_FLOWS_RESCHEDULE }
    pools { name: "stable" weight: 90 backends { address: "10.77.0.21" } }
    pools { name: "canary" weight: 10 backends { address: "10.77.0.31" }
            health_check { http_path: "/canary" healthy_threshold: 7 } }
  )pb");
  EXPECT_FALSE(s.pools[0].health_check.has_value());
  ASSERT_TRUE(s.pools[1].health_check.has_value());
  engine::HealthCheckConfig expected = s.health_check;
  expected.http_path = "/canary";
  expected.healthy_threshold = 7;
  EXPECT_EQ(*s.pools[1].health_check, expected);
  EXPECT_EQ(s.pools[1].health_check->unhealthy_flows, engine::UnhealthyFlows::kReschedule);
}

// A pool switching an HTTP service's check to TCP does not inherit the
// HTTP fields (they would be refused on a TCP check); NONE turns it off.
TEST_F(ServiceMappingTest, PoolHealthCheckTypeChange) {
  const engine::ServiceConfig s = mapped(R"pb(
    name: "web" vip: "10.77.100.10" port: 80
    health_check { type: HEALTH_CHECK_TYPE_HTTP http_path: "/healthz" http_host: "web"
                   expected_status_end: 300 interval_ms: 4000 }
    pools { name: "stable" weight: 90 backends { address: "10.77.0.21" }
            health_check { type: HEALTH_CHECK_TYPE_TCP port: 9000 } }
    pools { name: "canary" weight: 10 backends { address: "10.77.0.31" }
            health_check { type: HEALTH_CHECK_TYPE_NONE } }
  )pb");
  const engine::HealthCheckConfig& tcp = *s.pools[0].health_check;
  EXPECT_EQ(tcp.type, engine::HealthCheckType::kTcp);
  EXPECT_EQ(tcp.port, 9000);
  EXPECT_EQ(tcp.interval_ms, 4000u);  // not an HTTP field: inherited
  EXPECT_EQ(tcp.http_path, "/");
  EXPECT_EQ(tcp.http_host, "");
  EXPECT_EQ(tcp.expected_status_end, 400u);
  EXPECT_EQ(s.pools[1].health_check->type, engine::HealthCheckType::kNone);
}

// engine -> proto writes every field, never UNSPECIFIED.
TEST_F(ServiceMappingTest, ToProtoIsExplicit) {
  const v1::Service p = service_to_proto(mapped(kWeb));
  EXPECT_EQ(p.vip(), "10.77.100.10");
  EXPECT_EQ(p.protocol(), v1::PROTOCOL_TCP);
  EXPECT_EQ(p.affinity(), v1::AFFINITY_FLOW);
  EXPECT_EQ(p.encapsulation(), v1::ENCAPSULATION_IPIP);
  EXPECT_TRUE(p.has_client_prefix_v4());
  EXPECT_EQ(p.client_prefix_v6(), 64u);
  EXPECT_EQ(p.gue_port(), 6080u);
  EXPECT_EQ(p.maglev_table_size(), 65537u);
  EXPECT_TRUE(p.pools(0).has_weight());
  EXPECT_EQ(p.pools(0).backends(0).weight(), 1u);
  EXPECT_EQ(p.pools(0).backends(0).state(), v1::BACKEND_STATE_ACTIVE);
  EXPECT_TRUE(p.circuit().has_enabled());
  EXPECT_EQ(p.circuit().max_ejection_ms(), 300000u);
  EXPECT_EQ(p.timeouts().tcp_closing_ms(), 10000u);
  EXPECT_EQ(p.health_check().type(), v1::HEALTH_CHECK_TYPE_NONE);
  EXPECT_TRUE(p.health_check().has_interval_ms());
  EXPECT_TRUE(p.health_check().has_port());
  EXPECT_EQ(p.health_check().http_path(), "/");
  EXPECT_TRUE(p.health_check().has_http_host());
  EXPECT_EQ(p.health_check().expected_status_end(), 400u);
  EXPECT_EQ(p.health_check().unhealthy_flows(), v1::UNHEALTHY_FLOWS_KEEP);
  // A pool without an override has none in the proto either.
  EXPECT_FALSE(p.pools(0).has_health_check());
}

// engine -> proto -> engine gives the same service, for every enum value.
TEST_F(ServiceMappingTest, RoundTrip) {
  engine::ServiceConfig s = mapped(kWeb);
  s.rules.push_back({*engine::Cidr::parse("192.168.0.0/16"), "canary"});
  for (auto protocol : {engine::Protocol::kTcp, engine::Protocol::kUdp}) {
    for (auto affinity : {engine::Affinity::kFlow, engine::Affinity::kClientAddress,
                          engine::Affinity::kClientPrefix}) {
      for (auto encap : {engine::Encapsulation::kIpip, engine::Encapsulation::kGue}) {
        for (auto state : {engine::BackendState::kActive, engine::BackendState::kDraining,
                           engine::BackendState::kDisabled}) {
          s.protocol = protocol;
          s.affinity = affinity;
          s.encapsulation = encap;
          s.pools[1].backends[0].state = state;
          std::vector<engine::ConfigError> errors;
          const engine::ServiceConfig back =
              service_from_proto(service_to_proto(s), "services[0]", errors);
          EXPECT_THAT(errors, IsEmpty());
          expect_same_service(back, s);
        }
      }
    }
  }
}

// Health checks survive engine -> proto -> engine, for every type and flow
// rule, with and without a pool override.
TEST_F(ServiceMappingTest, HealthCheckRoundTrip) {
  engine::ServiceConfig s = mapped(kWeb);
  for (auto type : {engine::HealthCheckType::kNone, engine::HealthCheckType::kTcp,
                    engine::HealthCheckType::kHttp, engine::HealthCheckType::kHttps}) {
    for (auto flows : {engine::UnhealthyFlows::kKeep, engine::UnhealthyFlows::kReschedule}) {
      engine::HealthCheckConfig h;
      h.type = type;
      h.interval_ms = 1500;
      h.timeout_ms = 700;
      h.interval_jitter_ms = 11;
      h.interval_jitter_percent = 12;
      h.unhealthy_threshold = 13;
      h.healthy_threshold = 14;
      h.port = 15;
      if (type == engine::HealthCheckType::kHttp || type == engine::HealthCheckType::kHttps) {
        h.http_path = "/x";
        h.http_host = "h";
        h.expected_status_start = 204;
        h.expected_status_end = 205;
      }
      h.unhealthy_flows = flows;
      s.health_check = h;
      engine::HealthCheckConfig canary = h;
      canary.type = engine::HealthCheckType::kTcp;
      canary.http_path = "/";
      canary.http_host = "";
      canary.expected_status_start = 200;
      canary.expected_status_end = 400;
      canary.healthy_threshold = 99;
      s.pools[1].health_check = canary;
      std::vector<engine::ConfigError> errors;
      const engine::ServiceConfig back =
          service_from_proto(service_to_proto(s), "services[0]", errors);
      EXPECT_THAT(errors, IsEmpty());
      expect_same_service(back, s);
      EXPECT_THAT(errors_of(list({service_to_proto(s).DebugString()})), IsEmpty());
    }
  }
}

// An empty list maps to no services and no errors.
TEST_F(ServiceMappingTest, EmptyList) {
  MappedServices m = services_from_proto(v1::ServiceList{});
  EXPECT_THAT(m.services, IsEmpty());
  EXPECT_THAT(m.errors, IsEmpty());
}

// --- Errors of mapping ---

// Addresses that do not parse, or are missing.
TEST_F(ServiceMappingTest, BadAddresses) {
  EXPECT_THAT(errors_of(R"pb(name: "web" vip: "10.77.100.300" port: 80
                             pools { name: "a" weight: 1 backends { address: "10.0.0.300" } })pb"),
              ElementsAre("services[0].vip: \"10.77.100.300\" is not an IPv4 or IPv6 address",
                          "services[0].pools[0].backends[0].address: \"10.0.0.300\" is not an "
                          "IPv4 or IPv6 address"));
  EXPECT_THAT(errors_of(R"pb(name: "web" port: 80
                             pools { name: "a" weight: 1 backends { } })pb"),
              ElementsAre("services[0].vip: must be set",
                          "services[0].pools[0].backends[0].address: must be set"));
}

// Source prefixes: malformed, a bad address, a bad length, host bits, missing.
TEST_F(ServiceMappingTest, BadCidrs) {
  EXPECT_THAT(
      errors_of(std::string(kWeb) + R"pb(
        rules { source_cidr: "10.0.0.0" pool: "canary" }
        rules { source_cidr: "10.0.0.300/24" pool: "canary" }
        rules { source_cidr: "10.0.0.1/24" pool: "canary" }
        rules { source_cidr: "10.0.0.0/33" pool: "canary" }
        rules { source_cidr: "10.0.0.0/x" pool: "canary" }
        rules { pool: "canary" })pb"),
      ElementsAre("services[0].rules[0].source_cidr: \"10.0.0.0\" is not a CIDR prefix "
                  "(address/length)",
                  "services[0].rules[1].source_cidr: \"10.0.0.300/24\" is not a CIDR prefix: "
                  "\"10.0.0.300\" is not an IPv4 or IPv6 address",
                  "services[0].rules[2].source_cidr: \"10.0.0.1/24\" has host bits set beyond /24 "
                  "(did you mean 10.0.0.0/24?)",
                  "services[0].rules[3].source_cidr: \"10.0.0.0/33\" is not a CIDR prefix: the "
                  "length must be 0..32",
                  "services[0].rules[4].source_cidr: \"10.0.0.0/x\" is not a CIDR prefix: the "
                  "length must be 0..32",
                  "services[0].rules[5].source_cidr: must be set"));
}

// Host bits in an IPv6 prefix suggest the network.
TEST_F(ServiceMappingTest, Ipv6HostBits) {
  EXPECT_THAT(errors_of(R"pb(name: "v6" vip: "2001:db8::10" port: 443
                             pools { name: "a" weight: 1 backends { address: "2001:db8::21" } }
                             rules { source_cidr: "2001:db8:1::1/48" pool: "a" })pb"),
              ElementsAre("services[0].rules[0].source_cidr: \"2001:db8:1::1/48\" has host bits "
                          "set beyond /48 (did you mean 2001:db8:1::/48?)"));
}

// Numbers too large for their engine field are out of range.
TEST_F(ServiceMappingTest, NarrowNumbersOutOfRange) {
  EXPECT_THAT(errors_of(R"pb(name: "web" vip: "10.0.0.1" port: 70000 client_prefix_v4: 33
                             client_prefix_v6: 129 gue_port: 65536
                             pools { name: "a" weight: 1 backends { address: "10.0.0.2" } })pb"),
              ElementsAre("services[0].port: 70000 is out of range 1..65535",
                          "services[0].client_prefix_v4: 33 is out of range 0..32",
                          "services[0].client_prefix_v6: 129 is out of range 0..128",
                          "services[0].gue_port: 65536 is out of range 1..65535"));
}

// Enum numbers this version does not know are errors, not defaults.
TEST_F(ServiceMappingTest, UnknownEnumValues) {
  v1::Service s = service(kWeb);
  s.set_protocol(static_cast<v1::Protocol>(6));
  s.set_affinity(static_cast<v1::Affinity>(9));
  s.set_encapsulation(static_cast<v1::Encapsulation>(3));
  s.mutable_pools(1)->mutable_backends(0)->set_state(static_cast<v1::BackendState>(4));
  v1::ServiceList l;
  *l.add_services() = s;
  EXPECT_THAT(errors_of(l), ElementsAre("services[0].protocol: unknown value 6",
                                        "services[0].affinity: unknown value 9",
                                        "services[0].encapsulation: unknown value 3",
                                        "services[0].pools[1].backends[0].state: unknown value 4"));
}

// Health check enums unknown to this version and ports beyond 16 bits, on
// the service and on a pool.
TEST_F(ServiceMappingTest, HealthCheckMappingErrors) {
  v1::Service s = service(std::string(kWeb) + "health_check { port: 65536 }");
  s.mutable_health_check()->set_type(static_cast<v1::HealthCheckType>(8));
  s.mutable_health_check()->set_unhealthy_flows(static_cast<v1::UnhealthyFlows>(5));
  v1::HealthCheck* canary = s.mutable_pools(1)->mutable_health_check();
  canary->set_type(static_cast<v1::HealthCheckType>(7));
  canary->set_port(70000);
  v1::ServiceList l;
  *l.add_services() = s;
  EXPECT_THAT(errors_of(l),
              ElementsAre("services[0].health_check.type: unknown value 8",
                          "services[0].health_check.port: 65536 is out of range 0..65535",
                          "services[0].health_check.unhealthy_flows: unknown value 5",
                          "services[0].pools[1].health_check.type: unknown value 7",
                          "services[0].pools[1].health_check.port: 70000 is out of range 0..65535"));
}

// Validation errors of health checks carry the API's paths, for the service
// and for a pool's override.
TEST_F(ServiceMappingTest, HealthCheckValidationErrors) {
  EXPECT_THAT(
      errors_of(R"pb(name: "web" vip: "10.0.0.1" port: 80
                     health_check { type: HEALTH_CHECK_TYPE_HTTP interval_ms: 1000 timeout_ms: 1500
                                    http_path: "healthz" }
                     pools { name: "a" weight: 1 backends { address: "10.0.0.2" } }
                     pools { name: "b" weight: 1 backends { address: "10.0.0.3" }
                             health_check { http_path: "/b" unhealthy_threshold: 0
                                            unhealthy_flows: UNHEALTHY_FLOWS_RESCHEDULE } })pb"),
      ElementsAre("services[0].health_check.timeout_ms: 1500 is out of range 1..interval_ms (1000)",
                  "services[0].health_check.http_path: must start with '/'",
                  "services[0].pools[1].health_check.unhealthy_threshold: 0 is out of range 1..1000",
                  "services[0].pools[1].health_check.unhealthy_flows: is set per service: leave it "
                  "out here or set it on the service's health_check"));
  EXPECT_THAT(errors_of(std::string(kWeb) + R"pb(health_check { type: HEALTH_CHECK_TYPE_TCP
                                                               http_path: "/x" })pb"),
              ElementsAre("services[0].health_check.http_path: only HTTP and HTTPS checks use it "
                          "(type is TCP)"));
}

// A pool weight must be written; 0 written is fine.
TEST_F(ServiceMappingTest, PoolWeightRequired) {
  EXPECT_THAT(errors_of(R"pb(name: "web" vip: "10.0.0.1" port: 80
                             pools { name: "a" backends { address: "10.0.0.2" } })pb"),
              ElementsAre("services[0].pools[0].weight: must be set (write 0 for a pool that "
                          "takes no share of new flows)"));
  EXPECT_EQ(mapped(R"pb(name: "web" vip: "10.0.0.1" port: 80
                        pools { name: "a" weight: 0 backends { address: "10.0.0.2" } }
                        pools { name: "b" weight: 1 backends { address: "10.0.0.3" } })pb")
                .pools[0]
                .weight,
            0u);
}

// --- Errors of validation, with the API's field names ---

// The engine's checks run too, with paths under services[i].
TEST_F(ServiceMappingTest, ValidationErrors) {
  EXPECT_THAT(errors_of(R"pb(name: "web" vip: "10.0.0.1" port: 0 maglev_table_size: 100
                             pools { name: "a" weight: 1000001
                                     backends { address: "10.0.0.2" weight: 0 } }
                             rules { source_cidr: "10.9.0.0/16" pool: "nope" }
                             fallback_pool: "gone")pb"),
              ElementsAre("services[0].port: 0 is out of range 1..65535",
                          "services[0].maglev_table_size: 100 is not prime (Maglev needs a prime "
                          "size)",
                          "services[0].pools[0].weight: 1000001 is out of range 0..1000000",
                          "services[0].pools[0].backends[0].weight: 0 is out of range 1..1000000",
                          "services[0].fallback_pool: unknown pool \"gone\"",
                          "services[0].rules[0].pool: unknown pool \"nope\""));
}

// The engine's rule errors are renamed from `source` to `source_cidr`.
TEST_F(ServiceMappingTest, RuleFieldRenamed) {
  EXPECT_THAT(errors_of(std::string(kWeb) + R"pb(
                rules { source_cidr: "2001:db8::/32" pool: "canary" }
                rules { source_cidr: "10.1.0.0/16" pool: "canary" }
                rules { source_cidr: "10.1.0.0/16" pool: "stable" })pb"),
              ElementsAre("services[0].rules[0].source_cidr: 2001:db8::/32 is not of the VIP's "
                          "address family",
                          "services[0].rules[2].source_cidr: duplicate rule for 10.1.0.0/16"));
}

// Checks across services: duplicate names and listeners.
TEST_F(ServiceMappingTest, CrossServiceErrors) {
  EXPECT_THAT(errors_of(list({kWeb, kWeb})),
              ElementsAre("services[1].name: duplicate service name \"web\" (also services[0])",
                          "services[1]: VIP 10.77.100.10 port 80 is already served by service \"web\" (services[0])"));
}

// --- No repeated errors ---

// A field that did not map is not reported again by validation.
TEST_F(ServiceMappingTest, NoFollowOnErrors) {
  // The IPv6 VIP typo does not make the IPv6 rule "not of the VIP's family";
  // the bad backend is not also "not a usable address" nor a duplicate of
  // the other bad one; the bad rules are not duplicates of each other.
  EXPECT_THAT(errors_of(R"pb(name: "v6" vip: "2001:db8::zz" port: 80
                             pools { name: "a" weight: 1 backends { address: "2001:db8::x" }
                                                         backends { address: "2001:db8::y" } }
                             rules { source_cidr: "2001:db8::/32" pool: "a" }
                             rules { source_cidr: "2001:db8::1/32" pool: "a" }
                             rules { source_cidr: "2001:db8::2/32" pool: "a" })pb"),
              ElementsAre("services[0].vip: \"2001:db8::zz\" is not an IPv4 or IPv6 address",
                          "services[0].pools[0].backends[0].address: \"2001:db8::x\" is not an "
                          "IPv4 or IPv6 address",
                          "services[0].pools[0].backends[1].address: \"2001:db8::y\" is not an "
                          "IPv4 or IPv6 address",
                          "services[0].rules[1].source_cidr: \"2001:db8::1/32\" has host bits set "
                          "beyond /32 (did you mean 2001:db8::/32?)",
                          "services[0].rules[2].source_cidr: \"2001:db8::2/32\" has host bits set "
                          "beyond /32 (did you mean 2001:db8::/32?)"));
}

// Two services whose ports did not map do not also clash as listeners;
// absent pool weights do not also make "all pool weights 0".
TEST_F(ServiceMappingTest, NoFollowOnListenerOrWeightErrors) {
  EXPECT_THAT(
      errors_of(list({R"pb(name: "a" vip: "10.0.0.1" port: 70000
                           pools { name: "p" weight: 1 backends { address: "10.0.0.2" } })pb",
                      R"pb(name: "b" vip: "10.0.0.1" port: 80000
                           pools { name: "p" backends { address: "10.0.0.3" } })pb"})),
      ElementsAre("services[0].port: 70000 is out of range 1..65535",
                  "services[1].port: 80000 is out of range 1..65535",
                  "services[1].pools[0].weight: must be set (write 0 for a pool that takes no "
                  "share of new flows)"));
}

// Mapping and validation errors of several services come back together.
TEST_F(ServiceMappingTest, SeveralErrorsTogether) {
  EXPECT_THAT(errors_of(list({R"pb(name: "a" vip: "10.0.0.1" port: 80
                                   pools { name: "p" weight: 1 backends { address: "bad" } })pb",
                              R"pb(name: "b c" vip: "10.0.0.2" port: 80
                                   pools { name: "p" weight: 0 backends { address: "10.0.0.3" } })pb"})),
              ElementsAre("services[0].pools[0].backends[0].address: \"bad\" is not an IPv4 or IPv6 "
                          "address",
                          "services[1].name: \"b c\" may contain only letters, digits, '-', '_' "
                          "and '.'",
                          "services[1].pools: all pool weights are 0; at least one pool needs a "
                          "weight"));
}

}  // namespace
}  // namespace sluice::control::config
