// SPDX-License-Identifier: Apache-2.0
// A control-plane thread that runs a tick until stopped: the tick says
// when it wants to run next, and stop() wakes it at once (no busy loop, no
// waiting out an interval at shutdown). The DataplaneWatcher ticks at a
// fixed interval, the Reconciler sooner when a retry is due.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace sluice::control {

class PeriodicThread {
 public:
  using Clock = std::chrono::steady_clock;
  // Returns when to run next.
  using Tick = std::function<Clock::time_point()>;

  PeriodicThread() = default;
  ~PeriodicThread() { stop(); }
  PeriodicThread(const PeriodicThread&) = delete;
  PeriodicThread& operator=(const PeriodicThread&) = delete;

  // Starts ticking at once; does nothing while already running.
  void start(Tick tick) {
    std::lock_guard lock(mutex_);
    if (thread_.joinable()) return;
    stopping_ = false;
    thread_ = std::thread([this, tick = std::move(tick)] {
      std::unique_lock lock(mutex_);
      while (!stopping_) {
        lock.unlock();
        const Clock::time_point next = tick();
        lock.lock();
        wake_.wait_until(lock, next, [&] { return stopping_; });
      }
    });
  }

  // Returns once the thread has ended (a tick under way finishes first).
  void stop() {
    std::thread thread;
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      thread = std::move(thread_);
    }
    wake_.notify_all();
    if (thread.joinable()) thread.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sluice::control
