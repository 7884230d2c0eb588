// SPDX-License-Identifier: Apache-2.0
// The latest flow census of the dataplane (DataplaneSink::flow_census: live
// flows per worker and backend), refreshed by a thread of its own, so that
// /metrics scrapes, GetStats and GetDrainStatus read a recent count instead
// of each scanning every flow table. A census reads the tables while the
// workers forward (they never wait for it); its cost grows with the tables'
// size, so the thread waits at least 10 times as long as the last census
// took between two of them: at most about a tenth of one control core.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "control/core/dataplane_sink.h"
#include "dataplane/engine/snapshot.h"

namespace sluice::control {

class FlowCensusCache {
 public:
  // The snapshot a census judges liveness and names slots by (the one last
  // published).
  using SnapshotSource = std::function<std::shared_ptr<const engine::Snapshot>()>;

  struct Entry {
    std::shared_ptr<const FlowCensus> census;  // null before the first
    std::shared_ptr<const engine::Snapshot> snapshot;
  };

  FlowCensusCache(const DataplaneSink& dataplane, SnapshotSource snapshot);
  ~FlowCensusCache();  // stops the thread
  FlowCensusCache(const FlowCensusCache&) = delete;
  FlowCensusCache& operator=(const FlowCensusCache&) = delete;

  // Takes a census every `period` (or 10x its duration, if longer) until
  // stop().
  void start(std::chrono::milliseconds period);
  void stop();

  // The latest census, without waiting (census null before the first).
  Entry latest() const;
  // The latest census if it is younger than max_age, else a new one taken
  // now (callers asking at once share one scan).
  Entry fresh(std::chrono::milliseconds max_age);
  // How many censuses were taken (tests, metrics).
  uint64_t taken() const;

 private:
  Entry take();

  const DataplaneSink& dataplane_;
  const SnapshotSource snapshot_;

  std::mutex scan_mutex_;  // one census at a time
  mutable std::mutex mutex_;  // guards latest_, taken_, stop_
  std::condition_variable wake_;
  Entry latest_;
  uint64_t taken_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace sluice::control
