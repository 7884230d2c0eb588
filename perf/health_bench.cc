// SPDX-License-Identifier: Apache-2.0
// Does the health checker keep up with thousands of backends? The real
// HealthChecker and SocketProber (control/health/) check N backends at a
// fixed interval against a responder (a child process), and report:
//   - checks started per second, against N / interval;
//   - how late checks start after they fall due (p50, p99, max);
//   - CPU time of the checker's thread and of the responder, per second;
//   - whether every check succeeded (a check the checker could not finish
//     in time would fail by its timeout).
//
//   health_bench [--backends 5000] [--interval-ms 1000] [--timeout-ms 1000]
//                [--seconds 20] [--type tcp|http|https]
//
// Backends are distinct loopback addresses (127.1.x.y, so every backend has
// its own connection 4-tuples and no source-port reuse limits the rate), all
// served by one listener bound to the wildcard address on an ephemeral port
// for the bench's duration. The responder is one epoll loop: for tcp it
// accepts and closes, for http it reads the request and answers
// "HTTP/1.1 200 OK", for https the same after a TLS handshake (OpenSSL's
// defaults: TLS 1.3, X25519, a self-signed P-256 certificate made at start).
// The first interval (first checks spread over it) is a warm-up and not
// measured.
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "control/health/health_checker.h"
#include "tests/control/health/self_signed_tls.h"

namespace {

using namespace sluice::control;
using namespace sluice::control::health;
namespace engine = sluice::engine;

struct Args {
  int backends = 5000;
  uint32_t interval_ms = 1000;
  uint32_t timeout_ms = 1000;
  int seconds = 20;
  engine::HealthCheckType type = engine::HealthCheckType::kTcp;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--backends")
      a.backends = std::stoi(v);
    else if (k == "--interval-ms")
      a.interval_ms = static_cast<uint32_t>(std::stoul(v));
    else if (k == "--timeout-ms")
      a.timeout_ms = static_cast<uint32_t>(std::stoul(v));
    else if (k == "--seconds")
      a.seconds = std::stoi(v);
    else if (k == "--type" && (v == "tcp" || v == "http" || v == "https")) {
      a.type = v == "tcp"    ? engine::HealthCheckType::kTcp
               : v == "http" ? engine::HealthCheckType::kHttp
                             : engine::HealthCheckType::kHttps;
    } else {
      std::fprintf(stderr,
                   "usage: health_bench [--backends N] [--interval-ms MS] "
                   "[--timeout-ms MS] [--seconds S] [--type tcp|http|https]\n");
      std::exit(2);
    }
  }
  return a;
}

double thread_cpu_s(pthread_t thread) {
  clockid_t clock;
  timespec ts{};
  if (pthread_getcpuclockid(thread, &clock) != 0 || clock_gettime(clock, &ts) != 0) return 0;
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// The https responder's context (self-signed, made in memory).
SSL_CTX* make_server_tls() {
  SSL_CTX* ctx = health::testing::make_self_signed_server_tls("health-bench");
  if (!ctx) {
    std::fprintf(stderr, "responder TLS setup failed\n");
    std::exit(1);
  }
  return ctx;
}

// A listener on the wildcard address, ephemeral port: returns (fd, port).
std::pair<int, uint16_t> make_listener() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd, 4096) != 0) {
    std::perror("responder listen");
    std::exit(1);
  }
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return {fd, ntohs(addr.sin_port)};
}

// CPU seconds a process has used (utime + stime from /proc).
double process_cpu_s(pid_t pid) {
  FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (!f) return 0;
  char buf[1024];
  const size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  buf[n] = 0;
  const char* p = std::strrchr(buf, ')');  // the name may hold spaces
  unsigned long utime = 0, stime = 0;
  if (!p || std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                        &stime) != 2) {
    return 0;
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// The backends' side: one epoll loop, run in a child process of its own so
// that it shares no locks (OpenSSL's) or allocator arenas with the checker.
class Responder {
 public:
  Responder(engine::HealthCheckType type, int listen_fd)
      : http_(type != engine::HealthCheckType::kTcp),
        tls_(type == engine::HealthCheckType::kHttps ? make_server_tls() : nullptr),
        listen_fd_(listen_fd) {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    add(listen_fd_);
  }

  [[noreturn]] void run() {
    static const char kResponse[] =
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    epoll_event events[256];
    char buf[2048];
    for (;;) {
      const int n = epoll_wait(epoll_fd_, events, 256, 100);
      if (getppid() == 1) std::_Exit(0);  // the bench is gone
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == listen_fd_) {
          for (;;) {
            const int c = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (c < 0) break;
            if (tls_) {
              SSL* ssl = SSL_new(tls_);
              SSL_set_fd(ssl, c);
              SSL_set_accept_state(ssl);
              sessions_[c] = ssl;
              add(c);
            } else if (http_) {
              add(c);
            } else {
              close(c);
            }
          }
          continue;
        }
        if (tls_) {
          serve_tls(fd, buf, sizeof(buf), kResponse, sizeof(kResponse) - 1);
          continue;
        }
        // The probe's request comes in one segment; answer, then close.
        const ssize_t got = recv(fd, buf, sizeof(buf), 0);
        if (got > 0) send(fd, kResponse, sizeof(kResponse) - 1, MSG_NOSIGNAL);
        if (got >= 0 || (errno != EAGAIN && errno != EINTR)) close(fd);
      }
    }
  }

 private:
  void add(int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  }
  // Handshake, then a request read as one record, then the answer. Level-
  // triggered EPOLLIN only: on the loopback a TLS write does not block.
  void serve_tls(int fd, char* buf, size_t size, const char* response, size_t length) {
    SSL* ssl = sessions_.at(fd);
    const int n = SSL_read(ssl, buf, static_cast<int>(size));  // handshakes first
    if (n <= 0) {
      const int err = SSL_get_error(ssl, n);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
    } else {
      SSL_write(ssl, response, static_cast<int>(length));
    }
    SSL_free(ssl);
    sessions_.erase(fd);
    close(fd);
  }

  bool http_;
  SSL_CTX* tls_ = nullptr;
  std::unordered_map<int, SSL*> sessions_;  // https: by connection
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
};

int64_t percentile(std::vector<int64_t>& v, double p) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * v.size()));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  // The responder writes to connections the checker may have reset.
  signal(SIGPIPE, SIG_IGN);
  const char* type_name = args.type == engine::HealthCheckType::kTcp    ? "TCP"
                          : args.type == engine::HealthCheckType::kHttp ? "HTTP"
                                                                        : "HTTPS";
  const auto [listen_fd, port] = make_listener();
  const pid_t responder = fork();  // before any thread exists
  if (responder < 0) {
    std::perror("fork");
    return 1;
  }
  if (responder == 0) Responder(args.type, listen_fd).run();
  close(listen_fd);

  // Lateness of every check started while measuring, from the checker's
  // thread (the callback runs there, which is also how we learn its id).
  std::atomic<bool> measuring{false};
  std::mutex mu;
  std::vector<int64_t> lateness;
  lateness.reserve(static_cast<size_t>(args.backends) * (args.seconds + 2) * 1000 /
                   args.interval_ms);
  std::atomic<bool> have_thread{false};
  pthread_t checker_thread{};
  HealthChecker::Options options;
  options.on_check_started = [&](int64_t late_us) {
    if (!have_thread.load(std::memory_order_relaxed)) {
      checker_thread = pthread_self();
      have_thread = true;
    }
    if (measuring.load(std::memory_order_relaxed)) {
      std::lock_guard lock(mu);
      lateness.push_back(late_us);
    }
  };
  auto checker = HealthChecker::create(options);

  std::vector<HealthTarget> targets;
  for (int i = 0; i < args.backends; ++i) {
    HealthTarget t;
    t.service = "bench";
    t.pool = "p";
    t.address = engine::IpAddress::v4(127, 1, static_cast<uint8_t>(i / 250),
                                      static_cast<uint8_t>(1 + i % 250));
    t.port = port;
    t.backend_slot = static_cast<uint32_t>(i);
    t.config.type = args.type;
    t.config.interval_ms = args.interval_ms;
    t.config.timeout_ms = args.timeout_ms;
    targets.push_back(t);
  }
  checker->set_targets(targets);
  checker->start();

  // Warm-up: one interval plus a little, so every target has its schedule.
  std::this_thread::sleep_for(std::chrono::milliseconds(args.interval_ms + 500));
  while (!have_thread) std::this_thread::sleep_for(std::chrono::milliseconds(10));

  const CheckerStats before = checker->stats();
  const double checker_cpu0 = thread_cpu_s(checker_thread);
  const double responder_cpu0 = process_cpu_s(responder);
  const auto t0 = std::chrono::steady_clock::now();
  measuring = true;
  std::this_thread::sleep_for(std::chrono::seconds(args.seconds));
  measuring = false;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double checker_cpu = thread_cpu_s(checker_thread) - checker_cpu0;
  const double responder_cpu = process_cpu_s(responder) - responder_cpu0;
  const CheckerStats after = checker->stats();
  checker->stop();
  kill(responder, SIGKILL);
  waitpid(responder, nullptr, 0);

  uint64_t failures = 0, healthy = 0;
  std::string last_failure;
  for (const TargetHealth& s : checker->statuses()) {
    failures += s.health.failures;
    healthy += s.health.state == HealthState::kHealthy;
    if (s.health.failures && last_failure.empty()) last_failure = s.health.last_result;
  }
  std::vector<int64_t> late;
  {
    std::lock_guard lock(mu);
    late = lateness;
  }
  const double started = static_cast<double>(after.started - before.started);
  const double expected = args.backends * wall * 1000.0 / args.interval_ms;
  const int64_t p50 = percentile(late, 50), p99 = percentile(late, 99);
  const int64_t max = late.empty() ? 0 : *std::max_element(late.begin(), late.end());
  const bool keeps_up = started >= 0.99 * expected && failures == 0 && p99 < 100000;

  std::printf("health_bench: %d %s backends, interval %u ms, timeout %u ms, %.1f s measured\n",
              args.backends, type_name, args.interval_ms, args.timeout_ms, wall);
  std::printf("  checks started   %.0f/s (expected %.0f/s, %.1f%%)\n", started / wall,
              expected / wall, 100.0 * started / expected);
  std::printf(
      "  checks finished  %.0f/s, timed out %lu, delayed for a slot %lu, failures %lu%s%s\n",
      static_cast<double>(after.finished - before.finished) / wall,
      static_cast<unsigned long>(after.timed_out - before.timed_out),
      static_cast<unsigned long>(after.delayed - before.delayed),
      static_cast<unsigned long>(failures), last_failure.empty() ? "" : ": ", last_failure.c_str());
  std::printf("  start lateness   p50 %.3f ms, p99 %.3f ms, max %.3f ms (%zu checks)\n",
              static_cast<double>(p50) / 1000, static_cast<double>(p99) / 1000,
              static_cast<double>(max) / 1000, late.size());
  std::printf("  checker thread   %.1f%% of a CPU (%.1f us per check)\n",
              100.0 * checker_cpu / wall, started > 0 ? checker_cpu * 1e6 / started : 0.0);
  std::printf("  responder        %.1f%% of a CPU (another process)\n",
              100.0 * responder_cpu / wall);
  std::printf("  healthy at end   %lu of %d\n", static_cast<unsigned long>(healthy), args.backends);
  std::printf("  keeps up: %s\n", keeps_up ? "yes" : "NO");
  return keeps_up ? 0 : 1;
}
