// SPDX-License-Identifier: Apache-2.0
// The real endpoint: MetricsServer on a localhost port, /metrics and
// /metrics/backends fetched over HTTP, each answer checked by Prometheus's
// own linter (`promtool check metrics`, Debian package "prometheus").
#include "control/metrics/metrics_server.h"

#include <civetweb.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/control/metrics/http_get.h"
#include "tests/control/metrics/metrics_test_stats.h"

namespace sluice::control::metrics {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// promtool's path, or "" when it is not installed.
std::string find_promtool() {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (size_t start = 0; start <= dirs.size();) {
    const size_t colon = std::min(dirs.find(':', start), dirs.size());
    const fs::path candidate = fs::path(dirs.substr(start, colon - start)) / "promtool";
    if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = colon + 1;
  }
  return {};
}

// Runs `command`, returns its exit status and puts its output in *output.
int run(const std::string& command, std::string* output) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), p)) > 0;) output->append(buf, n);
  const int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The family names of an exposition, from its "# TYPE name type" lines.
std::vector<std::string> family_names(const std::string& text) {
  std::vector<std::string> names;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# TYPE ", 0) == 0) names.push_back(line.substr(7, line.find(' ', 7) - 7));
  }
  return names;
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    server_ = MetricsServer::start("127.0.0.1:0", source_, &error);
    ASSERT_NE(server_, nullptr) << error;
    ASSERT_NE(server_->port(), 0);
  }

  FakeMetricsSource source_;
  std::unique_ptr<MetricsServer> server_;
};

// Both paths answer 200 with the text format, one sample per scrape.
TEST_F(MetricsServerTest, ServesBothPathsOverHttp) {
  auto r = http_get(server_->port(), "/metrics");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->headers, HasSubstr("Content-Type: text/plain"));
  EXPECT_THAT(r->body, HasSubstr("\nsluice_config_revision 7\n"));
  EXPECT_THAT(r->body, HasSubstr("sluice_pool_handshake_duration_seconds_bucket{service=\"web."
                                 "v2-canary_1\",pool=\"blue\",le=\"+Inf\"} 4\n"));
  EXPECT_EQ(source_.samples, 1);
  r = http_get(server_->port(), "/metrics/backends");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->headers, HasSubstr("Content-Type: text/plain"));
  EXPECT_THAT(r->body,
              HasSubstr("sluice_backend_handshake_duration_seconds_bucket{service=\"web.v2-canary_1\","
                        "pool=\"blue\",backend=\"10.0.0.1\",le=\"+Inf\"} 4\n"));
  EXPECT_EQ(source_.samples, 2);
}

// /metrics serves no per-backend family, /metrics/backends nothing else
// (besides prometheus-cpp's own exposer_* families, which every path has).
TEST_F(MetricsServerTest, PerBackendFamiliesOnlyOnTheirPath) {
  auto main = http_get(server_->port(), "/metrics");
  auto backends = http_get(server_->port(), "/metrics/backends");
  ASSERT_TRUE(main.has_value() && backends.has_value());
  const std::vector<std::string> main_names = family_names(main->body);
  const std::vector<std::string> backend_names = family_names(backends->body);
  EXPECT_GT(main_names.size(), 40u);
  EXPECT_GT(backend_names.size(), 15u);
  for (const std::string& name : main_names) {
    EXPECT_TRUE(starts_with(name, "sluice_") || starts_with(name, "exposer_")) << name;
    EXPECT_FALSE(starts_with(name, "sluice_backend_")) << name << " on /metrics";
  }
  for (const std::string& name : backend_names) {
    EXPECT_TRUE(starts_with(name, "sluice_backend_") || starts_with(name, "exposer_"))
        << name << " on /metrics/backends";
  }
  EXPECT_THAT(main->body, ::testing::Not(HasSubstr("backend=\"")));
}

// Prometheus's linter accepts the real answer of each path (names, units,
// HELP, TYPE, histogram layout, counter suffixes).
TEST_F(MetricsServerTest, PromtoolAcceptsBothPaths) {
  const std::string promtool = find_promtool();
  if (promtool.empty()) {
    GTEST_SKIP() << "promtool not found: install Debian's \"prometheus\" package "
                    "(tools/lib/packages.sh) to lint /metrics";
  }
  for (const char* path : {"/metrics", "/metrics/backends"}) {
    auto r = http_get(server_->port(), path);
    ASSERT_TRUE(r.has_value()) << path;
    ASSERT_EQ(r->status, 200) << path;
    const fs::path file =
        fs::temp_directory_path() / ("sluice-metrics-test-" + std::to_string(getpid()) + ".txt");
    std::ofstream(file) << r->body;
    std::string output;
    const int status = run(promtool + " check metrics < " + file.string(), &output);
    fs::remove(file);
    EXPECT_EQ(status, 0) << "promtool check metrics on " << path << ":\n" << output;
    EXPECT_EQ(output, "") << "promtool has lint remarks on " << path;
  }
}

// Destruction does not wait out civetweb's 2 s listener poll. The GET just
// before restarts that poll, so without the wake-up the wait is close to
// the whole 2 s, not a lucky fraction of it.
TEST_F(MetricsServerTest, StopsPromptly) {
  ASSERT_TRUE(http_get(server_->port(), "/metrics").has_value());
  const auto t0 = std::chrono::steady_clock::now();
  server_.reset();
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, std::chrono::milliseconds(500))
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
}

// A port already in use is an error that names the address.
TEST_F(MetricsServerTest, BusyPortIsAnError) {
  FakeMetricsSource other;
  std::string error;
  const std::string listen = "127.0.0.1:" + std::to_string(server_->port());
  EXPECT_EQ(MetricsServer::start(listen, other, &error), nullptr);
  EXPECT_THAT(error, HasSubstr("cannot serve /metrics on " + listen));
}

// IPv6 works where civetweb has it; where it lacks it (Debian 12) the
// error says so instead of a bare bind failure.
TEST(MetricsServer, Ipv6) {
  FakeMetricsSource source;
  std::string error;
  auto server = MetricsServer::start("[::1]:0", source, &error);
  if (mg_check_feature(8) == 0) {
    EXPECT_EQ(server, nullptr);
    EXPECT_THAT(error, HasSubstr("no IPv6 support"));
  } else {
    EXPECT_NE(server, nullptr) << error;
  }
}

}  // namespace
}  // namespace sluice::control::metrics
