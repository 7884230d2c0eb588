// SPDX-License-Identifier: Apache-2.0
// An in-memory ControlCore for tests of the layers above it (the gRPC
// service, sluicectl). It keeps services by name at a revision, honours
// dry_run and expected_revision, and records every call, so a test can check
// what reached the core, and that nothing did. It does not validate: the
// layer under test must refuse bad input itself. fail_next makes the next
// mutation fail with a chosen error. GetStats answers what set_stats gave
// it; WatchEvents reads a real EventHub (control/core/event_hub.h) that the
// test publishes into through events(). Refusals the layer above audits
// are recorded in refusals().
#pragma once

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "control/api/control_core.h"
#include "control/core/event_hub.h"

namespace sluice::control::fakes {

// A status from the fields every dataplane has; the rest keep their
// defaults (serving, nothing refused, no fault).
inline ControlStatus status_of(std::string dataplane, std::vector<uint64_t> worker_generations,
                               uint64_t revision, uint64_t uptime_ms, std::string version) {
  ControlStatus s;
  s.dataplane = std::move(dataplane);
  s.worker_generations = std::move(worker_generations);
  s.revision = revision;
  s.uptime_ms = uptime_ms;
  s.version = std::move(version);
  return s;
}

class FakeControlCore final : public ControlCore {
 public:
  // What the last mutation received.
  struct Call {
    std::string method;  // "apply_service", "set_weights", ...
    Caller caller;
    MutationOptions options;
    std::string service;                          // the service's name
    std::map<std::string, uint32_t> weights;      // set_weights
    engine::IpAddress backend;                    // set_backend_state
    engine::BackendState state = engine::BackendState::kActive;
    std::optional<engine::ServiceConfig> config;  // apply_service
  };
  // What audit_refusal received.
  struct Refusal {
    Caller caller;
    std::string method;
    std::string service;
    bool dry_run = false;
    std::string reason;
  };

  // Test setup and inspection (thread-safe: the server calls from its own
  // threads).
  void add_service(const engine::ServiceConfig& service) {
    std::lock_guard lock(mutex_);
    services_.push_back(service);
    ++revision_;
  }
  void set_status(const ControlStatus& status) {
    std::lock_guard lock(mutex_);
    status_ = status;
  }
  void fail_next(ErrorCode code, std::string message) {
    std::lock_guard lock(mutex_);
    fail_next_ = CallError{code, std::move(message)};
  }
  // Waited mutations report applied = this (and kDeadlineExceeded if false).
  void set_applies(bool applies) {
    std::lock_guard lock(mutex_);
    applies_ = applies;
  }
  std::vector<Call> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  uint64_t revision() const {
    std::lock_guard lock(mutex_);
    return revision_;
  }
  // What stats() answers (filtered by service name when asked).
  void set_stats(const ControlStats& stats) { set_stats(std::vector<ControlStats>{stats}); }
  // Successive stats() calls answer these in turn, then the last again.
  void set_stats(std::vector<ControlStats> samples) {
    std::lock_guard lock(mutex_);
    stats_ = std::move(samples);
    stats_calls_ = 0;
  }
  // The service the last stats() call asked for.
  std::optional<std::string> last_stats_service() const {
    std::lock_guard lock(mutex_);
    return last_stats_service_;
  }
  EventHub& events() { return events_; }
  std::vector<Refusal> refusals() const {
    std::lock_guard lock(mutex_);
    return refusals_;
  }

  // ControlCore
  MutationResult apply_service(const Caller& caller, const engine::ServiceConfig& service,
                               const MutationOptions& options) override {
    Call call = make_call("apply_service", caller, options, service.name);
    call.config = service;
    return mutate(std::move(call), [&]() -> std::optional<CallError> {
      auto it = find(service.name);
      if (it == services_.end()) {
        services_.push_back(service);
      } else {
        *it = service;
      }
      return std::nullopt;
    });
  }
  MutationResult delete_service(const Caller& caller, const std::string& name,
                                const MutationOptions& options) override {
    return mutate(make_call("delete_service", caller, options, name),
                  [&]() -> std::optional<CallError> {
      auto it = find(name);
      if (it == services_.end()) return no_service(name);
      services_.erase(it);
      return std::nullopt;
    });
  }
  MutationResult set_weights(const Caller& caller, const std::string& service,
                             const std::map<std::string, uint32_t>& weights,
                             const MutationOptions& options) override {
    Call call = make_call("set_weights", caller, options, service);
    call.weights = weights;
    return mutate(std::move(call), [&]() -> std::optional<CallError> {
      auto it = find(service);
      if (it == services_.end()) return no_service(service);
      for (const auto& [pool, weight] : weights) {
        auto p = std::find_if(it->pools.begin(), it->pools.end(),
                              [&](const engine::PoolConfig& x) { return x.name == pool; });
        if (p == it->pools.end()) {
          return CallError{ErrorCode::kNotFound, "service " + service + " has no pool " + pool};
        }
        p->weight = weight;
      }
      return std::nullopt;
    });
  }
  MutationResult set_backend_state(const Caller& caller, const std::string& service,
                                   const engine::IpAddress& backend, engine::BackendState state,
                                   const MutationOptions& options) override {
    Call call = make_call("set_backend_state", caller, options, service);
    call.backend = backend;
    call.state = state;
    return mutate(std::move(call), [&]() -> std::optional<CallError> {
      auto it = find(service);
      if (it == services_.end()) return no_service(service);
      bool found = false;
      for (engine::PoolConfig& pool : it->pools) {
        for (engine::BackendConfig& b : pool.backends) {
          if (b.address == backend) {
            b.state = state;
            found = true;
          }
        }
      }
      if (!found) {
        return CallError{ErrorCode::kNotFound,
                         "service " + service + " has no backend " + backend.to_string()};
      }
      return std::nullopt;
    });
  }
  std::optional<engine::ServiceConfig> get_service(const std::string& name,
                                                   uint64_t* revision) const override {
    std::lock_guard lock(mutex_);
    *revision = revision_;
    for (const engine::ServiceConfig& s : services_) {
      if (s.name == name) return s;
    }
    return std::nullopt;
  }
  std::vector<engine::ServiceConfig> list_services(uint64_t* revision) const override {
    std::lock_guard lock(mutex_);
    *revision = revision_;
    return services_;
  }
  ControlStatus status() const override {
    std::lock_guard lock(mutex_);
    ControlStatus s = status_;
    s.revision = revision_;
    return s;
  }
  // Answers with `explanation`; remembers the last query.
  FlowAnswer explain_flow(const FlowQuery& query, uint64_t* revision) const override {
    std::lock_guard lock(mutex_);
    *revision = revision_;
    last_query = query;
    return explanation;
  }
  FlowAnswer explanation;
  mutable FlowQuery last_query;

  StatsResult stats(const std::string& service) const override {
    std::lock_guard lock(mutex_);
    last_stats_service_ = service;
    StatsResult result;
    if (!stats_.empty()) result.stats = stats_[std::min(stats_calls_++, stats_.size() - 1)];
    if (service.empty()) return result;
    auto& services = result.stats.services;
    services.erase(std::remove_if(services.begin(), services.end(),
                                  [&](const ServiceStats& s) { return s.name != service; }),
                   services.end());
    if (services.empty()) result.error = no_service(service);
    return result;
  }
  // Answers with `drain`, or with set_drain_answers' in turn; remembers the
  // last query.
  DrainResult drain_status(const DrainQuery& query) const override {
    std::lock_guard lock(mutex_);
    last_drain_query = query;
    ++drain_calls_;
    if (drain_answers_.empty()) return drain;
    return drain_answers_[std::min(drain_calls_, drain_answers_.size()) - 1];
  }
  DrainResult drain;
  mutable DrainQuery last_drain_query;
  // Successive drain_status() calls answer these in turn, then the last
  // again (a target draining while a client polls).
  void set_drain_answers(std::vector<DrainResult> answers) {
    std::lock_guard lock(mutex_);
    drain_answers_ = std::move(answers);
    drain_calls_ = 0;
  }
  size_t drain_calls() const {
    std::lock_guard lock(mutex_);
    return drain_calls_;
  }

  SubscribeResult watch_events(std::optional<uint64_t> start) override {
    return events_.subscribe(start);
  }
  void audit_refusal(const Caller& caller, const std::string& method, const std::string& service,
                     bool dry_run, const std::string& reason) override {
    std::lock_guard lock(mutex_);
    refusals_.push_back({caller, method, service, dry_run, reason});
  }

 private:
  static Call make_call(const char* method, const Caller& caller, const MutationOptions& options,
                        const std::string& service) {
    Call call;
    call.method = method;
    call.caller = caller;
    call.options = options;
    call.service = service;
    return call;
  }
  std::vector<engine::ServiceConfig>::iterator find(const std::string& name) {
    return std::find_if(services_.begin(), services_.end(),
                        [&](const engine::ServiceConfig& s) { return s.name == name; });
  }
  static CallError no_service(const std::string& name) {
    return CallError{ErrorCode::kNotFound, "no service named \"" + name + "\""};
  }

  // The core's order: injected failure, compare-and-set, the change (on a
  // copy for a dry run), then the wait.
  template <typename Change>
  MutationResult mutate(Call call, Change change) {
    std::lock_guard lock(mutex_);
    const MutationOptions options = call.options;
    calls_.push_back(std::move(call));
    MutationResult result;
    result.revision = revision_;
    if (fail_next_) {
      result.error = std::move(fail_next_);
      fail_next_.reset();
      return result;
    }
    if (options.expected_revision && *options.expected_revision != revision_) {
      result.error = CallError{ErrorCode::kFailedPrecondition,
                               "expected revision " + std::to_string(*options.expected_revision) +
                                   " but the current revision is " + std::to_string(revision_)};
      return result;
    }
    const std::vector<engine::ServiceConfig> before = services_;
    if (std::optional<CallError> e = change()) {
      services_ = before;
      result.error = std::move(e);
      return result;
    }
    if (options.dry_run) {
      services_ = before;
      return result;
    }
    result.revision = ++revision_;
    if (options.wait_applied_until) {
      result.applied = applies_;
      if (!applies_) {
        result.error = CallError{ErrorCode::kDeadlineExceeded,
                                 "revision " + std::to_string(revision_) +
                                     " was saved and published but not every worker forwards "
                                     "with it yet"};
      }
    }
    return result;
  }

  mutable std::mutex mutex_;
  std::vector<engine::ServiceConfig> services_;
  uint64_t revision_ = 0;
  ControlStatus status_ = status_of("none", {}, 0, 0, "0.1.0-test");
  std::optional<CallError> fail_next_;
  bool applies_ = true;
  std::vector<Call> calls_;
  std::vector<ControlStats> stats_;
  mutable size_t stats_calls_ = 0;
  mutable std::optional<std::string> last_stats_service_;
  std::vector<DrainResult> drain_answers_;
  mutable size_t drain_calls_ = 0;
  std::vector<Refusal> refusals_;
  EventHub events_;
};

}  // namespace sluice::control::fakes
