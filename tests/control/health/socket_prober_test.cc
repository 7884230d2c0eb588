// SPDX-License-Identifier: Apache-2.0
// SocketProber against real listeners on the loopback (local_server.h), and
// the HealthChecker driving it in real time.
#include "control/health/socket_prober.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>

#include "control/health/health_checker.h"
#include "tests/control/health/local_server.h"

namespace sluice::control::health {
namespace {

using engine::HealthCheckType;
using testing::Behavior;
using ::testing::HasSubstr;
using testing::LocalServer;
using ::testing::StartsWith;

HealthTarget target(HealthCheckType type, uint16_t port, const char* address = "127.0.0.1") {
  HealthTarget t;
  t.service = "web";
  t.pool = "stable";
  t.address = *engine::IpAddress::parse(address);
  t.port = port;
  t.config.type = type;
  t.config.http_path = "/healthz";
  t.config.interval_ms = 200;
  t.config.timeout_ms = 100;
  t.config.unhealthy_threshold = 2;
  t.config.healthy_threshold = 1;
  return t;
}

class SocketProberTest : public ::testing::Test {
 protected:
  // Starts one probe and polls until it reports or `wait_ms` passes.
  std::optional<ProbeResult> probe(const HealthTarget& t, int wait_ms = 3000) {
    const uint64_t id = next_id_++;
    prober_.start(id, t);
    std::optional<ProbeResult> result;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
    while (!result && std::chrono::steady_clock::now() < deadline) {
      prober_.poll(20, [&](uint64_t got, ProbeResult r) {
        EXPECT_EQ(got, id);
        result = std::move(r);
      });
    }
    if (!result) prober_.cancel(id);
    return result;
  }

  static std::string http(const char* status_line, const std::string& body = "") {
    return std::string(status_line) + "\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\nConnection: close\r\n\r\n" + body;
  }

  SocketProber prober_;
  uint64_t next_id_ = 1;
};

// --- TCP ---

// An open port is healthy.
TEST_F(SocketProberTest, TcpOpenPort) {
  LocalServer server(Behavior::kClose);
  auto r = probe(target(HealthCheckType::kTcp, server.port()));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok) << r->detail;
  EXPECT_EQ(r->detail, "ok");
  EXPECT_EQ(prober_.active(), 0u);
}

// A closed port is refused.
TEST_F(SocketProberTest, TcpClosedPort) {
  auto r = probe(target(HealthCheckType::kTcp, testing::closed_port()));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->detail, "connect refused");
}

// A backend that drops SYNs never answers: the prober reports nothing (the
// checker's timeout decides), and cancel() releases the socket.
TEST_F(SocketProberTest, TcpBlackholeNeverAnswers) {
  testing::FullListener blackhole;
  EXPECT_FALSE(probe(target(HealthCheckType::kTcp, blackhole.port()), 500));
  EXPECT_EQ(prober_.active(), 0u);
}

// IPv6 backends are probed over IPv6.
TEST_F(SocketProberTest, TcpIpv6) {
  LocalServer server(Behavior::kClose, "", "::1");
  auto r = probe(target(HealthCheckType::kTcp, server.port(), "::1"));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok) << r->detail;
}

// Many probes at once all finish.
TEST_F(SocketProberTest, ManyConcurrentProbes) {
  LocalServer server(Behavior::kClose);
  constexpr int kProbes = 100;
  for (int i = 1; i <= kProbes; ++i) prober_.start(i, target(HealthCheckType::kTcp, server.port()));
  int ok = 0, reported = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (reported < kProbes && std::chrono::steady_clock::now() < deadline) {
    prober_.poll(20, [&](uint64_t, ProbeResult r) {
      ++reported;
      ok += r.ok;
    });
  }
  EXPECT_EQ(reported, kProbes);
  EXPECT_EQ(ok, kProbes);
  EXPECT_EQ(prober_.active(), 0u);
}

// --- HTTP ---

// 200 is healthy; the request asks for the path with Host and
// Connection: close.
TEST_F(SocketProberTest, Http200) {
  LocalServer server(Behavior::kRespond, http("HTTP/1.1 200 OK", "fine"));
  auto r = probe(target(HealthCheckType::kHttp, server.port()));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok) << r->detail;
  ASSERT_EQ(server.requests().size(), 1u);
  const std::string request = server.requests()[0];
  EXPECT_THAT(request, StartsWith("GET /healthz HTTP/1.1\r\n"));
  EXPECT_THAT(request, HasSubstr("\r\nHost: 127.0.0.1:" + std::to_string(server.port()) + "\r\n"));
  EXPECT_THAT(request, HasSubstr("\r\nConnection: close\r\n"));
}

// A status outside the range fails with the status.
TEST_F(SocketProberTest, Http503) {
  LocalServer server(Behavior::kRespond, http("HTTP/1.1 503 Service Unavailable"));
  auto r = probe(target(HealthCheckType::kHttp, server.port()));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->detail, "status 503");
}

// Something that is not HTTP fails.
TEST_F(SocketProberTest, HttpGarbage) {
  LocalServer server(Behavior::kRespond, "SSH-2.0-OpenSSH_9.2\r\n");
  auto r = probe(target(HealthCheckType::kHttp, server.port()));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->detail, "no HTTP status line in the response");
}

// A server that speaks before the request (its bytes may arrive while the
// probe is still sending) is judged at once, not left to the timeout.
TEST_F(SocketProberTest, HttpServerSpeaksFirst) {
  LocalServer server(Behavior::kGreet, "SSH-2.0-OpenSSH_9.2\r\n");
  for (int i = 0; i < 20; ++i) {
    auto r = probe(target(HealthCheckType::kHttp, server.port()), 1000);
    ASSERT_TRUE(r) << "attempt " << i;
    EXPECT_EQ(r->detail, "no HTTP status line in the response");
  }
}

// An endless line is cut after 4 KiB, not read to its end.
TEST_F(SocketProberTest, HttpEndlessLine) {
  LocalServer server(Behavior::kRespond, std::string(256 * 1024, 'x'));
  auto r = probe(target(HealthCheckType::kHttp, server.port()));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->detail, "no HTTP status line in the first 4096 bytes");
}

// A server that accepts and never answers: no result (the checker's timeout
// cuts it: HealthCheckerOverSockets).
TEST_F(SocketProberTest, HttpSilent) {
  LocalServer server(Behavior::kSilent);
  EXPECT_FALSE(probe(target(HealthCheckType::kHttp, server.port()), 400));
  EXPECT_EQ(server.accepted(), 1);
  EXPECT_EQ(prober_.active(), 0u);
}

// A server that closes without answering fails.
TEST_F(SocketProberTest, HttpClosedWithoutResponse) {
  LocalServer server(Behavior::kClose);
  auto r = probe(target(HealthCheckType::kHttp, server.port()));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  // FIN or RST, depending on whether the request arrived before the close.
  EXPECT_TRUE(r->detail == "connection closed without a response" ||
              r->detail == "receive failed: Connection reset by peer")
      << r->detail;
}

// --- HTTPS ---

// The same check over TLS, with a self-signed certificate (not verified).
TEST_F(SocketProberTest, Https200) {
  LocalServer server(Behavior::kTls, http("HTTP/1.1 204 No Content"));
  HealthTarget t = target(HealthCheckType::kHttps, server.port());
  t.config.http_host = "web.example";
  auto r = probe(t);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok) << r->detail;
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_THAT(server.requests()[0], HasSubstr("\r\nHost: web.example\r\n"));
}

// A backend's second check resumes the TLS session of its first.
TEST_F(SocketProberTest, HttpsResumesSessions) {
  LocalServer server(Behavior::kTls, http("HTTP/1.1 200 OK"));
  const HealthTarget t = target(HealthCheckType::kHttps, server.port());
  for (int i = 0; i < 3; ++i) {
    auto r = probe(t);
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->ok) << r->detail;
  }
  EXPECT_EQ(prober_.tls_handshakes(), 3u);
  EXPECT_EQ(prober_.tls_resumed(), 2u);
}

TEST_F(SocketProberTest, Https503) {
  LocalServer server(Behavior::kTls, http("HTTP/1.1 503 Service Unavailable"));
  auto r = probe(target(HealthCheckType::kHttps, server.port()));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->detail, "status 503");
}

// A server that does not speak TLS fails the handshake.
TEST_F(SocketProberTest, HttpsAgainstPlainHttp) {
  LocalServer server(Behavior::kRespond, http("HTTP/1.1 200 OK"));
  auto r = probe(target(HealthCheckType::kHttps, server.port()));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_THAT(r->detail, StartsWith("tls handshake failed: ")) << r->detail;
}

// --- The loop ---

// wake() ends a long poll early, from another thread.
TEST_F(SocketProberTest, WakeEndsPoll) {
  std::thread waker([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    prober_.wake();
  });
  const auto t0 = std::chrono::steady_clock::now();
  prober_.poll(5000, [](uint64_t, ProbeResult) {});
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1000));
  waker.join();
}

// The capacity follows the file descriptor limit, raised to the hard one.
TEST_F(SocketProberTest, CapacityFromFdLimit) {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  EXPECT_EQ(limit.rlim_cur, limit.rlim_max);
  EXPECT_EQ(prober_.capacity(), static_cast<size_t>(limit.rlim_cur) / 4 * 3);
}

// The whole checker in real time: a good backend turns healthy, a refusing
// and a blackholed one unhealthy (the latter by the checker's timeout), an
// HTTP one answering 503 unhealthy, within a few intervals of 200 ms.
TEST(HealthCheckerOverSockets, RealBackends) {
  LocalServer good(Behavior::kRespond, "HTTP/1.1 200 OK\r\n\r\n");
  LocalServer sick(Behavior::kRespond, "HTTP/1.1 503 Busy\r\n\r\n");
  testing::FullListener blackhole;
  std::vector<HealthTarget> targets = {target(HealthCheckType::kHttp, good.port()),
                                       target(HealthCheckType::kHttp, sick.port()),
                                       target(HealthCheckType::kTcp, testing::closed_port()),
                                       target(HealthCheckType::kTcp, blackhole.port())};
  // All on 127.0.0.1: distinct services keep them distinct backends.
  for (size_t i = 0; i < targets.size(); ++i) targets[i].service = "svc" + std::to_string(i);
  auto checker = HealthChecker::create();
  std::atomic<int> transitions{0};
  checker->set_listener([&](const HealthTransition&) { ++transitions; });
  checker->set_targets(targets);
  checker->start();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  auto done = [&] {
    const auto s = checker->statuses();
    return s.size() == 4 && s[0].health.state == HealthState::kHealthy &&
           s[1].health.state == HealthState::kUnhealthy &&
           s[2].health.state == HealthState::kUnhealthy &&
           s[3].health.state == HealthState::kUnhealthy;
  };
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const auto t0 = std::chrono::steady_clock::now();
  checker->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(300));
  const auto s = checker->statuses();
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0].health.state, HealthState::kHealthy) << s[0].health.last_result;
  EXPECT_EQ(s[1].health.state, HealthState::kUnhealthy);
  EXPECT_EQ(s[1].health.last_result, "status 503");
  EXPECT_EQ(s[2].health.state, HealthState::kUnhealthy);
  EXPECT_EQ(s[2].health.last_result, "connect refused");
  EXPECT_EQ(s[3].health.state, HealthState::kUnhealthy);
  EXPECT_EQ(s[3].health.last_result, "timeout after 100 ms");
  EXPECT_EQ(transitions.load(), 4);
}

}  // namespace
}  // namespace sluice::control::health
