// SPDX-License-Identifier: Apache-2.0
#include "dataplane/engine/flow_census.h"

#include <algorithm>

#include "dataplane/engine/flow_table.h"
#include "dataplane/engine/snapshot.h"

namespace sluice::engine {
namespace {

// now - then for a time the worker wrote, or 0 when `then` is ahead of now:
// the worker's clock may have moved past the census's now_ms while the scan
// runs, and a flow touched a moment "after" now is the freshest there is,
// not one idle for 49 days.
uint32_t elapsed_ms(uint32_t now_ms, uint32_t then_ms) {
  const uint32_t d = now_ms - then_ms;
  return static_cast<int32_t>(d) < 0 ? 0 : d;
}

// The entry's backend in `svc`, or null. The cached index is trusted only
// when it is for this snapshot and names the same fingerprint (which also
// rejects most torn reads); otherwise the fingerprint is looked up.
const CompiledBackend* backend_of(const CompiledService& svc, const FlowEntry& e,
                                  uint32_t gen32) {
  if (e.generation == gen32 && e.backend_index < svc.backends.size() &&
      svc.backends[e.backend_index].fingerprint == e.backend_fingerprint) {
    return &svc.backends[e.backend_index];
  }
  const uint16_t idx = svc.find_backend(e.backend_fingerprint);
  return idx == kNoBackendIndex ? nullptr : &svc.backends[idx];
}

}  // namespace

// Cost: one FlowTable::for_each_entry pass (every signature line, every
// occupied entry, sequentially), and per occupied entry one service lookup
// in the snapshot's open-addressing index, plus a binary search of the
// service's fingerprints for entries last touched under another
// generation. Measured (perf/engine_bench BM_census_1M, release build, the
// 2-vCPU development VM): about 16 ms of CPU for 1,048,576 live flows in a
// 2M-entry table, i.e. ~15 ns per live flow; the worker is not slowed.
// The result is built in place: a vector indexed by backend counter slot
// (slots are dense from 0, one per backend ever compiled), then compacted
// to the slots that have flows.
std::vector<SlotFlows> census_flows(const FlowTable& table, const Snapshot& snapshot,
                                    uint32_t now_ms) {
  uint32_t slots = 0;
  for (const CompiledService& svc : snapshot.services()) {
    for (const CompiledBackend& b : svc.backends) slots = std::max(slots, b.counter_slot + 1);
  }
  std::vector<SlotFlows> out(slots);
  const auto gen32 = static_cast<uint32_t>(snapshot.generation());
  table.for_each_entry([&](const FlowEntry& e) {
    // Empty, or a state no writer stores (a torn read): not a flow.
    if (e.state == FlowState::kEmpty || e.state > FlowState::kProbation) return;
    const CompiledService* svc = snapshot.find_service(e.key);
    if (svc == nullptr) return;  // its service is gone
    if (flow_expired(e, now_ms, svc->config.timeouts) &&
        static_cast<int32_t>(now_ms - e.last_seen_ms) >= 0) {
      return;  // idle past its timeout (and not touched during the scan)
    }
    const CompiledBackend* b = backend_of(*svc, e, gen32);
    if (b == nullptr) return;  // a backend the service no longer has
    SlotFlows& f = out[b->counter_slot];
    const uint32_t age = elapsed_ms(now_ms, e.first_seen_ms);
    const uint32_t idle = elapsed_ms(now_ms, e.last_seen_ms);
    if (f.flows == 0) {
      f.oldest_age_ms = age;
      f.newest_idle_ms = idle;
    } else {
      f.oldest_age_ms = std::max(f.oldest_age_ms, age);
      f.newest_idle_ms = std::min(f.newest_idle_ms, idle);
    }
    ++f.flows;
  });
  size_t kept = 0;
  for (uint32_t slot = 0; slot < slots; ++slot) {
    if (out[slot].flows == 0) continue;
    out[slot].backend_slot = slot;
    out[kept++] = out[slot];
  }
  out.resize(kept);
  return out;
}

}  // namespace sluice::engine
