// SPDX-License-Identifier: Apache-2.0
#include "control/core/reconciler.h"

#include <algorithm>
#include <vector>

#include <spdlog/spdlog.h>

namespace sluice::control {
namespace {

int64_t ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

}  // namespace

Reconciler::Reconciler(DataplaneSink& dataplane, EventHub& events, ReconcilerOptions options)
    : dataplane_(dataplane), events_(events), options_(options) {}

Reconciler::~Reconciler() { stop(); }

bool Reconciler::publish(std::shared_ptr<const engine::Snapshot> snapshot) {
  std::lock_guard lock(mutex_);
  desired_ = std::move(snapshot);
  pending_ = true;
  backoff_ = std::chrono::milliseconds{0};  // a new configuration starts a new series
  return attempt_locked(Clock::now());
}

bool Reconciler::attempt_locked(Clock::time_point now) {
  const uint64_t generation = desired_->generation();
  ++attempts_;
  std::string error;
  if (dataplane_.publish(desired_, &error)) {
    if (failures_ > 0 && !publish_error_.empty()) {
      spdlog::info("{}: revision {} published after {} refusal(s)", dataplane_.kind(), generation,
                   failures_);
    }
    pending_ = false;
    published_ = generation;
    publish_error_.clear();
    return true;
  }
  ++failures_;
  publish_error_ = error.empty() ? "the dataplane gave no reason" : std::move(error);
  backoff_ = backoff_.count() == 0 ? options_.first_retry
                                   : std::min(backoff_ * 2, options_.max_retry);
  retry_at_ = now + backoff_;
  if (!behind_since_) behind_since_ = now;
  spdlog::error("{}: revision {} not published: {}; retrying in {} ms", dataplane_.kind(),
                generation, publish_error_, backoff_.count());
  return false;
}

std::string Reconciler::reason_locked(Clock::time_point now, uint64_t applied) const {
  const uint64_t desired = desired_ ? desired_->generation() : 0;
  std::string r = "the dataplane forwards with revision " + std::to_string(applied) +
                  ", not the desired " + std::to_string(desired) + ", for " +
                  std::to_string(ms(now - behind_since_.value_or(now))) + " ms";
  if (pending_) {
    r += "; publication refused " + std::to_string(failures_) + " time(s) so far, last: " +
         publish_error_ + "; next try in " + std::to_string(std::max<int64_t>(0, ms(retry_at_ - now))) +
         " ms";
  }
  return r;
}

Reconciler::Clock::time_point Reconciler::tick(Clock::time_point now) {
  std::lock_guard tick_lock(tick_mutex_);
  {
    std::lock_guard lock(mutex_);
    if (pending_ && desired_ && now >= retry_at_) attempt_locked(now);
  }
  // Read without mutex_: a publication in the meantime only makes the
  // comparison below conservative for one tick.
  const std::vector<uint64_t> generations = dataplane_.worker_generations();
  const std::string fault = dataplane_.fault();

  std::optional<DataplaneHealthEvent> event;
  ServingListener listener;
  Clock::time_point next = now + options_.poll_interval;
  {
    std::lock_guard lock(mutex_);
    const uint64_t desired = desired_ ? desired_->generation() : 0;
    // No workers to ask (a dataplane without per-worker generations): what
    // it took is what it forwards.
    const uint64_t applied = generations.empty()
                                 ? published_
                                 : *std::min_element(generations.begin(), generations.end());
    if (applied >= desired && !pending_) {
      behind_since_.reset();
    } else if (!behind_since_) {
      behind_since_ = now;
    }
    Condition condition = Condition::kConverged;
    std::string reason;
    if (!fault.empty()) {
      condition = Condition::kFault;
      reason = "dataplane fault: " + fault;
    } else if (behind_since_ && now - *behind_since_ > options_.grace) {
      condition = Condition::kBehind;
      reason = reason_locked(now, applied);
    }
    if (condition != condition_) {
      condition_ = condition;
      event = DataplaneHealthEvent{condition == Condition::kConverged, desired, applied, reason};
      listener = listener_;
      if (condition == Condition::kConverged) {
        spdlog::info("{}: dataplane converged on revision {}: serving", dataplane_.kind(), applied);
      } else {
        spdlog::error("{}: NOT SERVING: {}", dataplane_.kind(), reason);
      }
    }
    reason_ = std::move(reason);
    if (pending_) next = std::min(next, retry_at_);
  }
  if (event) {
    events_.publish(*event);
    if (listener) listener(event->serving, event->reason);
  }
  return next;
}

void Reconciler::set_serving_listener(ServingListener listener) {
  std::lock_guard tick_lock(tick_mutex_);
  bool serving = true;
  std::string reason;
  {
    std::lock_guard lock(mutex_);
    listener_ = listener;
    serving = condition_ == Condition::kConverged;
    reason = reason_;
  }
  if (listener) listener(serving, reason);
}

ReconcilerReport Reconciler::report() const {
  std::lock_guard lock(mutex_);
  ReconcilerReport r;
  r.desired_revision = desired_ ? desired_->generation() : 0;
  r.published_revision = published_;
  r.attempts = attempts_;
  r.failures = failures_;
  r.publish_error = pending_ ? publish_error_ : std::string();
  r.serving = condition_ == Condition::kConverged;
  r.reason = reason_;
  return r;
}

std::optional<Reconciler::Clock::time_point> Reconciler::next_retry() const {
  std::lock_guard lock(mutex_);
  if (!pending_) return std::nullopt;
  return retry_at_;
}

Reconciler::Condition Reconciler::condition() const {
  std::lock_guard lock(mutex_);
  return condition_;
}

void Reconciler::start() {
  thread_.start([this] { return tick(Clock::now()); });
}

void Reconciler::stop() { thread_.stop(); }

}  // namespace sluice::control
