// SPDX-License-Identifier: Apache-2.0
// Ending a long-running command (stats --watch, events) cleanly on Ctrl-C
// or SIGTERM: exit 0 after the output so far, rather than dying half-way
// through a line.
//
// While an Interrupt exists, SIGINT and SIGTERM are blocked in the thread
// that made it and in every thread started afterwards (gRPC's included,
// so make it before the first call), and a thread of its own waits for
// them: on one, interrupted() turns true, sleepers wake and on_interrupt
// runs (e.g. cancelling a streaming call, so that a blocked read returns).
#pragma once

#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace sluice::sluicectl {

class Interrupt {
 public:
  explicit Interrupt(std::function<void()> on_interrupt = {});
  ~Interrupt();
  Interrupt(const Interrupt&) = delete;
  Interrupt& operator=(const Interrupt&) = delete;

  bool interrupted() const { return interrupted_; }
  // Sleeps for `duration`, or less once interrupted; returns interrupted().
  bool sleep_for(std::chrono::milliseconds duration);

 private:
  void wait_for_signal();

  const std::function<void()> on_interrupt_;
  sigset_t signals_{};
  sigset_t previous_mask_{};
  std::atomic<bool> interrupted_{false};
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::condition_variable woken_;
  std::thread thread_;
};

}  // namespace sluice::sluicectl
