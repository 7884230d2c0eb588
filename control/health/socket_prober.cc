// SPDX-License-Identifier: Apache-2.0
#include "control/health/socket_prober.h"

#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "control/health/http_probe.h"

namespace sluice::control::health {

enum class Phase : uint8_t { kConnecting, kTlsHandshake, kSending, kReceiving };

struct SocketProber::Probe {
  uint64_t id = 0;
  int fd = -1;
  engine::HealthCheckConfig config;
  std::string server_name;  // for SNI
  std::string backend;      // "address:port/sni": whose TLS session to resume
  Phase phase = Phase::kConnecting;
  SSL* ssl = nullptr;
  std::string request;
  size_t sent = 0;
  std::string received;  // at most kMaxStatusLineBytes
  // Edge-triggered epoll reports a change once: what it said is kept until
  // the phase that needs it drains the socket to EAGAIN.
  bool readable = false;
  bool writable = false;
  bool finished = false;
};

namespace {

// epoll data of the wake eventfd; probe ids are non-zero.
constexpr uint64_t kWakeId = 0;

void block_sigpipe_in_this_thread() {
  static thread_local bool blocked = false;
  if (blocked) return;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  blocked = true;
}

size_t raise_fd_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 256;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  const rlim_t usable = limit.rlim_cur == RLIM_INFINITY ? 1 << 20 : limit.rlim_cur;
  return static_cast<size_t>(usable) / 4 * 3;
}

std::string connect_error(int err) {
  switch (err) {
    case ECONNREFUSED:
      return "connect refused";
    case ENETUNREACH:
      return "network unreachable";
    case EHOSTUNREACH:
      return "host unreachable";
    case ETIMEDOUT:
      return "connect timed out";
    default:
      return std::string("connect failed: ") + std::strerror(err);
  }
}

socklen_t to_sockaddr(const engine::IpAddress& address, uint16_t port, sockaddr_storage& out) {
  std::memset(&out, 0, sizeof(out));
  if (address.is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&out);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    std::memcpy(&sin->sin_addr, address.bytes.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  std::memcpy(&sin6->sin6_addr, address.bytes.data(), 16);
  return sizeof(sockaddr_in6);
}

}  // namespace

SocketProber::SocketProber() : capacity_(raise_fd_limit()) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    const int err = errno;
    close(epoll_fd_);
    throw std::system_error(err, std::generic_category(), "eventfd");
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeId;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
}

SocketProber::~SocketProber() {
  for (auto& [id, p] : probes_) {
    if (p->ssl) SSL_free(p->ssl);
    close(p->fd);
  }
  close(wake_fd_);
  close(epoll_fd_);
}

void SocketProber::start(uint64_t probe_id, const HealthTarget& target) {
  block_sigpipe_in_this_thread();
  auto owned = std::make_unique<Probe>();
  Probe& p = *owned;
  p.id = probe_id;
  p.config = target.config;
  p.server_name = target.config.http_host;
  if (target.config.type == engine::HealthCheckType::kHttps) {
    p.backend = target_name(target) + "/" + p.server_name;
  }
  if (target.config.type != engine::HealthCheckType::kTcp) p.request = http_request(target);

  sockaddr_storage addr;
  const socklen_t addr_len = to_sockaddr(target.address, target.port, addr);
  p.fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (p.fd < 0) {
    ready_.emplace_back(probe_id,
                        ProbeResult{false, std::string("socket: ") + std::strerror(errno)});
    return;
  }
  // Close with RST: see the header.
  const linger no_linger{1, 0};
  setsockopt(p.fd, SOL_SOCKET, SO_LINGER, &no_linger, sizeof(no_linger));
  probes_.emplace(probe_id, std::move(owned));

  const int r = connect(p.fd, reinterpret_cast<const sockaddr*>(&addr), addr_len);
  if (r != 0 && errno != EINPROGRESS) {
    complete(p, {false, connect_error(errno)});
  } else {
    // Registered once, edge-triggered, for everything a probe waits on: no
    // epoll_ctl between phases (a syscall less per check, which on this VM
    // is a few microseconds; perf/health_bench.cc). Only after connect():
    // an unconnected socket reports HUP.
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = probe_id;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, p.fd, &ev) != 0) {
      complete(p, {false, std::string("epoll_ctl: ") + std::strerror(errno)});
    } else if (r == 0) {
      p.writable = true;
      connected(p);
    }
  }
  if (p.finished) release(p);
}

void SocketProber::cancel(uint64_t probe_id) {
  auto it = probes_.find(probe_id);
  if (it != probes_.end()) release(*it->second);
}

void SocketProber::poll(int timeout_ms, const Done& done) {
  block_sigpipe_in_this_thread();
  if (!ready_.empty()) timeout_ms = 0;
  constexpr int kBatch = 512;
  epoll_event events[kBatch];
  // A full batch means more may be ready: take a few more without waiting,
  // so that results are not left for after their deadlines.
  for (int round = 0; round < 8; ++round, timeout_ms = 0) {
    const int n = epoll_wait(epoll_fd_, events, kBatch, timeout_ms);
    handle_events(events, n);
    if (n < kBatch) break;
  }
  std::vector<std::pair<uint64_t, ProbeResult>> ready;
  ready.swap(ready_);
  for (auto& [id, result] : ready) done(id, std::move(result));
}

void SocketProber::handle_events(const epoll_event* events, int n) {
  for (int i = 0; i < n; ++i) {
    const uint64_t id = events[i].data.u64;
    if (id == kWakeId) {
      uint64_t count;
      while (read(wake_fd_, &count, sizeof(count)) > 0) {
      }
      continue;
    }
    auto it = probes_.find(id);
    if (it == probes_.end()) continue;  // cancelled
    Probe& p = *it->second;
    handle(p, events[i].events);
    if (p.finished) release(p);
  }
}

void SocketProber::wake() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
}

void SocketProber::handle(Probe& p, uint32_t events) {
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) p.readable = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) p.writable = true;
  switch (p.phase) {
    case Phase::kConnecting:
      if (events & (EPOLLERR | EPOLLHUP)) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        return complete(p, {false, err ? connect_error(err) : "connect failed"});
      }
      if (p.writable) connected(p);
      return;
    case Phase::kTlsHandshake:
      return handshake(p);
    case Phase::kSending:
      if (p.writable) send_request(p);
      return;
    case Phase::kReceiving:
      if (p.readable) receive(p);
      return;
  }
}

void SocketProber::connected(Probe& p) {
  switch (p.config.type) {
    case engine::HealthCheckType::kHttp:
      p.phase = Phase::kSending;
      return send_request(p);
    case engine::HealthCheckType::kHttps:
      if (!tls_) tls_ = std::make_unique<TlsClient>();
      p.ssl = tls_->new_session(p.fd, p.server_name, p.backend);
      if (!p.ssl) {
        return complete(p, {false, "tls setup failed: " + tls_error_reason("no session")});
      }
      p.phase = Phase::kTlsHandshake;
      return handshake(p);
    default:
      return complete(p, {true, "ok"});  // TCP: established is all it asks
  }
}

void SocketProber::handshake(Probe& p) {
  const int r = SSL_connect(p.ssl);
  if (r == 1) {
    ++tls_handshakes_;
    if (SSL_session_reused(p.ssl)) ++tls_resumed_;
    p.phase = Phase::kSending;
    return send_request(p);
  }
  switch (SSL_get_error(p.ssl, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      return;  // OpenSSL stopped at EAGAIN: the next edge resumes it
    default:
      return complete(p, {false, "tls handshake failed: " +
                                     tls_error_reason("connection closed during the handshake")});
  }
}

void SocketProber::send_request(Probe& p) {
  while (p.sent < p.request.size()) {
    const char* data = p.request.data() + p.sent;
    const size_t left = p.request.size() - p.sent;
    if (p.ssl) {
      const int n = SSL_write(p.ssl, data, static_cast<int>(left));
      if (n > 0) {
        p.sent += static_cast<size_t>(n);
        continue;
      }
      switch (SSL_get_error(p.ssl, n)) {
        case SSL_ERROR_WANT_READ:
        case SSL_ERROR_WANT_WRITE:
          return;
        default:
          return complete(p, {false, "send failed: " + tls_error_reason("tls error")});
      }
    }
    const ssize_t n = send(p.fd, data, left, MSG_NOSIGNAL);
    if (n > 0) {
      p.sent += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      p.writable = false;
      return;
    } else {
      return complete(p, {false, std::string("send failed: ") + std::strerror(errno)});
    }
  }
  p.phase = Phase::kReceiving;
  // The edge for an answer that came already (a server that speaks first)
  // was reported while sending.
  if (p.readable) receive(p);
}

void SocketProber::receive(Probe& p) {
  char buf[1024];
  for (;;) {
    // Never read past what judging the status line needs.
    const size_t room = std::min(sizeof(buf), kMaxStatusLineBytes - p.received.size());
    bool eof = false;
    if (p.ssl) {
      const int n = SSL_read(p.ssl, buf, static_cast<int>(room));
      if (n > 0) {
        p.received.append(buf, static_cast<size_t>(n));
      } else {
        switch (SSL_get_error(p.ssl, n)) {
          case SSL_ERROR_WANT_READ:
          case SSL_ERROR_WANT_WRITE:
            p.readable = false;
            return;
          case SSL_ERROR_ZERO_RETURN:
            eof = true;
            break;
          default:
            return complete(p, {false, "receive failed: " + tls_error_reason("connection reset")});
        }
      }
    } else {
      const ssize_t n = recv(p.fd, buf, room, 0);
      if (n > 0) {
        p.received.append(buf, static_cast<size_t>(n));
      } else if (n == 0) {
        eof = true;
      } else if (errno == EINTR) {
        continue;
      } else if (errno == EAGAIN) {
        p.readable = false;
        return;
      } else {
        return complete(p, {false, std::string("receive failed: ") + std::strerror(errno)});
      }
    }
    if (auto result = judge_http_response(p.received, eof, p.config)) {
      return complete(p, std::move(*result));
    }
  }
}

void SocketProber::complete(Probe& p, ProbeResult result) {
  ready_.emplace_back(p.id, std::move(result));
  p.finished = true;
}

void SocketProber::release(Probe& p) {
  const uint64_t id = p.id;
  if (p.ssl) {
    // Closed without close_notify (the socket is reset): tell OpenSSL the
    // shutdown was fine, or it drops the session from resumption.
    SSL_set_shutdown(p.ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(p.ssl);
  }
  if (p.fd >= 0) close(p.fd);  // also leaves the epoll set
  probes_.erase(id);           // destroys p
}

}  // namespace sluice::control::health
