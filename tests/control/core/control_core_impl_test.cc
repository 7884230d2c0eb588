// Tests of control/core/control_core_impl.h: validation, compare-and-set,
// durability, audit and publication of every change, the events it
// publishes and the stats it reports, with fakes for the state store and
// the audit log, and the fake dataplane of tests/mocks (real engines fed
// frames by the test).
#include "control/core/control_core_impl.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "tests/dataplane/engine/frame_builder.h"
#include "tests/mocks/control/fake_dataplane_sink.h"
#include "tests/mocks/control/fake_state_store.h"

namespace sluice::control {
namespace {

using ::testing::ElementsAre;
using engine::BackendState;
using engine::IpAddress;
using engine::ServiceConfig;

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

using fakes::FakeAudit;
using fakes::FakeStore;

ServiceConfig web() {
  ServiceConfig s;
  s.name = "web";
  s.vip = ip("192.0.2.10");
  s.port = 80;
  s.maglev_table_size = 251;
  s.pools = {{"stable", 90, {{ip("10.1.0.1")}, {ip("10.1.0.2")}}},
             {"canary", 10, {{ip("10.2.0.1")}}}};
  return s;
}

class ControlCoreTest : public ::testing::Test {
 protected:
  ControlCoreTest() { reset(); }

  void reset() {
    ControlCoreOptions o;
    o.seed = {7, 8};
    o.forwarding.source_v4 = ip("10.0.0.2");
    core_ = std::make_unique<ControlCoreImpl>(o, store_, audit_, dataplane_);
    std::string error;
    ASSERT_TRUE(core_->start(&error)) << error;
  }

  MutationOptions wait() {
    MutationOptions o;
    o.wait_applied_until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    return o;
  }

  FakeStore store_;
  FakeAudit audit_;
  fakes::FakeDataplaneSink dataplane_{2};
  std::unique_ptr<ControlCoreImpl> core_;
  Caller operator_{"test", true};
};

// Start-up publishes the saved state with generation == revision.
TEST_F(ControlCoreTest, StartPublishesSavedState) {
  ASSERT_EQ(dataplane_.published().size(), 1u);
  EXPECT_EQ(dataplane_.published()[0]->generation(), 0u);
  store_.saved = {5, {web()}};
  reset();
  EXPECT_EQ(dataplane_.published().back()->generation(), 5u);
  EXPECT_EQ(dataplane_.published().back()->services().size(), 1u);
  EXPECT_EQ(core_->status().revision, 5u);
}

// An unreadable saved state refuses the start (never starts empty).
TEST_F(ControlCoreTest, StartRefusesUnreadableState) {
  store_.load_error = "state.json: line 3: unexpected token";
  ControlCoreImpl core({}, store_, audit_, dataplane_);
  std::string error;
  EXPECT_FALSE(core.start(&error));
  EXPECT_EQ(error, "state.json: line 3: unexpected token");
}

// ApplyService creates a service at the next revision: saved, audited, published, applied.
TEST_F(ControlCoreTest, ApplyCreates) {
  const MutationResult r = core_->apply_service(operator_, web(), wait());
  ASSERT_FALSE(r.error) << r.error->message;
  EXPECT_EQ(r.revision, 1u);
  EXPECT_TRUE(r.applied);
  EXPECT_EQ(store_.saved.revision, 1u);
  ASSERT_EQ(store_.saved.services.size(), 1u);
  EXPECT_EQ(store_.saved.services[0].name, "web");
  EXPECT_EQ(dataplane_.published().back()->generation(), 1u);
  ASSERT_EQ(audit_.records.size(), 1u);
  EXPECT_EQ(audit_.records[0].method, "ApplyService");
  EXPECT_EQ(audit_.records[0].revision_before, 0u);
  EXPECT_EQ(audit_.records[0].revision_after, 1u);
  EXPECT_TRUE(audit_.records[0].accepted);
  EXPECT_EQ(audit_.records[0].summary,
            "created service web: 2 pools (stable=90 canary=10), 3 backends");
  uint64_t rev = 0;
  EXPECT_TRUE(core_->get_service("web", &rev));
  EXPECT_EQ(rev, 1u);
}

// An invalid service is refused with the field path; nothing changes.
TEST_F(ControlCoreTest, InvalidServiceChangesNothing) {
  ServiceConfig bad = web();
  bad.pools[1].backends[0].weight = 0;
  const MutationResult r = core_->apply_service(operator_, bad, {});
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error->message, "service.pools[1].backends[0].weight: 0 is out of range 1..1000000");
  EXPECT_EQ(r.revision, 0u);
  EXPECT_EQ(store_.saves, 0);
  EXPECT_EQ(dataplane_.published().size(), 1u);
  ASSERT_EQ(audit_.records.size(), 1u);
  EXPECT_FALSE(audit_.records[0].accepted);
}

// Compare-and-set: a stale expected_revision is FAILED_PRECONDITION.
TEST_F(ControlCoreTest, CompareAndSet) {
  ASSERT_FALSE(core_->apply_service(operator_, web(), {}).error);
  MutationOptions stale;
  stale.expected_revision = 0;
  const MutationResult r = core_->set_weights(operator_, "web", {{"canary", 50}}, stale);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(r.error->message, "expected revision 0 but the current revision is 1");
  MutationOptions fresh;
  fresh.expected_revision = 1;
  EXPECT_FALSE(core_->set_weights(operator_, "web", {{"canary", 50}}, fresh).error);
  EXPECT_EQ(store_.saved.revision, 2u);
}

// A dry run validates but changes nothing.
TEST_F(ControlCoreTest, DryRun) {
  MutationOptions dry;
  dry.dry_run = true;
  const MutationResult ok = core_->apply_service(operator_, web(), dry);
  EXPECT_FALSE(ok.error);
  EXPECT_EQ(ok.revision, 0u);
  EXPECT_EQ(store_.saves, 0);
  EXPECT_EQ(dataplane_.published().size(), 1u);
  ServiceConfig bad = web();
  bad.port = 0;
  const MutationResult refused = core_->apply_service(operator_, bad, dry);
  ASSERT_TRUE(refused.error);
  EXPECT_EQ(refused.error->message, "service.port: 0 is out of range 1..65535");
}

// A failed save changes nothing and says so.
TEST_F(ControlCoreTest, FailedSaveChangesNothing) {
  store_.fail_saves = true;
  const MutationResult r = core_->apply_service(operator_, web(), {});
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, ErrorCode::kInternal);
  EXPECT_NE(r.error->message.find("disk full"), std::string::npos);
  uint64_t rev = 99;
  EXPECT_FALSE(core_->get_service("web", &rev));
  EXPECT_EQ(rev, 0u);
  EXPECT_EQ(dataplane_.published().size(), 1u);
}

// SetWeights is atomic across pools and validated as a whole.
TEST_F(ControlCoreTest, SetWeights) {
  ASSERT_FALSE(core_->apply_service(operator_, web(), {}).error);
  const MutationResult r = core_->set_weights(operator_, "web", {{"stable", 50}, {"canary", 50}}, wait());
  ASSERT_FALSE(r.error);
  EXPECT_TRUE(r.applied);
  EXPECT_EQ(store_.saved.services[0].pools[0].weight, 50u);
  EXPECT_EQ(store_.saved.services[0].pools[1].weight, 50u);
  EXPECT_EQ(audit_.records.back().summary, "weights stable=90 canary=10 -> stable=50 canary=50");
  const MutationResult zero = core_->set_weights(operator_, "web", {{"stable", 0}, {"canary", 0}}, {});
  ASSERT_TRUE(zero.error);
  EXPECT_EQ(zero.error->code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(zero.error->message, "pools: all pool weights are 0; at least one pool needs a weight");
  const MutationResult big = core_->set_weights(operator_, "web", {{"canary", 1000001}}, {});
  ASSERT_TRUE(big.error);
  EXPECT_EQ(big.error->message, "pools[1].weight: 1000001 is out of range 0..1000000");
  const MutationResult unknown = core_->set_weights(operator_, "web", {{"blue", 1}}, {});
  ASSERT_TRUE(unknown.error);
  EXPECT_EQ(unknown.error->message, "weights[\"blue\"]: service web has no pool named \"blue\"");
  EXPECT_EQ(core_->set_weights(operator_, "api", {{"stable", 1}}, {}).error->code,
            ErrorCode::kNotFound);
  EXPECT_EQ(store_.saved.revision, 2u);
}

// Backend state changes; unknown backends and services are NOT_FOUND.
TEST_F(ControlCoreTest, SetBackendState) {
  ASSERT_FALSE(core_->apply_service(operator_, web(), {}).error);
  ASSERT_FALSE(core_->set_backend_state(operator_, "web", ip("10.1.0.2"), BackendState::kDraining, {}).error);
  EXPECT_EQ(store_.saved.services[0].pools[0].backends[1].state, BackendState::kDraining);
  EXPECT_EQ(audit_.records.back().summary, "backend 10.1.0.2 (pool stable) active -> draining");
  EXPECT_EQ(core_->set_backend_state(operator_, "web", ip("10.9.9.9"), BackendState::kDisabled, {})
                .error->code,
            ErrorCode::kNotFound);
}

// DeleteService removes; an unknown name is NOT_FOUND.
TEST_F(ControlCoreTest, Delete) {
  ASSERT_FALSE(core_->apply_service(operator_, web(), {}).error);
  ASSERT_FALSE(core_->delete_service(operator_, "web", {}).error);
  EXPECT_TRUE(store_.saved.services.empty());
  EXPECT_EQ(store_.saved.revision, 2u);
  EXPECT_EQ(core_->delete_service(operator_, "web", {}).error->code, ErrorCode::kNotFound);
}

// Read-only callers cannot mutate.
TEST_F(ControlCoreTest, ReadOnlyRefused) {
  const MutationResult r = core_->apply_service({"viewer", false}, web(), {});
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(store_.saves, 0);
}

// Not applied in time: DEADLINE_EXCEEDED, yet the change was accepted.
TEST_F(ControlCoreTest, WaitAppliedTimesOut) {
  dataplane_.set_follow(false);
  MutationOptions soon;
  soon.wait_applied_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
  const MutationResult r = core_->apply_service(operator_, web(), soon);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, ErrorCode::kDeadlineExceeded);
  EXPECT_EQ(r.revision, 1u);
  EXPECT_FALSE(r.applied);
  EXPECT_EQ(store_.saved.revision, 1u);
}

// A restart from the saved state compiles the same tables bit for bit.
TEST_F(ControlCoreTest, RestartRebuildsIdenticalTables) {
  ASSERT_FALSE(core_->apply_service(operator_, web(), {}).error);
  ASSERT_FALSE(core_->set_weights(operator_, "web", {{"canary", 40}}, {}).error);
  const auto before = dataplane_.published().back();
  reset();  // a new core over the same store: the daemon restarted
  const auto after = dataplane_.published().back();
  ASSERT_EQ(after->generation(), before->generation());
  ASSERT_EQ(after->services().size(), 1u);
  const auto& a = before->services()[0];
  const auto& b = after->services()[0];
  EXPECT_EQ(std::memcmp(&a.split, &b.split, sizeof(a.split)), 0);
  for (size_t p = 0; p < a.pools.size(); ++p) EXPECT_EQ(a.pools[p].maglev, b.pools[p].maglev);
}

// ExplainFlow answers from the current snapshot: rule, pool, backend, reason.
TEST_F(ControlCoreTest, ExplainFlow) {
  ServiceConfig s = web();
  s.rules = {{*engine::Cidr::parse("198.51.100.0/24"), "canary"}};
  ASSERT_FALSE(core_->apply_service(operator_, s, {}).error);
  FlowQuery q;
  q.client = ip("198.51.100.9");
  q.client_port = 4000;
  q.vip = ip("192.0.2.10");
  q.port = 80;
  uint64_t revision = 0;
  FlowAnswer a = core_->explain_flow(q, &revision);
  EXPECT_EQ(revision, 1u);
  EXPECT_EQ(a.service, "web");
  EXPECT_EQ(a.pool, "canary");
  EXPECT_TRUE(a.rule_matched);
  EXPECT_EQ(a.backend, "10.2.0.1");
  EXPECT_NE(a.reason.find("source-CIDR rule"), std::string::npos);
  q.port = 81;
  a = core_->explain_flow(q, &revision);
  EXPECT_EQ(a.service, "");
  EXPECT_EQ(a.reason, "the VIP has no service on this port and protocol");
  q.client = ip("2001:db8::1");
  a = core_->explain_flow(q, &revision);
  EXPECT_EQ(a.reason, "the client and the VIP are of different address families");
}

// A health tracker that reports what the test says (HealthMonitor's part).
class FixedHealth : public HealthTracker {
 public:
  void targets_changed(const engine::Snapshot&) override {}
  HealthByBackend states() const override { return states_; }
  HealthByBackend states_;
};

// ExplainFlow names where the dataplane really sends the flow when the
// chosen pool has nothing to give: the fallback pool's backend, or a drop
// when the fallback is that same pool; and it skips the backends the
// dataplane's health marks skip. Each answer is checked against a SYN
// through the fake dataplane's engine.
TEST_F(ControlCoreTest, ExplainFlowAgreesWithTheDataplane) {
  ServiceConfig s = web();
  s.rules = {{*engine::Cidr::parse("198.51.100.0/24"), "canary"}};
  s.pools[1].backends[0].state = BackendState::kDraining;
  // Every port of the client hashes alike, so that only health can move it.
  s.affinity = engine::Affinity::kClientAddress;
  ASSERT_FALSE(core_->apply_service(operator_, s, wait()).error);
  FlowQuery q;
  q.client = ip("198.51.100.9");
  q.client_port = 4000;
  q.vip = ip("192.0.2.10");
  q.port = 80;
  // A new flow each time (another client port), as the question is about
  // new flows: the dataplane keeps a known flow on its backend.
  auto forwarded_to = [&]() -> std::string {
    std::vector<uint8_t> frame = engine::test::FrameBuilder().eth().ipv4("198.51.100.9", "192.0.2.10")
                                     .tcp(q.client_port, 80, SLUICE_TCP_SYN).build();
    const engine::Decision d = dataplane_.process(0, frame);
    if (d.verdict.action != engine::Action::kForward) return "";
    return d.service->backends[d.backend].address.to_string();
  };
  uint64_t revision = 0;
  FlowAnswer a = core_->explain_flow(q, &revision);
  EXPECT_EQ(a.chosen_pool, "canary");
  EXPECT_EQ(a.pool, "stable");
  EXPECT_TRUE(a.fallback);
  EXPECT_EQ(a.drop, "");
  EXPECT_FALSE(a.backend.empty());
  EXPECT_EQ(a.backend, forwarded_to());

  // Unhealthy as the dataplane has it: the answer moves as the flow does.
  FixedHealth health;
  core_->set_health_tracker(&health);
  const engine::CompiledService& web_compiled = dataplane_.published().back()->services()[0];
  for (const engine::CompiledBackend& b : web_compiled.backends) {
    if (b.address.to_string() != a.backend) continue;
    health.states_[{"web", b.address}].state = HealthState::kUnhealthy;
    dataplane_.set_backend_health(b.counter_slot, SLUICE_HEALTH_UNHEALTHY);
  }
  const std::string before = a.backend;
  q.client_port = 4001;
  a = core_->explain_flow(q, &revision);
  EXPECT_NE(a.backend, before);
  EXPECT_EQ(a.backend, forwarded_to());
  core_->set_health_tracker(nullptr);

  // The fallback is the empty pool itself: dropped, and said so.
  s.fallback_pool = "canary";
  ASSERT_FALSE(core_->apply_service(operator_, s, wait()).error);
  q.client_port = 4002;
  a = core_->explain_flow(q, &revision);
  EXPECT_EQ(a.pool, "canary");
  EXPECT_FALSE(a.fallback);
  EXPECT_EQ(a.backend, "");
  EXPECT_EQ(a.drop, "no-backend");
  EXPECT_EQ(a.reason.find("takes it"), std::string::npos) << a.reason;
  EXPECT_EQ(forwarded_to(), "");
}

// --- Events ---

// The events a subscription from the start holds now (without waiting).
std::vector<ControlEvent> drain(EventSubscription& events) {
  std::vector<ControlEvent> out;
  while (auto e = events.next(std::chrono::steady_clock::now())) out.push_back(*e);
  return out;
}

// Every accepted change is announced once, in revision order, with what
// the audit log says; dry runs and refusals are not.
TEST_F(ControlCoreTest, AcceptedChangesAreAnnounced) {
  SubscribeResult subscribed = core_->watch_events(std::nullopt);
  ASSERT_TRUE(subscribed.subscription);
  ASSERT_FALSE(core_->apply_service(operator_, web(), {}).error);
  MutationOptions dry;
  dry.dry_run = true;
  ASSERT_FALSE(core_->set_weights(operator_, "web", {{"canary", 20}}, dry).error);
  ASSERT_TRUE(core_->set_weights(operator_, "web", {{"blue", 20}}, {}).error);
  ASSERT_TRUE(core_->apply_service({"viewer", false}, web(), {}).error);
  ASSERT_FALSE(core_->set_weights(operator_, "web", {{"canary", 50}}, {}).error);

  const std::vector<ControlEvent> events = drain(*subscribed.subscription);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].sequence, 1u);
  EXPECT_EQ(events[1].sequence, 2u);
  const auto& created = std::get<ConfigChangedEvent>(events[0].detail);
  EXPECT_EQ(created.revision, 1u);
  EXPECT_EQ(created.method, "ApplyService");
  EXPECT_EQ(created.service, "web");
  EXPECT_EQ(created.peer, "test");
  EXPECT_EQ(created.summary, "created service web: 2 pools (stable=90 canary=10), 3 backends");
  const auto& weights = std::get<ConfigChangedEvent>(events[1].detail);
  EXPECT_EQ(weights.revision, 2u);
  EXPECT_EQ(weights.summary, "weights stable=90 canary=10 -> stable=90 canary=50");
  EXPECT_GE(events[1].time, events[0].time);
}

// A late subscriber can ask for the events it missed; one beyond the next
// sequence number is refused.
TEST_F(ControlCoreTest, WatchFromAnEarlierSequence) {
  ASSERT_FALSE(core_->apply_service(operator_, web(), {}).error);
  ASSERT_FALSE(core_->delete_service(operator_, "web", {}).error);
  SubscribeResult from_two = core_->watch_events(2);
  ASSERT_TRUE(from_two.subscription);
  const std::vector<ControlEvent> events = drain(*from_two.subscription);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(std::get<ConfigChangedEvent>(events[0].detail).method, "DeleteService");
  const SubscribeResult too_far = core_->watch_events(4);
  EXPECT_FALSE(too_far.subscription);
  ASSERT_TRUE(too_far.error);
  EXPECT_EQ(too_far.error->code, ErrorCode::kInvalidArgument);
}

// --- Stats ---

std::vector<uint8_t> tcp_frame(const char* client, uint16_t port, uint8_t flags) {
  return engine::test::FrameBuilder().eth().ipv4(client, "192.0.2.10").tcp(port, 80, flags).build();
}

uint64_t counter(const std::vector<NamedCounter>& counters, const std::string& name) {
  for (const NamedCounter& c : counters) {
    if (c.name == name) return c.value;
  }
  ADD_FAILURE() << "no counter " << name;
  return 0;
}

// GetStats names the dataplane's traffic by service, pool and backend,
// per worker and summed, with the revision, the dataplane and the uptime.
TEST_F(ControlCoreTest, StatsNameTheTraffic) {
  ASSERT_FALSE(core_->apply_service(operator_, web(), {}).error);
  // Three new flows on worker 0, one on worker 1, one frame not for a VIP.
  for (uint16_t port : {1000, 1001, 1002}) {
    auto frame = tcp_frame("198.51.100.1", port, SLUICE_TCP_SYN);
    ASSERT_EQ(dataplane_.process(0, frame).verdict.action, engine::Action::kForward);
  }
  auto syn = tcp_frame("198.51.100.2", 2000, SLUICE_TCP_SYN);
  const size_t syn_bytes = syn.size();
  ASSERT_EQ(dataplane_.process(1, syn).verdict.action, engine::Action::kForward);
  auto arp = engine::test::FrameBuilder().eth().arp().build();
  ASSERT_EQ(dataplane_.process(1, arp).verdict.action, engine::Action::kHost);

  const StatsResult r = core_->stats("");
  ASSERT_FALSE(r.error);
  const ControlStats& s = r.stats;
  EXPECT_EQ(s.revision, 1u);
  EXPECT_EQ(s.dataplane, "fake");
  ASSERT_EQ(s.workers.size(), 2u);
  EXPECT_EQ(s.workers[0].generation, 1u);
  EXPECT_EQ(s.workers[1].label, "fake 1");
  EXPECT_EQ(counter(s.workers[0].stats.counters, "new_flows"), 3u);
  EXPECT_EQ(counter(s.workers[1].stats.counters, "to_host"), 1u);
  EXPECT_EQ(counter(s.total.counters, "rx_packets"), 5u);
  EXPECT_EQ(counter(s.total.counters, "forwarded"), 4u);
  EXPECT_EQ(counter(s.total.dataplane, "frames_processed"), 5u);
  ASSERT_EQ(s.services.size(), 1u);
  EXPECT_EQ(s.services[0].name, "web");
  EXPECT_EQ(s.services[0].traffic.packets, 4u);
  EXPECT_EQ(s.services[0].traffic.bytes, 4 * syn_bytes);
  ASSERT_EQ(s.services[0].pools.size(), 2u);
  uint64_t backend_packets = 0;
  for (const PoolStats& p : s.services[0].pools) {
    uint64_t in_pool = 0;
    for (const BackendStats& b : p.backends) {
      in_pool += b.traffic.packets;
      EXPECT_THAT(b.circuits, ElementsAre(engine::CircuitState::kClosed,
                                          engine::CircuitState::kClosed));
    }
    EXPECT_EQ(in_pool, p.traffic.packets) << p.name;
    backend_packets += in_pool;
  }
  EXPECT_EQ(backend_packets, 4u);
}

// A service filter keeps one service; an unknown one is NOT_FOUND.
TEST_F(ControlCoreTest, StatsOfOneService) {
  ServiceConfig api = web();
  api.name = "api";
  api.port = 443;
  ASSERT_FALSE(core_->apply_service(operator_, web(), {}).error);
  ASSERT_FALSE(core_->apply_service(operator_, api, {}).error);
  EXPECT_EQ(core_->stats("").stats.services.size(), 2u);
  const StatsResult one = core_->stats("api");
  ASSERT_FALSE(one.error);
  ASSERT_EQ(one.stats.services.size(), 1u);
  EXPECT_EQ(one.stats.services[0].name, "api");
  EXPECT_EQ(one.stats.workers.size(), 2u);  // workers are never filtered
  const StatsResult none = core_->stats("db");
  ASSERT_TRUE(none.error);
  EXPECT_EQ(none.error->code, ErrorCode::kNotFound);
  EXPECT_EQ(none.error->message, "no service named \"db\"");
}

// A circuit opened on one worker shows on that worker only.
TEST_F(ControlCoreTest, StatsShowCircuitsPerWorker) {
  ServiceConfig s = web();
  s.circuit.consecutive_failures = 1;
  s.circuit.syn_retry_min_ms = 500;
  s.circuit.max_ejected_percent = 100;
  ASSERT_FALSE(core_->apply_service(operator_, s, {}).error);
  auto first = tcp_frame("198.51.100.1", 1000, SLUICE_TCP_SYN);
  const engine::Decision d = dataplane_.process(1, first);
  const std::string failing = d.service->backends[d.backend].address.to_string();
  dataplane_.set_now_ms(600);
  auto retry = tcp_frame("198.51.100.1", 1000, SLUICE_TCP_SYN);
  dataplane_.process(1, retry);

  const ControlStats stats = core_->stats("web").stats;
  int open = 0;
  for (const PoolStats& p : stats.services[0].pools) {
    for (const BackendStats& b : p.backends) {
      if (b.address.to_string() == failing) {
        EXPECT_THAT(b.circuits,
                    ElementsAre(engine::CircuitState::kClosed, engine::CircuitState::kOpen));
        ++open;
      } else {
        EXPECT_THAT(b.circuits, ElementsAre(engine::CircuitState::kClosed,
                                            engine::CircuitState::kClosed));
      }
    }
  }
  EXPECT_EQ(open, 1);
  EXPECT_EQ(stats.workers[1].stats.circuits.opened, 1u);
  EXPECT_EQ(stats.total.circuits.failures, 1u);
  EXPECT_EQ(stats.total.circuits_tracked, 1u);
}

// --- Audit of refusals made above the core ---

// audit_refusal writes a refused record at the current revision.
TEST_F(ControlCoreTest, AuditRefusal) {
  ASSERT_FALSE(core_->apply_service(operator_, web(), {}).error);
  core_->audit_refusal({"unix:@", true}, "SetWeights", "web", true,
                       "weights[\"canary\"]: 2000000 is out of range 0..1000000");
  ASSERT_EQ(audit_.records.size(), 2u);
  const AuditRecord& r = audit_.records[1];
  EXPECT_EQ(r.peer, "unix:@");
  EXPECT_EQ(r.method, "SetWeights");
  EXPECT_EQ(r.service, "web");
  EXPECT_EQ(r.revision_before, 1u);
  EXPECT_EQ(r.revision_after, 1u);
  EXPECT_FALSE(r.accepted);
  EXPECT_TRUE(r.dry_run);
  EXPECT_EQ(r.summary, "weights[\"canary\"]: 2000000 is out of range 0..1000000");
  EXPECT_EQ(store_.saves, 1);
}

}  // namespace
}  // namespace sluice::control
