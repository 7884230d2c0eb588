// Tests of dataplane/engine/explain.h: the explanation of a new flow's
// placement must agree with what a worker actually does with it.
#include "dataplane/engine/explain.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "dataplane/engine/engine.h"
#include "tests/dataplane/engine/frame_builder.h"

namespace sluice::engine {
namespace {

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

class ExplainTest : public ::testing::Test {
 protected:
  ExplainTest() {
    config_.seed = {3, 4};
    config_.forwarding.source_v4 = ip("10.0.0.2");
    ServiceConfig s;
    s.name = "web";
    s.vip = ip("192.0.2.10");
    s.port = 80;
    s.maglev_table_size = 251;
    s.affinity = Affinity::kClientPrefix;
    s.pools = {{"stable", 70, {{ip("10.1.0.1")}, {ip("10.1.0.2")}, {ip("10.1.0.3")}}},
               {"canary", 30, {{ip("10.2.0.1")}, {ip("10.2.0.2")}}}};
    s.rules = {{*Cidr::parse("198.51.100.0/24"), "canary"}};
    config_.services.push_back(s);
    s.name = "api";
    s.port = 443;
    s.affinity = Affinity::kFlow;
    s.rules.clear();
    config_.services.push_back(s);
    snapshot_ = compiler_.compile(config_, 1).snapshot;
  }

  static sluice_flow_key key(const char* client, uint16_t sport, uint16_t dport) {
    sluice_flow_key k{};
    k.family = SLUICE_AF_INET;
    const IpAddress c = *IpAddress::parse(client), v = *IpAddress::parse("192.0.2.10");
    std::memcpy(k.src, c.bytes.data(), 4);
    std::memcpy(k.dst, v.bytes.data(), 4);
    k.sport = htons(sport);
    k.dport = htons(dport);
    k.proto = SLUICE_IPPROTO_TCP;
    return k;
  }

  EngineConfig config_;
  SnapshotCompiler compiler_;
  std::shared_ptr<const Snapshot> snapshot_;
};

// For 2000 random new flows the explanation names the backend the worker picks.
TEST_F(ExplainTest, AgreesWithWorker) {
  std::mt19937 rng(5);
  Worker worker;
  for (int i = 0; i < 2000; ++i) {
    const std::string client = "203.0." + std::to_string(rng() % 256) + "." + std::to_string(rng() % 256);
    const uint16_t sport = static_cast<uint16_t>(1024 + rng() % 60000);
    const uint16_t dport = (i % 2) ? 80 : 443;
    const FlowExplanation e = explain_flow(*snapshot_, key(client.c_str(), sport, dport));
    std::vector<uint8_t> frame = test::FrameBuilder().eth().ipv4(client, "192.0.2.10")
                                     .tcp(sport, dport, SLUICE_TCP_SYN).build();
    std::vector<uint8_t> buf(128 + frame.size());
    std::memcpy(buf.data() + 128, frame.data(), frame.size());
    Packet pkt{buf.data() + 128, static_cast<uint32_t>(frame.size()), 128};
    const Decision d = worker.process_one(snapshot_.get(), pkt, 0);
    ASSERT_EQ(d.service, e.service);
    ASSERT_EQ(d.pool, e.pool) << client;
    ASSERT_EQ(d.backend, e.backend) << client;
    ASSERT_FALSE(e.reason.empty());
  }
}

// A source-CIDR rule is reported as the reason.
TEST_F(ExplainTest, RuleMatch) {
  const FlowExplanation e = explain_flow(*snapshot_, key("198.51.100.7", 1000, 80));
  EXPECT_TRUE(e.rule_matched);
  EXPECT_EQ(e.service->pools[e.pool].name, "canary");
  EXPECT_NE(e.reason.find("source-CIDR rule pins the client to pool canary"), std::string::npos);
}

// No service: a VIP without that port, or not a VIP at all.
TEST_F(ExplainTest, NoService) {
  FlowExplanation e = explain_flow(*snapshot_, key("203.0.113.1", 1000, 8080));
  EXPECT_EQ(e.service, nullptr);
  EXPECT_EQ(e.reason, "the VIP has no service on this port and protocol");
  sluice_flow_key other = key("203.0.113.1", 1000, 80);
  other.dst[3] = 99;
  e = explain_flow(*snapshot_, other);
  EXPECT_EQ(e.service, nullptr);
  EXPECT_EQ(e.reason, "not a VIP: the packet goes to the host");
}

// A chosen pool with no active backend says the fallback takes the flow.
TEST_F(ExplainTest, PoolWithoutActiveBackend) {
  for (auto& b : config_.services[0].pools[1].backends) b.state = BackendState::kDraining;
  snapshot_ = compiler_.compile(config_, 2).snapshot;
  const FlowExplanation e = explain_flow(*snapshot_, key("198.51.100.7", 1000, 80));
  EXPECT_EQ(e.backend, kNoBackendIndex);
  EXPECT_NE(e.reason.find("no active backend"), std::string::npos);
}

// With the health table the workers read, the explanation skips unhealthy
// backends exactly as a worker does, and says so.
TEST_F(ExplainTest, SkipsUnhealthyAsWorkerDoes) {
  BackendHealthTable health(64);
  const CompiledService& web = snapshot_->services()[0];
  health.set(web.backends[0].counter_slot, SLUICE_HEALTH_UNHEALTHY);  // stable 10.1.0.1
  Worker worker;
  worker.set_health_table(&health);
  std::mt19937 rng(6);
  int skipped = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::string client = "203.0." + std::to_string(rng() % 256) + "." + std::to_string(rng() % 256);
    const uint16_t sport = static_cast<uint16_t>(1024 + rng() % 60000);
    const FlowExplanation e = explain_flow(*snapshot_, key(client.c_str(), sport, 80), &health);
    std::vector<uint8_t> frame = test::FrameBuilder().eth().ipv4(client, "192.0.2.10")
                                     .tcp(sport, 80, SLUICE_TCP_SYN).build();
    std::vector<uint8_t> buf(128 + frame.size());
    std::memcpy(buf.data() + 128, frame.data(), frame.size());
    Packet pkt{buf.data() + 128, static_cast<uint32_t>(frame.size()), 128};
    const Decision d = worker.process_one(snapshot_.get(), pkt, 0);
    ASSERT_EQ(d.backend, e.backend) << client;
    ASSERT_NE(e.backend, 0u);
    if (e.unhealthy_skipped) {
      ++skipped;
      ASSERT_NE(e.reason.find("10.1.0.1, which fails its health checks: the flow goes to the next "
                              "healthy one, "),
                std::string::npos)
          << e.reason;
    }
  }
  EXPECT_GT(skipped, 100);
}

// A pool with no healthy backend: the explanation names no backend.
TEST_F(ExplainTest, WholePoolUnhealthy) {
  BackendHealthTable health(64);
  for (const CompiledBackend& b : snapshot_->services()[0].backends) {
    if (b.pool == 1) health.set(b.counter_slot, SLUICE_HEALTH_UNHEALTHY);
  }
  const FlowExplanation e = explain_flow(*snapshot_, key("198.51.100.7", 1000, 80), &health);
  EXPECT_TRUE(e.unhealthy_skipped);
  EXPECT_EQ(e.backend, kNoBackendIndex);
  EXPECT_NE(e.reason.find("as does every backend of the pool"), std::string::npos) << e.reason;
}

}  // namespace
}  // namespace sluice::engine
