// SPDX-License-Identifier: Apache-2.0
#include "control/config/service_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/control/config/service_compare.h"

namespace sluice::control::config {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

const std::string kExample = std::string(SLUICE_SOURCE_ROOT) + "/control/config/examples/web-canary.json";
const std::string kHealthExample =
    std::string(SLUICE_SOURCE_ROOT) + "/control/config/examples/web-health.json";

// One valid service, as an operator would write it alone in a file.
constexpr const char* kWeb = R"({
  "name": "web", "vip": "10.77.100.10", "port": 80,
  "pools": [
    {"name": "stable", "weight": 90, "backends": [{"address": "10.77.0.21"}]},
    {"name": "canary", "weight": 10, "backends": [{"address": "10.77.0.31"}]}
  ]
})";

class ServiceJsonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sluice-json-test-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  static std::vector<std::string> strings(const std::vector<engine::ConfigError>& errors) {
    std::vector<std::string> out;
    for (const auto& e : errors) out.push_back(e.to_string());
    return out;
  }
  // Errors of loading `text`, as "field: message"; services must be empty then.
  static std::vector<std::string> errors_of(const std::string& text) {
    ServicesLoadResult r = load_services_json(text);
    EXPECT_TRUE(r.services.empty() || r.errors.empty());
    return strings(r.errors);
  }
  static std::vector<engine::ServiceConfig> load_good(const std::string& text) {
    ServicesLoadResult r = load_services_json(text);
    EXPECT_THAT(strings(r.errors), IsEmpty());
    return r.services;
  }
  // kWeb with `field` (a JSON member, "key": value) added to the service.
  static std::string web_with(const std::string& member) {
    std::string text = kWeb;
    return text.insert(1, "\n  " + member + ",");
  }

  fs::path dir_;
};

// --- Good input ---

// The shipped example: VIP 10.77.100.10:80 TCP, client-address affinity, 90/10 stable/canary, IPIP.
TEST_F(ServiceJsonTest, ShippedExampleLoads) {
  ServicesLoadResult r = load_services_json_file(kExample);
  EXPECT_THAT(strings(r.errors), IsEmpty());
  ASSERT_EQ(r.services.size(), 1u);
  const engine::ServiceConfig& s = r.services[0];
  EXPECT_EQ(s.name, "web");
  EXPECT_EQ(s.vip, engine::IpAddress::v4(10, 77, 100, 10));
  EXPECT_EQ(s.port, 80);
  EXPECT_EQ(s.protocol, engine::Protocol::kTcp);
  EXPECT_EQ(s.affinity, engine::Affinity::kClientAddress);
  EXPECT_EQ(s.encapsulation, engine::Encapsulation::kIpip);
  EXPECT_EQ(s.fallback_pool, "stable");
  ASSERT_EQ(s.pools.size(), 2u);
  EXPECT_EQ(s.pools[0].name, "stable");
  EXPECT_EQ(s.pools[0].weight, 90u);
  ASSERT_EQ(s.pools[0].backends.size(), 2u);
  EXPECT_EQ(s.pools[0].backends[0].address, engine::IpAddress::v4(10, 77, 0, 21));
  EXPECT_EQ(s.pools[0].backends[1].address, engine::IpAddress::v4(10, 77, 0, 22));
  EXPECT_EQ(s.pools[1].name, "canary");
  EXPECT_EQ(s.pools[1].weight, 10u);
  ASSERT_EQ(s.pools[1].backends.size(), 2u);
  EXPECT_EQ(s.pools[1].backends[0].address, engine::IpAddress::v4(10, 77, 0, 31));
  EXPECT_EQ(s.pools[1].backends[1].address, engine::IpAddress::v4(10, 77, 0, 32));
}

// The shipped health-check example: an HTTP check on the service, and the
// canary pool overriding its path and healthy threshold.
TEST_F(ServiceJsonTest, ShippedHealthExampleLoads) {
  ServicesLoadResult r = load_services_json_file(kHealthExample);
  EXPECT_THAT(strings(r.errors), IsEmpty());
  ASSERT_EQ(r.services.size(), 1u);
  const engine::ServiceConfig& s = r.services[0];
  EXPECT_EQ(s.health_check.type, engine::HealthCheckType::kHttp);
  EXPECT_EQ(s.health_check.interval_ms, 1000u);
  EXPECT_EQ(s.health_check.timeout_ms, 500u);
  EXPECT_EQ(s.health_check.interval_jitter_percent, 10u);
  EXPECT_EQ(s.health_check.expected_status_end, 300u);
  ASSERT_EQ(s.pools.size(), 2u);
  EXPECT_FALSE(s.pools[0].health_check.has_value());
  ASSERT_TRUE(s.pools[1].health_check.has_value());
  EXPECT_EQ(s.pools[1].health_check->http_path, "/healthz");
  EXPECT_EQ(s.pools[1].health_check->healthy_threshold, 3u);
  EXPECT_EQ(s.pools[1].health_check->interval_ms, 1000u);  // the service's
}

// A document holding one Service object loads as a list of one.
TEST_F(ServiceJsonTest, SingleServiceObject) {
  const auto services = load_good(kWeb);
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(services[0].name, "web");
  EXPECT_EQ(services[0].pools[1].backends[0].address, engine::IpAddress::v4(10, 77, 0, 31));
  // Absent fields are the engine's defaults.
  EXPECT_EQ(services[0].affinity, engine::Affinity::kFlow);
  EXPECT_EQ(services[0].maglev_table_size, 65537u);
  EXPECT_EQ(services[0].pools[0].backends[0].weight, 1u);
}

// A ServiceList with several services keeps their order.
TEST_F(ServiceJsonTest, ServiceList) {
  const auto services = load_good(R"({"services": [)" + std::string(kWeb) + R"(,
      {"name": "dns", "vip": "10.77.100.53", "port": 53, "protocol": "PROTOCOL_UDP",
       "pools": [{"name": "all", "weight": 1, "backends": [{"address": "10.77.0.53"}]}]}]})");
  ASSERT_EQ(services.size(), 2u);
  EXPECT_EQ(services[0].name, "web");
  EXPECT_EQ(services[1].name, "dns");
  EXPECT_EQ(services[1].protocol, engine::Protocol::kUdp);
}

// An empty list is a valid file: no services.
TEST_F(ServiceJsonTest, EmptyList) {
  ServicesLoadResult r = load_services_json(R"({"services": []})");
  EXPECT_THAT(r.services, IsEmpty());
  EXPECT_THAT(r.errors, IsEmpty());
}

// protobuf's JSON also takes lowerCamelCase names and quoted numbers.
TEST_F(ServiceJsonTest, ProtobufJsonSpellings) {
  const auto services = load_good(web_with(R"("maglevTableSize": "251", "fallbackPool": "canary")"));
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(services[0].maglev_table_size, 251u);
  EXPECT_EQ(services[0].fallback_pool, "canary");
}

// The dump format, written out: ServiceList, proto field names, every field.
TEST_F(ServiceJsonTest, DumpGolden) {
  const auto services = load_good(R"({"name": "s", "vip": "10.0.0.1", "port": 8080,
      "pools": [{"name": "p", "weight": 1, "backends": [{"address": "10.0.0.2"}]}],
      "rules": [{"source_cidr": "10.8.0.0/16", "pool": "p"}]})");
  EXPECT_EQ(services_to_json(services), R"({
 "services": [
  {
   "name": "s",
   "vip": "10.0.0.1",
   "port": 8080,
   "protocol": "PROTOCOL_TCP",
   "affinity": "AFFINITY_FLOW",
   "client_prefix_v4": 24,
   "client_prefix_v6": 64,
   "encapsulation": "ENCAPSULATION_IPIP",
   "gue_port": 6080,
   "maglev_table_size": 65537,
   "pools": [
    {
     "name": "p",
     "weight": 1,
     "backends": [
      {
       "address": "10.0.0.2",
       "weight": 1,
       "state": "BACKEND_STATE_ACTIVE"
      }
     ]
    }
   ],
   "rules": [
    {
     "source_cidr": "10.8.0.0/16",
     "pool": "p"
    }
   ],
   "circuit": {
    "enabled": true,
    "consecutive_failures": 3,
    "syn_retry_min_ms": 500,
    "base_ejection_ms": 5000,
    "max_ejection_ms": 300000,
    "half_open_trials": 3,
    "max_ejected_percent": 50,
    "failure_window_ms": 10000
   },
   "timeouts": {
    "tcp_syn_ms": 10000,
    "tcp_established_ms": 10800000,
    "tcp_closing_ms": 10000,
    "udp_ms": 30000,
    "probation_ms": 5000
   },
   "health_check": {
    "type": "HEALTH_CHECK_TYPE_NONE",
    "interval_ms": 2000,
    "timeout_ms": 1000,
    "interval_jitter_ms": 0,
    "interval_jitter_percent": 0,
    "unhealthy_threshold": 3,
    "healthy_threshold": 2,
    "port": 0,
    "http_path": "/",
    "http_host": "",
    "expected_status_start": 200,
    "expected_status_end": 400,
    "unhealthy_flows": "UNHEALTHY_FLOWS_KEEP"
   }
  }
 ]
}
)");
  EXPECT_EQ(services_to_json({}), "{}\n");
}

// JSON -> engine -> JSON -> engine gives the same services, and the same JSON.
TEST_F(ServiceJsonTest, RoundTrip) {
  const auto first = load_good(R"({"services": [)" + std::string(kWeb) + R"(,
      {"name": "full", "vip": "2001:db8::10", "port": 443, "protocol": "PROTOCOL_UDP",
       "affinity": "AFFINITY_CLIENT_PREFIX", "client_prefix_v4": 16, "client_prefix_v6": 56,
       "encapsulation": "ENCAPSULATION_GUE", "gue_port": 9999, "maglev_table_size": 1009,
       "pools": [
         {"name": "blue", "weight": 0, "backends": [
           {"address": "2001:db8::21", "weight": 3, "state": "BACKEND_STATE_DRAINING"},
           {"address": "2001:db8::9", "weight": 1, "state": "BACKEND_STATE_DISABLED"}]},
         {"name": "green", "weight": 100, "backends": [{"address": "2001:db8::22"}],
          "health_check": {"type": "HEALTH_CHECK_TYPE_TCP", "port": 8080}}],
       "health_check": {"type": "HEALTH_CHECK_TYPE_HTTPS", "interval_ms": 3000,
                        "timeout_ms": 3000, "interval_jitter_ms": 100,
                        "interval_jitter_percent": 5, "unhealthy_threshold": 1,
                        "healthy_threshold": 1, "http_path": "/ready", "http_host": "api",
                        "expected_status_start": 200, "expected_status_end": 201,
                        "unhealthy_flows": "UNHEALTHY_FLOWS_RESCHEDULE"},
       "rules": [{"source_cidr": "2001:db8:5::/48", "pool": "blue"}],
       "fallback_pool": "green",
       "circuit": {"enabled": false, "consecutive_failures": 5, "syn_retry_min_ms": 200,
                   "base_ejection_ms": 1000, "max_ejection_ms": 60000, "half_open_trials": 1,
                   "max_ejected_percent": 100},
       "timeouts": {"tcp_syn_ms": 5000, "tcp_established_ms": 600000, "tcp_closing_ms": 2000,
                    "udp_ms": 1000}}]})");
  ASSERT_EQ(first.size(), 2u);
  const std::string dump = services_to_json(first);
  const auto second = load_good(dump);
  ASSERT_EQ(second.size(), 2u);
  expect_same_service(second[0], first[0]);
  expect_same_service(second[1], first[1]);
  EXPECT_EQ(second[1].health_check.type, engine::HealthCheckType::kHttps);
  EXPECT_EQ(second[1].pools[1].health_check->port, 8080);
  EXPECT_EQ(services_to_json(second), dump);
}

// A byte order mark before the document is accepted.
TEST_F(ServiceJsonTest, ByteOrderMark) {
  EXPECT_EQ(load_good("\xef\xbb\xbf" + std::string(kWeb)).size(), 1u);
}

// --- Bad documents ---

// Empty, blank, and non-object documents.
TEST_F(ServiceJsonTest, NotADocument) {
  EXPECT_THAT(errors_of(""), ElementsAre("document: is empty"));
  EXPECT_THAT(errors_of("\n  \n"), ElementsAre("document: is empty"));
  EXPECT_THAT(errors_of("[]"),
              ElementsAre("document: must be a JSON object: one service, or {\"services\": [...]}"));
  EXPECT_THAT(errors_of("\"web\""),
              ElementsAre("document: must be a JSON object: one service, or {\"services\": [...]}"));
}

// Malformed JSON names the line and column.
TEST_F(ServiceJsonTest, MalformedJson) {
  EXPECT_THAT(errors_of("{\n  \"name\": \"web\"\n  \"port\": 80\n}"),
              ElementsAre("line 3, column 3: expected ',' or '}', found '\"'"));
  EXPECT_THAT(errors_of("{\"services\": [{\"name\": \"web\",}]}"),
              ElementsAre("line 1, column 30: trailing comma before '}'"));
}

// A repeated key is refused instead of silently keeping the last value.
TEST_F(ServiceJsonTest, RepeatedKey) {
  EXPECT_THAT(errors_of(R"({"services": [{"pools": [{"name": "a", "weight": 90, "weight": 10}]}]})"),
              ElementsAre("services[0].pools[0].weight: repeated key (line 1, column 54; first at "
                          "line 1, column 40)"));
}

// Unknown fields are errors, in both document forms, at any depth.
TEST_F(ServiceJsonTest, UnknownFields) {
  EXPECT_THAT(errors_of(web_with(R"("weights": 5)")),
              ElementsAre("services[0].weights: unknown field"));
  EXPECT_THAT(errors_of(R"({"services": [{"name": "a", "pools": [{"name": "p", "backend": []}]}]})"),
              ElementsAre("services[0].pools[0].backend: unknown field"));
  EXPECT_THAT(errors_of(R"({"services": [], "version": 2})"), ElementsAre("version: unknown field"));
}

// Values of the wrong JSON type name the field and what it expects.
TEST_F(ServiceJsonTest, WrongTypes) {
  EXPECT_THAT(errors_of(web_with(R"("maglev_table_size": "big")")),
              ElementsAre("services[0].maglev_table_size: invalid value \"big\"; expected a whole "
                          "number 0..4294967295"));
  EXPECT_THAT(errors_of(R"({"services": [{"name": 5}]})"),
              ElementsAre("services[0].name: invalid value 5; expected a string"));
  EXPECT_THAT(errors_of(R"({"services": [{"circuit": {"enabled": 2}}]})"),
              ElementsAre("services[0].circuit.enabled: invalid value 2; expected true or false"));
  EXPECT_THAT(errors_of(R"({"services": [{"pools": [7]}]})"),
              ElementsAre("services[0].pools[0]: invalid value 7; expected an object"));
  EXPECT_THAT(errors_of(R"({"services": [{"port": -1}]})"),
              ElementsAre("services[0].port: invalid value -1; expected a whole number "
                          "0..4294967295"));
  EXPECT_THAT(errors_of(R"({"services": [{"port": 1.5}]})"),
              ElementsAre("services[0].port: invalid value 1.5; expected a whole number "
                          "0..4294967295"));
}

// An enum name that does not exist lists the names that do.
TEST_F(ServiceJsonTest, BadEnumNames) {
  EXPECT_THAT(errors_of(web_with(R"("protocol": "TCP")")),
              ElementsAre("services[0].protocol: invalid value \"TCP\"; expected one of "
                          "PROTOCOL_TCP, PROTOCOL_UDP"));
  EXPECT_THAT(
      errors_of(R"({"services": [{"pools": [{"backends": [{"state": "BACKEND_STATE_GONE"}]}]}]})"),
      ElementsAre("services[0].pools[0].backends[0].state: invalid value \"BACKEND_STATE_GONE\"; "
                  "expected one of BACKEND_STATE_ACTIVE, BACKEND_STATE_DRAINING, "
                  "BACKEND_STATE_DISABLED"));
  // A number is taken as the enum's number: unknown ones are errors too.
  EXPECT_THAT(errors_of(web_with(R"("affinity": 7)")),
              ElementsAre("services[0].affinity: unknown value 7"));
}

// --- Bad values (mapping and validation), each at its field path ---

// Addresses and prefixes that do not parse.
TEST_F(ServiceJsonTest, BadAddressAndCidr) {
  EXPECT_THAT(
      errors_of(R"({"services": [{"name": "web", "vip": "10.77.100.10", "port": 80,
        "pools": [{"name": "a", "weight": 1, "backends": [{"address": "10.77.0.21"}]},
                  {"name": "b", "weight": 1, "backends": [{"address": "10.0.0.300"}]}],
        "rules": [{"source_cidr": "10.1.0.0/16", "pool": "a"},
                  {"source_cidr": "10.2.0.0/16", "pool": "b"},
                  {"source_cidr": "10.0.0.1/24", "pool": "a"}]}]})"),
      ElementsAre("services[0].pools[1].backends[0].address: \"10.0.0.300\" is not an IPv4 or IPv6 "
                  "address",
                  "services[0].rules[2].source_cidr: \"10.0.0.1/24\" has host bits set beyond /24 "
                  "(did you mean 10.0.0.0/24?)"));
}

// A rule naming a pool the service does not have.
TEST_F(ServiceJsonTest, UnknownPoolInRule) {
  EXPECT_THAT(errors_of(web_with(R"("rules": [{"source_cidr": "10.9.0.0/16", "pool": "beta"}])")),
              ElementsAre("services[0].rules[0].pool: unknown pool \"beta\""));
}

// Ports 0 (or absent) and 70000.
TEST_F(ServiceJsonTest, PortRange) {
  std::string zero = kWeb;
  zero.replace(zero.find("\"port\": 80"), 10, "\"port\": 0");
  EXPECT_THAT(errors_of(zero), ElementsAre("services[0].port: 0 is out of range 1..65535"));
  std::string big = kWeb;
  big.replace(big.find("\"port\": 80"), 10, "\"port\": 70000");
  EXPECT_THAT(errors_of(big), ElementsAre("services[0].port: 70000 is out of range 1..65535"));
  std::string absent = kWeb;
  absent.replace(absent.find("\"port\": 80,"), 11, "");
  EXPECT_THAT(errors_of(absent), ElementsAre("services[0].port: 0 is out of range 1..65535"));
}

// Weights: backend 0 and too large, pool too large, pool weight missing.
TEST_F(ServiceJsonTest, WeightRanges) {
  EXPECT_THAT(
      errors_of(R"({"name": "web", "vip": "10.77.100.10", "port": 80, "pools": [
        {"name": "a", "weight": 1000001, "backends": [{"address": "10.0.0.1", "weight": 0},
                                                     {"address": "10.0.0.2", "weight": 1000001}]},
        {"name": "b", "backends": [{"address": "10.0.0.3"}]}]})"),
      ElementsAre("services[0].pools[1].weight: must be set (write 0 for a pool that takes no "
                  "share of new flows)",
                  "services[0].pools[0].weight: 1000001 is out of range 0..1000000",
                  "services[0].pools[0].backends[0].weight: 0 is out of range 1..1000000",
                  "services[0].pools[0].backends[1].weight: 1000001 is out of range 1..1000000"));
}

// Many mistakes in one file are all reported by one load.
TEST_F(ServiceJsonTest, SeveralErrorsTogether) {
  EXPECT_THAT(
      errors_of(R"({"services": [
        {"name": "web", "vip": "10.77.100.1o", "port": 70000, "pools": [
          {"name": "a", "weight": 1, "backends": [{"address": "10.0.0.1"}]}]},
        {"name": "", "vip": "10.77.100.11", "port": 80, "maglev_table_size": 65536, "pools": []},
        {"name": "web", "vip": "10.77.100.12", "port": 80, "pools": [
          {"name": "a", "weight": 0, "backends": [{"address": "10.0.0.2", "state": 9}]}],
         "circuit": {"max_ejected_percent": 101}}]})"),
      ElementsAre("services[0].vip: \"10.77.100.1o\" is not an IPv4 or IPv6 address",
                  "services[0].port: 70000 is out of range 1..65535",
                  "services[2].pools[0].backends[0].state: unknown value 9",
                  "services[1].name: must not be empty",
                  "services[1].maglev_table_size: 65536 is not prime (Maglev needs a prime size)",
                  "services[1].pools: a service needs 1..8 pools, got 0",
                  "services[2].pools: all pool weights are 0; at least one pool needs a weight",
                  "services[2].circuit.max_ejected_percent: 101 is out of range 0..100",
                  "services[2].name: duplicate service name \"web\" (also services[0])"));
}

// --- Files ---

// A file's errors name the file; the field path follows.
TEST_F(ServiceJsonTest, FileErrorsNameTheFile) {
  const std::string path = write("bad.json", web_with(R"("port": 0)"));
  ServicesLoadResult r = load_services_json_file(path);
  // "port" given twice: refused before any value is looked at.
  EXPECT_THAT(strings(r.errors),
              ElementsAre(path + ": port: repeated key (line 3, column 41; first at line 2, "
                                 "column 3)"));
  const std::string bad = write("bad2.json", "{\"services\": [{\"port\": 70000}]}");
  EXPECT_THAT(strings(load_services_json_file(bad).errors),
              ElementsAre(bad + ": services[0].vip: must be set",
                          bad + ": services[0].port: 70000 is out of range 1..65535",
                          bad + ": services[0].name: must not be empty",
                          bad + ": services[0].pools: a service needs 1..8 pools, got 0"));
}

// An empty file is one error naming the file.
TEST_F(ServiceJsonTest, EmptyFile) {
  const std::string path = write("empty.json", "");
  ServicesLoadResult r = load_services_json_file(path);
  EXPECT_THAT(r.services, IsEmpty());
  EXPECT_THAT(strings(r.errors), ElementsAre(path + ": is empty"));
}

// A missing file, or a directory, is reported with errno's text.
TEST_F(ServiceJsonTest, UnreadableFile) {
  const std::string missing = (dir_ / "missing.json").string();
  EXPECT_THAT(strings(load_services_json_file(missing).errors),
              ElementsAre(missing + ": cannot open: No such file or directory"));
  EXPECT_THAT(strings(load_services_json_file(dir_.string()).errors),
              ElementsAre(dir_.string() + ": cannot read: Is a directory"));
}

// A good file loads the same as its text.
TEST_F(ServiceJsonTest, GoodFile) {
  ServicesLoadResult r = load_services_json_file(write("web.json", kWeb));
  EXPECT_THAT(strings(r.errors), IsEmpty());
  ASSERT_EQ(r.services.size(), 1u);
  expect_same_service(r.services[0], load_good(kWeb)[0]);
}

}  // namespace
}  // namespace sluice::control::config
