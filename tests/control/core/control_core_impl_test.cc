// Tests of control/core/control_core_impl.h: validation, compare-and-set,
// durability, audit and publication of every change, with fakes for the
// state store, the audit log and the dataplane.
#include "control/core/control_core_impl.h"

#include <gtest/gtest.h>

#include <cstring>

namespace sluice::control {
namespace {

using engine::BackendState;
using engine::IpAddress;
using engine::ServiceConfig;

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

class FakeStore : public StateStore {
 public:
  std::optional<DesiredState> load(std::string* error) override {
    if (!load_error.empty()) {
      *error = load_error;
      return std::nullopt;
    }
    return saved;
  }
  bool save(const DesiredState& state, std::string* error) override {
    if (fail_saves) {
      *error = "disk full";
      return false;
    }
    saved = state;
    ++saves;
    return true;
  }
  DesiredState saved;
  std::string load_error;
  bool fail_saves = false;
  int saves = 0;
};

class FakeAudit : public AuditLog {
 public:
  bool record(const AuditRecord& r, std::string*) override {
    records.push_back(r);
    return true;
  }
  std::vector<AuditRecord> records;
};

class FakeDataplane : public DataplaneSink {
 public:
  std::string kind() const override { return "fake"; }
  void publish(std::shared_ptr<const engine::Snapshot> s) override { published.push_back(s); }
  bool wait_applied(uint64_t generation, std::chrono::steady_clock::time_point) override {
    return workers_follow && !published.empty() && published.back()->generation() >= generation;
  }
  std::vector<uint64_t> worker_generations() const override {
    return {published.empty() ? 0 : published.back()->generation()};
  }
  std::vector<std::shared_ptr<const engine::Snapshot>> published;
  bool workers_follow = true;
};

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
  FakeDataplane dataplane_;
  std::unique_ptr<ControlCoreImpl> core_;
  Caller operator_{"test", true};
};

// Start-up publishes the saved state with generation == revision.
TEST_F(ControlCoreTest, StartPublishesSavedState) {
  ASSERT_EQ(dataplane_.published.size(), 1u);
  EXPECT_EQ(dataplane_.published[0]->generation(), 0u);
  store_.saved = {5, {web()}};
  reset();
  EXPECT_EQ(dataplane_.published.back()->generation(), 5u);
  EXPECT_EQ(dataplane_.published.back()->services().size(), 1u);
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
  EXPECT_EQ(dataplane_.published.back()->generation(), 1u);
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
  EXPECT_EQ(dataplane_.published.size(), 1u);
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
  EXPECT_EQ(dataplane_.published.size(), 1u);
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
  EXPECT_EQ(dataplane_.published.size(), 1u);
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
  dataplane_.workers_follow = false;
  const MutationResult r = core_->apply_service(operator_, web(), wait());
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
  const auto before = dataplane_.published.back();
  reset();  // a new core over the same store: the daemon restarted
  const auto after = dataplane_.published.back();
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

}  // namespace
}  // namespace sluice::control
