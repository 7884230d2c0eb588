// SPDX-License-Identifier: Apache-2.0
#include "control/health/health_checker.h"

#include <algorithm>
#include <limits>
#include <set>

#include "control/health/socket_prober.h"

namespace sluice::control::health {

// One target and everything the checker keeps about it.
struct HealthChecker::Entry {
  Entry(uint64_t id_, HealthTarget target_)
      : id(id_),
        target(std::move(target_)),
        machine(target.config.unhealthy_threshold, target.config.healthy_threshold) {}

  uint64_t id;
  HealthTarget target;
  HealthStateMachine machine;
  BackendHealth health;
  uint64_t check_serial = 0;  // of the one pending check event
  uint64_t probe_id = 0;      // of the check in flight; 0 when none
  bool waiting = false;       // due, and queued in waiting_
  // A check that fell due while the previous one was still running: it
  // starts when that one ends.
  std::optional<int64_t> deferred_due;
  bool confirming = false;  // the check in flight confirms a suspicion (confirm())
  std::optional<int64_t> last_confirm_us;
};

namespace {

constexpr int64_t kUsPerMs = 1000;

}  // namespace

HealthChecker::HealthChecker(Prober& prober, Clock& clock, Random& random, Options options)
    : prober_(prober),
      clock_(clock),
      random_(random),
      options_(std::move(options)),
      epoch_us_(options_.epoch_us.value_or(clock.now_us())) {}

std::unique_ptr<HealthChecker> HealthChecker::create(Options options) {
  auto prober = std::make_unique<SocketProber>();
  auto clock = std::make_unique<SteadyClock>();
  auto random = std::make_unique<DefaultRandom>();
  std::unique_ptr<HealthChecker> checker(
      new HealthChecker(*prober, *clock, *random, std::move(options)));
  checker->owned_prober_ = std::move(prober);
  checker->owned_clock_ = std::move(clock);
  checker->owned_random_ = std::move(random);
  return checker;
}

HealthChecker::~HealthChecker() {
  stop();
  // Release what the prober holds for checks still in flight.
  for (const auto& [probe_id, entry_id] : probes_) prober_.cancel(probe_id);
}

void HealthChecker::set_listener(Listener listener) { listener_ = std::move(listener); }

void HealthChecker::set_targets(std::vector<HealthTarget> targets) {
  {
    std::lock_guard lock(mu_);
    pending_targets_ = std::move(targets);
  }
  prober_.wake();
}

void HealthChecker::confirm(const std::string& service, const engine::IpAddress& address) {
  {
    std::lock_guard lock(mu_);
    // Bounded: a backend asked twice before the next turn is confirmed once.
    BackendKey key(service, address);
    if (!pending_confirm_set_.insert(key).second) return;
    pending_confirms_.push_back(std::move(key));
  }
  prober_.wake();
}

std::vector<TargetHealth> HealthChecker::statuses() const {
  std::lock_guard lock(mu_);
  std::vector<TargetHealth> out;
  out.reserve(order_.size());
  for (uint64_t id : order_) {
    const Entry& e = *entries_.at(id);
    out.push_back({e.target, e.health});
  }
  return out;
}

CheckerStats HealthChecker::stats() const {
  std::lock_guard lock(mu_);
  CheckerStats s = stats_;
  s.targets = entries_.size();
  s.in_flight = probes_.size();
  return s;
}

void HealthChecker::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    // A second at most between turns: nothing is lost by waking up idle.
    constexpr int kMaxWaitMs = 1000;
    while (!stopping_) run_once(kMaxWaitMs);
  });
}

void HealthChecker::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  prober_.wake();
  thread_.join();
}

int64_t HealthChecker::run_once(int max_wait_ms) {
  int wait_ms = 0;
  {
    std::lock_guard lock(mu_);
    const int64_t now = clock_.now_us();
    if (pending_targets_) apply_targets(now);
    if (!pending_confirms_.empty()) apply_confirms(now);
    // Wait for results until the next check or timeout is due (rounded up:
    // waking a little late is harmless, early is a wasted turn), not at all
    // when checks are queued for slots that are free (a turn's launch
    // budget ran out).
    int64_t until = max_wait_ms;
    if (!events_.empty()) {
      until = (std::max<int64_t>(events_.top().at_us - now, 0) + kUsPerMs - 1) / kUsPerMs;
    }
    if (!waiting_.empty() && probes_.size() < limit()) until = 0;
    wait_ms = static_cast<int>(std::min<int64_t>(until, max_wait_ms));
  }

  results_.clear();
  prober_.poll(wait_ms, [this](uint64_t probe_id, ProbeResult result) {
    results_.emplace_back(probe_id, std::move(result));
  });

  Transitions transitions;
  int64_t next = std::numeric_limits<int64_t>::max();
  {
    std::lock_guard lock(mu_);
    const int64_t now = clock_.now_us();
    // Results first: an answer that arrived must count before its check's
    // deadline is judged, however late this turn runs.
    for (auto& [probe_id, result] : results_) {
      auto it = probes_.find(probe_id);
      if (it == probes_.end()) continue;  // cancelled meanwhile
      finish(*entries_.at(it->second), result, now, transitions);
    }
    launches_left_ = kMaxLaunchesPerTurn;
    fire_due_events(now, transitions);
    start_waiting(now);
    if (!events_.empty()) next = events_.top().at_us;
    if (!waiting_.empty() && probes_.size() < limit()) next = now;
  }
  notify(transitions);
  return next;
}

void HealthChecker::apply_targets(int64_t now) {
  std::vector<HealthTarget> targets = std::move(*pending_targets_);
  pending_targets_.reset();
  // Current entries by backend identity.
  std::map<BackendKey, uint64_t> current = std::move(by_backend_);
  by_backend_.clear();
  std::vector<uint64_t> order;
  std::set<BackendKey> seen;
  for (HealthTarget& t : targets) {
    if (t.config.type == engine::HealthCheckType::kNone) continue;
    auto key = std::make_pair(t.service, t.address);
    if (!seen.insert(key).second) continue;  // a duplicate: the first counts
    auto it = current.find(key);
    if (it != current.end()) {
      Entry& e = *entries_.at(it->second);
      current.erase(it);
      if (e.target.same_check(t)) {
        e.target.pool = std::move(t.pool);
        e.target.backend_slot = t.backend_slot;
        order.push_back(e.id);
        continue;
      }
      remove_entry(e.id);  // changed: starts over below
    }
    order.push_back(add_entry(std::move(t), now).id);
  }
  for (const auto& [key, id] : current) remove_entry(id);
  order_ = std::move(order);
  for (uint64_t id : order_) {
    const Entry& e = *entries_.at(id);
    by_backend_.emplace(BackendKey(e.target.service, e.target.address), id);
  }
}

void HealthChecker::apply_confirms(int64_t now) {
  std::vector<BackendKey> confirms;
  confirms.swap(pending_confirms_);
  pending_confirm_set_.clear();
  for (const BackendKey& key : confirms) {
    const auto found = by_backend_.find(key);
    if (found == by_backend_.end()) continue;  // not checked (any more)
    Entry* e = entries_.at(found->second).get();
    if (e->last_confirm_us &&
        now - *e->last_confirm_us < options_.confirm_interval_ms * kUsPerMs) {
      ++stats_.confirm_limited;
      continue;
    }
    e->last_confirm_us = now;
    e->confirming = true;
    ++stats_.confirmations;
    // A check in flight (or queued for a slot) serves as the confirmation;
    // otherwise one starts now, out of schedule, which launch() follows
    // with the next regular check an interval later.
    if (e->probe_id != 0 || e->waiting) continue;
    if (probes_.size() >= limit()) {
      e->waiting = true;
      waiting_.emplace_back(e->id, now);
      ++stats_.delayed;
      continue;
    }
    ++launches_left_;  // outside a turn's launch budget
    launch(*e, now, now);
  }
}

HealthChecker::Entry& HealthChecker::add_entry(HealthTarget target, int64_t now) {
  const uint64_t id = next_entry_id_++;
  Entry& e = *entries_.emplace(id, std::make_unique<Entry>(id, std::move(target))).first->second;
  e.health.checked = true;
  e.health.since_ms = uptime_ms(now);
  // The first check at a random point of the first interval.
  const int64_t interval_us = int64_t{e.target.config.interval_ms} * kUsPerMs;
  schedule_check(e, now + static_cast<int64_t>(random_.below(static_cast<uint64_t>(interval_us))));
  return e;
}

void HealthChecker::remove_entry(uint64_t id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  if (it->second->probe_id != 0) {
    prober_.cancel(it->second->probe_id);
    probes_.erase(it->second->probe_id);
  }
  // Its pending events and any waiting_ slot go stale with the entry.
  entries_.erase(it);
}

void HealthChecker::schedule_check(Entry& e, int64_t at) {
  events_.push({at, true, e.id, ++e.check_serial});
}

int64_t HealthChecker::jittered_interval_us(const engine::HealthCheckConfig& c) {
  const int64_t interval_us = int64_t{c.interval_ms} * kUsPerMs;
  int64_t extra = 0;
  if (c.interval_jitter_percent > 0) {
    extra += static_cast<int64_t>(
        random_.below(static_cast<uint64_t>(interval_us * c.interval_jitter_percent / 100)));
  }
  if (c.interval_jitter_ms > 0) {
    extra += static_cast<int64_t>(random_.below(uint64_t{c.interval_jitter_ms} * kUsPerMs));
  }
  return interval_us + extra;
}

size_t HealthChecker::limit() const {
  return std::max<size_t>(1, std::min(options_.max_in_flight, prober_.capacity()));
}

void HealthChecker::fire_due_events(int64_t now, Transitions& out) {
  while (!events_.empty() && events_.top().at_us <= now) {
    // Out of launches for this turn: the rest waits for the next, after
    // the results that came meanwhile.
    if (launches_left_ == 0 && events_.top().is_check) return;
    const Event ev = events_.top();
    events_.pop();
    auto it = entries_.find(ev.entry_id);
    if (it == entries_.end()) continue;  // target removed
    Entry& e = *it->second;
    if (!ev.is_check) {
      if (e.probe_id != ev.serial) continue;  // it finished in time
      prober_.cancel(e.probe_id);
      ++stats_.timed_out;
      finish(e, {false, "timeout after " + std::to_string(e.target.config.timeout_ms) + " ms"}, now,
             out);
      continue;
    }
    if (e.check_serial != ev.serial) continue;
    if (e.probe_id != 0) {
      e.deferred_due = ev.at_us;  // finish() queues it
      continue;
    }
    if (probes_.size() >= limit()) {
      e.waiting = true;
      waiting_.emplace_back(e.id, ev.at_us);
      ++stats_.delayed;
      continue;
    }
    launch(e, ev.at_us, now);
  }
}

void HealthChecker::start_waiting(int64_t now) {
  while (!waiting_.empty() && probes_.size() < limit() && launches_left_ > 0) {
    const auto [id, due] = waiting_.front();
    waiting_.pop_front();
    auto it = entries_.find(id);
    if (it == entries_.end() || !it->second->waiting) continue;
    launch(*it->second, due, now);
  }
}

void HealthChecker::launch(Entry& e, int64_t due, int64_t turn_start) {
  // Launching thousands of probes takes a while: time each from its own start.
  const int64_t now = std::max(turn_start, clock_.now_us());
  --launches_left_;
  e.waiting = false;
  e.probe_id = next_probe_id_++;
  probes_.emplace(e.probe_id, e.id);
  ++stats_.started;
  const int64_t lateness = now - due;
  stats_.max_lateness_us = std::max(stats_.max_lateness_us, lateness);
  if (options_.on_check_started) options_.on_check_started(lateness);
  events_.push({now + int64_t{e.target.config.timeout_ms} * kUsPerMs, false, e.id, e.probe_id});
  // The next check: one (jittered) interval after this one was due, so a
  // late start does not shift the cadence. If the checker fell more than
  // half an interval behind, one interval from now instead: it spreads its
  // checks again rather than bursting to catch up.
  const int64_t period = jittered_interval_us(e.target.config);
  int64_t next = due + period;
  if (next < now + period / 2) next = now + period;
  schedule_check(e, next);
  prober_.start(e.probe_id, e.target);
}

void HealthChecker::finish(Entry& e, const ProbeResult& result, int64_t now, Transitions& out) {
  probes_.erase(e.probe_id);
  e.probe_id = 0;
  ++stats_.finished;
  if (e.deferred_due) {
    e.waiting = true;
    waiting_.emplace_back(e.id, *e.deferred_due);
    e.deferred_due.reset();
  }
  BackendHealth& h = e.health;
  ++h.checks;
  if (!result.ok) ++h.failures;
  h.last_result = result.detail;
  const HealthState from = e.machine.state();
  const bool confirming = e.confirming;
  e.confirming = false;
  if (confirming && !result.ok) ++stats_.confirmed_unhealthy;
  if (!(confirming ? e.machine.record_confirmation(result.ok) : e.machine.record(result.ok))) {
    return;
  }
  const HealthState to = e.machine.state();
  h.state = to;
  h.since_ms = uptime_ms(now);
  if (from != HealthState::kUnknown) ++h.transitions;  // healthy <-> unhealthy only
  out.push_back({e.target, from, to, e.machine.reason(), result.detail, h.since_ms});
}

uint64_t HealthChecker::uptime_ms(int64_t now) const {
  return static_cast<uint64_t>(std::max<int64_t>(now - epoch_us_, 0) / kUsPerMs);
}

void HealthChecker::notify(Transitions& transitions) {
  if (listener_) {
    for (const HealthTransition& t : transitions) listener_(t);
  }
  transitions.clear();
}

}  // namespace sluice::control::health
