// SPDX-License-Identifier: Apache-2.0
// The gRPC service sluice.v1.Control (proto/sluice/v1/control.proto) over
// a ControlCore: this layer only translates. It maps requests onto engine
// types with control/config/service_mapping.h (so a bad field is refused
// here, by its path, before the core sees the call), builds the Caller and
// MutationOptions, and maps CallError codes onto gRPC status codes.
//
// Every call is first given a role by the AccessPolicy (access_policy.h):
// a caller without one is refused before its request is looked at, and so
// is a read-only caller's change (PERMISSION_DENIED; the core, which gets
// may_mutate false, would refuse it too). Then every string of the request
// is held to its size limit (field_limits.h), before anything echoes it.
// A change this layer refuses itself (no role, read-only, an oversized or
// unmappable request) is audited through ControlCore::audit_refusal.
// Messages that quote what the caller sent are made printable
// (control/state/audit_text.h): no raw control character goes back out.
//
// WatchEvents holds one server thread per stream. It reads its
// subscription with a short timeout so that a client going away ends it
// promptly, and ends (OK) when the core's event hub closes at shutdown.
#pragma once

#include <grpcpp/grpcpp.h>

#include "control/api/access_policy.h"
#include "control/api/control_core.h"
#include "control/api/unix_peer_relay.h"
#include "sluice/v1/control.grpc.pb.h"

namespace sluice::control::api {

// Trailing metadata of a failed mutation: the revision current after it.
inline constexpr char kRevisionMetadataKey[] = "sluice-revision";
// Initial metadata of WatchEvents: the sequence number of the first live
// event. Once a client has it, the stream is subscribed: nothing that
// happens afterwards is missed.
inline constexpr char kNextSequenceMetadataKey[] = "sluice-next-sequence";

class ControlServiceImpl final : public v1::Control::Service {
 public:
  // The default policy: unix-socket callers are operators, every other
  // caller is refused (no TLS identities, no insecure TCP).
  explicit ControlServiceImpl(ControlCore& core, AccessPolicy policy = {})
      : core_(core), policy_(std::move(policy)) {}

  // The relay that names unix-socket callers (unix_peer_relay.h); it lives
  // as long as this service, or until replaced (nullptr stops it). Set by
  // start_control_server before the first call.
  UnixPeerRelay* set_unix_peer_relay(std::unique_ptr<UnixPeerRelay> relay) {
    relay_ = std::move(relay);
    relay_prefix_ = relay_ ? relay_->peer_prefix() : std::string();
    return relay_.get();
  }
  UnixPeerRelay* unix_peer_relay() const { return relay_.get(); }

  // v1::Control::Service
  grpc::Status ApplyService(grpc::ServerContext* context, const v1::ApplyServiceRequest* request,
                            v1::MutationResponse* response) override;
  grpc::Status DeleteService(grpc::ServerContext* context,
                             const v1::DeleteServiceRequest* request,
                             v1::MutationResponse* response) override;
  grpc::Status GetService(grpc::ServerContext* context, const v1::GetServiceRequest* request,
                          v1::GetServiceResponse* response) override;
  grpc::Status ListServices(grpc::ServerContext* context, const v1::ListServicesRequest* request,
                            v1::ListServicesResponse* response) override;
  grpc::Status SetWeights(grpc::ServerContext* context, const v1::SetWeightsRequest* request,
                          v1::MutationResponse* response) override;
  grpc::Status SetBackendState(grpc::ServerContext* context,
                               const v1::SetBackendStateRequest* request,
                               v1::MutationResponse* response) override;
  grpc::Status GetStatus(grpc::ServerContext* context, const v1::GetStatusRequest* request,
                         v1::GetStatusResponse* response) override;
  grpc::Status ExplainFlow(grpc::ServerContext* context, const v1::ExplainFlowRequest* request,
                           v1::ExplainFlowResponse* response) override;
  grpc::Status GetStats(grpc::ServerContext* context, const v1::GetStatsRequest* request,
                        v1::GetStatsResponse* response) override;
  grpc::Status GetDrainStatus(grpc::ServerContext* context,
                              const v1::GetDrainStatusRequest* request,
                              v1::DrainStatus* response) override;
  grpc::Status WatchEvents(grpc::ServerContext* context, const v1::WatchEventsRequest* request,
                           grpc::ServerWriter<v1::Event>* writer) override;

 private:
  // Fills *caller (audit peer, may_mutate); a status other than OK refuses
  // the call (caller->peer still names the peer then).
  grpc::Status identify(const grpc::ServerContext& context, Caller* caller) const;
  // For a read: identify, then the size limits of field_limits.h.
  grpc::Status admit_read(const grpc::ServerContext& context,
                          const google::protobuf::Message& request, Caller* caller) const;
  // For a change: identify, authorise (a read-only caller is refused
  // before its request is looked at), then the size limits; a refusal is
  // audited (bounded: file_audit_log.h) and returned.
  grpc::Status admit_change(const grpc::ServerContext& context,
                            const google::protobuf::Message& request, const char* method,
                            const std::string& service, bool dry_run, Caller* caller);
  // Audits a mutation refused by this layer; returns `status`.
  grpc::Status refuse(const Caller& caller, const char* method, const std::string& service,
                      bool dry_run, grpc::Status status);

  ControlCore& core_;
  const AccessPolicy policy_;
  std::unique_ptr<UnixPeerRelay> relay_;
  std::string relay_prefix_;
};

}  // namespace sluice::control::api
