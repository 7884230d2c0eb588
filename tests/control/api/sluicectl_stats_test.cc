// SPDX-License-Identifier: Apache-2.0
// sluicectl stats: tables, signals, -o json and --watch (see sluicectl_fixture.h).
#include "tests/control/api/sluicectl_fixture.h"

namespace sluice::control::api {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::StartsWith;

// --- stats ---

// stats: the header, the traffic tree with health and circuits, the
// connections tree (nothing connected: "-"), then the counters that are not
// zero, in total and per worker.
TEST_F(SluicectlTest, StatsTable) {
  core_.set_stats(sample_stats());
  const RunResult r = run({"stats"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "revision:      4\n"
            "dataplane:     dpdk\n"
            "workers:       2, all at revision 4\n"
            "uptime:        1m0s\n"
            "active flows:  counted 0ms ago\n"
            "\n"
            "SERVICE/POOL/BACKEND  STATE     WEIGHT  PACKETS  BYTES    HEALTH  EJECTIONS  CIRCUIT\n"
            "web                                     900      87.9KiB\n"
            "  stable                        90      600      58.6KiB\n"
            "    10.77.0.21        ACTIVE    1       300      29.3KiB  -       0          closed\n"
            "    10.77.0.22        ACTIVE    1       300      29.3KiB  -       0          closed\n"
            "  canary                        10      300      29.3KiB\n"
            "    10.77.0.31        DRAINING  1       300      29.3KiB  -       0          open 1/2\n"
            "dns                                     100      7.8KiB\n"
            "  blue                          1       100      7.8KiB\n"
            "    2001:db8:1::1     ACTIVE    1       100      7.8KiB   -       0          closed\n"
            "\n"
            "SERVICE/POOL/BACKEND  NEW FLOWS  ACTIVE  CONNECT OK  HANDSHAKE P50/P99  FAILED  RESETS  "
            "EXPIRED\n"
            "web                   0          0       -                              0       0       0\n"
            "  stable              0          0       -           -                  0       0       0\n"
            "    10.77.0.21        0          0       -           -                  0       0       0\n"
            "    10.77.0.22        0          0       -           -                  0       0       0\n"
            "  canary              0          0       -           -                  0       0       0\n"
            "    10.77.0.31        0          0       -           -                  0       0       0\n"
            "dns                   0          0       -                              0       0       0\n"
            "  blue                0          0       -           -                  0       0       0\n"
            "    2001:db8:1::1     0          0       -           -                  0       0       0\n"
            "\n"
            "COUNTER            TOTAL  W0 (lcore 1)  W1 (lcore 2)\n"
            "rx_packets         1200   600           600\n"
            "forwarded          1000   500           500\n"
            "dropped            7      0             7\n"
            "new_flows          100    50            50\n"
            "drops.fragment     7      0             7\n"
            "circuits.opened    1      0             1\n"
            "circuits.failures  3      0             3\n"
            "circuits.tracked   1      0             1\n"
            "dpdk.rx_bursts     80     40            40\n");
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(*core_.last_stats_service(), "");
}

// --all lists the counters that are zero too.
TEST_F(SluicectlTest, StatsAll) {
  core_.set_stats(sample_stats());
  const RunResult r = run({"stats", "--all"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\ncircuit_skips "));
  EXPECT_THAT(r.out, HasSubstr("\ndrops.truncated-ip "));
  EXPECT_THAT(r.out, HasSubstr("\ncircuits.untracked "));
  EXPECT_THAT(r.out, HasSubstr("\ndpdk.tx_full_dropped "));
}

// --service asks sluiced for one service's traffic.
TEST_F(SluicectlTest, StatsOfOneService) {
  core_.set_stats(sample_stats());
  const RunResult r = run({"stats", "--service", "dns"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(*core_.last_stats_service(), "dns");
  EXPECT_THAT(r.out, HasSubstr("\ndns "));
  EXPECT_THAT(r.out, Not(HasSubstr("web")));
  const RunResult unknown = run({"stats", "--service", "mail"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_EQ(unknown.err, "sluicectl: NOT_FOUND: no service named \"mail\"\n");
  const RunResult bad = run({"stats", "--service", "we b"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.err,
            "sluicectl: INVALID_ARGUMENT: service: \"we b\" is not a service name (1 to 63 "
            "letters, digits, '-', '_' and '.')\n");
}

// stats -o json: the GetStatsResponse, proto field names.
TEST_F(SluicectlTest, StatsJson) {
  core_.set_stats(sample_stats());
  const RunResult r = run({"stats", "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"uptime_ms\": \"60000\""));
  const auto stats = parse_json<v1::GetStatsResponse>(r.out);
  EXPECT_EQ(stats.revision(), 4u);
  ASSERT_EQ(stats.services_size(), 2);
  EXPECT_EQ(stats.services(0).pools(1).backends(0).circuits(1), v1::CIRCUIT_STATE_OPEN);
  EXPECT_EQ(stats.workers(1).label(), "lcore 2");
}

// --watch: samples until --count, each after the first with rates over the
// interval between the two samples' uptimes.
TEST_F(SluicectlTest, StatsWatchShowsRates) {
  core_.set_stats({sample_stats(60000, 1), sample_stats(62000, 2), sample_stats(64000, 2)});
  const RunResult r = run({"stats", "--watch", "--interval", "0.1", "--count", "3"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // Three samples: the first without rates.
  std::vector<size_t> headers;
  for (size_t at = r.out.find("revision:"); at != std::string::npos;
       at = r.out.find("revision:", at + 1)) {
    headers.push_back(at);
  }
  ASSERT_EQ(headers.size(), 3u) << r.out;
  const std::string first = r.out.substr(0, headers[1]);
  const std::string second = r.out.substr(headers[1], headers[2] - headers[1]);
  const std::string third = r.out.substr(headers[2]);
  EXPECT_THAT(first, Not(HasSubstr("rates over")));
  EXPECT_THAT(first, Not(HasSubstr("PACKETS/S")));
  EXPECT_THAT(second, HasSubstr("rates over:    2.0s\n"));
  // web: 900 more packets and 90000 more bytes in 2 s.
  EXPECT_THAT(second,
              HasSubstr("SERVICE/POOL/BACKEND  STATE     WEIGHT  PACKETS  BYTES     PACKETS/S  "
                        "BITS/S       HEALTH  EJECTIONS  CIRCUIT\n"
                        "web                                     1800     175.8KiB  450        "
                        "360.0kbit/s\n"));
  EXPECT_THAT(second, HasSubstr("    10.77.0.31        DRAINING  1       600      58.6KiB   150"
                                "        120.0kbit/s  -       0          open 1/2\n"));
  EXPECT_THAT(second, HasSubstr("COUNTER            TOTAL  W0 (lcore 1)  W1 (lcore 2)  PER SECOND\n"
                                "rx_packets         2400   1200          1200          600\n"));
  EXPECT_THAT(second, HasSubstr("\ndropped            7      0             7             0\n"));
  // Nothing changed between the second and third samples.
  EXPECT_THAT(third, HasSubstr("\nrx_packets         2400   1200          1200          0\n"));
}

// --watch -o json: one GetStatsResponse per line.
TEST_F(SluicectlTest, StatsWatchJsonLines) {
  core_.set_stats({sample_stats(60000, 1), sample_stats(62000, 2)});
  const RunResult r = run({"stats", "-w", "--interval", "0.1", "--count", "2", "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  std::vector<uint64_t> uptimes;
  while (std::getline(lines, line)) {
    uptimes.push_back(parse_json<v1::GetStatsResponse>(line).uptime_ms());
  }
  EXPECT_THAT(uptimes, ElementsAre(60000u, 62000u));
}

// --watch until Ctrl-C: exit 0 after the samples so far.
TEST_F(SluicectlTest, StatsWatchEndsOnInterrupt) {
  core_.set_stats(sample_stats());
  const Running running = start({"stats", "--watch", "--interval", "0.2"});
  // Once a sample is out, Ctrl-C is sluicectl's to handle.
  wait_for_output(running);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(::kill(running.pid, SIGINT), 0);
  const RunResult r = finish(running);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, StartsWith("revision:      4\n"));
  EXPECT_EQ(r.err, "");
}

// Bad --interval and --count, or --count without --watch: exit 2, nothing asked.
TEST_F(SluicectlTest, StatsUsageErrors) {
  EXPECT_EQ(run({"stats", "--watch", "--interval", "0"}).exit_code, 2);
  EXPECT_EQ(run({"stats", "--watch", "--interval", "nan"}).exit_code, 2);
  EXPECT_EQ(run({"stats", "--watch", "--interval", "soon"}).exit_code, 2);
  EXPECT_EQ(run({"stats", "--watch", "--count", "-1"}).exit_code, 2);
  const RunResult r = run({"stats", "--count", "2"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, StartsWith("sluicectl stats: --count goes with --watch\n"));
  EXPECT_EQ(run({"stats", "extra"}).exit_code, 2);
  EXPECT_FALSE(core_.last_stats_service());
}

// Connect success, handshake p50/p99 and live flows per service, pool and
// backend; each backend's health ("-": not checked) and ejections. Connect
// success rounds down (79/80 is 98.7%, not 98.8%), and a quantile beyond
// the last bucket's bound reads ">5s".
TEST_F(SluicectlTest, StatsSignals) {
  core_.set_stats(signal_stats());
  const RunResult r = run({"stats"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\nactive flows:  counted 800ms ago\n"));
  EXPECT_THAT(r.out,
              HasSubstr("\nSERVICE/POOL/BACKEND  STATE     WEIGHT  PACKETS  BYTES    HEALTH     "
                        "EJECTIONS  CIRCUIT\n"));
  EXPECT_THAT(r.out, HasSubstr("\n    10.77.0.21        ACTIVE    1       300      29.3KiB  "
                               "healthy    0          closed\n"
                               "    10.77.0.22        ACTIVE    1       300      29.3KiB  "
                               "unhealthy  1          closed\n"));
  EXPECT_THAT(r.out, HasSubstr("\n    10.77.0.31        DRAINING  1       300      29.3KiB  "
                               "-          0          open 1/2\n"));
  EXPECT_THAT(
      r.out,
      HasSubstr("\n"
                "SERVICE/POOL/BACKEND  NEW FLOWS  ACTIVE  CONNECT OK  HANDSHAKE P50/P99  FAILED  "
                "RESETS  EXPIRED\n"
                "web                   100        12      95.0%                          4       "
                "2       1\n"
                "  stable              80         12      98.7%       2ms/50ms           1       "
                "2       0\n"
                "    10.77.0.21        40         7       100.0%      2ms/2ms            0       "
                "0       0\n"
                "    10.77.0.22        40         5       97.5%       2ms/50ms           1       "
                "2       0\n"
                "  canary              20         0       80.0%       2ms/>5s            3       "
                "0       1\n"
                "    10.77.0.31        20         0       80.0%       2ms/>5s            3       "
                "0       1\n"
                "dns                   0          0       -                              0       "
                "0       0\n"
                "  blue                0          0       -           -                  0       "
                "0       0\n"
                "    2001:db8:1::1     0          0       -           -                  0       "
                "0       0\n"
                "\n"
                "COUNTER "));
  // Readable on a 120-column terminal.
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) EXPECT_LE(line.size(), 120u) << line;
}

// -o json keeps printing the whole response: signals, histograms with their
// quantiles, live flows, health and the census age.
TEST_F(SluicectlTest, StatsSignalsJson) {
  core_.set_stats(signal_stats());
  const RunResult r = run({"stats", "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto stats = parse_json<v1::GetStatsResponse>(r.out);
  EXPECT_EQ(stats.census_age_ms(), 800u);
  const v1::PoolStats& stable = stats.services(0).pools(0);
  EXPECT_EQ(stable.traffic().handshakes_completed(), 79u);
  EXPECT_EQ(stable.traffic().connect_failures(), 1u);
  EXPECT_EQ(stable.handshakes().p50_ms(), 2u);
  EXPECT_EQ(stable.handshakes().p99_ms(), 50u);
  EXPECT_EQ(stable.handshakes().count(), 79u);
  EXPECT_THAT(stable.active().by_worker(), ElementsAre(7u, 5u));
  EXPECT_EQ(stable.backends(1).health().state(), v1::HEALTH_STATE_UNHEALTHY);
  EXPECT_EQ(stable.backends(1).health().last_result(), "status 503");
  EXPECT_EQ(stable.backends(1).traffic().ejections(), 1u);
}

// --watch: rates of the new counters too. NEW/S per row, and INTERVAL OK,
// the connect success of the interval alone (web: 95 more handshakes and no
// more failures: 100.0%, while the total stays below).
TEST_F(SluicectlTest, StatsWatchSignalRates) {
  core_.set_stats({signal_stats(60000, 1), signal_stats(62000, 2)});
  const RunResult r = run({"stats", "--watch", "--interval", "0.1", "--count", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const size_t second = r.out.find("revision:", 1);
  ASSERT_NE(second, std::string::npos) << r.out;
  EXPECT_THAT(r.out.substr(0, second), Not(HasSubstr("NEW/S")));
  EXPECT_THAT(
      r.out.substr(second),
      HasSubstr("\n"
                "SERVICE/POOL/BACKEND  NEW FLOWS  NEW/S  ACTIVE  CONNECT OK  INTERVAL OK  "
                "HANDSHAKE P50/P99  FAILED  RESETS  EXPIRED\n"
                "web                   200        50.0   12      97.4%       100.0%       "
                "                   4       2       1\n"));
  // No attempts in the interval: no ratio.
  EXPECT_THAT(r.out.substr(second),
              HasSubstr("\n  blue                0          0      0       -           -            "
                        "-                  0       0       0\n"));
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) EXPECT_LE(line.size(), 120u) << line;
}

}  // namespace
}  // namespace sluice::control::api
