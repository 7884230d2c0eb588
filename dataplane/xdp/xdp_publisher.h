// SPDX-License-Identifier: Apache-2.0
// Publishing engine snapshots to the XDP program, with generation
// acknowledgements: what dataplane/dpdk/snapshot_publisher.h does for
// poll-mode workers, for every CPU that runs the program.
//
// publish() writes the snapshot into the inactive slot, switches `root` and
// waits for an RCU grace period (SnapshotWriter). When it returns, no packet
// still reads the previous configuration and every packet from then on, on
// any CPU, reads the new one: the generation is applied everywhere, even on
// CPUs that have seen no packet since (an idle CPU runs no program and so
// could never acknowledge anything itself). wait_applied() therefore answers
// from the publications that completed; the program's per-CPU
// `seen_generation` adds what each CPU has already forwarded with while a
// publication is still waiting for its grace period.
//
// Thread-safe for control threads: publications are serialised, and
// wait_applied() and worker_generations() never wait for a publication's
// map writes.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/engine/snapshot.h"
#include "dataplane/xdp/snapshot_writer.h"
#include "dataplane/xdp/xdp_maps.h"

namespace sluice::xdp {

class XdpPublisher {
 public:
  // Continues from the generation the maps hold (adopted ones included).
  // Throws XdpError.
  explicit XdpPublisher(const XdpMaps& maps, WriterOptions options = {});
  XdpPublisher(const XdpPublisher&) = delete;
  XdpPublisher& operator=(const XdpPublisher&) = delete;

  // Why `snapshot` does not fit the maps (empty when it does).
  std::vector<std::string> check(const engine::Snapshot& snapshot) const;

  // Makes `snapshot` the configuration of every CPU; returns once it is.
  // Throws XdpError (see SnapshotWriter::write): the previous configuration
  // then stays active.
  WriteStats publish(std::shared_ptr<const engine::Snapshot> snapshot);

  // True once every CPU forwards with `generation` or later; false when
  // `until` passes first.
  bool wait_applied(uint64_t generation, std::chrono::steady_clock::time_point until) const;

  // The generation each possible CPU forwards with (index = CPU number).
  std::vector<uint64_t> worker_generations() const;

  // The generation of the last completed publication (before the first:
  // the generation found in the maps, 0 when nothing was configured).
  uint64_t published_generation() const;
  // The snapshot generation of the configuration the maps held when this
  // publisher was made (adopted ones: in control-plane mode, the state
  // revision they forward with; the root generation may be higher); 0 when
  // nothing was configured, or the maps were written by a sluiced that did
  // not record it.
  uint64_t found_snapshot_generation() const { return found_snapshot_generation_; }
  // The last snapshot this publisher published (null before the first).
  std::shared_ptr<const engine::Snapshot> current() const;

 private:
  XdpMaps maps_;
  std::mutex publish_mutex_;  // one publication at a time
  SnapshotWriter writer_;     // guarded by publish_mutex_

  mutable std::mutex state_mutex_;
  mutable std::condition_variable applied_cv_;
  uint64_t applied_generation_ = 0;  // snapshot generation every CPU forwards with
  uint64_t applied_root_ = 0;        // its root generation (they differ after a bump)
  std::optional<uint64_t> in_flight_;  // snapshot generation being published
  std::shared_ptr<const engine::Snapshot> current_;
  int possible_cpus_ = 0;
  uint64_t found_snapshot_generation_ = 0;
};

}  // namespace sluice::xdp
