// SPDX-License-Identifier: Apache-2.0
// The TLS side of an HTTPS health check: one OpenSSL client context for all
// probes, and sessions on non-blocking sockets.
//
// Certificates are NOT verified. A probe decides whether a backend answers,
// not who it is: backends are addressed by IP, usually carry a certificate
// for the service's name (or a self-signed one), and a verification failure
// would mark a working backend unhealthy, taking its traffic away, for a
// reason clients (who verify against the VIP's name) may not share.
// Checking identity is the job of the clients' TLS, not of a health check.
#pragma once

#include <openssl/ssl.h>

#include <string>
#include <unordered_map>

namespace sluice::control::health {

class TlsClient {
 public:
  TlsClient();  // throws std::runtime_error when OpenSSL cannot make a context
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  // A client session on the connected socket `fd` (not owned), in connect
  // state. `server_name` goes in SNI when it is a DNS name (not an IP
  // literal); a port suffix ("host:8443") is dropped. `backend` names the
  // backend and must outlive the SSL: the session resumes the last one that
  // backend gave (the server's certificate is then neither sent nor parsed
  // again, most of a handshake's cost: perf/health_bench.cc). Null on
  // failure.
  SSL* new_session(int fd, const std::string& server_name, const std::string& backend);
  // Sessions kept for resumption (tests).
  size_t cached_sessions() const { return sessions_.size(); }

 private:
  static int on_new_session(SSL* ssl, SSL_SESSION* session);

  SSL_CTX* ctx_ = nullptr;
  // The latest resumable session of each backend, owned. Bounded: cleared
  // when it grows past kMaxSessions (backends come and go).
  std::unordered_map<std::string, SSL_SESSION*> sessions_;
  static constexpr size_t kMaxSessions = 65536;
};

// The reason of the latest OpenSSL error on this thread ("wrong version
// number"), or `fallback` when there is none. Clears the error queue.
std::string tls_error_reason(const char* fallback);

}  // namespace sluice::control::health
