// SPDX-License-Identifier: Apache-2.0
// Tests of control/core/dataplane_watcher.h over the fake dataplane of
// tests/mocks (real engines fed frames by the test): generation
// acknowledgements per worker and for all workers, and circuits opening,
// turning half-open and closing as the engine's own breaker decides, named
// by service, pool and backend.
#include "control/core/dataplane_watcher.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/dataplane/engine/frame_builder.h"
#include "tests/mocks/control/fake_dataplane_sink.h"

namespace sluice::control {
namespace {

using engine::CircuitState;
using std::chrono::steady_clock;

engine::IpAddress ip(const char* text) { return *engine::IpAddress::parse(text); }

engine::ServiceConfig web() {
  engine::ServiceConfig s;
  s.name = "web";
  s.vip = ip("192.0.2.10");
  s.port = 80;
  s.maglev_table_size = 251;
  s.pools = {{"stable", 90, {{ip("10.1.0.1")}, {ip("10.1.0.2")}}},
             {"canary", 10, {{ip("10.2.0.1")}}}};
  s.circuit.consecutive_failures = 1;
  s.circuit.syn_retry_min_ms = 500;
  s.circuit.base_ejection_ms = 1000;
  s.circuit.half_open_trials = 2;
  s.circuit.max_ejected_percent = 100;
  return s;
}

std::vector<uint8_t> tcp(uint16_t port, uint8_t flags, const char* client = "198.51.100.7") {
  return engine::test::FrameBuilder().eth().ipv4(client, "192.0.2.10").tcp(port, 80, flags).build();
}

class DataplaneWatcherTest : public ::testing::Test {
 protected:
  DataplaneWatcherTest() {
    config_.seed = {5, 6};
    config_.forwarding.source_v4 = ip("10.0.0.2");
    config_.services = {web()};
    publish();
    subscription_ = std::move(events_.subscribe(std::nullopt).subscription);
    watcher_.poll();  // the baseline
  }

  void publish() {
    auto r = compiler_.compile(config_, ++generation_);
    ASSERT_TRUE(r.errors.empty()) << r.errors[0].to_string();
    std::lock_guard lock(mutex_);
    snapshot_ = r.snapshot;
    std::string error;
    ASSERT_TRUE(dataplane_.publish(r.snapshot, &error)) << error;
  }
  std::shared_ptr<const engine::Snapshot> snapshot() {
    std::lock_guard lock(mutex_);
    return snapshot_;
  }
  std::vector<ControlEvent> events() {
    std::vector<ControlEvent> out;
    while (auto e = subscription_->next(steady_clock::now())) out.push_back(*e);
    return out;
  }
  // Fails the connect on worker 1 of a flow from `port` (SYN, then the
  // SYN again 600 ms later); returns the backend the flow had.
  std::string fail_connect(uint16_t port, uint32_t now_ms) {
    dataplane_.set_now_ms(now_ms);
    auto syn = tcp(port, SLUICE_TCP_SYN);
    const engine::Decision d = dataplane_.process(1, syn);
    EXPECT_EQ(d.verdict.action, engine::Action::kForward);
    dataplane_.set_now_ms(now_ms + 600);
    auto retry = tcp(port, SLUICE_TCP_SYN);
    dataplane_.process(1, retry);
    return d.service->backends[d.backend].address.to_string();
  }

  engine::EngineConfig config_;
  engine::SnapshotCompiler compiler_;
  uint64_t generation_ = 0;
  fakes::FakeDataplaneSink dataplane_{2};
  EventHub events_;
  std::mutex mutex_;
  std::shared_ptr<const engine::Snapshot> snapshot_;
  DataplaneWatcher watcher_{dataplane_, events_, [this] { return snapshot(); }};
  std::unique_ptr<EventSubscription> subscription_;
};

// The first poll records where workers are; nothing is announced until
// something changes.
TEST_F(DataplaneWatcherTest, BaselineAnnouncesNothing) {
  watcher_.poll();
  EXPECT_TRUE(events().empty());
}

// While the dataplane has a fault nothing is announced as applied; what
// moved meanwhile is, once the fault clears.
TEST_F(DataplaneWatcherTest, NothingAppliedDuringAFault) {
  dataplane_.set_fault("XDP program detached");
  publish();  // generation 2, adopted by both workers
  watcher_.poll();
  EXPECT_TRUE(events().empty());
  dataplane_.set_fault("");
  watcher_.poll();
  const auto e = events();
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(std::get<RevisionAppliedEvent>(e[2].detail).generation, 2u);
}

// Each worker's move to a generation is announced as it happens, and the
// revision once the last worker has it.
TEST_F(DataplaneWatcherTest, GenerationAcknowledgements) {
  dataplane_.set_follow(false);
  publish();  // generation 2
  watcher_.poll();
  EXPECT_TRUE(events().empty());
  dataplane_.advance(1);
  watcher_.poll();
  auto e = events();
  ASSERT_EQ(e.size(), 1u);
  const auto& one = std::get<WorkerAppliedEvent>(e[0].detail);
  EXPECT_EQ(one.worker, 1u);
  EXPECT_EQ(one.generation, 2u);
  dataplane_.advance(0);
  watcher_.poll();
  e = events();
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(std::get<WorkerAppliedEvent>(e[0].detail).worker, 0u);
  const auto& all = std::get<RevisionAppliedEvent>(e[1].detail);
  EXPECT_EQ(all.generation, 2u);
  EXPECT_EQ(all.workers, 2u);
  watcher_.poll();
  EXPECT_TRUE(events().empty());
}

// Generations skipped between two polls: the latest is announced, once.
TEST_F(DataplaneWatcherTest, SkippedGenerations) {
  publish();
  publish();  // workers follow: both at 3
  watcher_.poll();
  const auto e = events();
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(std::get<WorkerAppliedEvent>(e[0].detail).generation, 3u);
  EXPECT_EQ(std::get<WorkerAppliedEvent>(e[1].detail).generation, 3u);
  EXPECT_EQ(std::get<RevisionAppliedEvent>(e[2].detail).generation, 3u);
}

// A backend's circuit opens on the worker that saw it fail, turns half-open
// when its ejection time passes, and closes after successful trials from
// two client /24s (no health checks: circuit_logic.h).
TEST_F(DataplaneWatcherTest, CircuitOpensAndCloses) {
  const std::string failing = fail_connect(1000, 0);
  watcher_.poll();
  auto e = events();
  ASSERT_EQ(e.size(), 1u);
  const auto& opened = std::get<CircuitChangedEvent>(e[0].detail);
  EXPECT_EQ(opened.service, "web");
  EXPECT_EQ(opened.pool, failing.rfind("10.2.", 0) == 0 ? "canary" : "stable");
  EXPECT_EQ(opened.backend, failing);
  EXPECT_EQ(opened.worker, 1u);
  EXPECT_EQ(opened.from, CircuitState::kClosed);
  EXPECT_EQ(opened.to, CircuitState::kOpen);
  watcher_.poll();
  EXPECT_TRUE(events().empty());

  dataplane_.set_now_ms(600 + 1500);  // the 1 s ejection is over
  watcher_.poll();
  e = events();
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(std::get<CircuitChangedEvent>(e[0].detail).from, CircuitState::kOpen);
  EXPECT_EQ(std::get<CircuitChangedEvent>(e[0].detail).to, CircuitState::kHalfOpen);

  // A trial flow to that backend from each of two /24s completes its
  // handshake; the first changes nothing yet.
  for (const char* client : {"198.51.100.7", "198.51.101.7"}) {
    bool completed = false;
    for (uint16_t port = 2000; port < 4000 && !completed; ++port) {
      auto syn = tcp(port, SLUICE_TCP_SYN, client);
      const engine::Decision d = dataplane_.process(1, syn);
      if (d.service->backends[d.backend].address.to_string() != failing) continue;
      auto ack = tcp(port, SLUICE_TCP_ACK, client);
      dataplane_.process(1, ack);
      completed = true;
    }
    ASSERT_TRUE(completed) << "no flow of " << client << " reached " << failing;
    watcher_.poll();
    if (std::string(client) == "198.51.100.7") {
      EXPECT_TRUE(events().empty());
    }
  }
  e = events();
  ASSERT_EQ(e.size(), 1u);
  const auto& back = std::get<CircuitChangedEvent>(e[0].detail);
  EXPECT_EQ(back.backend, failing);
  EXPECT_EQ(back.from, CircuitState::kHalfOpen);
  EXPECT_EQ(back.to, CircuitState::kClosed);
}

// A backend shared by two services is announced under each of them.
TEST_F(DataplaneWatcherTest, SharedBackendNamedUnderEachService) {
  engine::ServiceConfig api = web();
  api.name = "api";
  api.port = 443;
  config_.services.push_back(api);
  publish();
  watcher_.poll();
  events();  // the generation's acknowledgements
  const std::string failing = fail_connect(1000, 0);
  watcher_.poll();
  const auto e = events();
  ASSERT_EQ(e.size(), 2u);
  std::set<std::string> services;
  for (const ControlEvent& event : e) {
    const auto& c = std::get<CircuitChangedEvent>(event.detail);
    EXPECT_EQ(c.backend, failing);
    services.insert(c.service);
  }
  EXPECT_EQ(services, (std::set<std::string>{"web", "api"}));
}

// A backend that leaves the configuration while its circuit is open goes
// without an event (its circuit is no longer watched).
TEST_F(DataplaneWatcherTest, RemovedBackendGoesQuietly) {
  const std::string failing = fail_connect(1000, 0);
  watcher_.poll();
  ASSERT_EQ(events().size(), 1u);
  for (auto& pool : config_.services[0].pools) {
    std::erase_if(pool.backends, [&](const auto& b) { return b.address.to_string() == failing; });
  }
  if (config_.services[0].pools[1].backends.empty()) {
    config_.services[0].pools.pop_back();
  }
  publish();
  watcher_.poll();
  for (const ControlEvent& e : events()) {
    EXPECT_FALSE(std::holds_alternative<CircuitChangedEvent>(e.detail));
  }
}

// Started on its own thread, the watcher announces changes within a few
// intervals, and stops promptly.
TEST_F(DataplaneWatcherTest, RunsOnItsOwnThread) {
  watcher_.start(std::chrono::milliseconds(10));
  publish();
  std::vector<ControlEvent> got;
  const auto deadline = steady_clock::now() + std::chrono::seconds(10);
  while (got.size() < 3 && steady_clock::now() < deadline) {
    if (auto e = subscription_->next(deadline)) got.push_back(*e);
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(std::get<RevisionAppliedEvent>(got[2].detail).generation, 2u);
  const auto before = steady_clock::now();
  watcher_.stop();
  EXPECT_LT(steady_clock::now() - before, std::chrono::seconds(2));
  publish();
  EXPECT_FALSE(subscription_->next(steady_clock::now() + std::chrono::milliseconds(50)));
}

}  // namespace
}  // namespace sluice::control
