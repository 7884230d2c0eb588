// SPDX-License-Identifier: Apache-2.0
// Tests of control/core/health_monitor.h: a real HealthChecker in virtual
// time over a scripted prober, and a dataplane that records what it is
// told. Verdicts mark the backend's slot in the dataplane, publish a
// HealthChanged event and write an audit line; a backend whose check is
// removed or changed goes back to UNKNOWN in the dataplane; states() names
// every checked backend by (service, address). A backend a worker reports
// suspected (through a DataplaneWatcher) is checked at once: UNHEALTHY
// within well under 2 s when that check fails, still serving when it passes,
// and checked at most once a second however long the suspicion lasts.
#include "control/core/health_monitor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "control/core/dataplane_watcher.h"
#include "tests/mocks/control/null_dataplane_sink.h"

namespace sluice::control {
namespace {

using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

engine::IpAddress ip(const char* text) { return *engine::IpAddress::parse(text); }

class FakeClock final : public health::Clock {
 public:
  int64_t now_us() const override { return now; }
  int64_t now = 1'000'000;
};
class ZeroRandom final : public health::Random {
 public:
  uint64_t below(uint64_t) override { return 0; }
};

// Every probe of an address in `failing` fails ("connect refused"), the
// others succeed; results come on the next poll.
class ScriptedProber final : public health::Prober {
 public:
  void start(uint64_t id, const health::HealthTarget& t) override {
    pending_[id] = t.address;
    ++starts[t.address];
  }
  void cancel(uint64_t id) override { pending_.erase(id); }
  void poll(int, const Done& done) override {
    auto pending = std::move(pending_);
    pending_.clear();
    for (const auto& [id, address] : pending) {
      const bool ok = !failing.count(address);
      done(id, {ok, ok ? "ok" : "connect refused"});
    }
  }
  void wake() override {}
  size_t capacity() const override { return 1000; }
  std::set<engine::IpAddress> failing;
  std::map<engine::IpAddress, int> starts;  // probes started, by address

 private:
  std::map<uint64_t, engine::IpAddress> pending_;
};

// Records the health marks set in the dataplane; its one worker reports
// the backends at `suspected` suspected (circuit_logic.h).
class RecordingSink final : public fakes::NullDataplaneSink {
 public:
  void set_backend_health(uint32_t slot, uint8_t health) override { marks[slot] = health; }
  std::vector<std::vector<CircuitSample>> circuit_states(
      const engine::Snapshot& snapshot) const override {
    std::vector<std::vector<CircuitSample>> out(1);
    for (const auto& s : snapshot.services()) {
      for (const auto& b : s.backends) {
        if (suspected.count(b.address)) {
          out[0].push_back({b.fingerprint, engine::CircuitState::kSuspected});
        }
      }
    }
    return out;
  }
  std::map<uint32_t, uint8_t> marks;  // slot -> last value set
  std::set<engine::IpAddress> suspected;
};

class RecordingAudit final : public AuditLog {
 public:
  bool record(const AuditRecord& r, std::string*) override {
    records.push_back(r);
    return true;
  }
  std::vector<AuditRecord> records;
};

class HealthMonitorTest : public ::testing::Test {
 protected:
  HealthMonitorTest()
      : checker_(prober_, clock_, random_),
        monitor_(checker_, sink_, events_, audit_, [] { return uint64_t{7}; }) {}

  std::shared_ptr<const engine::Snapshot> compile(engine::HealthCheckType type,
                                                  uint32_t interval_ms = 1000) {
    engine::EngineConfig c;
    c.forwarding.source_v4 = ip("10.0.0.2");
    engine::ServiceConfig web;
    web.name = "web";
    web.vip = ip("192.0.2.10");
    web.port = 80;
    web.maglev_table_size = 7;
    web.pools = {{"stable", 1, {{ip("10.1.0.1")}, {ip("10.1.0.2")}}}};
    web.health_check.type = type;
    web.health_check.interval_ms = interval_ms;
    web.health_check.timeout_ms = 500;
    web.health_check.unhealthy_threshold = 2;
    web.health_check.healthy_threshold = 2;
    c.services = {web};
    auto r = compiler_.compile(c, ++generation_);
    EXPECT_TRUE(r.errors.empty());
    return r.snapshot;
  }
  uint32_t slot(const engine::Snapshot& s, const char* address) const {
    for (const auto& b : s.services()[0].backends) {
      if (b.address == ip(address)) return b.counter_slot;
    }
    return UINT32_MAX;
  }
  // Runs the checker for `ms` of virtual time, a turn every 100 ms.
  void run_for(int64_t ms) {
    for (int64_t t = 0; t < ms; t += 100) {
      checker_.run_once(0);
      clock_.now += 100'000;
    }
    checker_.run_once(0);
  }

  FakeClock clock_;
  ZeroRandom random_;
  ScriptedProber prober_;
  RecordingSink sink_;
  EventHub events_;
  RecordingAudit audit_;
  health::HealthChecker checker_;
  HealthMonitor monitor_;
  engine::SnapshotCompiler compiler_;
  uint64_t generation_ = 0;
};

TEST_F(HealthMonitorTest, VerdictsMarkTheDataplaneAndAreEventsAndAuditLines) {
  auto snap = compile(engine::HealthCheckType::kTcp);
  auto sub = events_.subscribe(std::nullopt);
  prober_.failing = {ip("10.1.0.2")};
  monitor_.targets_changed(*snap);
  run_for(3000);

  EXPECT_THAT(sink_.marks, UnorderedElementsAre(Pair(slot(*snap, "10.1.0.1"), SLUICE_HEALTH_HEALTHY),
                                                Pair(slot(*snap, "10.1.0.2"), SLUICE_HEALTH_UNHEALTHY)));
  const HealthByBackend states = monitor_.states();
  ASSERT_EQ(states.size(), 2u);
  EXPECT_EQ(states.at({"web", ip("10.1.0.2")}).state, HealthState::kUnhealthy);
  EXPECT_EQ(states.at({"web", ip("10.1.0.2")}).last_result, "connect refused");
  EXPECT_EQ(states.at({"web", ip("10.1.0.1")}).state, HealthState::kHealthy);

  bool saw_unhealthy = false;
  while (auto e = sub.subscription->next(std::chrono::steady_clock::now())) {
    if (const auto* h = std::get_if<HealthChangedEvent>(&e->detail); h && h->backend == "10.1.0.2") {
      EXPECT_EQ(h->service, "web");
      EXPECT_EQ(h->pool, "stable");
      EXPECT_EQ(h->from, HealthState::kUnknown);
      EXPECT_EQ(h->to, HealthState::kUnhealthy);
      EXPECT_EQ(h->reason, "connect refused");
      saw_unhealthy = true;
    }
  }
  EXPECT_TRUE(saw_unhealthy);
  ASSERT_EQ(audit_.records.size(), 2u);
  for (const AuditRecord& r : audit_.records) {
    EXPECT_EQ(r.method, "HealthChanged");
    EXPECT_EQ(r.peer, "sluiced health check");
    EXPECT_EQ(r.revision_before, 7u);
    EXPECT_EQ(r.revision_after, 7u);
  }

  // It recovers after healthy_threshold successes.
  prober_.failing.clear();
  run_for(3000);
  EXPECT_EQ(sink_.marks[slot(*snap, "10.1.0.2")], SLUICE_HEALTH_HEALTHY);
}

TEST_F(HealthMonitorTest, RemovedOrChangedChecksServeTheBackendAgain) {
  auto snap = compile(engine::HealthCheckType::kTcp);
  prober_.failing = {ip("10.1.0.2")};
  monitor_.targets_changed(*snap);
  run_for(3000);
  ASSERT_EQ(sink_.marks[slot(*snap, "10.1.0.2")], SLUICE_HEALTH_UNHEALTHY);

  // Another interval: a new check, judged afresh; meanwhile served.
  auto changed = compile(engine::HealthCheckType::kTcp, 2000);
  monitor_.targets_changed(*changed);
  EXPECT_EQ(sink_.marks[slot(*changed, "10.1.0.2")], SLUICE_HEALTH_UNKNOWN);
  run_for(6000);
  EXPECT_EQ(sink_.marks[slot(*changed, "10.1.0.2")], SLUICE_HEALTH_UNHEALTHY);

  // No check at all: unknown, and no longer in states().
  auto unchecked = compile(engine::HealthCheckType::kNone);
  monitor_.targets_changed(*unchecked);
  EXPECT_EQ(sink_.marks[slot(*unchecked, "10.1.0.2")], SLUICE_HEALTH_UNKNOWN);
  run_for(1000);
  EXPECT_TRUE(monitor_.states().empty());
}

// Suspicions reach the monitor through a DataplaneWatcher polled every
// 100 ms, as in sluiced; checks every 5 s, UNHEALTHY after 2 failures.
class SuspicionTest : public HealthMonitorTest {
 protected:
  SuspicionTest() {
    snap_ = compile(engine::HealthCheckType::kTcp, 5000);
    watcher_.set_suspect_listener(
        [this](const std::string& service, const engine::IpAddress& address) {
          monitor_.suspect(service, address);
        });
    monitor_.targets_changed(*snap_);
    run_for(200);  // first checks at once (no jitter): both HEALTHY
  }
  // `ms` of virtual time: the watcher polls, then the checker turns, every
  // 100 ms. Returns the ms until `address` was marked `health` (-1: never).
  int64_t run_until(const char* address, uint8_t health, int64_t ms) {
    for (int64_t t = 0; t <= ms; t += 100) {
      watcher_.poll();
      checker_.run_once(0);
      if (sink_.marks[slot(*snap_, address)] == health) return t;
      clock_.now += 100'000;
    }
    return -1;
  }

  std::shared_ptr<const engine::Snapshot> snap_;
  DataplaneWatcher watcher_{sink_, events_, [this] { return snap_; }};
};

// A backend that died: suspected, checked at once, UNHEALTHY well within
// 2 s, where its schedule alone (every 5 s, 2 failures) takes 5 to 10 s.
TEST_F(SuspicionTest, SuspectedBackendFailingItsCheckIsUnhealthyWithinTwoSeconds) {
  ASSERT_EQ(sink_.marks[slot(*snap_, "10.1.0.2")], SLUICE_HEALTH_HEALTHY);
  prober_.failing = {ip("10.1.0.2")};
  sink_.suspected = {ip("10.1.0.2")};
  const int64_t took = run_until("10.1.0.2", SLUICE_HEALTH_UNHEALTHY, 2000);
  ASSERT_GE(took, 0) << "not UNHEALTHY within 2 s";
  EXPECT_LE(took, 500);
  EXPECT_EQ(sink_.marks[slot(*snap_, "10.1.0.1")], SLUICE_HEALTH_HEALTHY);
  EXPECT_EQ(monitor_.states().at({"web", ip("10.1.0.2")}).state, HealthState::kUnhealthy);
  ASSERT_FALSE(audit_.records.empty());
  EXPECT_THAT(audit_.records.back().summary, HasSubstr("confirmed by a failed check"));
  EXPECT_EQ(checker_.stats().confirmed_unhealthy, 1u);
}

// Suspected (spoofed failures, say) but answering its check: it keeps
// serving, and a suspicion lasting 3 s costs it at most one check a second.
TEST_F(SuspicionTest, SuspectedBackendPassingItsCheckKeepsServing) {
  const int before = prober_.starts[ip("10.1.0.1")];
  sink_.suspected = {ip("10.1.0.1")};
  EXPECT_EQ(run_until("10.1.0.1", SLUICE_HEALTH_UNHEALTHY, 3000), -1);
  EXPECT_EQ(sink_.marks[slot(*snap_, "10.1.0.1")], SLUICE_HEALTH_HEALTHY);
  EXPECT_EQ(monitor_.states().at({"web", ip("10.1.0.1")}).state, HealthState::kHealthy);
  const int checks = prober_.starts[ip("10.1.0.1")] - before;
  EXPECT_GE(checks, 3);  // it was checked, about once a second
  EXPECT_LE(checks, 4);
  EXPECT_GT(checker_.stats().confirm_limited, 0u);
  EXPECT_EQ(checker_.stats().confirmed_unhealthy, 0u);
}

// Without a suspicion, the same dead backend waits for its schedule.
TEST_F(SuspicionTest, UnsuspectedDeadBackendWaitsForItsSchedule) {
  prober_.failing = {ip("10.1.0.2")};
  EXPECT_EQ(run_until("10.1.0.2", SLUICE_HEALTH_UNHEALTHY, 2000), -1);
  EXPECT_EQ(checker_.stats().confirmations, 0u);
}

}  // namespace
}  // namespace sluice::control
