// SPDX-License-Identifier: Apache-2.0
#include "tests/control/health/local_server.h"

#include "tests/control/health/self_signed_tls.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>

namespace sluice::control::health::testing {
namespace {

socklen_t make_addr(const char* address, uint16_t port, sockaddr_storage& out) {
  std::memset(&out, 0, sizeof(out));
  if (std::strchr(address, ':')) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&out);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    inet_pton(AF_INET6, address, &a->sin6_addr);
    return sizeof(*a);
  }
  auto* a = reinterpret_cast<sockaddr_in*>(&out);
  a->sin_family = AF_INET;
  a->sin_port = htons(port);
  inet_pton(AF_INET, address, &a->sin_addr);
  return sizeof(*a);
}

// Binds a TCP socket to address:0 and returns it with its port.
int bound_socket(const char* address, uint16_t& port) {
  sockaddr_storage addr;
  const socklen_t len = make_addr(address, 0, addr);
  const int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    throw std::runtime_error(std::string("bind: ") + std::strerror(errno));
  }
  socklen_t got = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &got);
  port = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                          : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  return fd;
}

SSL_CTX* make_server_tls() {
  SSL_CTX* ctx = make_self_signed_server_tls("sluice-test");
  if (!ctx) throw std::runtime_error("test TLS context");
  return ctx;
}

// Reads until the blank line that ends a request's headers, EOF, 2 s, or
// a first byte that cannot start an HTTP request.
template <typename Read>
std::string read_request(Read read_some) {
  std::string request;
  char buf[1024];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (request.find("\r\n\r\n") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    const int n = read_some(buf, sizeof(buf));
    if (n <= 0) break;
    request.append(buf, static_cast<size_t>(n));
    if (request[0] < 'A' || request[0] > 'Z') break;  // not HTTP (a TLS hello): answer now
  }
  return request;
}

}  // namespace

LocalServer::LocalServer(Behavior behavior, std::string response, const char* address)
    : behavior_(behavior),
      response_(std::move(response)),
      address_(*engine::IpAddress::parse(address)) {
  listen_fd_ = bound_socket(address, port_);
  listen(listen_fd_, 128);
  if (behavior_ == Behavior::kTls) tls_ctx_ = make_server_tls();
  thread_ = std::thread([this] { serve(); });
}

LocalServer::~LocalServer() {
  stop_ = true;
  thread_.join();
  for (int fd : held_) close(fd);
  close(listen_fd_);
  SSL_CTX_free(static_cast<SSL_CTX*>(tls_ctx_));
}

std::vector<std::string> LocalServer::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

void LocalServer::serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++accepted_;
    // Reads give up after 2 s: a probe gone, or a very slow one (valgrind).
    const timeval tv{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    answer(fd);
  }
}

void LocalServer::answer(int fd) {
  switch (behavior_) {
    case Behavior::kClose:
      close(fd);
      return;
    case Behavior::kSilent:
      held_.push_back(fd);
      return;
    case Behavior::kGreet:
      send(fd, response_.data(), response_.size(), MSG_NOSIGNAL);
      held_.push_back(fd);
      return;
    case Behavior::kRespond: {
      std::string request =
          read_request([fd](char* b, size_t n) { return static_cast<int>(recv(fd, b, n, 0)); });
      send(fd, response_.data(), response_.size(), MSG_NOSIGNAL);
      {
        std::lock_guard lock(mu_);
        requests_.push_back(std::move(request));
      }
      close(fd);
      return;
    }
    case Behavior::kTls: {
      SSL* ssl = SSL_new(static_cast<SSL_CTX*>(tls_ctx_));
      SSL_set_fd(ssl, fd);
      if (SSL_accept(ssl) == 1) {
        std::string request = read_request(
            [ssl](char* b, size_t n) { return SSL_read(ssl, b, static_cast<int>(n)); });
        SSL_write(ssl, response_.data(), static_cast<int>(response_.size()));
        SSL_shutdown(ssl);
        std::lock_guard lock(mu_);
        requests_.push_back(std::move(request));
      }
      SSL_free(ssl);
      close(fd);
      return;
    }
  }
}

uint16_t closed_port(const char* address) {
  uint16_t port = 0;
  close(bound_socket(address, port));
  return port;
}

FullListener::FullListener() {
  listen_fd_ = bound_socket("127.0.0.1", port_);
  listen(listen_fd_, 0);
  // Backlog 0 admits one queued connection; two fill it whatever the
  // kernel's rounding. Each completes its handshake (or not) on its own.
  for (int i = 0; i < 2; ++i) {
    sockaddr_storage addr;
    const socklen_t len = make_addr("127.0.0.1", port_, addr);
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    connect(fd, reinterpret_cast<sockaddr*>(&addr), len);
    fillers_.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

FullListener::~FullListener() {
  for (int fd : fillers_) close(fd);
  close(listen_fd_);
}

}  // namespace sluice::control::health::testing
