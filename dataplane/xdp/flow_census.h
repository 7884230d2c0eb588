// SPDX-License-Identifier: Apache-2.0
// The XDP dataplane's flow census (engine/flow_census.h for the engine's):
// the live flows per CPU and backend counter slot, read from userspace out
// of the program's "flows" map (LRU_HASH: one entry per flow, shared by
// every CPU) while the program keeps forwarding.
//
// How it reads: BPF_MAP_LOOKUP_BATCH, a few thousand entries per syscall
// (key by key with get_next_key + lookup where the kernel has no batch
// operation). The kernel walks the map bucket by bucket under each bucket's
// lock only while copying it; the program is never stopped or slowed.
// Bounded-error, as the engine's census: a flow created or ended during the
// walk may or may not be in it, an entry written while it is copied may be
// seen in its old or its new state.
//
// What counts, with `now_ms` the program's clock (CLOCK_MONOTONIC_COARSE,
// which bpf_ktime_get_coarse_ns reads) and the timeouts of the service the
// key belongs to in `snapshot` (keys of services the snapshot no longer has
// are skipped, as are flows of backends it no longer has):
//  - A flow is counted on the CPU that carried its latest packet (the
//    entry's `cpu`, which the program keeps current), as an engine
//    worker's flows are those in its table: each flow once, on one CPU.
//  - Live (not empty, idle less than its state's timeout): one flow of its
//    backend's slot on that CPU; age = now - first_seen_ms, idle = now -
//    last_seen_ms (an entry written after `now_ms` was read counts 0).
//  - An expired SYN_SENT: a handshake that never completed. The map has no
//    sweep (the LRU drops entries silently when full), so the census is
//    where those no packet came back for are counted: once, on that CPU,
//    against the backend's service, pool and backend slots (the service's
//    only when the snapshot no longer has the backend), and the key is
//    deleted. A packet of the flow arriving between the read and the
//    delete may have counted it too (the census cannot take the entry's
//    handshake claim, ebpf/xdp/lib/flow.h), or see its new entry deleted
//    (the next packet then schedules the flow again): both need a packet
//    within microseconds of a census on a flow idle for seconds.
//  - Anything else expired is left to the LRU.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "dataplane/engine/counters.h"
#include "dataplane/engine/flow_census.h"
#include "dataplane/engine/snapshot.h"
#include "dataplane/xdp/xdp_maps.h"

namespace sluice::xdp {

// One expired SYN_SENT entry the census removed.
struct ExpiredHandshake {
  uint32_t cpu = 0;
  uint32_t service_slot = 0;
  bool has_backend = false;  // the snapshot still has its backend: the two slots below count
  uint32_t pool_slot = 0;
  uint32_t backend_slot = 0;
};

struct XdpFlowCensus {
  // By possible CPU (the one that carried the flows' latest packets), each in
  // backend-slot order, one element per slot with at least one live flow
  // on that CPU.
  std::vector<std::vector<engine::SlotFlows>> cpus;
  std::vector<ExpiredHandshake> expired;  // counted and deleted
  uint64_t keys = 0;                      // keys read
  bool batched = false;                   // both maps read with BPF_MAP_LOOKUP_BATCH
};

// Census of the "flows" map of `maps` at `now_ms`. Throws XdpError when
// the kernel refuses a read or a delete.
XdpFlowCensus census_xdp_flows(const XdpMaps& maps, const engine::Snapshot& snapshot,
                               uint32_t now_ms);

// The program's clock now: wrapping ms of CLOCK_MONOTONIC_COARSE.
uint32_t xdp_now_ms();

// The handshakes_expired the censuses found, kept since this process
// started, per CPU and counter slot, for the stats (the program counts only
// those a packet found, in its own maps). Thread-safe: censuses and stats
// run on control threads (a lock here is off the forwarding path).
class ExpiredHandshakeCounts {
 public:
  void add(const std::vector<ExpiredHandshake>& expired);
  // Adds them to the handshakes_expired signal of `workers` (index = CPU),
  // for slots within each worker's vectors.
  void add_to(std::vector<engine::WorkerCounters>& workers) const;

 private:
  using Key = std::pair<uint32_t, uint32_t>;  // cpu, slot
  mutable std::mutex mutex_;
  std::map<Key, uint64_t> services_;
  std::map<Key, uint64_t> pools_;
  std::map<Key, uint64_t> backends_;
};

}  // namespace sluice::xdp
