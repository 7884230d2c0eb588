// SPDX-License-Identifier: Apache-2.0
// sluicectl events: lines, JSON, --since, --count and how the stream ends.
#include "tests/control/api/sluicectl_fixture.h"

namespace sluice::control::api {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::StartsWith;

// --- events ---

// Times vary: "TIME" in their place.
std::string without_times(const std::string& text) {
  static const std::regex kTime(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
  return std::regex_replace(text, kTime, "TIME");
}

class SluicectlEventsTest : public SluicectlTest {
 protected:
  // Starts `sluicectl events ARGS` and waits until its stream is subscribed.
  Running follow(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"events"};
    all.insert(all.end(), args.begin(), args.end());
    const size_t before = core_.events().subscriber_count();
    Running running = start(all);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (core_.events().subscriber_count() == before &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(core_.events().subscriber_count(), before + 1) << "sluicectl never subscribed";
    return running;
  }
  void publish_one_of_each() {
    core_.events().publish(ConfigChangedEvent{5, "SetWeights", "web",
                                              "weights stable=90 canary=10 -> stable=50 canary=50",
                                              "unix:/run/sluice/sluiced.sock"});
    core_.events().publish(WorkerAppliedEvent{1, 5});
    core_.events().publish(RevisionAppliedEvent{5, 2});
    core_.events().publish(CircuitChangedEvent{"web", "canary", "10.77.0.31", 1,
                                               engine::CircuitState::kClosed,
                                               engine::CircuitState::kOpen});
  }
};

// One line per event: sequence, time, kind, details; --count ends it.
TEST_F(SluicectlEventsTest, Lines) {
  const Running running = follow({"--count", "4"});
  publish_one_of_each();
  const RunResult r = finish(running);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(without_times(r.out),
            "1  TIME  config    revision 5 SetWeights web: weights stable=90 canary=10 -> "
            "stable=50 canary=50 (by unix:/run/sluice/sluiced.sock)\n"
            "2  TIME  worker    worker 1 forwards with revision 5\n"
            "3  TIME  applied   revision 5 on every worker (2)\n"
            "4  TIME  circuit   web/canary 10.77.0.31 on worker 1: closed -> open\n");
  EXPECT_EQ(r.err, "");
}

// A backend's health changing: service/pool, backend, from -> to, and the
// deciding check's result; -o json carries the HealthChanged event.
TEST_F(SluicectlEventsTest, HealthChanged) {
  const Running running = follow({"--count", "2"});
  core_.events().publish(HealthChangedEvent{"web", "canary", "10.77.0.31", HealthState::kHealthy,
                                            HealthState::kUnhealthy, "status 503"});
  core_.events().publish(HealthChangedEvent{"web", "canary", "10.77.0.31",
                                            HealthState::kUnhealthy, HealthState::kHealthy, "ok"});
  const RunResult r = finish(running);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(without_times(r.out),
            "1  TIME  health    web/canary 10.77.0.31: healthy -> unhealthy (status 503)\n"
            "2  TIME  health    web/canary 10.77.0.31: unhealthy -> healthy (ok)\n");
  const RunResult json = run({"events", "--since", "1", "--count", "1", "-o", "json"});
  EXPECT_EQ(json.exit_code, 0) << json.err;
  const auto event = parse_json<v1::Event>(json.out);
  EXPECT_EQ(event.health_changed().to(), v1::HEALTH_STATE_UNHEALTHY);
  EXPECT_EQ(event.health_changed().reason(), "status 503");
}

// The dataplane falling behind and converging again: degraded with the
// reason, then serving; -o json carries the DataplaneHealth event.
TEST_F(SluicectlEventsTest, DataplaneHealth) {
  const Running running = follow({"--count", "2"});
  core_.events().publish(DataplaneHealthEvent{false, 4, 3, "dataplane fault: detached"});
  core_.events().publish(DataplaneHealthEvent{true, 4, 4, ""});
  const RunResult r = finish(running);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(without_times(r.out),
            "1  TIME  degraded  dataplane at revision 3, desired 4: dataplane fault: detached\n"
            "2  TIME  serving   dataplane at revision 4, desired 4 (converged)\n");
  const RunResult json = run({"events", "--since", "1", "--count", "1", "-o", "json"});
  EXPECT_EQ(json.exit_code, 0) << json.err;
  const auto event = parse_json<v1::Event>(json.out);
  EXPECT_FALSE(event.dataplane_health().serving());
  EXPECT_EQ(event.dataplane_health().desired_revision(), 4u);
  EXPECT_EQ(event.dataplane_health().applied_revision(), 3u);
  EXPECT_EQ(event.dataplane_health().reason(), "dataplane fault: detached");
}

// -o json: each event as one line of protobuf JSON.
TEST_F(SluicectlEventsTest, JsonLines) {
  const Running running = follow({"--count", "4", "-o", "json"});
  publish_one_of_each();
  const RunResult r = finish(running);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  std::vector<v1::Event> events;
  while (std::getline(lines, line)) events.push_back(parse_json<v1::Event>(line));
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].config_changed().revision(), 5u);
  EXPECT_EQ(events[3].circuit_changed().to(), v1::CIRCUIT_STATE_OPEN);
  EXPECT_EQ(events[3].sequence(), 4u);
}

// --since replays what sluiced holds from there; older events are
// announced as lost.
TEST_F(SluicectlEventsTest, Since) {
  for (uint64_t g = 1; g <= 3; ++g) core_.events().publish(WorkerAppliedEvent{0, g});
  RunResult r = run({"events", "--since", "2", "--count", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(without_times(r.out),
            "2  TIME  worker    worker 0 forwards with revision 2\n"
            "3  TIME  worker    worker 0 forwards with revision 3\n");
  // The fake's hub holds 4096 events: older ones are lost.
  for (uint64_t g = 4; g <= 5000; ++g) core_.events().publish(WorkerAppliedEvent{0, g});
  r = run({"events", "--since", "0", "--count", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(without_times(r.out),
            "-  TIME  lost      events 1..904 (sluiced no longer holds them)\n"
            "905  TIME  worker    worker 0 forwards with revision 905\n");
}

// --since beyond the next event: sluiced's INVALID_ARGUMENT, exit 1.
TEST_F(SluicectlEventsTest, SinceBeyondTheNextEvent) {
  core_.events().publish(WorkerAppliedEvent{0, 1});
  const RunResult r = run({"events", "--since", "9"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "sluicectl: INVALID_ARGUMENT: start_sequence: 9 is beyond the next event's sequence "
            "number 2 (sequence numbers start again at 1 when sluiced restarts)\n");
}

// Ctrl-C ends the command cleanly (exit 0) with what it printed.
TEST_F(SluicectlEventsTest, EndsOnInterrupt) {
  const Running running = follow({});
  core_.events().publish(WorkerAppliedEvent{0, 1});
  // Printed (and flushed) before the signal.
  wait_for_output(running);
  ASSERT_EQ(::kill(running.pid, SIGINT), 0);
  const RunResult r = finish(running);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(without_times(r.out), "1  TIME  worker    worker 0 forwards with revision 1\n");
  EXPECT_EQ(r.err, "");
}

// sluiced shutting down ends the stream: exit 0, saying so.
TEST_F(SluicectlEventsTest, EndsWithTheStream) {
  const Running running = follow({});
  core_.events().publish(WorkerAppliedEvent{0, 1});
  core_.events().close();
  const RunResult r = finish(running);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(without_times(r.out), "1  TIME  worker    worker 0 forwards with revision 1\n");
  EXPECT_EQ(r.err, "sluicectl: sluiced ended the stream (it is shutting down)\n");
}

// Bad --since or --count: exit 2; no sluiced: exit 1.
TEST_F(SluicectlEventsTest, Errors) {
  EXPECT_EQ(run({"events", "--since", "-1"}).exit_code, 2);
  EXPECT_EQ(run({"events", "--since", "x"}).exit_code, 2);
  EXPECT_EQ(run({"events", "--count", "-2"}).exit_code, 2);
  EXPECT_EQ(run({"events", "extra"}).exit_code, 2);
  EXPECT_EQ(core_.events().subscriber_count(), 0u);
  const RunResult r = run({"--socket", dir_ + "/absent.sock", "events"}, false);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, StartsWith("sluicectl: cannot reach sluiced at " + dir_ + "/absent.sock: "));
}

}  // namespace
}  // namespace sluice::control::api
