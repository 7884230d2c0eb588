// SPDX-License-Identifier: Apache-2.0
// The real prober: non-blocking sockets on one epoll instance, driven by the
// checker's thread (no thread of its own).
// - TCP: a connect; established is healthy.
// - HTTP: connect, "GET path HTTP/1.1" (http_probe.h), read up to 4 KiB for
//   the status line, judge it. The checker's timeout cuts a slow or endless
//   server; nothing here waits.
// - HTTPS: the same over a TLS session (tls_client.h; no certificate check).
// Sockets close with an RST (SO_LINGER 0), as HAProxy's checks do: the
// checker is the active closer of thousands of connections a second, which
// would otherwise leave as many TIME_WAIT sockets on the appliance.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "control/health/prober.h"
#include "control/health/tls_client.h"

namespace sluice::control::health {

class SocketProber final : public Prober {
 public:
  // Raises the soft RLIMIT_NOFILE to the hard limit (a probe is a file
  // descriptor) and sizes capacity() from it. Throws std::system_error when
  // epoll or the wake eventfd cannot be created.
  SocketProber();
  ~SocketProber() override;
  SocketProber(const SocketProber&) = delete;
  SocketProber& operator=(const SocketProber&) = delete;

  // Prober. Probe ids must be non-zero. start() and poll() block SIGPIPE in
  // the calling thread (OpenSSL writes with write(2), which would raise it
  // on a connection the backend reset).
  void start(uint64_t probe_id, const HealthTarget& target) override;
  void cancel(uint64_t probe_id) override;
  void poll(int timeout_ms, const Done& done) override;
  void wake() override;
  // Three quarters of the file descriptor limit: the rest stays for sluiced.
  size_t capacity() const override { return capacity_; }

  // Probes holding a socket now (for tests).
  size_t active() const { return probes_.size(); }
  // TLS handshakes completed, and of them those that resumed a session.
  uint64_t tls_handshakes() const { return tls_handshakes_; }
  uint64_t tls_resumed() const { return tls_resumed_; }

 private:
  struct Probe;
  void handle_events(const epoll_event* events, int n);
  void handle(Probe& p, uint32_t events);
  void connected(Probe& p);
  void handshake(Probe& p);
  void send_request(Probe& p);
  void receive(Probe& p);
  void complete(Probe& p, ProbeResult result);
  void release(Probe& p);

  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  size_t capacity_ = 0;
  uint64_t tls_handshakes_ = 0;
  uint64_t tls_resumed_ = 0;
  std::unique_ptr<TlsClient> tls_;  // made on the first HTTPS probe
  std::unordered_map<uint64_t, std::unique_ptr<Probe>> probes_;
  std::vector<std::pair<uint64_t, ProbeResult>> ready_;  // finished, not yet reported
};

}  // namespace sluice::control::health
