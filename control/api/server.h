// SPDX-License-Identifier: Apache-2.0
// The gRPC server of sluiced: the Control service, grpc.health.v1.Health
// and server reflection, on a unix socket and optionally one TCP listener.
//
// Access control on the unix socket is the file mode: 0660, so root and the
// socket's group (sluiced's group) may connect, and everyone who may
// connect may change the configuration. The TCP listener uses TLS and
// requires a client certificate signed by the client CA; what each
// certificate may do is the service's AccessPolicy (access_policy.h).
// Without TLS (--insecure) anyone who can reach the port is an operator.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

#include "control/api/control_service.h"

namespace sluice::control::api {

// The largest request gRPC accepts (it answers RESOURCE_EXHAUSTED above,
// before sluiced reads a byte of it): 2 MiB. The largest service the
// engine accepts (8 pools of 4096 backends and 4096 rules) encodes to about
// 1 MB; gRPC's default would be 4 MiB.
inline constexpr int kMaxRequestBytes = 2 * 1024 * 1024;

struct ServerOptions {
  // The unix socket to listen on, e.g. "/run/sluice/sluiced.sock". Its
  // directory must exist. A socket file left there by a process that died
  // is replaced; one that something still listens on is an error.
  std::string unix_socket_path;
  // The socket's mode once listening (the umask applies until then, so put
  // the socket in a directory only sluiced's users can enter).
  mode_t unix_socket_mode = 0660;

  // PEM files of a TLS listener.
  struct TlsFiles {
    std::string cert_path;       // the server's certificate (chain)
    std::string key_path;        // its private key
    std::string client_ca_path;  // CA(s) that sign client certificates
  };
  struct TcpListener {
    // "127.0.0.1:7443", "[::1]:7443", "0.0.0.0:7443"; port 0 picks a free one.
    std::string address;
    // nullopt: plain TCP, no TLS (only for --insecure).
    std::optional<TlsFiles> tls;
  };
  std::optional<TcpListener> tcp;
};

// Starts serving `service` (which must outlive the server) on every
// listener of `options`. Returns nullptr with *error saying why (path too
// long, directory missing, another process listening, a TLS file missing
// or not PEM, bind or chmod failed). The health status of "" and
// "sluice.v1.Control" is SERVING. *tcp_port (if given) receives the TCP
// listener's port (0 without one). Stop it with Shutdown(); the socket
// file stays (the next start replaces it).
std::unique_ptr<grpc::Server> start_control_server(ControlServiceImpl& service,
                                                   const ServerOptions& options,
                                                   std::string* error, int* tcp_port = nullptr);

// Sets the grpc.health.v1 status of "" and "sluice.v1.Control" (SERVING
// when `serving`, else NOT_SERVING). sluiced calls it whenever the
// Reconciler (control/core/reconciler.h) changes its mind: NOT_SERVING
// means the dataplane has a fault or has not applied the desired revision
// past the grace, so that a load balancer or orchestrator in front stops
// trusting this instance. The API keeps answering either way. Any thread.
void set_serving(grpc::Server& server, bool serving);

}  // namespace sluice::control::api
