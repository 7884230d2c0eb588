// SPDX-License-Identifier: Apache-2.0
// The text /metrics and /metrics/backends serve for a hand-built sample,
// line by line: names, labels, units, cumulative histogram buckets and
// their le bounds, and which path serves which family.
#include "control/metrics/stats_collectable.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "control/metrics/signal_families.h"
#include "tests/control/metrics/metrics_test_stats.h"

namespace sluice::control::metrics {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// How every HELP text on /metrics/backends ends.
const std::string kBackendsHelp =
    " Served on /metrics/backends, not /metrics: scrape it less often (control/metrics/README.md).";

std::string serialize(const std::vector<prometheus::MetricFamily>& families) {
  return prometheus::TextSerializer().Serialize(families);
}

class StatsCollectableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    text_ = serialize(build_families(sample_stats(), sample_status(), Exposition::kMain)) +
            serialize(build_families(sample_stats(), sample_status(), Exposition::kBackends));
  }

  // The lines of family `name` on either path: HELP, TYPE and its samples
  // (with the histogram suffixes), in the order served.
  std::vector<std::string> family(const std::string& name) const {
    std::vector<std::string> lines;
    std::istringstream in(text_);
    for (std::string line; std::getline(in, line);) {
      const bool comment = line.rfind("# HELP " + name + " ", 0) == 0 ||
                           line.rfind("# TYPE " + name + " ", 0) == 0;
      bool sample = false;
      for (const char* suffix : {"", "_bucket", "_sum", "_count"}) {
        const std::string prefix = name + suffix;
        sample |= line.rfind(prefix + "{", 0) == 0 || line.rfind(prefix + " ", 0) == 0;
      }
      if (comment || sample) lines.push_back(line);
    }
    return lines;
  }

  std::string text_;
};

// The backend histogram: buckets made cumulative, le in seconds, _sum in
// seconds, _count = all handshakes, +Inf last.
TEST_F(StatsCollectableTest, BackendHandshakeHistogramIsCumulativeInSeconds) {
  const std::string l = "{service=\"web.v2-canary_1\",pool=\"blue\",backend=\"10.0.0.1\"";
  const std::string m = "sluice_backend_handshake_duration_seconds";
  const std::vector<std::string> lines = family(m);
  ASSERT_EQ(lines.size(), 2u + 2 * 15);  // HELP, TYPE; two backends x (count, sum, 13 buckets)
  EXPECT_EQ(lines[0],
            "# HELP " + m + " TCP handshake time per backend: from the flow's first SYN to the "
            "client's first non-SYN packet (connect latency through the balancer and the backend)." +
                kBackendsHelp);
  EXPECT_EQ(lines[1], "# TYPE " + m + " histogram");
  EXPECT_THAT(std::vector<std::string>(lines.begin() + 2, lines.begin() + 17),
              ElementsAre(m + "_count" + l + "} 4", m + "_sum" + l + "} 7.01",
                          m + "_bucket" + l + ",le=\"0.001\"} 1",
                          m + "_bucket" + l + ",le=\"0.002\"} 1",
                          m + "_bucket" + l + ",le=\"0.005\"} 3",
                          m + "_bucket" + l + ",le=\"0.01\"} 3",
                          m + "_bucket" + l + ",le=\"0.02\"} 3",
                          m + "_bucket" + l + ",le=\"0.05\"} 3",
                          m + "_bucket" + l + ",le=\"0.1\"} 3",
                          m + "_bucket" + l + ",le=\"0.2\"} 3",
                          m + "_bucket" + l + ",le=\"0.5\"} 3",
                          m + "_bucket" + l + ",le=\"1\"} 3",
                          m + "_bucket" + l + ",le=\"2\"} 3",
                          m + "_bucket" + l + ",le=\"5\"} 3",
                          m + "_bucket" + l + ",le=\"+Inf\"} 4"));
  // The IPv6 backend's address is its label as written (colons need no escaping).
  EXPECT_EQ(lines[17], m + "_count{service=\"web.v2-canary_1\",pool=\"blue\",backend=\"2001:db8::1\"} 0");
}

// Golden signals are _total counters per level; ejections only per backend.
TEST_F(StatsCollectableTest, SignalsAreCountersPerLevel) {
  EXPECT_THAT(family("sluice_backend_packets_total"),
              ElementsAre("# HELP sluice_backend_packets_total Golden signal per backend: frames "
                          "forwarded to the backend (client to service) (signal_list.h)." +
                              kBackendsHelp,
                          "# TYPE sluice_backend_packets_total counter",
                          "sluice_backend_packets_total{service=\"web.v2-canary_1\",pool=\"blue\","
                          "backend=\"10.0.0.1\"} 12345678901234",
                          "sluice_backend_packets_total{service=\"web.v2-canary_1\",pool=\"blue\","
                          "backend=\"2001:db8::1\"} 0"));
  EXPECT_THAT(family("sluice_service_bytes_total"),
              ElementsAre(::testing::StartsWith("# HELP"), "# TYPE sluice_service_bytes_total counter",
                          "sluice_service_bytes_total{service=\"web.v2-canary_1\"} 999"));
  EXPECT_THAT(family("sluice_backend_ejections_total"),
              ElementsAre(::testing::_, ::testing::_,
                          ::testing::EndsWith("backend=\"10.0.0.1\"} 1"),
                          ::testing::EndsWith("backend=\"2001:db8::1\"} 0")));
  EXPECT_THAT(family("sluice_pool_ejections_total"), IsEmpty());
  EXPECT_THAT(family("sluice_service_ejections_total"), IsEmpty());
}

// Flow ages in seconds, circuit workers by state, health as a number;
// check counters only for checked backends.
TEST_F(StatsCollectableTest, BackendGauges) {
  const std::string v4 = "{service=\"web.v2-canary_1\",pool=\"blue\",backend=\"10.0.0.1\"";
  const std::string v6 = "{service=\"web.v2-canary_1\",pool=\"blue\",backend=\"2001:db8::1\"";
  EXPECT_EQ(family("sluice_backend_oldest_flow_age_seconds")[2],
            "sluice_backend_oldest_flow_age_seconds" + v4 + "} 61.5");
  EXPECT_EQ(family("sluice_backend_active_flows")[2], "sluice_backend_active_flows" + v4 + "} 5");
  EXPECT_THAT(family("sluice_backend_circuit_workers"),
              ElementsAre(::testing::_, ::testing::_,
                          "sluice_backend_circuit_workers" + v4 + ",state=\"open\"} 1",
                          "sluice_backend_circuit_workers" + v4 + ",state=\"half_open\"} 0",
                          "sluice_backend_circuit_workers" + v6 + ",state=\"open\"} 0",
                          "sluice_backend_circuit_workers" + v6 + ",state=\"half_open\"} 1"));
  EXPECT_THAT(family("sluice_backend_health_state"),
              ElementsAre(::testing::_, "# TYPE sluice_backend_health_state gauge",
                          "sluice_backend_health_state" + v4 + "} 1",
                          "sluice_backend_health_state" + v6 + "} 0"));
  EXPECT_THAT(family("sluice_backend_health_check_failures_total"),
              ElementsAre(::testing::_, ::testing::_,
                          "sluice_backend_health_check_failures_total" + v4 + "} 2"));
  EXPECT_THAT(family("sluice_backend_state"),
              ElementsAre(::testing::_, ::testing::_, "sluice_backend_state" + v4 + "} 0",
                          "sluice_backend_state" + v6 + "} 1"));
  const std::string pool = "{service=\"web.v2-canary_1\",pool=\"blue\"";
  EXPECT_THAT(family("sluice_pool_backends_health"),
              ElementsAre(::testing::_, ::testing::_,
                          "sluice_pool_backends_health" + pool + ",health=\"unknown\"} 1",
                          "sluice_pool_backends_health" + pool + ",health=\"healthy\"} 1",
                          "sluice_pool_backends_health" + pool + ",health=\"unhealthy\"} 0"));
  EXPECT_EQ(family("sluice_flow_census_age_seconds")[2], "sluice_flow_census_age_seconds 0.25");
}

// Revisions, per-worker generation and counters, drops by reason, build info.
TEST_F(StatsCollectableTest, DaemonFamilies) {
  EXPECT_EQ(family("sluice_config_revision")[2], "sluice_config_revision 7");
  EXPECT_EQ(family("sluice_config_desired_revision")[2], "sluice_config_desired_revision 8");
  EXPECT_THAT(family("sluice_worker_generation"),
              ElementsAre(::testing::_, ::testing::_, "sluice_worker_generation{worker=\"0\"} 7",
                          "sluice_worker_generation{worker=\"1\"} 6"));
  EXPECT_EQ(family("sluice_config_applied_revision")[2], "sluice_config_applied_revision 6");
  EXPECT_EQ(family("sluice_publish_attempts_total")[2], "sluice_publish_attempts_total 9");
  EXPECT_EQ(family("sluice_publish_failures_total")[2], "sluice_publish_failures_total 2");
  EXPECT_EQ(family("sluice_dataplane_fault")[2], "sluice_dataplane_fault 1");
  EXPECT_EQ(family("sluice_serving")[2], "sluice_serving 0");
  EXPECT_THAT(family("sluice_worker_health_skips_total"),
              ElementsAre("# HELP sluice_worker_health_skips_total Engine counter per worker: new "
                          "flows moved off a backend failing its health checks (counter_list.h).",
                          "# TYPE sluice_worker_health_skips_total counter",
                          "sluice_worker_health_skips_total{worker=\"0\"} 0",
                          "sluice_worker_health_skips_total{worker=\"1\"} 3"));
  EXPECT_EQ(family("sluice_worker_drops_total")[5],
            "sluice_worker_drops_total{worker=\"1\",reason=\"fragment\"} 5");
  EXPECT_EQ(family("sluice_dataplane_rx_bursts_total")[3],
            "sluice_dataplane_rx_bursts_total{worker=\"1\"} 41");
  EXPECT_EQ(family("sluice_uptime_seconds")[2], "sluice_uptime_seconds 90.5");
  EXPECT_EQ(family("sluice_build_info")[2],
            "sluice_build_info{version=\"0.1.0\",dataplane=\"dpdk\"} 1");
}

// Every family has HELP and TYPE, names are unique over both paths, and
// every name starts with sluice_.
TEST_F(StatsCollectableTest, FamiliesAreNamedAndDocumented) {
  std::set<std::string> names;
  for (const Exposition e : {Exposition::kMain, Exposition::kBackends}) {
    for (const prometheus::MetricFamily& f : build_families(sample_stats(), sample_status(), e)) {
      EXPECT_TRUE(names.insert(f.name).second) << f.name;
      EXPECT_EQ(f.name.rfind("sluice_", 0), 0u) << f.name;
      EXPECT_FALSE(f.help.empty()) << f.name;
    }
  }
}

// A per-backend family: named sluice_backend_* and every sample labelled
// with a backend.
bool is_per_backend(const prometheus::MetricFamily& f) {
  if (f.name.rfind("sluice_backend_", 0) != 0) return false;
  for (const prometheus::ClientMetric& m : f.metric) {
    bool has_backend = false;
    for (const auto& label : m.label) has_backend |= label.name == "backend";
    if (!has_backend) return false;
  }
  return true;
}

// /metrics keeps every family but the per-backend ones; /metrics/backends
// has those only, each saying where it is served.
TEST_F(StatsCollectableTest, PerBackendFamiliesAreOnTheirOwnPath) {
  const auto main = build_families(sample_stats(), sample_status(), Exposition::kMain);
  const auto backends = build_families(sample_stats(), sample_status(), Exposition::kBackends);
  for (const prometheus::MetricFamily& f : main) {
    EXPECT_EQ(f.name.rfind("sluice_backend_", 0), std::string::npos) << f.name;
    for (const prometheus::ClientMetric& m : f.metric) {
      for (const auto& label : m.label) EXPECT_NE(label.name, "backend") << f.name;
    }
  }
  for (const prometheus::MetricFamily& f : backends) {
    EXPECT_TRUE(is_per_backend(f)) << f.name;
    EXPECT_TRUE(f.help.ends_with(kBackendsHelp)) << f.name;
  }
  // Every signal (ejections included), the histogram, 2 flow gauges,
  // weight, state, circuit, health state and 3 check counters.
  EXPECT_EQ(backends.size(), kSignalCount + 10);
}

// A label value that needs escaping (quote, backslash, newline) comes out
// escaped as the text format wants, though valid names never hold one.
TEST_F(StatsCollectableTest, LabelValuesAreEscaped) {
  ControlStatus status = sample_status();
  status.version = "0.1\"x\\y\nz";
  text_ = serialize(build_families(sample_stats(), status, Exposition::kMain));
  EXPECT_EQ(family("sluice_build_info")[2],
            "sluice_build_info{version=\"0.1\\\"x\\\\y\\nz\",dataplane=\"dpdk\"} 1");
}

// Collect() takes one sample per scrape.
TEST(StatsCollectable, CollectSamplesTheSourceOnce) {
  FakeMetricsSource source;
  std::mutex scrape_mutex;
  StatsCollectable collectable(source, Exposition::kMain, scrape_mutex);
  EXPECT_FALSE(collectable.Collect().empty());
  EXPECT_EQ(source.samples, 1);
  StatsCollectable backends(source, Exposition::kBackends, scrape_mutex);
  EXPECT_FALSE(backends.Collect().empty());
  EXPECT_EQ(source.samples, 2);
}

}  // namespace
}  // namespace sluice::control::metrics
