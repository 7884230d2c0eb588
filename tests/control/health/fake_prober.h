// SPDX-License-Identifier: Apache-2.0
// Test doubles for the health checker: a clock the test moves, a random
// source the test scripts, and a prober whose probes end as the test says,
// in virtual time.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "control/health/health_clock.h"
#include "control/health/prober.h"

namespace sluice::control::health {

class FakeClock final : public Clock {
 public:
  int64_t now_us() const override { return now_.load(); }
  void set_us(int64_t t) { now_ = t; }
  void set_ms(int64_t t) { now_ = t * 1000; }

 private:
  std::atomic<int64_t> now_{0};
};

// below(bound) returns pick(bound); by default 0 (no jitter, every first
// check at once).
class ScriptedRandom final : public Random {
 public:
  std::function<uint64_t(uint64_t bound)> pick = [](uint64_t) { return 0; };
  uint64_t below(uint64_t bound) override { return bound == 0 ? 0 : pick(bound) % bound; }
};

class FakeProber final : public Prober {
 public:
  // How one probe ends: `result` delay_us after it started, or never
  // (nullopt: the probe hangs until cancelled, as on a blackholed backend).
  struct Reply {
    std::optional<ProbeResult> result = ProbeResult{true, "ok"};
    int64_t delay_us = 0;
  };
  struct Started {
    uint64_t id;
    HealthTarget target;
    int64_t at_us;
  };

  explicit FakeProber(const Clock& clock) : clock_(clock) {}

  // Decides each probe's end when it starts; by default "ok" at once.
  std::function<Reply(const HealthTarget&)> reply = [](const HealthTarget&) { return Reply{}; };
  size_t capacity_limit = std::numeric_limits<size_t>::max();
  // poll() really waits (up to its timeout, or until wake()) when nothing is
  // pending, as SocketProber's epoll does; for tests with a real clock.
  bool real_waits = false;

  std::vector<Started> started;
  std::vector<uint64_t> cancelled;
  std::atomic<int> wakes{0};

  // Starts of probes of the target at `address`, in order (microseconds).
  std::vector<int64_t> starts_of(const engine::IpAddress& address) const {
    std::vector<int64_t> out;
    for (const Started& s : started) {
      if (s.target.address == address) out.push_back(s.at_us);
    }
    return out;
  }
  // When the earliest pending result is due (INT64_MAX when none).
  int64_t next_result_us() const {
    int64_t next = std::numeric_limits<int64_t>::max();
    for (const auto& [id, p] : pending_) next = std::min(next, p.at_us);
    return next;
  }
  size_t in_flight() const { return in_flight_.size(); }

  // Prober
  void start(uint64_t probe_id, const HealthTarget& target) override {
    const int64_t now = clock_.now_us();
    started.push_back({probe_id, target, now});
    in_flight_.insert({probe_id, true});
    const Reply r = reply(target);
    if (r.result) pending_[probe_id] = {now + r.delay_us, *r.result};
  }
  void cancel(uint64_t probe_id) override {
    cancelled.push_back(probe_id);
    pending_.erase(probe_id);
    in_flight_.erase(probe_id);
  }
  void poll(int timeout_ms, const Done& done) override {
    if (real_waits && pending_.empty() && timeout_ms > 0) {
      std::unique_lock lock(wake_mu_);
      wake_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return woken_; });
      woken_ = false;
    }
    const int64_t now = clock_.now_us();
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.at_us > now) {
        ++it;
        continue;
      }
      const uint64_t id = it->first;
      ProbeResult result = it->second.result;
      it = pending_.erase(it);
      in_flight_.erase(id);
      done(id, std::move(result));
    }
  }
  void wake() override {
    ++wakes;
    std::lock_guard lock(wake_mu_);
    woken_ = true;
    wake_cv_.notify_all();
  }
  size_t capacity() const override { return capacity_limit; }

 private:
  struct Pending {
    int64_t at_us;
    ProbeResult result;
  };
  const Clock& clock_;
  std::map<uint64_t, Pending> pending_;  // by id: results come in start order at a tie
  std::map<uint64_t, bool> in_flight_;
  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  bool woken_ = false;
};

}  // namespace sluice::control::health
