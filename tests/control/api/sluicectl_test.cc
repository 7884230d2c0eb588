// SPDX-License-Identifier: Apache-2.0
// The built sluicectl (SLUICECTL_PATH), run as a subprocess against the
// Control service over a fake core on a unix socket: tables, -o json,
// changes with their options, and exit statuses and messages on errors;
// and once over TCP with TLS and client certificates.
#include "tests/control/api/sluicectl_fixture.h"

namespace sluice::control::api {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::StartsWith;

// --- Reading ---

// status: the fields aligned, then one row per worker.
TEST_F(SluicectlTest, StatusTable) {
  add_both();
  ControlStatus status = fakes::status_of("dpdk", {2, 1}, 0, 3723000, "0.1.0");
  status.applied_revision = 1;
  core_.set_status(status);
  const RunResult r = run({"status"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "revision:   2 (desired: saved)\n"
            "applied:    1 (lowest worker; behind the desired revision)\n"
            "dataplane:  dpdk\n"
            "health:     SERVING\n"
            "workers:    2, 1 behind revision 2\n"
            "version:    0.1.0\n"
            "uptime:     1h2m3s\n"
            "\n"
            "WORKER  GENERATION  STATE\n"
            "0       2           current\n"
            "1       1           behind\n");
  EXPECT_EQ(r.err, "");
}

// status without a dataplane: no worker table.
TEST_F(SluicectlTest, StatusWithoutWorkers) {
  core_.set_status(fakes::status_of("none", {}, 0, 42000, "0.1.0"));
  const RunResult r = run({"status"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "revision:   0 (desired: saved)\n"
            "applied:    0 (every worker)\n"
            "dataplane:  none\n"
            "health:     SERVING\n"
            "workers:    none\n"
            "version:    0.1.0\n"
            "uptime:     42s\n");
}

// status of a dataplane that refuses publications and has a fault: NOT SERVING,
// the fault and the refusals shown.
TEST_F(SluicectlTest, StatusNotServing) {
  add_both();
  ControlStatus status = fakes::status_of("xdp", {1}, 0, 1000, "0.1.0");
  status.applied_revision = 1;
  status.published_revision = 1;
  status.publish_attempts = 6;
  status.publish_failures = 4;
  status.publish_error = "bpf_map_update_elem: Cannot allocate memory";
  status.dataplane_fault = "XDP program on eth1 detached";
  status.serving = false;
  status.not_serving_reason = "dataplane fault: XDP program on eth1 detached";
  core_.set_status(status);
  const RunResult r = run({"status"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\nhealth:     NOT SERVING: dataplane fault: XDP program on eth1 "
                               "detached\n"
                               "fault:      XDP program on eth1 detached\n"
                               "publish:    6 attempts, 4 refused; retrying, last refusal: "
                               "bpf_map_update_elem: Cannot allocate memory\n"));
  EXPECT_THAT(r.out, HasSubstr("\napplied:    1 (lowest worker; behind the desired revision)\n"));
}

// status -o json: the GetStatusResponse, proto field names, every field written.
TEST_F(SluicectlTest, StatusJson) {
  add_both();
  core_.set_status(fakes::status_of("dpdk", {2, 2}, 0, 5, "0.1.0"));
  const RunResult r = run({"status", "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"worker_generations\": ["));
  EXPECT_THAT(r.out, HasSubstr("\"uptime_ms\": \"5\""));
  const auto status = parse_json<v1::GetStatusResponse>(r.out);
  EXPECT_EQ(status.dataplane(), "dpdk");
  EXPECT_THAT(status.worker_generations(), ElementsAre(2u, 2u));
  EXPECT_EQ(status.revision(), 2u);
  EXPECT_TRUE(status.serving());
}

// get services: one aligned row per service.
TEST_F(SluicectlTest, GetServicesTable) {
  add_both();
  const RunResult r = run({"get", "services"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "NAME  VIP           PORT  PROTO  POOLS(weights)       BACKENDS  REVISION\n"
            "web   10.77.100.10  80    TCP    stable=90,canary=10  3         2\n"
            "dns   2001:db8::53  53    UDP    blue=1               1         2\n");
}

// Draining and disabled backends are counted in the BACKENDS column.
TEST_F(SluicectlTest, GetServicesCountsBackendStates) {
  add_both();
  ASSERT_EQ(run({"backend", "drain", "web", "10.77.0.21"}).exit_code, 0);
  ASSERT_EQ(run({"backend", "disable", "web", "10.77.0.31"}).exit_code, 0);
  const RunResult r = run({"get", "services"});
  EXPECT_THAT(r.out, HasSubstr("  3 (1 draining, 1 disabled)  4\n"));
}

// No services: a sentence, not an empty table.
TEST_F(SluicectlTest, GetServicesEmpty) {
  const RunResult r = run({"get", "services"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "no services (revision 0)\n");
}

// get services -o json (global options after the command work too).
TEST_F(SluicectlTest, GetServicesJson) {
  add_both();
  const RunResult r = run({"get", "services", "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto list = parse_json<v1::ListServicesResponse>(r.out);
  EXPECT_EQ(list.revision(), 2u);
  ASSERT_EQ(list.services_size(), 2);
  EXPECT_EQ(list.services(0).name(), "web");
  EXPECT_EQ(list.services(1).pools(0).backends(0).address(), "2001:db8:1::1");
}

// describe service: the whole service, defaults included.
TEST_F(SluicectlTest, DescribeService) {
  add_both();
  const RunResult r = run({"describe", "service", "web"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "Name:              web\n"
            "Listener:          10.77.100.10:80 TCP\n"
            "Affinity:          FLOW\n"
            "Encapsulation:     IPIP\n"
            "Fallback pool:     stable (the first pool)\n"
            "Maglev table:      65537 entries per pool\n"
            "Circuit breaking:  opens after 3 failed handshakes; ejects for 5000..300000 ms, "
            "3 half-open trials, at most 50% ejected\n"
            "Flow timeouts:     SYN 10000 ms, established 10800000 ms, closing 10000 ms, UDP "
            "30000 ms, probation 5000 ms\n"
            "Health checks:     off\n"
            "Revision:          2\n"
            "\n"
            "POOL    WEIGHT  SHARE  BACKENDS\n"
            "stable  90      90.0%  2\n"
            "canary  10      10.0%  1\n"
            "\n"
            "POOL    BACKEND     WEIGHT  STATE\n"
            "stable  10.77.0.21  1       ACTIVE\n"
            "stable  10.77.0.22  1       ACTIVE\n"
            "canary  10.77.0.31  1       ACTIVE\n"
            "\n"
            "SOURCE        POOL\n"
            "10.20.0.0/16  canary\n");
  // Without health checks, no stats are read.
  EXPECT_FALSE(core_.last_stats_service());
}

// web with an HTTP check (rescheduling unhealthy backends' flows), and a TCP
// check of its own on canary.
constexpr const char* kCheckedWebService = R"pb(
    name: "web" vip: "10.77.100.10" port: 80
    health_check { type: HEALTH_CHECK_TYPE_HTTP http_path: "/healthz" interval_ms: 1000
                   interval_jitter_percent: 10 unhealthy_flows: UNHEALTHY_FLOWS_RESCHEDULE }
    pools { name: "stable" weight: 90 backends { address: "10.77.0.21" }
            backends { address: "10.77.0.22" } }
    pools { name: "canary" weight: 10 backends { address: "10.77.0.31" }
            health_check { type: HEALTH_CHECK_TYPE_TCP port: 8080 unhealthy_threshold: 2 } }
  )pb";

// describe a health-checked service: the service's check and rule, the
// pools that override it (field by field: canary inherits the interval and
// jitter), and each backend's health and last result (from sluiced's
// stats: health is not configuration).
TEST_F(SluicectlTest, DescribeServiceHealthChecks) {
  v1::ServiceList list;
  *list.add_services() = service_from_text(kCheckedWebService);
  const auto mapped = config::services_from_proto(list);
  ASSERT_TRUE(mapped.errors.empty()) << mapped.errors.front().to_string();
  core_.add_service(mapped.services.at(0));
  ControlStats stats = signal_stats();
  stats.services[0].pools[1].backends[0].health = {HealthState::kUnknown, true, "", 0, 0, 0, 0};
  core_.set_stats(stats);
  const RunResult r = run({"describe", "service", "web"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out,
              HasSubstr("\nHealth checks:       HTTP GET /healthz, status 200..399, port 80, every "
                        "1000 ms (+0..10% jitter), timeout 1000 ms\n"
                        "Unhealthy backends:  after 3 failed checks in a row (healthy again after 2 "
                        "passes); its established flows move to other backends\n"
                        "Revision:            1\n"));
  EXPECT_THAT(r.out,
              HasSubstr("\n\nPOOL    HEALTH CHECK (the pool's own)                                  "
                        "          THRESHOLDS\n"
                        "canary  TCP connect, port 8080, every 1000 ms (+0..10% jitter), timeout "
                        "1000 ms  unhealthy 2, healthy 2\n\n"));
  EXPECT_THAT(r.out, HasSubstr("\n\nPOOL    BACKEND     WEIGHT  STATE   HEALTH     LAST CHECK\n"
                               "stable  10.77.0.21  1       ACTIVE  healthy    ok\n"
                               "stable  10.77.0.22  1       ACTIVE  unhealthy  status 503\n"
                               "canary  10.77.0.31  1       ACTIVE  unknown\n"));
  EXPECT_EQ(*core_.last_stats_service(), "web");
  EXPECT_EQ(r.err, "");
}

// Health-checked, but sluiced's stats cannot be read: the configuration
// still shows, without the health columns, and stderr says why.
TEST_F(SluicectlTest, DescribeServiceHealthUnknown) {
  v1::ServiceList list;
  *list.add_services() = service_from_text(kCheckedWebService);
  core_.add_service(config::services_from_proto(list).services.at(0));
  const RunResult r = run({"describe", "service", "web"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\n\nPOOL    BACKEND     WEIGHT  STATE\n"
                               "stable  10.77.0.21  1       ACTIVE\n"));
  EXPECT_EQ(r.err,
            "sluicectl: backends' health unknown: GetStats failed: no service named \"web\"\n");
}

// describe -o json is the GetServiceResponse.
TEST_F(SluicectlTest, DescribeServiceJson) {
  add_both();
  const RunResult r = run({"-o", "json", "describe", "service", "dns"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto got = parse_json<v1::GetServiceResponse>(r.out);
  EXPECT_EQ(got.service().name(), "dns");
  EXPECT_EQ(got.service().protocol(), v1::PROTOCOL_UDP);
  EXPECT_EQ(got.revision(), 2u);
}

// An unknown service: exit 1 with the server's code and message.
TEST_F(SluicectlTest, DescribeUnknownService) {
  add_both();
  const RunResult r = run({"describe", "service", "mail"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "sluicectl: NOT_FOUND: no service named \"mail\" (revision 2)\n");
}

// --- apply ---

// A file of one service: applied, one revision.
TEST_F(SluicectlTest, ApplyOneService) {
  const RunResult r = run({"apply", "-f", write_file("web.json", kWebJson)});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "service/web saved (revision 1)\n");
  ASSERT_EQ(core_.calls().size(), 1u);
  EXPECT_EQ(core_.calls()[0].config->pools.at(1).name, "canary");
  EXPECT_FALSE(core_.calls()[0].options.dry_run);
}

// -f - reads the document from standard input.
TEST_F(SluicectlTest, ApplyFromStdin) {
  stdin_path_ = write_file("web.json", kWebJson);
  const RunResult r = run({"apply", "-f", "-"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "service/web saved (revision 1)\n");
  EXPECT_EQ(core_.calls().at(0).service, "web");
}

// A services list: one change per service, in file order.
TEST_F(SluicectlTest, ApplyServiceList) {
  const RunResult r = run({"apply", "-f", write_file("all.json", kTwoServicesJson)});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "service/web saved (revision 1)\n"
            "service/dns saved (revision 2)\n");
  EXPECT_EQ(core_.revision(), 2u);
}

// --expect-revision guards the first service; each next one expects the previous one's revision.
TEST_F(SluicectlTest, ApplyChainsExpectedRevision) {
  add_both();
  const RunResult r =
      run({"apply", "-f", write_file("all.json", kTwoServicesJson), "--expect-revision", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto calls = core_.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].options.expected_revision, 2u);
  EXPECT_EQ(calls[1].options.expected_revision, 3u);
}

// A stale --expect-revision: refused, exit 1, nothing applied.
TEST_F(SluicectlTest, ApplyStaleRevisionRefused) {
  add_both();
  const RunResult r =
      run({"apply", "-f", write_file("web.json", kWebJson), "--expect-revision", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "sluicectl: service/web not applied\n"
            "sluicectl: FAILED_PRECONDITION: expected revision 1 but the current revision is 2\n");
  EXPECT_EQ(core_.revision(), 2u);
}

// --dry-run: checked, nothing changed.
TEST_F(SluicectlTest, ApplyDryRun) {
  const RunResult r = run({"apply", "--dry-run", "-f", write_file("web.json", kWebJson)});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "service/web checked (dry run against revision 0: valid, nothing changed)\n");
  ASSERT_EQ(core_.calls().size(), 1u);
  EXPECT_TRUE(core_.calls()[0].options.dry_run);
  EXPECT_EQ(core_.revision(), 0u);
}

// --wait=5 and --wait: the core is asked to wait; the answer says applied.
TEST_F(SluicectlTest, ApplyWait) {
  const std::string file = write_file("web.json", kWebJson);
  RunResult r = run({"apply", "-f", file, "--wait=5"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "service/web applied (revision 1, applied on every worker)\n");
  r = run({"apply", "-f", file, "--wait"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto calls = core_.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_TRUE(calls[0].options.wait_applied_until);
  EXPECT_TRUE(calls[1].options.wait_applied_until);
}

// A wait that times out: exit 1, and the saved revision is named.
TEST_F(SluicectlTest, ApplyWaitNotApplied) {
  core_.set_applies(false);
  const RunResult r = run({"apply", "-f", write_file("web.json", kWebJson), "--wait=2"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "sluicectl: service/web not applied\n"
            "sluicectl: DEADLINE_EXCEEDED: revision 1 was saved and published but not every "
            "worker forwards with it yet\n"
            "sluicectl: the change is saved as revision 1; run `sluicectl status` to see which "
            "workers have it\n");
}

// apply -o json: an array of MutationResponse, one per service.
TEST_F(SluicectlTest, ApplyJson) {
  const RunResult r =
      run({"apply", "-f", write_file("all.json", kTwoServicesJson), "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "[{\"revision\":\"1\",\"applied\":false},\n"
            " {\"revision\":\"2\",\"applied\":false}]\n");
}

// A bad field in the file: exit 1 naming the file and the field; nothing sent.
TEST_F(SluicectlTest, ApplyBadFieldNamed) {
  std::string text = kWebJson;
  text.replace(text.find("10.77.0.31"), 10, "10.0.0.300");
  const std::string file = write_file("bad.json", text);
  const RunResult r = run({"apply", "-f", file});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "sluicectl: " + file +
                       ": services[0].pools[1].backends[0].address: \"10.0.0.300\" is not an "
                       "IPv4 or IPv6 address\n");
  EXPECT_THAT(core_.calls(), IsEmpty());
}

// Every error of the file is listed, one per line.
TEST_F(SluicectlTest, ApplyAllErrorsListed) {
  std::string text = kWebJson;
  text.replace(text.find("\"port\": 80"), 10, "\"port\": 0 ");
  text.replace(text.find("\"weight\": 10,"), 13, "\"weight\": 2000000,");
  const std::string file = write_file("bad.json", text);
  const RunResult r = run({"apply", "-f", file});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "sluicectl: " + file + ": services[0].port: 0 is out of range 1..65535\n" +
                "sluicectl: " + file +
                ": services[0].pools[1].weight: 2000000 is out of range 0..1000000\n");
  EXPECT_THAT(core_.calls(), IsEmpty());
}

// A syntax error is placed by line and column.
TEST_F(SluicectlTest, ApplySyntaxError) {
  const std::string file = write_file("broken.json", "{\n  \"name\": \"web\",\n}\n");
  const RunResult r = run({"apply", "-f", file});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, StartsWith("sluicectl: " + file + ": line 3, column 1: "));
  EXPECT_THAT(core_.calls(), IsEmpty());
}

// A misspelt key is an error, not ignored.
TEST_F(SluicectlTest, ApplyUnknownField) {
  std::string text = kWebJson;
  text.replace(text.find("\"vip\""), 5, "\"vips\"");
  const std::string file = write_file("typo.json", text);
  const RunResult r = run({"apply", "-f", file});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "sluicectl: " + file + ": services[0].vips: unknown field\n");
}

// A file that does not exist: exit 1 with errno's text.
TEST_F(SluicectlTest, ApplyMissingFile) {
  const RunResult r = run({"apply", "-f", dir_ + "/nope.json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "sluicectl: " + dir_ + "/nope.json: cannot open: No such file or directory\n");
}

// The server's own refusal of a service in a file that passed the local checks.
TEST_F(SluicectlTest, ApplyRefusedByServer) {
  core_.fail_next(ErrorCode::kInvalidArgument,
                  "service: VIP 10.77.100.10 port 80 TCP is already used by service \"www\"");
  const RunResult r = run({"apply", "-f", write_file("web.json", kWebJson)});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "sluicectl: service/web not applied\n"
            "sluicectl: INVALID_ARGUMENT: service: VIP 10.77.100.10 port 80 TCP is already used "
            "by service \"www\"\n");
}

// apply without -f is a usage error.
TEST_F(SluicectlTest, ApplyWithoutFile) {
  const RunResult r = run({"apply"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, StartsWith("sluicectl apply: -f FILE is required\n\nUsage: sluicectl apply"));
}

// --- delete, set-weights, backend ---

// delete service NAME.
TEST_F(SluicectlTest, DeleteService) {
  add_both();
  const RunResult r = run({"delete", "service", "dns", "--expect-revision", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "service/dns deleted (revision 3)\n");
  EXPECT_EQ(core_.calls().at(0).service, "dns");
  EXPECT_EQ(core_.calls().at(0).options.expected_revision, 2u);
}

// Deleting an unknown service: NOT_FOUND, exit 1.
TEST_F(SluicectlTest, DeleteUnknownService) {
  const RunResult r = run({"delete", "service", "mail"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "sluicectl: NOT_FOUND: no service named \"mail\"\n");
}

// set-weights: every POOL=WEIGHT in one call.
TEST_F(SluicectlTest, SetWeights) {
  add_both();
  const RunResult r = run({"set-weights", "web", "stable=50", "canary=50", "--wait=3"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "service/web weights canary=50 stable=50 (revision 3, applied on every worker)\n");
  ASSERT_EQ(core_.calls().size(), 1u);
  EXPECT_THAT(core_.calls()[0].weights, ElementsAre(Pair("canary", 50u), Pair("stable", 50u)));
}

// set-weights -o json prints the MutationResponse.
TEST_F(SluicectlTest, SetWeightsJson) {
  add_both();
  const RunResult r = run({"-o", "json", "set-weights", "web", "canary=0"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto response = parse_json<v1::MutationResponse>(r.out);
  EXPECT_EQ(response.revision(), 3u);
  EXPECT_FALSE(response.applied());
}

// A weight out of range: the server's INVALID_ARGUMENT naming the pool.
TEST_F(SluicectlTest, SetWeightsOutOfRange) {
  add_both();
  const RunResult r = run({"set-weights", "web", "stable=2000000"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "sluicectl: INVALID_ARGUMENT: weights[\"stable\"]: 2000000 is out of range "
            "0..1000000\n");
  EXPECT_THAT(core_.calls(), IsEmpty());
}

// A pool the service does not have: NOT_FOUND from the core.
TEST_F(SluicectlTest, SetWeightsUnknownPool) {
  add_both();
  const RunResult r = run({"set-weights", "web", "green=5"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "sluicectl: NOT_FOUND: service web has no pool green\n");
}

// Malformed POOL=WEIGHT arguments are usage errors (exit 2, help on stderr).
TEST_F(SluicectlTest, SetWeightsMalformed) {
  for (const char* bad : {"stable:50", "stable=", "=50", "stable=-1", "stable=5x",
                          "stable=99999999999"}) {
    const RunResult r = run({"set-weights", "web", bad});
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_THAT(r.err, StartsWith("sluicectl set-weights: \"" + std::string(bad) +
                                  "\" is not POOL=WEIGHT"));
    EXPECT_THAT(r.err, HasSubstr("Usage: sluicectl set-weights SERVICE POOL=WEIGHT..."));
  }
  EXPECT_EQ(run({"set-weights", "web"}).exit_code, 2);
  EXPECT_EQ(run({"set-weights", "web", "a=1", "a=2"}).exit_code, 2);
  EXPECT_THAT(core_.calls(), IsEmpty());
}

// backend drain|disable|enable set the backend's state.
TEST_F(SluicectlTest, BackendStates) {
  add_both();
  RunResult r = run({"backend", "drain", "web", "10.77.0.21"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "service/web backend 10.77.0.21 draining (revision 3)\n");
  r = run({"backend", "disable", "dns", "2001:db8:1::1", "--dry-run"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "service/dns backend 2001:db8:1::1 disabled (dry run against revision 3: valid, "
            "nothing changed)\n");
  r = run({"backend", "enable", "web", "10.77.0.21"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto calls = core_.calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].state, engine::BackendState::kDraining);
  EXPECT_EQ(calls[1].state, engine::BackendState::kDisabled);
  EXPECT_EQ(calls[2].state, engine::BackendState::kActive);
  EXPECT_EQ(calls[1].backend, *engine::IpAddress::parse("2001:db8:1::1"));
}

// A malformed backend address: the server's field error, exit 1.
TEST_F(SluicectlTest, BackendBadAddress) {
  add_both();
  const RunResult r = run({"backend", "drain", "web", "10.0.0.300"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "sluicectl: INVALID_ARGUMENT: address: \"10.0.0.300\" is not an IPv4 or IPv6 "
            "address\n");
}

// An unknown action or a missing address is a usage error.
TEST_F(SluicectlTest, BackendUsage) {
  RunResult r = run({"backend", "remove", "web", "10.77.0.21"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, StartsWith("sluicectl backend: unknown action \"remove\""));
  r = run({"backend", "drain", "web"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, StartsWith("sluicectl backend: missing address"));
}

// --- The command line ---

// No command: the overview on stderr, exit 2; --help: on stdout, exit 0.
TEST_F(SluicectlTest, NoCommand) {
  RunResult r = run({});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, StartsWith("Usage: sluicectl [global options] COMMAND"));
  r = run({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("\nCommands:\n  status "));
  EXPECT_EQ(r.err, "");
}

// Every command has its --help, exit 0, naming its usage.
TEST_F(SluicectlTest, EveryCommandHasHelp) {
  for (const char* command :
       {"status", "get", "describe", "apply", "delete", "set-weights", "backend", "drain",
        "explain", "stats", "events"}) {
    const RunResult r = run({command, "--help"});
    EXPECT_EQ(r.exit_code, 0) << command;
    EXPECT_THAT(r.out, StartsWith(std::string("Usage: sluicectl ") + command)) << command;
    EXPECT_THAT(r.out, HasSubstr("Global options:")) << command;
  }
  EXPECT_THAT(run({"apply", "-h"}).out, HasSubstr("--expect-revision N"));
}

// Unknown commands and options, bad -o, bad numbers: exit 2, nothing sent.
TEST_F(SluicectlTest, UsageErrors) {
  EXPECT_EQ(run({"frobnicate"}).exit_code, 2);
  EXPECT_THAT(run({"frobnicate"}).err, StartsWith("sluicectl: unknown command \"frobnicate\""));
  EXPECT_EQ(run({"status", "--bogus"}).exit_code, 2);
  EXPECT_EQ(run({"status", "extra"}).exit_code, 2);
  EXPECT_EQ(run({"-o", "yaml", "status"}).exit_code, 2);
  EXPECT_EQ(run({"get", "pods"}).exit_code, 2);
  EXPECT_EQ(run({"delete", "service", "web", "--expect-revision", "-1"}).exit_code, 2);
  EXPECT_EQ(run({"delete", "service", "web", "--wait=0"}).exit_code, 2);
  EXPECT_EQ(run({"delete", "service", "web", "--wait=soon"}).exit_code, 2);
  // No abbreviations: --sock is not --socket.
  EXPECT_EQ(run({"--sock", socket_, "status"}, false).exit_code, 2);
  EXPECT_THAT(core_.calls(), IsEmpty());
}

// No sluiced on the socket: exit 1 with a hint.
TEST_F(SluicectlTest, Unreachable) {
  const RunResult r = run({"--socket", dir_ + "/absent.sock", "status"}, false);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, StartsWith("sluicectl: cannot reach sluiced at " + dir_ + "/absent.sock: "));
  EXPECT_THAT(r.err, HasSubstr("is sluiced running?"));
}

// SLUICECTL_SOCKET stands in for --socket; --socket wins over it.
TEST_F(SluicectlTest, SocketFromEnvironment) {
  EXPECT_EQ(run({"status"}, false, {"SLUICECTL_SOCKET=" + socket_}).exit_code, 0);
  EXPECT_EQ(run({"--socket", socket_, "status"}, false,
                {"SLUICECTL_SOCKET=" + dir_ + "/absent.sock"})
                .exit_code,
            0);
  EXPECT_EQ(run({"status"}, false, {"SLUICECTL_SOCKET=" + dir_ + "/absent.sock"}).exit_code, 1);
}

// Over TCP with TLS: an operator's certificate changes weights, a
// certificate with no role is refused, TLS options are checked.
TEST_F(SluicectlTest, OverTlsWithClientCertificates) {
  if (!have_openssl()) GTEST_SKIP() << "the openssl command is missing (Debian package openssl)";
  const std::string cert_dir = dir_ + "/certs";
  std::filesystem::create_directory(cert_dir);
  TestCertificates certs(cert_dir);
  ASSERT_TRUE(certs.ok()) << read_all(cert_dir + "/openssl.log");
  AccessPolicy policy;
  policy.operators = {{Identity::Kind::kCommonName, "rollouts"}};
  ControlServiceImpl tls_service(core_, policy);
  ServerOptions options;
  options.unix_socket_path = dir_ + "/tls.sock";
  options.tcp = ServerOptions::TcpListener{
      "127.0.0.1:0", ServerOptions::TlsFiles{certs.cert_path("server"), certs.key_path("server"),
                                             certs.cert_path("ca")}};
  std::string error;
  int port = 0;
  auto server = start_control_server(tls_service, options, &error, &port);
  ASSERT_NE(server, nullptr) << error;
  add_both();
  const std::string address = "127.0.0.1:" + std::to_string(port);
  auto tls_args = [&](const std::string& client) {
    return std::vector<std::string>{"--address", address, "--tls-ca", certs.cert_path("ca"),
                                    "--tls-cert", certs.cert_path(client), "--tls-key",
                                    certs.key_path(client)};
  };

  std::vector<std::string> args = tls_args("rollouts");
  args.insert(args.end(), {"set-weights", "web", "stable=50", "canary=50"});
  RunResult r = run(args, false);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto calls = core_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_THAT(calls[0].caller.peer, StartsWith("tls:CN=rollouts (operator) from ipv4:127.0.0.1:"));
  EXPECT_THAT(calls[0].weights, ElementsAre(Pair("canary", 50u), Pair("stable", 50u)));

  args = tls_args("stranger");
  args.push_back("status");
  r = run(args, false);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "sluicectl: PERMISSION_DENIED: the client certificate CN=stranger is not named by "
            "any operator or read-only identity of sluiced\n");

  r = run({"--address", address, "--tls-ca", certs.cert_path("ca"), "status"}, false);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, StartsWith("sluicectl status: --address needs --tls-cert (TLS with a client "
                                "certificate), or --insecure\n"));
  r = run({"--tls-ca", certs.cert_path("ca"), "status"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("go with --address"));
  args = tls_args("rollouts");
  args[3] = dir_ + "/missing.pem";
  args.push_back("status");
  r = run(args, false);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "sluicectl: --tls-ca: cannot read a PEM file at " + dir_ + "/missing.pem\n");
  EXPECT_EQ(core_.calls().size(), 1u);
  server->Shutdown();
}

}  // namespace
}  // namespace sluice::control::api
