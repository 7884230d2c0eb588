// SPDX-License-Identifier: Apache-2.0
#include "control/core/control_core_impl.h"

#include <algorithm>

#include <cstring>
#include <memory>

#include "control/core/drain_status.h"
#include "control/core/stats_summary.h"
#include "dataplane/engine/config_validate.h"
#include "dataplane/engine/explain.h"

namespace sluice::control {
namespace {

std::string weights_text(const engine::ServiceConfig& s) {
  std::string out;
  for (const auto& p : s.pools) {
    out += (out.empty() ? "" : " ") + p.name + "=" + std::to_string(p.weight);
  }
  return out;
}

size_t backend_count(const engine::ServiceConfig& s) {
  size_t n = 0;
  for (const auto& p : s.pools) n += p.backends.size();
  return n;
}

// Validation reports "services[i].field"; the caller named the service
// differently ("service.field" for ApplyService, the bare field otherwise).
std::string join_errors(const std::vector<engine::ConfigError>& errors, size_t index,
                        const std::string& prefix) {
  const std::string own = "services[" + std::to_string(index) + "]";
  std::string out;
  for (const engine::ConfigError& e : errors) {
    std::string field = e.field;
    if (field.rfind(own, 0) == 0) {
      std::string rest = field.substr(own.size());
      if (!rest.empty() && rest[0] == '.') rest = rest.substr(1);
      field = prefix.empty() ? rest : (rest.empty() ? prefix : prefix + "." + rest);
    }
    out += (out.empty() ? "" : "; ") + field + ": " + e.message;
  }
  return out;
}

CallError error(ErrorCode code, std::string message) { return CallError{code, std::move(message)}; }

// The service named `name`, or end().
std::vector<engine::ServiceConfig>::iterator find_service(std::vector<engine::ServiceConfig>& services,
                                                          const std::string& name) {
  return std::find_if(services.begin(), services.end(),
                      [&](const engine::ServiceConfig& s) { return s.name == name; });
}

// The health marks of `snapshot`'s backends as the dataplane holds them:
// UNHEALTHY and HEALTHY from the checks, UNKNOWN otherwise.
std::unique_ptr<engine::BackendHealthTable> health_table(const engine::Snapshot& snapshot,
                                                        const HealthByBackend& health) {
  uint32_t slots = 0;
  for (const engine::CompiledService& s : snapshot.services()) {
    for (const engine::CompiledBackend& b : s.backends) slots = std::max(slots, b.counter_slot + 1);
  }
  auto table = std::make_unique<engine::BackendHealthTable>(slots);
  for (const engine::CompiledService& s : snapshot.services()) {
    for (const engine::CompiledBackend& b : s.backends) {
      const auto it = health.find({s.config.name, b.address});
      if (it == health.end()) continue;
      if (it->second.state == HealthState::kUnhealthy) {
        table->set(b.counter_slot, SLUICE_HEALTH_UNHEALTHY);
      } else if (it->second.state == HealthState::kHealthy) {
        table->set(b.counter_slot, SLUICE_HEALTH_HEALTHY);
      }
    }
  }
  return table;
}

CallError no_such_service(const std::string& name) {
  return error(ErrorCode::kNotFound, "no service named \"" + name + "\"");
}

}  // namespace

ControlCoreImpl::ControlCoreImpl(const ControlCoreOptions& options, StateStore& store,
                                 AuditLog& audit, DataplaneSink& dataplane)
    : options_(options), store_(store), audit_(audit), dataplane_(dataplane),
      events_(options.events), reconciler_(dataplane, events_, options.reconciler),
      census_(dataplane, [this] { return snapshot(); }) {}

void ControlCoreImpl::publish_locked() {
  // A refusal is logged and retried by the reconciler: the change is saved,
  // and wait_applied() tells the caller the truth.
  reconciler_.publish(snapshot_);
  if (health_) health_->targets_changed(*snapshot_);
}

bool ControlCoreImpl::wait_applied(uint64_t revision, std::chrono::steady_clock::time_point until,
                                   CallError* why) {
  const std::string saved = "revision " + std::to_string(revision) + " was saved";
  // A fault will not clear by waiting: answer at once.
  if (std::string fault = dataplane_.fault(); !fault.empty()) {
    *why = error(ErrorCode::kUnavailable,
                 saved + " but is not applied: the dataplane has a fault: " + fault);
    return false;
  }
  const bool moved = dataplane_.wait_applied(revision, until);
  if (std::string fault = dataplane_.fault(); !fault.empty()) {
    *why = error(ErrorCode::kUnavailable,
                 saved + " but is not applied: the dataplane has a fault: " + fault);
    return false;
  }
  // The workers' generations are the dataplane's word; the reconciler's
  // count of what it accepted is ours. Both must agree.
  const ReconcilerReport r = reconciler_.report();
  if (moved && r.published_revision >= revision) return true;
  std::string message = saved + " but not every worker forwards with it yet";
  if (!r.publish_error.empty()) {
    message += " (the dataplane refused its publication " + std::to_string(r.failures) +
               " time(s), last: " + r.publish_error + "; sluiced keeps retrying)";
  }
  *why = error(ErrorCode::kDeadlineExceeded, message);
  return false;
}

void ControlCoreImpl::set_health_tracker(HealthTracker* tracker) {
  std::lock_guard lock(mutex_);
  health_ = tracker;
  if (health_ && snapshot_) health_->targets_changed(*snapshot_);
}

engine::EngineConfig ControlCoreImpl::engine_config(
    const std::vector<engine::ServiceConfig>& services) const {
  engine::EngineConfig c;
  c.seed = options_.seed;
  c.forwarding = options_.forwarding;
  c.services = services;
  return c;
}

bool ControlCoreImpl::start(std::string* error_text) {
  std::lock_guard lock(mutex_);
  std::optional<DesiredState> loaded = store_.load(error_text);
  if (!loaded) return false;
  auto compiled = compiler_.compile(engine_config(loaded->services), loaded->revision);
  if (!compiled.snapshot) {
    *error_text = "the saved state at revision " + std::to_string(loaded->revision) +
                  " does not compile: " + join_errors(compiled.errors, SIZE_MAX, "");
    return false;
  }
  if (std::vector<std::string> misfits = dataplane_.check(*compiled.snapshot); !misfits.empty()) {
    *error_text = "the saved state at revision " + std::to_string(loaded->revision) +
                  " does not fit the " + dataplane_.kind() + " dataplane: " + misfits.front() +
                  (misfits.size() > 1 ? " (and " + std::to_string(misfits.size() - 1) + " more)" : "");
    return false;
  }
  state_ = std::move(*loaded);
  snapshot_ = compiled.snapshot;
  publish_locked();
  return true;
}

void ControlCoreImpl::audit(const Caller& caller, const std::string& method,
                            const std::string& service,
                            uint64_t before, uint64_t after, bool accepted, bool dry_run,
                            const std::string& summary) {
  AuditRecord r;
  r.peer = caller.peer;
  r.peer_key = caller.peer_key;
  r.method = method;
  r.service = service;
  r.revision_before = before;
  r.revision_after = after;
  r.accepted = accepted;
  r.dry_run = dry_run;
  r.summary = summary;
  std::string ignored;  // an audit write failure must not undo a saved change
  audit_.record(r, &ignored);
}

MutationResult ControlCoreImpl::mutate(const Caller& caller, const char* method,
                                       const std::string& service, const MutationOptions& options,
                                       const Change& change) {
  MutationResult result;
  uint64_t revision = 0;
  {
    std::lock_guard lock(mutex_);
    const uint64_t before = state_.revision;
    result.revision = before;
    auto refuse = [&](CallError e) {
      audit(caller, method, service, before, before, false, options.dry_run, e.message);
      result.error = std::move(e);
      return result;
    };
    if (!caller.may_mutate) {
      return refuse(error(ErrorCode::kPermissionDenied, caller.peer + " may not change the configuration"));
    }
    if (options.expected_revision && *options.expected_revision != before) {
      return refuse(error(ErrorCode::kFailedPrecondition,
                          "expected revision " + std::to_string(*options.expected_revision) +
                              " but the current revision is " + std::to_string(before)));
    }
    std::vector<engine::ServiceConfig> services = state_.services;
    std::string summary;
    if (std::optional<CallError> e = change(services, summary)) return refuse(std::move(*e));
    auto compiled = compiler_.compile(engine_config(services), before + 1);
    if (!compiled.snapshot) {
      size_t index = SIZE_MAX;
      for (size_t i = 0; i < services.size(); ++i) {
        if (services[i].name == service) index = i;
      }
      const std::string prefix = std::string(method) == "ApplyService" ? "service" : "";
      return refuse(error(ErrorCode::kInvalidArgument, join_errors(compiled.errors, index, prefix)));
    }
    // Valid, but can the dataplane hold it? Asked before saving, so that a
    // saved revision is always one the dataplane can publish.
    if (std::vector<std::string> misfits = dataplane_.check(*compiled.snapshot); !misfits.empty()) {
      std::string message = "the dataplane (" + dataplane_.kind() + ") has no room for it: ";
      for (size_t i = 0; i < misfits.size(); ++i) message += (i ? "; " : "") + misfits[i];
      return refuse(error(ErrorCode::kResourceExhausted, message));
    }
    if (options.dry_run) {
      audit(caller, method, service, before, before, true, true, summary);
      return result;
    }
    DesiredState next{before + 1, std::move(services)};
    std::string save_error;
    if (!store_.save(next, &save_error)) {
      return refuse(error(ErrorCode::kInternal, "the change was not saved, nothing changed: " + save_error));
    }
    state_ = std::move(next);
    snapshot_ = compiled.snapshot;
    audit(caller, method, service, before, state_.revision, true, false, summary);
    // Announced before the workers can acknowledge it, so that a watcher
    // sees the change ahead of its WorkerApplied events.
    events_.publish(ConfigChangedEvent{state_.revision, method, service, summary, caller.peer});
    publish_locked();
    revision = state_.revision;
    result.revision = revision;
  }
  if (options.wait_applied_until) {
    CallError why{ErrorCode::kInternal, ""};
    result.applied = wait_applied(revision, *options.wait_applied_until, &why);
    if (!result.applied) result.error = std::move(why);
  }
  return result;
}

MutationResult ControlCoreImpl::apply_service(const Caller& caller,
                                              const engine::ServiceConfig& service,
                                              const MutationOptions& options) {
  return mutate(caller, "ApplyService", service.name, options,
                [&](std::vector<engine::ServiceConfig>& services,
                    std::string& summary) -> std::optional<CallError> {
                  if (service.name.empty()) {
                    return error(ErrorCode::kInvalidArgument, "service.name: must not be empty");
                  }
                  auto it = find_service(services, service.name);
                  summary = std::string(it == services.end() ? "created" : "replaced") +
                            " service " + service.name + ": " + std::to_string(service.pools.size()) +
                            " pools (" + weights_text(service) + "), " +
                            std::to_string(backend_count(service)) + " backends";
                  if (it == services.end()) {
                    services.push_back(service);
                  } else {
                    *it = service;
                  }
                  return std::nullopt;
                });
}

MutationResult ControlCoreImpl::delete_service(const Caller& caller, const std::string& name,
                                               const MutationOptions& options) {
  return mutate(caller, "DeleteService", name, options,
                [&](std::vector<engine::ServiceConfig>& services,
                    std::string& summary) -> std::optional<CallError> {
                  auto it = find_service(services, name);
                  if (it == services.end()) return no_such_service(name);
                  services.erase(it);
                  summary = "deleted service " + name;
                  return std::nullopt;
                });
}

MutationResult ControlCoreImpl::set_weights(const Caller& caller, const std::string& service,
                                            const std::map<std::string, uint32_t>& weights,
                                            const MutationOptions& options) {
  return mutate(caller, "SetWeights", service, options,
                [&](std::vector<engine::ServiceConfig>& services,
                    std::string& summary) -> std::optional<CallError> {
                  auto it = find_service(services, service);
                  if (it == services.end()) return no_such_service(service);
                  if (weights.empty()) {
                    return error(ErrorCode::kInvalidArgument, "weights: name at least one pool");
                  }
                  const std::string before = weights_text(*it);
                  for (const auto& [pool, weight] : weights) {
                    auto p = std::find_if(it->pools.begin(), it->pools.end(),
                                          [&](const auto& x) { return x.name == pool; });
                    if (p == it->pools.end()) {
                      return error(ErrorCode::kInvalidArgument,
                                   "weights[\"" + pool + "\"]: service " + service +
                                       " has no pool named \"" + pool + "\"");
                    }
                    p->weight = weight;
                  }
                  summary = "weights " + before + " -> " + weights_text(*it);
                  return std::nullopt;
                });
}

MutationResult ControlCoreImpl::set_backend_state(const Caller& caller, const std::string& service,
                                                  const engine::IpAddress& backend,
                                                  engine::BackendState state,
                                                  const MutationOptions& options) {
  return mutate(caller, "SetBackendState", service, options,
                [&](std::vector<engine::ServiceConfig>& services,
                    std::string& summary) -> std::optional<CallError> {
                  auto it = find_service(services, service);
                  if (it == services.end()) return no_such_service(service);
                  for (auto& pool : it->pools) {
                    for (auto& b : pool.backends) {
                      if (b.address == backend) {
                        summary = "backend " + backend.to_string() + " (pool " + pool.name + ") " +
                                  engine::backend_state_name(b.state) + " -> " + engine::backend_state_name(state);
                        b.state = state;
                        return std::nullopt;
                      }
                    }
                  }
                  return error(ErrorCode::kNotFound, "service " + service + " has no backend " +
                                                         backend.to_string());
                });
}

std::optional<engine::ServiceConfig> ControlCoreImpl::get_service(const std::string& name,
                                                                  uint64_t* revision) const {
  std::lock_guard lock(mutex_);
  *revision = state_.revision;
  for (const auto& s : state_.services) {
    if (s.name == name) return s;
  }
  return std::nullopt;
}

std::vector<engine::ServiceConfig> ControlCoreImpl::list_services(uint64_t* revision) const {
  std::lock_guard lock(mutex_);
  *revision = state_.revision;
  return state_.services;
}

ControlStatus ControlCoreImpl::status() const {
  ControlStatus s;
  s.dataplane = dataplane_.kind();
  s.worker_generations = dataplane_.worker_generations();
  {
    std::lock_guard lock(mutex_);
    s.revision = state_.revision;
  }
  s.uptime_ms = uptime_ms();
  s.version = options_.version;
  s.applied_revision = s.worker_generations.empty()
                           ? 0
                           : *std::min_element(s.worker_generations.begin(),
                                               s.worker_generations.end());
  const ReconcilerReport r = reconciler_.report();
  if (s.worker_generations.empty()) s.applied_revision = r.published_revision;
  s.published_revision = r.published_revision;
  s.publish_attempts = r.attempts;
  s.publish_failures = r.failures;
  s.publish_error = r.publish_error;
  s.dataplane_fault = dataplane_.fault();
  // The reconciler reports what its last tick saw; a fault seen here first
  // counts at once.
  s.serving = r.serving && s.dataplane_fault.empty();
  s.not_serving_reason = r.serving && !s.serving ? "dataplane fault: " + s.dataplane_fault : r.reason;
  return s;
}

uint64_t ControlCoreImpl::uptime_ms() const {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now() - started_)
                                   .count());
}

StatsResult ControlCoreImpl::stats(const std::string& service) const {
  std::shared_ptr<const engine::Snapshot> snap;
  HealthByBackend health;
  uint64_t desired = 0;
  {
    std::lock_guard lock(mutex_);
    snap = snapshot_;
    desired = state_.revision;
    if (health_) health = health_->states();
  }
  const FlowCensusCache::Entry census = census_.latest();
  StatsResult result = summarize_stats(dataplane_.stats(snap.get()), snap.get(), service,
                                       census.census.get(), &health);
  result.stats.uptime_ms = uptime_ms();
  result.stats.dataplane = dataplane_.kind();
  result.stats.desired_revision = desired;
  if (census.census) {
    result.stats.census_age_ms = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                              census.census->taken_at)
            .count());
    result.stats.census_duration_us = static_cast<uint64_t>(census.census->duration.count());
  }
  return result;
}

DrainResult ControlCoreImpl::drain_status(const DrainQuery& query) const {
  HealthByBackend health;
  {
    std::lock_guard lock(mutex_);
    if (health_) health = health_->states();
  }
  const FlowCensusCache::Entry e = census_.fresh(std::chrono::milliseconds(query.max_census_age_ms));
  if (!e.census || !e.snapshot) {
    DrainResult r;
    r.error = CallError{ErrorCode::kNotFound, "no service named \"" + query.service + "\""};
    return r;
  }
  const auto age = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - e.census->taken_at);
  return evaluate_drain(*e.snapshot, *e.census, query, static_cast<uint64_t>(age.count()), &health);
}

SubscribeResult ControlCoreImpl::watch_events(std::optional<uint64_t> start) {
  return events_.subscribe(start);
}

void ControlCoreImpl::audit_refusal(const Caller& caller, const std::string& method,
                                    const std::string& service, bool dry_run,
                                    const std::string& reason) {
  std::lock_guard lock(mutex_);  // so that the revision is the one it was refused at
  audit(caller, method, service, state_.revision, state_.revision, false, dry_run, reason);
}

FlowAnswer ControlCoreImpl::explain_flow(const FlowQuery& q, uint64_t* revision) const {
  std::shared_ptr<const engine::Snapshot> snap;
  HealthByBackend health;
  {
    std::lock_guard lock(mutex_);
    *revision = state_.revision;
    snap = snapshot_;
    if (health_) health = health_->states();
  }
  FlowAnswer a;
  if (q.client.family != q.vip.family) {
    a.reason = "the client and the VIP are of different address families";
    return a;
  }
  sluice_flow_key key{};
  key.family = q.vip.family;
  std::memcpy(key.src, q.client.bytes.data(), 16);
  std::memcpy(key.dst, q.vip.bytes.data(), 16);
  key.sport = static_cast<uint16_t>((q.client_port >> 8) | (q.client_port << 8));
  key.dport = static_cast<uint16_t>((q.port >> 8) | (q.port << 8));
  key.proto = static_cast<uint8_t>(q.protocol);
  // The workers' health marks (what HealthMonitor wrote into the
  // dataplane), so that the explanation skips the backends they skip.
  const std::unique_ptr<engine::BackendHealthTable> table = health_table(*snap, health);
  const engine::FlowExplanation e = engine::explain_flow(*snap, key, table.get());
  a.reason = e.reason;
  if (!e.service) return a;
  a.service = e.service->config.name;
  a.rule_matched = e.rule_matched;
  a.fallback = e.fallback;
  if (e.chosen_pool != SLUICE_NO_POOL) a.chosen_pool = e.service->pools[e.chosen_pool].name;
  if (e.pool != SLUICE_NO_POOL) a.pool = e.service->pools[e.pool].name;
  if (e.drop != engine::DropReason::kNone) a.drop = std::string(engine::drop_reason_name(e.drop));
  if (e.backend != engine::kNoBackendIndex) {
    a.backend = e.service->backends[e.backend].address.to_string();
    a.maglev_slot = e.maglev_slot;
  }
  return a;
}

std::shared_ptr<const engine::Snapshot> ControlCoreImpl::snapshot() const {
  std::lock_guard lock(mutex_);
  return snapshot_;
}

}  // namespace sluice::control
