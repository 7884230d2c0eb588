// SPDX-License-Identifier: Apache-2.0
#include "control/api/unix_peer_relay.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <cstdlib>

namespace sluice::control::api {
namespace {

// The longest bound name: "DIR/u" + uid + "p" + pid + "n" + serial.
constexpr size_t kNameRoom = 2 + 10 + 1 + 10 + 1 + 20;

bool fill_address(const std::string& path, sockaddr_un* address) {
  if (path.size() >= sizeof(address->sun_path)) return false;
  *address = sockaddr_un{};
  address->sun_family = AF_UNIX;
  std::memcpy(address->sun_path, path.data(), path.size());
  return true;
}

// Writes all of `data`; false when the other side is gone.
bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// Whether something accepts connections on the unix socket at `path`.
bool listening(const std::string& path) {
  sockaddr_un address;
  if (!fill_address(path, &address)) return false;
  const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) return true;  // cannot tell: assume it does
  const bool up =
      ::connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
  ::close(probe);
  return up;
}

// Relay directories left by a sluiced that was killed (-9) before its
// stop(): nothing listens in them any more. One that still serves belongs
// to a running sluiced (on another socket in the same directory): kept.
void remove_stale_directories(const std::string& parent) {
  DIR* d = ::opendir(parent.empty() ? "/" : parent.c_str());
  if (!d) return;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.rfind(".sluiced-", 0) != 0 || name.size() != 15) continue;
    const std::string dir = parent + "/" + name;
    if (listening(dir + "/grpc")) continue;
    ::unlink((dir + "/grpc").c_str());
    ::rmdir(dir.c_str());  // fails, harmlessly, if anything else is in it
  }
  ::closedir(d);
}

}  // namespace

std::unique_ptr<UnixPeerRelay> UnixPeerRelay::create(const std::string& public_path,
                                                     std::string* error) {
  const size_t slash = public_path.rfind('/');
  const std::string parent =
      slash == std::string::npos ? "." : (slash == 0 ? "" : public_path.substr(0, slash));
  std::string pattern = parent + "/.sluiced-XXXXXX";
  if (pattern.size() + kNameRoom >= sizeof(sockaddr_un::sun_path)) {
    *error = public_path + ": the socket's directory is too long a path for the peer relay's "
             "sockets (" + std::to_string(sizeof(sockaddr_un::sun_path) - 1 - kNameRoom - 16) +
             " bytes at most)";
    return nullptr;
  }
  remove_stale_directories(parent);
  // mkdtemp makes it 0700: nobody but sluiced's user enters it.
  if (::mkdtemp(pattern.data()) == nullptr) {
    *error = pattern + ": cannot make the peer relay's directory: " + std::strerror(errno);
    return nullptr;
  }
  return std::unique_ptr<UnixPeerRelay>(new UnixPeerRelay(public_path, pattern));
}

UnixPeerRelay::~UnixPeerRelay() {
  stop();
  ::unlink((dir_ + "/grpc").c_str());
  ::rmdir(dir_.c_str());
}

bool UnixPeerRelay::start(std::string* error) {
  sockaddr_un address;
  if (!fill_address(public_path_, &address)) {
    *error = public_path_ + ": too long for a unix socket";
    return false;
  }
  // Non-blocking: a caller that leaves between poll() and accept() must not
  // leave the acceptor blocked in accept(), where stop() cannot wake it.
  listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listener_ < 0 || ::pipe2(wake_, O_CLOEXEC) != 0 ||
      ::bind(listener_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(listener_, 128) != 0) {
    *error = "cannot listen on unix:" + public_path_ + ": " + std::strerror(errno);
    return false;
  }
  acceptor_ = std::thread([this] { accept_loop(); });
  return true;
}

void UnixPeerRelay::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopped_ || listener_ < 0) return;
    stopped_ = true;
  }
  // One byte that nobody reads: the pipe stays readable for every poll().
  const char byte = 0;
  if (::write(wake_[1], &byte, 1) != 1) {
    // A pipe just made cannot be full; nothing else to do.
  }
  if (acceptor_.joinable()) acceptor_.join();
  std::unique_lock lock(mutex_);
  drained_.wait(lock, [this] { return active_ == 0; });
  ::close(listener_);
  ::close(wake_[0]);
  ::close(wake_[1]);
  listener_ = -1;
}

bool UnixPeerRelay::serving() const { return listening(dir_ + "/grpc"); }

void UnixPeerRelay::accept_loop() {
  uint64_t serial = 0;
  for (;;) {
    pollfd fds[2] = {{listener_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    // The accepted socket blocks (accept4 does not pass O_NONBLOCK on).
    const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      // The caller left already (EAGAIN), or no fd is free (EMFILE): the
      // latter stays readable, so pause rather than spin.
      if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) ::usleep(100000);
      continue;
    }
    ucred credentials{};
    socklen_t length = sizeof(credentials);
    std::lock_guard lock(mutex_);
    if (::getsockopt(client, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0 ||
        active_ >= kMaxConnections) {
      ::close(client);
      continue;
    }
    ++active_;
    std::thread([this, client, credentials, n = serial++] { relay(client, credentials, n); })
        .detach();
  }
}

void UnixPeerRelay::relay(int client, ucred credentials, uint64_t serial) {
  const std::string name = dir_ + "/u" + std::to_string(credentials.uid) + "p" +
                           std::to_string(credentials.pid) + "n" + std::to_string(serial);
  sockaddr_un local;
  sockaddr_un grpc;
  const int upstream = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool ok = upstream >= 0 && fill_address(name, &local) && fill_address(dir_ + "/grpc", &grpc) &&
            ::bind(upstream, reinterpret_cast<const sockaddr*>(&local), sizeof(local)) == 0;
  if (ok) {
    // The name stays the socket's (getpeername() on gRPC's side reads it
    // from the socket, not from the file system): no file left behind.
    ok = ::connect(upstream, reinterpret_cast<const sockaddr*>(&grpc), sizeof(grpc)) == 0;
    ::unlink(name.c_str());
  }
  // A side that stops reading must not hold this thread (and stop()) for
  // ever: a send that waits this long ends the connection.
  const timeval send_timeout{5, 0};
  for (int fd : {client, upstream}) {
    if (fd >= 0) ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout));
  }
  char buffer[16384];
  while (ok) {
    pollfd fds[3] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) {
      ok = errno == EINTR;
      continue;
    }
    if (fds[2].revents) break;
    for (int i = 0; i < 2 && ok; ++i) {
      if (!fds[i].revents) continue;
      const ssize_t n = ::recv(fds[i].fd, buffer, sizeof(buffer), 0);
      // Either side closing (or failing) ends the connection for both.
      ok = (n > 0 && write_all(fds[1 - i].fd, buffer, static_cast<size_t>(n))) ||
           (n < 0 && errno == EINTR);
    }
  }
  ::close(client);
  if (upstream >= 0) ::close(upstream);
  std::lock_guard lock(mutex_);
  --active_;
  drained_.notify_all();
}

std::optional<std::string> peer_from_relay_name(const std::string& peer,
                                                const std::string& prefix) {
  if (prefix.empty() || peer.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  const char* text = peer.c_str() + prefix.size();
  char* end = nullptr;
  errno = 0;
  const unsigned long uid = std::strtoul(text, &end, 10);
  if (end == text || *end != 'p' || errno) return std::nullopt;
  text = end + 1;
  const unsigned long pid = std::strtoul(text, &end, 10);
  if (end == text || *end != 'n' || errno) return std::nullopt;
  return "uid=" + std::to_string(uid) + ",pid=" + std::to_string(pid);
}

}  // namespace sluice::control::api
