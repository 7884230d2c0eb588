// SPDX-License-Identifier: Apache-2.0
#include "control/core/flow_census_cache.h"

#include <algorithm>

namespace sluice::control {

FlowCensusCache::FlowCensusCache(const DataplaneSink& dataplane, SnapshotSource snapshot)
    : dataplane_(dataplane), snapshot_(std::move(snapshot)) {}

FlowCensusCache::~FlowCensusCache() { stop(); }

FlowCensusCache::Entry FlowCensusCache::take() {
  std::lock_guard scan(scan_mutex_);
  Entry e;
  e.snapshot = snapshot_();
  if (!e.snapshot) return latest();
  const auto t0 = std::chrono::steady_clock::now();
  auto census = std::make_shared<FlowCensus>(dataplane_.flow_census(*e.snapshot));
  // A dataplane may leave the timing to us.
  if (census->taken_at == std::chrono::steady_clock::time_point{}) census->taken_at = t0;
  if (census->duration.count() == 0) {
    census->duration = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - t0);
  }
  e.census = std::move(census);
  std::lock_guard lock(mutex_);
  latest_ = e;
  ++taken_;
  return e;
}

void FlowCensusCache::start(std::chrono::milliseconds period) {
  {
    std::lock_guard lock(mutex_);
    stop_ = false;
  }
  thread_ = std::thread([this, period] {
    for (;;) {
      const Entry e = take();
      std::chrono::milliseconds wait = period;
      if (e.census) {
        wait = std::max(wait, std::chrono::duration_cast<std::chrono::milliseconds>(
                                  e.census->duration * 10));
      }
      std::unique_lock lock(mutex_);
      if (wake_.wait_for(lock, wait, [this] { return stop_; })) return;
    }
  });
}

void FlowCensusCache::stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

FlowCensusCache::Entry FlowCensusCache::latest() const {
  std::lock_guard lock(mutex_);
  return latest_;
}

FlowCensusCache::Entry FlowCensusCache::fresh(std::chrono::milliseconds max_age) {
  const auto young = [&](const Entry& e) {
    return e.census && std::chrono::steady_clock::now() - e.census->taken_at <= max_age;
  };
  if (Entry e = latest(); young(e)) return e;
  {
    // Another caller may be scanning already: wait for it, then look again.
    std::lock_guard scan(scan_mutex_);
    if (Entry e = latest(); young(e)) return e;
  }
  return take();
}

uint64_t FlowCensusCache::taken() const {
  std::lock_guard lock(mutex_);
  return taken_;
}

}  // namespace sluice::control
