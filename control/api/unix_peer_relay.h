// SPDX-License-Identifier: Apache-2.0
// Who calls on the unix socket: uid and pid from SO_PEERCRED.
//
// gRPC 1.51 (Debian 12) never shows a call's file descriptor: context.peer()
// of a unix-socket call is just "unix:" (the client's socket is unbound),
// the auth context says only "insecure", and an AuthMetadataProcessor or an
// ExternalConnectionAcceptor sees no more (the acceptor takes the fd, but
// names the connection by getpeername(), which is the same empty name).
// So sluiced accepts on the public socket itself, reads SO_PEERCRED, and
// relays the bytes to gRPC's real listener over a second connection whose
// own socket it binds, first, to a name that carries the credentials:
//
//   client --> PUBLIC socket --[relay: SO_PEERCRED]--> DIR/u1000p4242n7 --> DIR/grpc
//
// gRPC reports that connection's peer as "unix:DIR/u1000p4242n7", and the
// service turns it into "unix:uid=1000,pid=4242" (peer_from_relay_name).
// DIR is a directory of mode 0700 made at start, so only sluiced can bind
// a name in it or connect to gRPC's listener there: a name under DIR
// cannot be forged. The bound name is unlinked at once (the peer name
// stays with the socket), and DIR is removed at stop; one left by a
// sluiced killed with -9 (nothing listening in it) goes at the next start.
//
// The pid is the one that connected (a client that passes its socket on
// keeps the name of the process that opened it). One thread per relayed
// connection, at most kMaxConnections at once (a further one is closed at
// accept): control calls are few and small. The relay adds a copy of each
// byte in each direction, which the control plane's traffic does not feel.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace sluice::control::api {

class UnixPeerRelay {
 public:
  static constexpr size_t kMaxConnections = 64;

  // Makes DIR (a fresh directory beside `public_path`) for gRPC's listener;
  // nullptr with *error when it cannot.
  static std::unique_ptr<UnixPeerRelay> create(const std::string& public_path,
                                               std::string* error);
  ~UnixPeerRelay();  // stop()s

  // Where gRPC must listen: "unix:DIR/grpc".
  std::string grpc_target() const { return "unix:" + dir_ + "/grpc"; }
  // The peer gRPC reports for a relayed connection begins with this.
  std::string peer_prefix() const { return "unix:" + dir_ + "/u"; }

  // Listens on the public path (which must be free) and relays. Call once
  // gRPC listens on grpc_target().
  bool start(std::string* error);
  // Stops accepting, closes every relayed connection, removes DIR.
  void stop();
  // Whether gRPC still listens behind the relay (false once its server
  // was shut down).
  bool serving() const;

 private:
  UnixPeerRelay(std::string public_path, std::string dir)
      : public_path_(std::move(public_path)), dir_(std::move(dir)) {}
  void accept_loop();
  void relay(int client, ucred credentials, uint64_t serial);

  const std::string public_path_;
  const std::string dir_;
  int listener_ = -1;
  int wake_[2] = {-1, -1};  // a pipe: stop() writes, the threads wake
  std::thread acceptor_;
  std::mutex mutex_;
  std::condition_variable drained_;  // active_ fell
  size_t active_ = 0;                // relaying threads (detached), under mutex_
  bool stopped_ = false;             // under mutex_
};

// "uid=1000,pid=4242" for a gRPC peer "PREFIX1000p4242n7" under `prefix`
// (UnixPeerRelay::peer_prefix()); nullopt for any other peer.
std::optional<std::string> peer_from_relay_name(const std::string& peer,
                                                const std::string& prefix);

}  // namespace sluice::control::api
