// SPDX-License-Identifier: Apache-2.0
#include "tools/sluicectl/rpc.h"

#include <string>

namespace sluice::sluicectl {
namespace {

const char* code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

}  // namespace

std::string Connection::describe() const {
  if (address.empty()) return socket_path;
  return address + (insecure ? " (insecure)" : " (TLS)");
}

v1::Control::Stub& Context::stub() {
  if (!stub_) {
    const Connection& c = connection_;
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    if (c.address.empty() || c.insecure) {
      credentials = grpc::InsecureChannelCredentials();
    } else {
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = c.tls_ca;
      ssl.pem_cert_chain = c.tls_cert;
      ssl.pem_private_key = c.tls_key;
      credentials = grpc::SslCredentials(ssl);
    }
    stub_ = v1::Control::NewStub(grpc::CreateChannel(
        c.address.empty() ? "unix:" + c.socket_path : c.address, credentials));
  }
  return *stub_;
}

void set_deadline(grpc::ClientContext& context, std::chrono::milliseconds extra) {
  context.set_deadline(std::chrono::system_clock::now() + kCallTimeout + extra);
}

int report_rpc_error(Context& ctx, const grpc::Status& status, const grpc::ClientContext& context) {
  // sluiced names the revision in every answer to a change; a transport
  // failure (no sluiced, wrong socket, TLS) carries no trailer. So an
  // UNAVAILABLE with the revision is sluiced's own answer: saved, but its
  // dataplane cannot take it now (a fault).
  const auto& trailers = context.GetServerTrailingMetadata();
  const auto revision = trailers.find("sluice-revision");
  const bool answered = revision != trailers.end();
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE && !answered) {
    ctx.err() << "sluicectl: cannot reach sluiced at " << ctx.connection().describe() << ": "
              << status.error_message()
              << (ctx.connection().address.empty()
                      ? "\n(is sluiced running? the socket is set with --socket or SLUICECTL_SOCKET)\n"
                      : "\n(is sluiced listening there? over TLS, check --tls-ca, --tls-cert and "
                        "--tls-key)\n");
    return kExitFailed;
  }
  ctx.err() << "sluicectl: " << code_name(status.error_code()) << ": " << status.error_message()
            << "\n";
  // A wait that timed out, or a faulted dataplane, still saved the change:
  // say which revision it is.
  if ((status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
       status.error_code() == grpc::StatusCode::UNAVAILABLE) && answered) {
    ctx.err() << "sluicectl: the change is saved as revision "
              << std::string(revision->second.data(), revision->second.size())
              << "; run `sluicectl status` to see which workers have it\n";
  }
  return kExitFailed;
}

}  // namespace sluice::sluicectl
