// SPDX-License-Identifier: Apache-2.0
#include "control/metrics/metrics_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <prometheus/exposer.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <exception>
#include <thread>
#include <vector>

#include "control/metrics/stats_collectable.h"

namespace sluice::control::metrics {
namespace {

// Two threads: Prometheus scrapes one request at a time, a second thread
// lets an operator's curl (or the other path) through meanwhile; the
// collectables take their samples one at a time.
constexpr size_t kServerThreads = 2;

// mg_check_feature bit for IPv6 support (civetweb.h documents the bits).
constexpr unsigned kCivetwebIpv6 = 8;

// The address a local client reaches `listen` ("IP:PORT", "[IP6]:PORT") on:
// the IP itself, loopback for the wildcard. Family AF_UNSPEC when the host
// is not an IP literal.
sockaddr_storage local_address(const std::string& listen, uint16_t port) {
  sockaddr_storage out{};
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return out;
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&out);
    if (inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) != 1) return out;
    if (IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr)) a6->sin6_addr = in6addr_loopback;
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
    return out;
  }
  auto* a4 = reinterpret_cast<sockaddr_in*>(&out);
  if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) != 1) return out;
  if (a4->sin_addr.s_addr == htonl(INADDR_ANY)) a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a4->sin_family = AF_INET;
  a4->sin_port = htons(port);
  return out;
}

// One connection to the listener, closed at once without a request.
void poke(const sockaddr_storage& address) {
  const int fd = socket(address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  const socklen_t len =
      address.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  (void)connect(fd, reinterpret_cast<const sockaddr*>(&address), len);
  close(fd);
}

}  // namespace

std::unique_ptr<MetricsServer> MetricsServer::start(const std::string& listen,
                                                     MetricsSource& source, std::string* error) {
  // Debian 12 builds civetweb without IPv6: say so rather than report a
  // bind failure nobody could explain.
  if (!listen.empty() && listen.front() == '[' && mg_check_feature(kCivetwebIpv6) == 0) {
    *error = "cannot serve /metrics on " + listen +
             ": this build's civetweb (under prometheus-cpp) has no IPv6 support; listen on "
             "an IPv4 address";
    return nullptr;
  }
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  try {
    server->exposer_ = std::make_unique<prometheus::Exposer>(listen, kServerThreads);
  } catch (const std::exception& e) {
    *error = "cannot serve /metrics on " + listen + " (address in use, not local, or malformed): " +
             e.what();
    return nullptr;
  }
  server->main_ =
      std::make_shared<StatsCollectable>(source, Exposition::kMain, server->scrape_mutex_);
  server->backends_ =
      std::make_shared<StatsCollectable>(source, Exposition::kBackends, server->scrape_mutex_);
  server->exposer_->RegisterCollectable(server->main_, kMainPath);
  server->exposer_->RegisterCollectable(server->backends_, kBackendsPath);
  const std::vector<int> ports = server->exposer_->GetListeningPorts();
  server->port_ = ports.empty() ? 0 : static_cast<uint16_t>(ports.front());
  server->wake_address_ = local_address(listen, server->port_);
  return server;
}

MetricsServer::~MetricsServer() {
  // civetweb's listener thread sleeps in poll() with a 2 s timeout and
  // sees mg_stop()'s stop flag only when poll returns, so destroying the
  // Exposer alone takes up to 2 s (2.0 s measured right after a scrape:
  // each accept restarts the poll). A connection to the listening port
  // ends that poll at once: a helper connects every 10 ms until the Exposer
  // is gone (those accepted before the flag is set close without a
  // request). Measured: about 10 ms (MetricsServerTest.StopsPromptly). The
  // Exposer goes first: its threads may be inside Collect().
  std::atomic<bool> stopped{false};
  std::thread waker;
  if (wake_address_.ss_family != AF_UNSPEC) {
    waker = std::thread([&] {
      while (!stopped.load()) {
        poke(wake_address_);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    });
  }
  exposer_.reset();
  stopped = true;
  if (waker.joinable()) waker.join();
}

}  // namespace sluice::control::metrics
