// SPDX-License-Identifier: Apache-2.0
// sluiced's Prometheus endpoint: a prometheus-cpp Exposer (civetweb) on one
// address, serving two paths in the Prometheus text format:
//   /metrics           services, pools, flow census, sluiced and its workers;
//   /metrics/backends  the per-backend families (most of the volume: scrape
//                      it less often; README.md, "Cost").
// It runs on its own threads; a scrape reads a MetricsSource sample and
// never makes a dataplane worker wait (see metrics_source.h).
//
// No authentication and no TLS: anyone who can reach the address reads
// every counter. sluiced binds it only when --metrics-listen is given; a
// non-loopback address is the operator's explicit choice (and logged).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "control/metrics/metrics_source.h"

namespace prometheus {
class Exposer;
}

namespace sluice::control::metrics {

class StatsCollectable;

class MetricsServer {
 public:
  // Serves GET /metrics and GET /metrics/backends on `listen`: "IPV4:PORT"
  // or "[IPV6]:PORT" (IP literals; port 0 picks a free port, for tests).
  // `source` must outlive the server. Returns null and sets *error when it
  // cannot listen.
  static std::unique_ptr<MetricsServer> start(const std::string& listen, MetricsSource& source,
                                              std::string* error);
  // Stops listening and waits for a scrape in progress (promptly: see
  // ~MetricsServer in metrics_server.cc).
  ~MetricsServer();

  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The port it listens on (the chosen one when started with port 0).
  uint16_t port() const { return port_; }

 private:
  MetricsServer() = default;

  std::mutex scrape_mutex_;  // one scrape at a time over both paths
  std::shared_ptr<StatsCollectable> main_;
  std::shared_ptr<StatsCollectable> backends_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  uint16_t port_ = 0;
  // Where the destructor connects to wake civetweb's listener; family
  // AF_UNSPEC when `listen` gave no address to reach.
  sockaddr_storage wake_address_{};
};

}  // namespace sluice::control::metrics
