// SPDX-License-Identifier: Apache-2.0
// sluicectl drain status: answers, --wait-empty, exit statuses and errors.
#include "tests/control/api/sluicectl_fixture.h"

namespace sluice::control::api {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::StartsWith;

// --- drain status ---

// web/canary's answer: `flows` live flows (split over two workers), the
// newest idle 1.2 s, the oldest 5m2s old.
DrainResult drain_answer(uint64_t flows, bool safe, const std::string& reason,
                         std::vector<std::string> still_receiving = {}) {
  DrainResult result;
  DrainAnswer& a = result.answer;
  a.target_kind = "pool";
  a.backends = {"10.77.0.31", "10.77.0.32"};
  a.active.flows = flows;
  a.active.by_worker = {flows - flows / 2, flows / 2};
  if (flows) {
    a.active.oldest_age_ms = 302000;
    a.active.newest_idle_ms = 1200;
  }
  a.safe_to_remove = safe;
  a.reason = reason;
  a.census_age_ms = 400;
  a.revision = 7;
  a.still_receiving = std::move(still_receiving);
  return result;
}

const char* const kNotDrained = "3 live flows; the last packet was 1.2 s ago (quiet time 30 s)";
const char* const kDrained = "no live flow on any worker";

class SluicectlDrainTest : public SluicectlTest {};

// Not safe to remove: the figures, the reason, exit 3; the query as asked
// (the quiet time and census age are sluiced's defaults).
TEST_F(SluicectlDrainTest, NotDrained) {
  core_.drain = drain_answer(3, false, kNotDrained, {"10.77.0.32"});
  const RunResult r = run({"drain", "status", "web", "canary"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.out,
            "target:           web/canary (pool)\n"
            "backends:         10.77.0.31, 10.77.0.32\n"
            "safe to remove:   no\n"
            "reason:           3 live flows; the last packet was 1.2 s ago (quiet time 30 s)\n"
            "active flows:     3 (W0=2 W1=1)\n"
            "oldest flow:      5m2s\n"
            "idle:             1.2s\n"
            "quiet time:       30s\n"
            "still receiving:  10.77.0.32\n"
            "census:           400ms old, revision 7\n");
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(core_.last_drain_query.service, "web");
  EXPECT_EQ(core_.last_drain_query.target, "canary");
  EXPECT_EQ(core_.last_drain_query.quiet_ms, 30000u);
  EXPECT_EQ(core_.last_drain_query.max_census_age_ms, 1000u);
}

// Safe to remove: exit 0. --quiet reaches sluiced; no target is the service.
TEST_F(SluicectlDrainTest, Drained) {
  core_.drain = drain_answer(0, true, kDrained);
  const RunResult r = run({"drain", "status", "web", "--quiet", "1m30s"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("safe to remove:   yes\n"
                               "reason:           no live flow on any worker\n"
                               "active flows:     0\n"
                               "oldest flow:      -\n"
                               "idle:             -\n"
                               "quiet time:       1m30s\n"
                               "still receiving:  none\n"));
  EXPECT_EQ(core_.last_drain_query.target, "");
  EXPECT_EQ(core_.last_drain_query.quiet_ms, 90000u);
}

// -o json: the DrainStatus; the exit status still tells.
TEST_F(SluicectlDrainTest, Json) {
  core_.drain = drain_answer(3, false, kNotDrained);
  const RunResult r = run({"drain", "status", "web", "10.77.0.31", "-o", "json"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  const auto status = parse_json<v1::DrainStatus>(r.out);
  EXPECT_EQ(status.target(), "10.77.0.31");
  EXPECT_EQ(status.active_flows(), 3u);
  EXPECT_THAT(status.by_worker(), ElementsAre(2u, 1u));
  EXPECT_FALSE(status.safe_to_remove());
}

// --wait-empty asks every --interval, with a census no older than that,
// printing a line per answer, until safe to remove: exit 0 and the final
// answer.
TEST_F(SluicectlDrainTest, WaitEmptyUntilDrained) {
  core_.set_drain_answers({drain_answer(3, false, kNotDrained, {"10.77.0.32"}),
                           drain_answer(1, false, "1 live flow"), drain_answer(0, true, kDrained)});
  const RunResult r =
      run({"drain", "status", "web", "canary", "--wait-empty", "--interval", "100ms"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(core_.drain_calls(), 3u);
  EXPECT_EQ(core_.last_drain_query.max_census_age_ms, 100u);
  static const std::regex kElapsed(R"(waiting \d+ms: )");
  EXPECT_THAT(std::regex_replace(r.out, kElapsed, "waiting T: "),
              StartsWith("waiting T: 3 live flows (W0=2 W1=1), oldest 5m2s, idle 1.2s; still "
                         "receiving: 10.77.0.32\n"
                         "waiting T: 1 live flow (W0=1 W1=0), oldest 5m2s, idle 1.2s\n"
                         "target:           web/canary (pool)\n"));
  EXPECT_THAT(r.out, HasSubstr("\nsafe to remove:   yes\n"));
  EXPECT_EQ(r.err, "");
}

// --wait-empty -o json: one DrainStatus per answer, one per line.
TEST_F(SluicectlDrainTest, WaitEmptyJsonLines) {
  core_.set_drain_answers({drain_answer(3, false, kNotDrained), drain_answer(0, true, kDrained)});
  const RunResult r =
      run({"drain", "status", "web", "canary", "--wait-empty", "--interval", "100ms", "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::vector<uint64_t> flows;
  for (std::string line; std::getline(lines, line);) {
    flows.push_back(parse_json<v1::DrainStatus>(line).active_flows());
  }
  EXPECT_THAT(flows, ElementsAre(3u, 0u));
}

// Still busy at --timeout: the last answer, the reason on stderr, exit 3.
TEST_F(SluicectlDrainTest, WaitEmptyTimesOut) {
  core_.drain = drain_answer(3, false, kNotDrained);
  const auto start = std::chrono::steady_clock::now();
  const RunResult r = run({"drain", "status", "web", "canary", "--wait-empty", "--interval",
                           "100ms", "--timeout", "450ms"});
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_GE(took, std::chrono::milliseconds(450));
  EXPECT_LT(took, std::chrono::seconds(5));
  // Asked at 0, 100, ... 400 ms and once more at the timeout (fewer when
  // the machine is slow, never more).
  EXPECT_GE(core_.drain_calls(), 2u);
  EXPECT_LE(core_.drain_calls(), 6u);
  EXPECT_THAT(r.out, HasSubstr("\nsafe to remove:   no\n"));
  EXPECT_THAT(r.err, StartsWith("sluicectl: not drained after "));
  EXPECT_THAT(r.err, HasSubstr(" (--timeout 450ms)\n"));
}

// Ctrl-C while waiting: ends at once, not drained (exit 3), said on stderr.
TEST_F(SluicectlDrainTest, WaitEmptyInterrupted) {
  core_.drain = drain_answer(3, false, kNotDrained);
  const Running running = start({"drain", "status", "web", "--wait-empty", "--interval", "5s"});
  wait_for_output(running);
  ASSERT_EQ(::kill(running.pid, SIGINT), 0);
  const RunResult r = finish(running);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(core_.drain_calls(), 1u);
  EXPECT_THAT(r.err, StartsWith("sluicectl: interrupted after "));
  EXPECT_THAT(r.err, HasSubstr(": not drained\n"));
}

// No such target: sluiced's NOT_FOUND, exit 1, with or without --wait-empty
// (which does not ask again: the answer will not change).
TEST_F(SluicectlDrainTest, UnknownTarget) {
  core_.drain.error = CallError{ErrorCode::kNotFound, "service web has no pool or backend \"x\""};
  for (bool wait : {false, true}) {
    std::vector<std::string> args = {"drain", "status", "web", "x"};
    if (wait) args.push_back("--wait-empty");
    const RunResult r = run(args);
    EXPECT_EQ(r.exit_code, 1) << wait;
    EXPECT_EQ(r.err, "sluicectl: NOT_FOUND: service web has no pool or backend \"x\"\n");
  }
  EXPECT_EQ(core_.drain_calls(), 2u);
}

// sluiced unreachable: --wait-empty keeps asking until --timeout, then exit
// 1 (no answer is not "not drained").
TEST_F(SluicectlDrainTest, WaitEmptyUnreachable) {
  const RunResult r = run({"--socket", dir_ + "/absent.sock", "drain", "status", "web",
                           "--wait-empty", "--interval", "100ms", "--timeout", "300ms"},
                          false);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(" (asking again)\n"));
  EXPECT_THAT(r.err, HasSubstr("sluicectl: no answer from sluiced in "));
}

// A wrong command line: exit 2 naming the argument; nothing asked.
TEST_F(SluicectlDrainTest, UsageErrors) {
  auto error_of = [&](const std::vector<std::string>& args) {
    const RunResult r = run(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    return r.err.substr(0, r.err.find('\n'));
  };
  EXPECT_EQ(error_of({"drain", "status", "web", "--quiet", "30"}),
            "sluicectl drain: --quiet: \"30\" is not a duration (a number and its unit: 500ms, "
            "30s, 2m, 1h)");
  EXPECT_EQ(error_of({"drain", "status", "web", "--quiet", "2d"}),
            "sluicectl drain: --quiet: \"2d\" is not a duration (a number and its unit: 500ms, "
            "30s, 2m, 1h)");
  EXPECT_EQ(error_of({"drain", "status", "web", "--timeout", "5m"}),
            "sluicectl drain: --timeout goes with --wait-empty");
  EXPECT_EQ(error_of({"drain", "status", "web", "--interval", "1s"}),
            "sluicectl drain: --interval goes with --wait-empty");
  EXPECT_EQ(error_of({"drain", "status", "web", "--wait-empty", "--interval", "10ms"}),
            "sluicectl drain: --interval: 10ms is not between 100ms and 10m");
  EXPECT_EQ(error_of({"drain", "status", "web", "--wait-empty", "--timeout", "0"}),
            "sluicectl drain: --timeout: 0 is not between 1ms and 24h");
  EXPECT_EQ(error_of({"drain", "status"}), "sluicectl drain: missing service: the service's name");
  EXPECT_EQ(error_of({"drain", "stat", "web"}), "sluicectl drain: unknown action \"stat\": status");
  EXPECT_EQ(error_of({"drain", "status", "web", "canary", "extra"}).rfind("sluicectl drain: ", 0),
            0u);
  EXPECT_EQ(core_.drain_calls(), 0u);
}

}  // namespace
}  // namespace sluice::control::api
