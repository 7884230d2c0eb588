// SPDX-License-Identifier: Apache-2.0
// The time and randomness the health checker schedules with, as interfaces
// so that unit tests run the checker in virtual time with chosen jitter.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace sluice::control::health {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic microseconds from an arbitrary origin.
  virtual int64_t now_us() const = 0;
};

class SteadyClock final : public Clock {
 public:
  int64_t now_us() const override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

class Random {
 public:
  virtual ~Random() = default;
  // Uniform in [0, bound); 0 when bound is 0.
  virtual uint64_t below(uint64_t bound) = 0;
};

// Seeded from the system's entropy: appliances started together do not
// probe in step.
class DefaultRandom final : public Random {
 public:
  DefaultRandom() : engine_(std::random_device{}()) {}
  uint64_t below(uint64_t bound) override {
    if (bound == 0) return 0;
    return std::uniform_int_distribution<uint64_t>(0, bound - 1)(engine_);
  }

 private:
  std::mt19937_64 engine_;
};

}  // namespace sluice::control::health
