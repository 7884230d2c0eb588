// SPDX-License-Identifier: Apache-2.0
#include "tools/sluicectl/interrupt.h"

#include <pthread.h>

#include <cerrno>
#include <ctime>

namespace sluice::sluicectl {

Interrupt::Interrupt(std::function<void()> on_interrupt)
    : on_interrupt_(std::move(on_interrupt)) {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGINT);
  sigaddset(&signals_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals_, &previous_mask_);
  thread_ = std::thread([this] { wait_for_signal(); });
}

Interrupt::~Interrupt() {
  stopping_ = true;
  thread_.join();
  pthread_sigmask(SIG_SETMASK, &previous_mask_, nullptr);
}

void Interrupt::wait_for_signal() {
  // sigtimedwait rather than sigwait, so that the destructor can end this
  // thread without sending a signal.
  const timespec tick{0, 100 * 1000 * 1000};
  while (!stopping_) {
    const int signal = sigtimedwait(&signals_, nullptr, &tick);
    if (signal < 0) continue;  // EAGAIN (the tick) or EINTR
    {
      std::lock_guard lock(mutex_);
      interrupted_ = true;
    }
    woken_.notify_all();
    if (on_interrupt_) on_interrupt_();
    return;
  }
}

bool Interrupt::sleep_for(std::chrono::milliseconds duration) {
  std::unique_lock lock(mutex_);
  woken_.wait_for(lock, duration, [&] { return interrupted_.load(); });
  return interrupted_;
}

}  // namespace sluice::sluicectl
