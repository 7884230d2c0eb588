// SPDX-License-Identifier: Apache-2.0
#include "control/health/http_probe.h"

#include <gtest/gtest.h>

namespace sluice::control::health {
namespace {

HealthTarget http_target(const char* address, uint16_t port) {
  HealthTarget t;
  t.service = "web";
  t.address = *engine::IpAddress::parse(address);
  t.port = port;
  t.config.type = engine::HealthCheckType::kHttp;
  t.config.http_path = "/healthz?full=1";
  return t;
}

// Golden request: GET of the path, Host, Connection: close, nothing else
// that a backend could trip over.
TEST(HttpProbeTest, RequestGolden) {
  EXPECT_EQ(http_request(http_target("10.0.0.21", 80)),
            "GET /healthz?full=1 HTTP/1.1\r\n"
            "Host: 10.0.0.21\r\n"
            "User-Agent: sluice-health-check\r\n"
            "Accept: */*\r\n"
            "Connection: close\r\n"
            "\r\n");
}

// Host: the configured host, else the address with a non-default port
// (IPv6 in brackets).
TEST(HttpProbeTest, HostHeader) {
  EXPECT_EQ(http_host_header(http_target("10.0.0.21", 80)), "10.0.0.21");
  EXPECT_EQ(http_host_header(http_target("10.0.0.21", 8080)), "10.0.0.21:8080");
  EXPECT_EQ(http_host_header(http_target("2001:db8::1", 80)), "[2001:db8::1]");
  EXPECT_EQ(http_host_header(http_target("2001:db8::1", 81)), "[2001:db8::1]:81");
  HealthTarget https = http_target("10.0.0.21", 443);
  https.config.type = engine::HealthCheckType::kHttps;
  EXPECT_EQ(http_host_header(https), "10.0.0.21");
  https.port = 80;
  EXPECT_EQ(http_host_header(https), "10.0.0.21:80");
  https.config.http_host = "web.example";
  EXPECT_EQ(http_host_header(https), "web.example");
}

std::string judged(std::string_view received, bool eof = false, uint32_t start = 200,
                   uint32_t end = 400) {
  engine::HealthCheckConfig c;
  c.expected_status_start = start;
  c.expected_status_end = end;
  auto r = judge_http_response(received, eof, c);
  if (!r) return "(more)";
  return (r->ok ? "ok: " : "fail: ") + r->detail;
}

// The status decides against [start, end).
TEST(HttpProbeTest, StatusRange) {
  EXPECT_EQ(judged("HTTP/1.1 200 OK\r\n"), "ok: ok");
  EXPECT_EQ(judged("HTTP/1.1 399 Whatever\r\n"), "ok: ok");
  EXPECT_EQ(judged("HTTP/1.1 400 Bad Request\r\n"), "fail: status 400");  // end is exclusive
  EXPECT_EQ(judged("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"),
            "fail: status 503");
  EXPECT_EQ(judged("HTTP/1.1 200 OK\r\n", false, 201, 300), "fail: status 200");
  EXPECT_EQ(judged("HTTP/1.1 201 Created\r\n", false, 201, 202), "ok: ok");
  EXPECT_EQ(judged("HTTP/1.0 204\n"), "ok: ok");  // no reason phrase, bare LF
}

// Incomplete lines wait for more, unless the peer closed or 4 KiB passed.
TEST(HttpProbeTest, IncompleteAndBounded) {
  EXPECT_EQ(judged("HTTP/1.1 200 O"), "(more)");
  EXPECT_EQ(judged(""), "(more)");
  EXPECT_EQ(judged("HTTP/1.1 200 O", true), "fail: connection closed inside the status line");
  EXPECT_EQ(judged("", true), "fail: connection closed without a response");
  EXPECT_EQ(judged(std::string(4095, 'x')), "(more)");
  EXPECT_EQ(judged(std::string(4096, 'x')), "fail: no HTTP status line in the first 4096 bytes");
}

// Anything that is not "HTTP/1.x DDD" fails.
TEST(HttpProbeTest, NotAStatusLine) {
  for (const char* bad : {"hello\r\n", "HTTP/1.1 20 OK\r\n", "HTTP/1.1 2000 OK\r\n",
                          "HTTP/2 200 OK\r\n", "http/1.1 200 OK\r\n", "HTTP/1.1  200 OK\r\n",
                          "HTTP/1.1 2x0 OK\r\n", "SSH-2.0-OpenSSH_9.2\r\n", "\r\n"}) {
    EXPECT_EQ(judged(bad), "fail: no HTTP status line in the response") << bad;
  }
}

}  // namespace
}  // namespace sluice::control::health
