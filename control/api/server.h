// SPDX-License-Identifier: Apache-2.0
// The gRPC server of sluiced: the Control service, grpc.health.v1.Health
// and server reflection, on a unix socket.
//
// Access control on the unix socket is the file mode: 0660, so root and the
// socket's group (sluiced's group) may connect, and everyone who may
// connect may change the configuration. TCP listeners with TLS and
// per-identity roles are later work: they will be more fields of
// ServerOptions (a list of listeners, each with its credentials), leaving
// the unix socket as it is.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <memory>
#include <string>

#include "control/api/control_service.h"

namespace sluice::control::api {

struct ServerOptions {
  // The unix socket to listen on, e.g. "/run/sluice/sluiced.sock". Its
  // directory must exist. A socket file left there by a process that died
  // is replaced; one that something still listens on is an error.
  std::string unix_socket_path;
  // The socket's mode once listening (the umask applies until then, so put
  // the socket in a directory only sluiced's users can enter).
  mode_t unix_socket_mode = 0660;
};

// Starts serving `service` (which must outlive the server) on every
// listener of `options`. Returns nullptr with *error saying why (path too
// long, directory missing, another process listening, bind or chmod
// failed). The health status of "" and "sluice.v1.Control" is SERVING.
// Stop it with Shutdown(); the socket file stays (the next start replaces it).
std::unique_ptr<grpc::Server> start_control_server(ControlServiceImpl& service,
                                                   const ServerOptions& options,
                                                   std::string* error);

}  // namespace sluice::control::api
