// SPDX-License-Identifier: Apache-2.0
#include "dataplane/xdp/xdp_publisher.h"

#include <bpf/libbpf.h>

#include "dataplane/xdp/map_io.h"

namespace sluice::xdp {

XdpPublisher::XdpPublisher(const XdpMaps& maps, WriterOptions options)
    : maps_(maps), writer_(maps, options) {
  applied_root_ = writer_.root_generation();
  applied_generation_ = applied_root_;
  if (const uint64_t root = writer_.root_word(); root != 0) {
    const uint32_t slot = sluice_xdp_root_slot(root);
    sluice_xdp_globals g{};
    if (lookup_element(maps_.globals, "globals", &slot, &g)) {
      found_snapshot_generation_ = uint64_t{g.generation_hi} << 32 | g.generation_lo;
    }
  }
  possible_cpus_ = libbpf_num_possible_cpus();
  if (possible_cpus_ <= 0) {
    throw XdpError("cannot count the possible CPUs (/sys/devices/system/cpu/possible)");
  }
}

std::vector<std::string> XdpPublisher::check(const engine::Snapshot& snapshot) const {
  return writer_.check(snapshot);
}

WriteStats XdpPublisher::publish(std::shared_ptr<const engine::Snapshot> snapshot) {
  if (!snapshot) throw XdpError("no snapshot to publish");
  std::lock_guard publishing(publish_mutex_);
  {
    std::lock_guard lock(state_mutex_);
    in_flight_ = snapshot->generation();
  }
  WriteStats stats;
  try {
    stats = writer_.write(*snapshot);
  } catch (...) {
    std::lock_guard lock(state_mutex_);
    in_flight_.reset();
    throw;
  }
  {
    std::lock_guard lock(state_mutex_);
    applied_generation_ = snapshot->generation();
    applied_root_ = stats.root_generation;
    in_flight_.reset();
    current_ = std::move(snapshot);
  }
  applied_cv_.notify_all();
  return stats;
}

bool XdpPublisher::wait_applied(uint64_t generation,
                                std::chrono::steady_clock::time_point until) const {
  std::unique_lock lock(state_mutex_);
  return applied_cv_.wait_until(lock, until, [&] { return applied_generation_ >= generation; });
}

std::vector<uint64_t> XdpPublisher::worker_generations() const {
  // Per-CPU array values: one 8-byte slot per possible CPU.
  std::vector<uint64_t> seen(static_cast<size_t>(possible_cpus_), 0);
  const uint32_t zero = 0;
  lookup_element(maps_.seen_generation, "seen_generation", &zero, seen.data());
  std::lock_guard lock(state_mutex_);
  std::vector<uint64_t> out(seen.size(), applied_generation_);
  for (size_t cpu = 0; cpu < seen.size(); ++cpu) {
    // A root newer than the applied one is the publication in flight,
    // whose grace period has not ended: this CPU already forwards with it.
    if (in_flight_ && seen[cpu] > applied_root_) out[cpu] = *in_flight_;
  }
  return out;
}

uint64_t XdpPublisher::published_generation() const {
  std::lock_guard lock(state_mutex_);
  return applied_generation_;
}

std::shared_ptr<const engine::Snapshot> XdpPublisher::current() const {
  std::lock_guard lock(state_mutex_);
  return current_;
}

}  // namespace sluice::xdp
