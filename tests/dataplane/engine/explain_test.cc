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

  // What `worker` does with a SYN from client:sport to the VIP's port.
  Decision syn(Worker& worker, const char* client, uint16_t sport, uint16_t dport,
               uint64_t now_ns = 0) {
    std::vector<uint8_t> frame = test::FrameBuilder().eth().ipv4(client, "192.0.2.10")
                                     .tcp(sport, dport, SLUICE_TCP_SYN).build();
    std::vector<uint8_t> buf(128 + frame.size());
    std::memcpy(buf.data() + 128, frame.data(), frame.size());
    Packet pkt{buf.data() + 128, static_cast<uint32_t>(frame.size()), 128};
    return worker.process_one(snapshot_.get(), pkt, now_ns);
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

// A chosen pool with no active backend: the fallback pool takes the flow,
// and the explanation names the backend the worker sends it to.
TEST_F(ExplainTest, PoolWithoutActiveBackendFallsBack) {
  for (auto& b : config_.services[0].pools[1].backends) b.state = BackendState::kDraining;
  snapshot_ = compiler_.compile(config_, 2).snapshot;
  const FlowExplanation e = explain_flow(*snapshot_, key("198.51.100.7", 1000, 80));
  Worker worker;
  const Decision d = syn(worker, "198.51.100.7", 1000, 80);
  ASSERT_EQ(d.verdict.action, Action::kForward);
  EXPECT_TRUE(e.fallback);
  EXPECT_EQ(e.service->pools[e.chosen_pool].name, "canary");
  EXPECT_EQ(e.service->pools[e.pool].name, "stable");
  EXPECT_EQ(e.backend, d.backend);
  EXPECT_EQ(e.drop, DropReason::kNone);
  EXPECT_NE(e.reason.find("pool canary, but it has no active backend; the fallback pool stable "
                          "takes it"),
            std::string::npos)
      << e.reason;
  EXPECT_NE(e.reason.find(e.service->backends[d.backend].address.to_string()), std::string::npos);
}

// The chosen pool is itself the fallback pool and has nothing to give: the
// worker drops the flow, and the explanation says so instead of promising
// a fallback.
TEST_F(ExplainTest, EmptyFallbackPoolDrops) {
  for (auto& b : config_.services[0].pools[1].backends) b.state = BackendState::kDraining;
  config_.services[0].fallback_pool = "canary";
  snapshot_ = compiler_.compile(config_, 2).snapshot;
  const FlowExplanation e = explain_flow(*snapshot_, key("198.51.100.7", 1000, 80));
  Worker worker;
  const Decision d = syn(worker, "198.51.100.7", 1000, 80);
  ASSERT_EQ(d.verdict.action, Action::kDrop);
  ASSERT_EQ(d.verdict.reason, DropReason::kNoBackend);
  EXPECT_EQ(e.drop, DropReason::kNoBackend);
  EXPECT_EQ(e.backend, kNoBackendIndex);
  EXPECT_FALSE(e.fallback);
  EXPECT_EQ(e.reason.find("takes it"), std::string::npos) << e.reason;
  EXPECT_NE(e.reason.find("it is the service's fallback pool: the flow is dropped (no-backend)"),
            std::string::npos)
      << e.reason;
}

// A worker explaining itself counts its own circuits: with the Maglev
// slot's backend ejected on that core, it names the backend the flow then
// really goes to, and explaining takes no half-open trial.
TEST_F(ExplainTest, WorkerExplainsWithItsCircuits) {
  config_.services[1].circuit.enabled = true;
  config_.services[1].circuit.consecutive_failures = 1;
  snapshot_ = compiler_.compile(config_, 2).snapshot;
  Worker worker;
  // Find a client whose SYN retry ejects its backend: the retry fails the
  // first backend and the flow moves on.
  const char* client = "203.0.113.9";
  const Decision first = syn(worker, client, 4000, 443);
  ASSERT_EQ(first.verdict.action, Action::kForward);
  const uint64_t retry_ns = 1'500'000'000ULL;  // past the SYN retry threshold
  const Decision retry = syn(worker, client, 4000, 443, retry_ns);
  ASSERT_TRUE(retry.steered) << "the corpus of this test expects a steered retry";
  const auto now_ms = static_cast<uint32_t>(retry_ns / 1000000);
  // A new flow whose Maglev slot holds the ejected backend.
  uint16_t sport = 5000;
  while (explain_flow(*snapshot_, key(client, sport, 443)).backend != first.backend) {
    ASSERT_LT(++sport, 6000);
  }
  const sluice_flow_key k = key(client, sport, 443);
  const FlowExplanation mine = worker.explain(*snapshot_, k, now_ms);
  const FlowExplanation again = worker.explain(*snapshot_, k, now_ms);
  const Decision d = syn(worker, client, sport, 443, retry_ns);
  ASSERT_EQ(d.verdict.action, Action::kForward);
  EXPECT_NE(d.backend, first.backend);
  EXPECT_EQ(mine.backend, d.backend);
  EXPECT_EQ(again.backend, d.backend);
  EXPECT_TRUE(mine.circuit_skipped);
  EXPECT_NE(mine.reason.find("whose circuit is open: the flow goes to the next backend that may "
                             "take it, " +
                             snapshot_->services()[1].backends[d.backend].address.to_string()),
            std::string::npos)
      << mine.reason;
}

// A pool with no healthy backend: the fallback pool takes the flow, where
// the worker sends it.
TEST_F(ExplainTest, WholePoolUnhealthy) {
  BackendHealthTable health(64);
  for (const CompiledBackend& b : snapshot_->services()[0].backends) {
    if (b.pool == 1) health.set(b.counter_slot, SLUICE_HEALTH_UNHEALTHY);
  }
  const FlowExplanation e = explain_flow(*snapshot_, key("198.51.100.7", 1000, 80), &health);
  Worker worker;
  worker.set_health_table(&health);
  const Decision d = syn(worker, "198.51.100.7", 1000, 80);
  EXPECT_TRUE(e.unhealthy_skipped);
  EXPECT_TRUE(e.fallback);
  EXPECT_EQ(e.backend, d.backend);
  EXPECT_NE(e.reason.find("but every backend is refused"), std::string::npos) << e.reason;
  EXPECT_NE(e.reason.find("the fallback pool stable takes it"), std::string::npos) << e.reason;
}

}  // namespace
}  // namespace sluice::engine
