// SPDX-License-Identifier: Apache-2.0
#include "control/api/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace sluice::control::api {
namespace {

std::string errno_text(int e) { return std::strerror(e); }

// Whether a process accepts connections on the unix socket at `path`:
// true, false (nobody: the file is stale), or nullopt with *error.
std::optional<bool> someone_listens(const std::string& path, std::string* error) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = "cannot create a unix socket: " + errno_text(errno);
    return std::nullopt;
  }
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
  const int connect_errno = errno;
  ::close(fd);
  if (rc == 0) return true;
  if (connect_errno == ECONNREFUSED) return false;
  *error = path + ": cannot tell whether another process listens on this socket: " +
           errno_text(connect_errno);
  return std::nullopt;
}

// Makes `path` free for a new socket. gRPC itself would unlink any socket
// file there, even one a running sluiced serves, silently taking its
// clients: hence the connect() probe first. (Two daemons starting at the
// very same moment can still race; the socket's directory is theirs alone.)
bool prepare_socket_path(const std::string& path, std::string* error) {
  if (path.empty()) {
    *error = "no unix socket path given";
    return false;
  }
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    *error = path + ": a unix socket path can have at most " +
             std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes";
    return false;
  }
  const size_t slash = path.rfind('/');
  const std::string directory =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  struct stat st {};
  if (::stat(directory.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    *error = path + ": the directory " + directory + " does not exist";
    return false;
  }
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return true;
    *error = path + ": " + errno_text(errno);
    return false;
  }
  if (!S_ISSOCK(st.st_mode)) {
    *error = path + " exists and is not a socket; not replacing it";
    return false;
  }
  const std::optional<bool> listening = someone_listens(path, error);
  if (!listening) return false;
  if (*listening) {
    *error = path + ": another process is listening on this socket (is sluiced already running?)";
    return false;
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    *error = path + ": cannot remove the stale socket: " + errno_text(errno);
    return false;
  }
  return true;
}

// The contents of a PEM file, checked for the kind of block it must hold
// ("CERTIFICATE", "PRIVATE KEY"), so that a wrong or empty file is named
// here rather than failing inside the TLS library.
std::optional<std::string> read_pem(const std::string& path, const std::string& what,
                                    const std::string& block, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = what + " " + path + ": cannot read: " + errno_text(errno);
    return std::nullopt;
  }
  std::stringstream contents;
  contents << in.rdbuf();
  std::string pem = contents.str();
  if (pem.find("-----BEGIN ") == std::string::npos ||
      pem.find(block + "-----") == std::string::npos) {
    *error = what + " " + path + ": no PEM " + block + " in it";
    return std::nullopt;
  }
  return pem;
}

// Server credentials that require and verify a client certificate.
std::shared_ptr<grpc::ServerCredentials> tls_credentials(const ServerOptions::TlsFiles& files,
                                                         std::string* error) {
  const auto cert = read_pem(files.cert_path, "TLS certificate", "CERTIFICATE", error);
  if (!cert) return nullptr;
  const auto key = read_pem(files.key_path, "TLS key", "PRIVATE KEY", error);
  if (!key) return nullptr;
  const auto ca = read_pem(files.client_ca_path, "TLS client CA", "CERTIFICATE", error);
  if (!ca) return nullptr;
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = *ca;
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

std::unique_ptr<grpc::Server> start_control_server(ControlServiceImpl& service,
                                                   const ServerOptions& options,
                                                   std::string* error, int* tcp_port) {
  if (tcp_port) *tcp_port = 0;
  // TLS files first: a bad one must not cost the previous socket file.
  std::shared_ptr<grpc::ServerCredentials> tcp_credentials;
  if (options.tcp) {
    if (options.tcp->address.empty()) {
      *error = "no TCP listen address given";
      return nullptr;
    }
    tcp_credentials = options.tcp->tls ? tls_credentials(*options.tcp->tls, error)
                                       : grpc::InsecureServerCredentials();
    if (!tcp_credentials) return nullptr;
  }
  const std::string& path = options.unix_socket_path;
  // The relay of an earlier server of this service that was shut down
  // gives the path up; one whose server still serves keeps it (and the
  // check below refuses the path as taken).
  if (service.unix_peer_relay() && !service.unix_peer_relay()->serving()) {
    service.set_unix_peer_relay(nullptr);
  }
  if (!prepare_socket_path(path, error)) return nullptr;
  // gRPC listens in the relay's private directory; the relay, on `path`,
  // names each caller by SO_PEERCRED (unix_peer_relay.h says why).
  std::unique_ptr<UnixPeerRelay> relay = UnixPeerRelay::create(path, error);
  if (!relay) return nullptr;

  // Both are process-wide switches read when a server is built.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(kMaxRequestBytes);
  builder.AddListeningPort(relay->grpc_target(), grpc::InsecureServerCredentials());
  int selected_port = 0;
  if (options.tcp) builder.AddListeningPort(options.tcp->address, tcp_credentials, &selected_port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) {
    // gRPC logs the cause itself (to stderr); it does not return it.
    *error = "cannot listen on unix:" + path +
             (options.tcp ? " and " + options.tcp->address : std::string()) +
             " (gRPC's message above says why)";
    return nullptr;
  }
  if (options.tcp && selected_port == 0) {
    *error = "cannot listen on " + options.tcp->address + " (gRPC's message above says why)";
    server->Shutdown();
    return nullptr;
  }
  if (tcp_port) *tcp_port = selected_port;
  if (!service.set_unix_peer_relay(std::move(relay))->start(error)) {
    service.set_unix_peer_relay(nullptr);
    server->Shutdown();
    return nullptr;
  }
  if (::chmod(path.c_str(), options.unix_socket_mode) != 0) {
    *error = path + ": cannot set the socket's mode: " + errno_text(errno);
    service.set_unix_peer_relay(nullptr);
    server->Shutdown();
    return nullptr;
  }
  set_serving(*server, true);
  return server;
}

void set_serving(grpc::Server& server, bool serving) {
  if (grpc::HealthCheckServiceInterface* health = server.GetHealthCheckService()) {
    health->SetServingStatus("", serving);
    health->SetServingStatus(v1::Control::service_full_name(), serving);
  }
}

}  // namespace sluice::control::api
