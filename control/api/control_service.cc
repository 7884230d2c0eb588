// SPDX-License-Identifier: Apache-2.0
#include "control/api/control_service.h"

#include <grpc/grpc_security_constants.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "control/api/event_messages.h"
#include "control/api/field_limits.h"
#include "control/api/mutation_options.h"
#include "control/api/stats_messages.h"
#include "control/api/status_codes.h"
#include "control/config/service_mapping.h"
#include "control/state/audit_text.h"
#include "dataplane/engine/pool_split.h"

namespace sluice::control::api {
namespace {

using engine::ConfigError;

grpc::Status invalid(const std::vector<ConfigError>& errors) {
  // The same form as the core's own validation errors ("; " between them).
  // Printable: validation quotes what the caller sent (audit_text.h).
  std::string message;
  for (const ConfigError& e : errors) message += (message.empty() ? "" : "; ") + e.to_string();
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, printable(message));
}

grpc::Status invalid(const std::string& field, const std::string& message) {
  return invalid({{field, message}});
}

// Raw: every status built from it goes through printable() once
// (invalid(), not_found()), so that nothing is escaped twice.
std::string quoted(const std::string& text) { return "\"" + text + "\""; }

// Whether `text` can be a service name (the engine's rule, checked here so
// that a malformed filter is INVALID_ARGUMENT rather than NOT_FOUND).
bool is_name(const std::string& text) {
  constexpr size_t kMaxNameLength = 63;
  if (text.empty() || text.size() > kMaxNameLength) return false;
  for (char c : text) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// The mapping names fields from a list ("services[0].port"); a request
// holds one service, in its field `service`.
std::string request_field(const std::string& field) {
  constexpr std::string_view kListPrefix = "services[0]";
  if (field.compare(0, kListPrefix.size(), kListPrefix) != 0) return field;
  return "service" + field.substr(kListPrefix.size());
}

std::optional<std::chrono::steady_clock::time_point> call_deadline(
    const grpc::ServerContext& context, std::chrono::steady_clock::time_point now) {
  const auto deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return std::nullopt;
  // The deadline comes on the wall clock; waits run on the steady clock.
  return now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                   deadline - std::chrono::system_clock::now());
}

template <typename Request>
MutationOptions options_of(const grpc::ServerContext& context, const Request& request) {
  const auto now = std::chrono::steady_clock::now();
  return to_mutation_options(request_options(request), call_deadline(context, now), now);
}

grpc::Status answer(grpc::ServerContext* context, const MutationResult& result,
                    v1::MutationResponse* response) {
  if (result.error) {
    context->AddTrailingMetadata(kRevisionMetadataKey, std::to_string(result.revision));
    return to_grpc_status(*result.error);
  }
  response->set_revision(result.revision);
  response->set_applied(result.applied);
  return grpc::Status::OK;
}

std::optional<engine::IpAddress> parse_address(const std::string& text, const std::string& field,
                                               std::vector<ConfigError>& errors) {
  if (text.empty()) {
    errors.push_back({field, "must be set"});
    return std::nullopt;
  }
  auto address = engine::IpAddress::parse(text);
  if (!address) errors.push_back({field, quoted(text) + " is not an IPv4 or IPv6 address"});
  return address;
}

std::optional<engine::BackendState> parse_state(v1::BackendState state, const std::string& field,
                                                std::vector<ConfigError>& errors) {
  switch (state) {
    case v1::BACKEND_STATE_ACTIVE: return engine::BackendState::kActive;
    case v1::BACKEND_STATE_DRAINING: return engine::BackendState::kDraining;
    case v1::BACKEND_STATE_DISABLED: return engine::BackendState::kDisabled;
    case v1::BACKEND_STATE_UNSPECIFIED:
      errors.push_back({field, "must be set: BACKEND_STATE_ACTIVE, BACKEND_STATE_DRAINING or "
                               "BACKEND_STATE_DISABLED"});
      return std::nullopt;
    default:
      errors.push_back({field, "unknown value " + std::to_string(state)});
      return std::nullopt;
  }
}

}  // namespace

grpc::Status ControlServiceImpl::identify(const grpc::ServerContext& context,
                                          Caller* caller) const {
  const std::string address = context.peer();
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  // In-process channels have no security connector at all, hence no
  // transport security type: only code inside this process calls that way.
  if (!auth || auth->FindPropertyValues(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME).empty()) {
    caller->peer = caller->peer_key = "in-process";
    caller->may_mutate = true;
    return grpc::Status::OK;
  }
  const std::optional<PeerCertificate> certificate = peer_certificate(*auth);
  if (certificate) {
    // A certificate's subject is text its holder chose: bounded and
    // printable before it goes into a log, an event or a message.
    const std::string label = bounded(certificate->label(), kMaxAuditField);
    const Identity* matched = nullptr;
    const Role role = policy_.role_of(*certificate, &matched);
    if (role == Role::kNone) {
      caller->peer_key = "tls:" + label + " (no role)";
      caller->peer = caller->peer_key + " from " + address;
      caller->may_mutate = false;
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          "the client certificate " + label +
                              " is not named by any operator or read-only identity of sluiced");
    }
    caller->peer_key = "tls:" + printable(matched->label()) + " (" + role_name(role) + ")";
    caller->peer = caller->peer_key + " from " + address;
    caller->may_mutate = role == Role::kOperator;
    return grpc::Status::OK;
  }
  // Whoever can open the unix socket (mode 0660) is an operator. The relay
  // named the connection after the caller's SO_PEERCRED; the uid alone is
  // the identity the refusal limit counts by (every call has its own pid).
  if (address.rfind("unix:", 0) == 0) {
    if (std::optional<std::string> who = peer_from_relay_name(address, relay_prefix_)) {
      caller->peer = "unix:" + *who;
      caller->peer_key = caller->peer.substr(0, caller->peer.find(",pid="));
    } else {
      caller->peer = caller->peer_key = address;
    }
    caller->may_mutate = true;
    return grpc::Status::OK;
  }
  // "ipv4:10.0.0.1:40000": the host, without the port (which every
  // connection changes), is who calls.
  caller->peer_key = address.substr(0, address.rfind(':'));
  if (policy_.insecure_tcp_allowed) {
    caller->peer = address + " (insecure TCP)";
    caller->may_mutate = true;
    return grpc::Status::OK;
  }
  // Only a listener set up without TLS and without --insecure gets here.
  caller->peer = address + " (TCP without TLS)";
  caller->may_mutate = false;
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      "calls over TCP need TLS with a client certificate");
}

grpc::Status ControlServiceImpl::admit_read(const grpc::ServerContext& context,
                                            const google::protobuf::Message& request,
                                            Caller* caller) const {
  if (grpc::Status refused = identify(context, caller); !refused.ok()) return refused;
  if (std::vector<ConfigError> errors = oversized_fields(request); !errors.empty()) {
    return invalid(errors);
  }
  return grpc::Status::OK;
}

grpc::Status ControlServiceImpl::admit_change(const grpc::ServerContext& context,
                                              const google::protobuf::Message& request,
                                              const char* method, const std::string& service,
                                              bool dry_run, Caller* caller) {
  grpc::Status status = identify(context, caller);
  // Authorised first: a read-only caller hears PERMISSION_DENIED whatever
  // it sent, and the core's own check stays as a second line.
  if (status.ok() && !caller->may_mutate) {
    status = grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          caller->peer + " may not change the configuration");
  }
  if (status.ok()) {
    if (std::vector<ConfigError> errors = oversized_fields(request); !errors.empty()) {
      status = invalid(errors);
    }
  }
  return status.ok() ? status : refuse(*caller, method, service, dry_run, status);
}

grpc::Status ControlServiceImpl::refuse(const Caller& caller, const char* method,
                                        const std::string& service, bool dry_run,
                                        grpc::Status status) {
  core_.audit_refusal(caller, method, service, dry_run, status.error_message());
  return status;
}

grpc::Status ControlServiceImpl::ApplyService(grpc::ServerContext* context,
                                              const v1::ApplyServiceRequest* request,
                                              v1::MutationResponse* response) {
  constexpr char kMethod[] = "ApplyService";
  const std::string& name = request->service().name();
  Caller caller;
  if (grpc::Status refused =
          admit_change(*context, *request, kMethod, name, request->dry_run(), &caller);
      !refused.ok()) {
    return refused;
  }
  if (!request->has_service()) {
    return refuse(caller, kMethod, name, request->dry_run(), invalid("service", "must be set"));
  }
  // services_from_proto maps and validates the service on its own, with the
  // engine's checks; what spans services (listener clashes) the core checks.
  v1::ServiceList list;
  *list.add_services() = request->service();
  config::MappedServices mapped = config::services_from_proto(list);
  if (!mapped.errors.empty()) {
    for (ConfigError& e : mapped.errors) e.field = request_field(e.field);
    return refuse(caller, kMethod, name, request->dry_run(), invalid(mapped.errors));
  }
  return answer(context,
                core_.apply_service(caller, mapped.services.front(),
                                    options_of(*context, *request)),
                response);
}

grpc::Status ControlServiceImpl::DeleteService(grpc::ServerContext* context,
                                               const v1::DeleteServiceRequest* request,
                                               v1::MutationResponse* response) {
  constexpr char kMethod[] = "DeleteService";
  Caller caller;
  if (grpc::Status refused =
          admit_change(*context, *request, kMethod, request->name(), request->dry_run(), &caller);
      !refused.ok()) {
    return refused;
  }
  if (request->name().empty()) {
    return refuse(caller, kMethod, "", request->dry_run(), invalid("name", "must be set"));
  }
  return answer(context,
                core_.delete_service(caller, request->name(),
                                     options_of(*context, *request)),
                response);
}

grpc::Status ControlServiceImpl::GetService(grpc::ServerContext* context,
                                            const v1::GetServiceRequest* request,
                                            v1::GetServiceResponse* response) {
  Caller caller;
  if (grpc::Status refused = admit_read(*context, *request, &caller); !refused.ok()) {
    return refused;
  }
  if (request->name().empty()) return invalid("name", "must be set");
  uint64_t revision = 0;
  std::optional<engine::ServiceConfig> service = core_.get_service(request->name(), &revision);
  if (!service) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        printable("no service named " + quoted(request->name()) + " (revision " +
                                  std::to_string(revision) + ")"));
  }
  *response->mutable_service() = config::service_to_proto(*service);
  response->set_revision(revision);
  return grpc::Status::OK;
}

grpc::Status ControlServiceImpl::ListServices(grpc::ServerContext* context,
                                              const v1::ListServicesRequest* request,
                                              v1::ListServicesResponse* response) {
  Caller caller;
  if (grpc::Status refused = admit_read(*context, *request, &caller); !refused.ok()) {
    return refused;
  }
  uint64_t revision = 0;
  for (const engine::ServiceConfig& s : core_.list_services(&revision)) {
    *response->add_services() = config::service_to_proto(s);
  }
  response->set_revision(revision);
  return grpc::Status::OK;
}

grpc::Status ControlServiceImpl::SetWeights(grpc::ServerContext* context,
                                            const v1::SetWeightsRequest* request,
                                            v1::MutationResponse* response) {
  constexpr char kMethod[] = "SetWeights";
  Caller caller;
  if (grpc::Status refused = admit_change(*context, *request, kMethod, request->service(),
                                          request->dry_run(), &caller);
      !refused.ok()) {
    return refused;
  }
  std::vector<ConfigError> errors;
  if (request->service().empty()) errors.push_back({"service", "must be set"});
  if (request->weights().empty()) errors.push_back({"weights", "name at least one pool"});
  // Sorted, so that errors and the core's audit summary come in name order.
  const std::map<std::string, uint32_t> weights(request->weights().begin(),
                                                request->weights().end());
  for (const auto& [pool, weight] : weights) {
    const std::string field = "weights[" + quoted(pool) + "]";
    if (pool.empty()) errors.push_back({field, "a pool name must not be empty"});
    if (weight > SLUICE_MAX_POOL_WEIGHT) {
      errors.push_back({field, std::to_string(weight) + " is out of range 0.." +
                                   std::to_string(SLUICE_MAX_POOL_WEIGHT)});
    }
  }
  if (!errors.empty()) {
    return refuse(caller, kMethod, request->service(), request->dry_run(), invalid(errors));
  }
  return answer(context,
                core_.set_weights(caller, request->service(), weights,
                                  options_of(*context, *request)),
                response);
}

grpc::Status ControlServiceImpl::SetBackendState(grpc::ServerContext* context,
                                                 const v1::SetBackendStateRequest* request,
                                                 v1::MutationResponse* response) {
  constexpr char kMethod[] = "SetBackendState";
  Caller caller;
  if (grpc::Status refused = admit_change(*context, *request, kMethod, request->service(),
                                          request->dry_run(), &caller);
      !refused.ok()) {
    return refused;
  }
  std::vector<ConfigError> errors;
  if (request->service().empty()) errors.push_back({"service", "must be set"});
  const auto address = parse_address(request->address(), "address", errors);
  const auto state = parse_state(request->state(), "state", errors);
  if (!errors.empty()) {
    return refuse(caller, kMethod, request->service(), request->dry_run(), invalid(errors));
  }
  return answer(context,
                core_.set_backend_state(caller, request->service(), *address, *state,
                                        options_of(*context, *request)),
                response);
}

grpc::Status ControlServiceImpl::GetStatus(grpc::ServerContext* context,
                                           const v1::GetStatusRequest* request,
                                           v1::GetStatusResponse* response) {
  Caller caller;
  if (grpc::Status refused = admit_read(*context, *request, &caller); !refused.ok()) {
    return refused;
  }
  const ControlStatus status = core_.status();
  response->set_dataplane(status.dataplane);
  for (uint64_t generation : status.worker_generations) {
    response->add_worker_generations(generation);
  }
  response->set_revision(status.revision);
  response->set_uptime_ms(status.uptime_ms);
  response->set_version(status.version);
  response->set_applied_revision(status.applied_revision);
  response->set_published_revision(status.published_revision);
  response->set_publish_attempts(status.publish_attempts);
  response->set_publish_failures(status.publish_failures);
  response->set_publish_error(status.publish_error);
  response->set_dataplane_fault(status.dataplane_fault);
  response->set_serving(status.serving);
  response->set_not_serving_reason(status.not_serving_reason);
  return grpc::Status::OK;
}

grpc::Status ControlServiceImpl::ExplainFlow(grpc::ServerContext* context,
                                             const v1::ExplainFlowRequest* request,
                                             v1::ExplainFlowResponse* response) {
  Caller caller;
  if (grpc::Status refused = admit_read(*context, *request, &caller); !refused.ok()) {
    return refused;
  }
  FlowQuery query;
  std::vector<ConfigError> errors;
  auto address = [&errors](const std::string& field, const std::string& text) {
    std::optional<engine::IpAddress> a = engine::IpAddress::parse(text);
    if (!a) errors.push_back({field, "\"" + text + "\" is not an IPv4 or IPv6 address"});
    return a.value_or(engine::IpAddress{});
  };
  query.client = address("client_address", request->client_address());
  query.vip = address("vip", request->vip());
  if (errors.empty() && query.client.family != query.vip.family) {
    errors.push_back({"client_address", "is not of the VIP's address family"});
  }
  if (request->client_port() > 65535) {
    errors.push_back({"client_port", std::to_string(request->client_port()) + " is out of range 0..65535"});
  }
  if (request->port() < 1 || request->port() > 65535) {
    errors.push_back({"port", std::to_string(request->port()) + " is out of range 1..65535"});
  }
  switch (request->protocol()) {
    case v1::PROTOCOL_UNSPECIFIED:
    case v1::PROTOCOL_TCP: query.protocol = engine::Protocol::kTcp; break;
    case v1::PROTOCOL_UDP: query.protocol = engine::Protocol::kUdp; break;
    default: errors.push_back({"protocol", "unknown protocol " + std::to_string(request->protocol())});
  }
  if (!errors.empty()) return invalid(errors);
  query.client_port = static_cast<uint16_t>(request->client_port());
  query.port = static_cast<uint16_t>(request->port());
  uint64_t revision = 0;
  const FlowAnswer a = core_.explain_flow(query, &revision);
  response->set_service(a.service);
  response->set_pool(a.pool);
  response->set_backend(a.backend);
  response->set_rule_matched(a.rule_matched);
  response->set_maglev_slot(a.maglev_slot);
  response->set_reason(a.reason);
  response->set_revision(revision);
  response->set_chosen_pool(a.chosen_pool);
  response->set_fallback(a.fallback);
  response->set_drop_reason(a.drop);
  return grpc::Status::OK;
}

grpc::Status ControlServiceImpl::GetStats(grpc::ServerContext* context,
                                          const v1::GetStatsRequest* request,
                                          v1::GetStatsResponse* response) {
  Caller caller;
  if (grpc::Status refused = admit_read(*context, *request, &caller); !refused.ok()) {
    return refused;
  }
  if (!request->service().empty() && !is_name(request->service())) {
    return invalid("service", quoted(request->service()) +
                                  " is not a service name (1 to 63 letters, digits, '-', '_' "
                                  "and '.')");
  }
  const StatsResult result = core_.stats(request->service());
  if (result.error) return to_grpc_status(*result.error);
  *response = stats_to_proto(result.stats);
  return grpc::Status::OK;
}

grpc::Status ControlServiceImpl::GetDrainStatus(grpc::ServerContext* context,
                                                const v1::GetDrainStatusRequest* request,
                                                v1::DrainStatus* response) {
  Caller caller;
  if (grpc::Status refused = admit_read(*context, *request, &caller); !refused.ok()) {
    return refused;
  }
  if (!is_name(request->service())) {
    return invalid("service", quoted(request->service()) +
                                  " is not a service name (1 to 63 letters, digits, '-', '_' "
                                  "and '.')");
  }
  // A pool name or an address: both are short and printable.
  constexpr size_t kMaxTarget = 64;
  if (request->target().size() > kMaxTarget ||
      !std::all_of(request->target().begin(), request->target().end(),
                   [](char c) { return c > ' ' && c < 127; })) {
    return invalid("target", "must be a pool name or a backend address (at most 64 printable "
                             "characters), not " + quoted(request->target().substr(0, kMaxTarget)));
  }
  constexpr uint32_t kMaxQuietMs = 86400000;
  DrainQuery query;
  query.service = request->service();
  query.target = request->target();
  if (request->has_quiet_ms()) {
    if (request->quiet_ms() > kMaxQuietMs) {
      return invalid("quiet_ms", std::to_string(request->quiet_ms()) +
                                     " is out of range 0..86400000");
    }
    query.quiet_ms = request->quiet_ms();
  }
  if (request->has_max_census_age_ms()) {
    if (request->max_census_age_ms() > kMaxQuietMs) {
      return invalid("max_census_age_ms", std::to_string(request->max_census_age_ms()) +
                                              " is out of range 0..86400000");
    }
    query.max_census_age_ms = request->max_census_age_ms();
  }
  const DrainResult result = core_.drain_status(query);
  if (result.error) return to_grpc_status(*result.error);
  const DrainAnswer& a = result.answer;
  response->set_service(query.service);
  response->set_target(query.target);
  response->set_target_kind(a.target_kind);
  for (const std::string& b : a.backends) response->add_backends(b);
  response->set_active_flows(a.active.flows);
  for (uint64_t n : a.active.by_worker) response->add_by_worker(n);
  response->set_oldest_age_ms(a.active.oldest_age_ms);
  if (a.active.newest_idle_ms) response->set_idle_ms(*a.active.newest_idle_ms);
  response->set_safe_to_remove(a.safe_to_remove);
  response->set_reason(a.reason);
  response->set_quiet_ms(query.quiet_ms);
  response->set_census_age_ms(a.census_age_ms);
  response->set_revision(a.revision);
  for (const std::string& b : a.still_receiving) response->add_still_receiving(b);
  return grpc::Status::OK;
}

grpc::Status ControlServiceImpl::WatchEvents(grpc::ServerContext* context,
                                             const v1::WatchEventsRequest* request,
                                             grpc::ServerWriter<v1::Event>* writer) {
  Caller caller;
  if (grpc::Status refused = admit_read(*context, *request, &caller); !refused.ok()) {
    return refused;
  }
  std::optional<uint64_t> start;
  if (request->has_start_sequence()) start = request->start_sequence();
  SubscribeResult subscribed = core_.watch_events(start);
  if (subscribed.error) return to_grpc_status(*subscribed.error);
  EventSubscription& events = *subscribed.subscription;
  // Sent at once, so that the client knows it is subscribed before the
  // first event comes (which may be long).
  context->AddInitialMetadata(kNextSequenceMetadataKey, std::to_string(events.live_from()));
  writer->SendInitialMetadata();
  // How long to wait for an event before looking whether the client left.
  constexpr std::chrono::milliseconds kCancelCheck{200};
  while (!context->IsCancelled()) {
    const std::optional<ControlEvent> event =
        events.next(std::chrono::steady_clock::now() + kCancelCheck);
    if (!event) {
      if (events.closed()) return grpc::Status::OK;  // sluiced is shutting down
      continue;
    }
    if (!writer->Write(event_to_proto(*event))) break;  // the client went away
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, "the stream was cancelled");
}

}  // namespace sluice::control::api
