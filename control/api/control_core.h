// SPDX-License-Identifier: Apache-2.0
// What the control API does, independent of gRPC: the seam between the
// transport (control_service.h, which maps messages and status codes) and
// the implementation (control_core_impl.h: validation, compare-and-set,
// durable state, audit, publication to the dataplane).
//
// Every mutation is validated entirely before anything changes; accepted,
// it gets the next revision, is saved durably and audited, then published;
// with wait_applied it returns only once every worker forwards with it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "control/api/control_events.h"
#include "control/api/control_stats.h"
#include "dataplane/engine/config.h"

namespace sluice::control {

enum class ErrorCode {
  kInvalidArgument,     // the request is wrong; the message names the field
  kFailedPrecondition,  // expected_revision does not match
  kNotFound,            // no such service / backend / pool
  kDeadlineExceeded,    // accepted and saved, but not applied everywhere in time
  kPermissionDenied,    // read-only caller
  kInternal,            // the state could not be saved: nothing changed
  kUnavailable,         // sluiced is shutting down, or (saved, not applied) the dataplane has a fault
  kResourceExhausted,   // valid, but the dataplane has no room for it (XDP map sizes)
};

struct CallError {
  ErrorCode code;
  std::string message;
};

struct Caller {
  std::string peer;         // for the audit log
  bool may_mutate = true;   // false for read-only identities
  std::string peer_key{};   // the identity alone (AuditRecord::peer_key)
};

struct MutationOptions {
  std::optional<uint64_t> expected_revision;  // compare-and-set
  bool dry_run = false;                       // validate only
  // Wait until every worker forwards with the new revision and the
  // dataplane reports no fault, until then.
  std::optional<std::chrono::steady_clock::time_point> wait_applied_until;
};

struct MutationResult {
  uint64_t revision = 0;  // the new revision (the current one for a dry run or an error)
  bool applied = false;   // every worker forwards with it, no fault (when waited for)
  std::optional<CallError> error;
};

struct ControlStatus {
  std::string dataplane;                    // "dpdk", "none"
  std::vector<uint64_t> worker_generations; // the revision each worker forwards with
  uint64_t revision = 0;                    // the desired (accepted and saved) one
  uint64_t uptime_ms = 0;
  std::string version;
  // Desired vs applied (control/core/reconciler.h): the lowest revision any
  // worker forwards with, the last one the dataplane took, and publication
  // attempts and refusals since start (retries included).
  uint64_t applied_revision = 0;
  uint64_t published_revision = 0;
  uint64_t publish_attempts = 0;
  uint64_t publish_failures = 0;
  std::string publish_error;   // the last refusal while `revision` is not published yet
  std::string dataplane_fault; // DataplaneSink::fault(): "" when none
  // Whether sluiced vouches for what forwards (gRPC health SERVING): no
  // fault and not behind `revision` past the grace; else the reason.
  bool serving = true;
  std::string not_serving_reason;
};

// ExplainFlow: a client -> VIP flow, and where a new flow like it goes.
struct FlowQuery {
  engine::IpAddress client;
  uint16_t client_port = 0;
  engine::IpAddress vip;
  uint16_t port = 0;
  engine::Protocol protocol = engine::Protocol::kTcp;
};

struct FlowAnswer {
  std::string service;      // "" when no service listens there
  std::string chosen_pool;  // what the rule or split chose; "" when every weight is 0
  std::string pool;         // where the flow goes: chosen_pool or the fallback pool
  std::string backend;      // the backend's address, or "" when the flow is dropped
  bool rule_matched = false;
  bool fallback = false;    // chosen_pool had no backend to give
  uint32_t maglev_slot = 0;
  std::string drop;         // "no-pool", "no-backend"; "" when a backend takes it
  std::string reason;       // one sentence
};

struct StatsResult {
  ControlStats stats;
  std::optional<CallError> error;  // kNotFound: no such service
};

// GetDrainStatus: has a service, pool or backend drained?
struct DrainQuery {
  std::string service;
  std::string target;  // pool name, backend address, or "" for the service
  uint32_t quiet_ms = 30000;
  uint32_t max_census_age_ms = 1000;
};

struct DrainAnswer {
  std::string target_kind;  // "service", "pool", "backend"
  std::vector<std::string> backends;
  ActiveFlows active;
  bool safe_to_remove = false;
  std::string reason;
  uint64_t census_age_ms = 0;
  uint64_t revision = 0;
  std::vector<std::string> still_receiving;  // backends still given new flows
};

struct DrainResult {
  DrainAnswer answer;
  std::optional<CallError> error;  // kNotFound: no such service, pool or backend
};

struct SubscribeResult {
  std::unique_ptr<EventSubscription> subscription;  // null on error
  std::optional<CallError> error;  // kInvalidArgument: start beyond the next event
};

class ControlCore {
 public:
  virtual ~ControlCore() = default;

  // Creates or replaces the service named service.name.
  virtual MutationResult apply_service(const Caller& caller, const engine::ServiceConfig& service,
                                       const MutationOptions& options) = 0;
  virtual MutationResult delete_service(const Caller& caller, const std::string& name,
                                        const MutationOptions& options) = 0;
  // Sets the weights of the named pools (atomically; pools not named keep theirs).
  virtual MutationResult set_weights(const Caller& caller, const std::string& service,
                                     const std::map<std::string, uint32_t>& weights,
                                     const MutationOptions& options) = 0;
  virtual MutationResult set_backend_state(const Caller& caller, const std::string& service,
                                           const engine::IpAddress& backend,
                                           engine::BackendState state,
                                           const MutationOptions& options) = 0;

  // Reads; *revision receives the revision the answer belongs to.
  virtual std::optional<engine::ServiceConfig> get_service(const std::string& name,
                                                           uint64_t* revision) const = 0;
  virtual std::vector<engine::ServiceConfig> list_services(uint64_t* revision) const = 0;
  virtual ControlStatus status() const = 0;
  // Where a new flow would go under the current revision, and why (the
  // stateless choice: a worker's flow table and circuit state can differ).
  virtual FlowAnswer explain_flow(const FlowQuery& query, uint64_t* revision) const = 0;
  // The dataplane's counters and circuit states, named by the current
  // revision; only `service`'s traffic when it is not "".
  virtual StatsResult stats(const std::string& service) const = 0;
  // Live flows of a service, pool or backend, and whether it is safe to
  // remove (control/core/drain_status.h states the rule).
  virtual DrainResult drain_status(const DrainQuery& query) const = 0;
  // Events from sequence number `start` on (those still held; older ones
  // are announced as lost), or from now on when nullopt.
  virtual SubscribeResult watch_events(std::optional<uint64_t> start) = 0;

  // Audits a mutation the API layer refused before calling the core (a
  // request it could not map, a caller without a role), so that the audit
  // log holds every refused change, not only those the core refused.
  virtual void audit_refusal(const Caller& caller, const std::string& method,
                             const std::string& service, bool dry_run,
                             const std::string& reason) = 0;
};

}  // namespace sluice::control
