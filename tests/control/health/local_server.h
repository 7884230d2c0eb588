// SPDX-License-Identifier: Apache-2.0
// Real listeners on the loopback for the SocketProber tests: one thread
// accepts and answers every connection as the test chose (close at once,
// send fixed bytes, never answer, TLS). Everything it opened is closed by
// its destructor.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/engine/config.h"

namespace sluice::control::health::testing {

enum class Behavior {
  kClose,    // accept, then close
  kRespond,  // read the request (up to its blank line), send `response`, close
  kSilent,   // accept and hold the connection, never sending anything
  kGreet,    // send `response` at once (a server that speaks first), then hold
  kTls,      // TLS handshake (self-signed certificate), then as kRespond
};

class LocalServer {
 public:
  // Listens on `address` (loopback) port 0: the kernel picks the port.
  LocalServer(Behavior behavior, std::string response = "", const char* address = "127.0.0.1");
  ~LocalServer();

  uint16_t port() const { return port_; }
  engine::IpAddress address() const { return address_; }
  // The requests received so far (kRespond and kTls).
  std::vector<std::string> requests() const;
  int accepted() const { return accepted_.load(); }

 private:
  void serve();
  void answer(int fd);

  Behavior behavior_;
  std::string response_;
  engine::IpAddress address_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  void* tls_ctx_ = nullptr;  // SSL_CTX*, for kTls
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::vector<int> held_;  // kSilent connections, serve() thread only
  mutable std::mutex mu_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

// A port on `address` nobody listens on (bound once, then closed).
uint16_t closed_port(const char* address = "127.0.0.1");

// A listener whose accept queue is full: listen(backlog 0), never
// accepting, with one connection already queued. The kernel drops further
// SYNs, so a connect to it neither succeeds nor fails: a blackholed backend
// without root, namespaces or routes.
class FullListener {
 public:
  FullListener();
  ~FullListener();
  uint16_t port() const { return port_; }

 private:
  int listen_fd_ = -1;
  std::vector<int> fillers_;
  uint16_t port_ = 0;
};

}  // namespace sluice::control::health::testing
