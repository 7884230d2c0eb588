// SPDX-License-Identifier: Apache-2.0
// FlowTable::adopt: taking over a table that an earlier process left in
// memory which outlived it (a DPDK restart: dataplane/dpdk/flow_store.h).
//
// Why each step:
//  - kill -9 stops the process between two stores: an insert may have set a
//    signature and not yet the key, make_room may have copied a resident
//    and not yet handed its old way to the new key, set_state may have
//    written the state and not yet the confirmed bit. So every occupied way
//    is checked against its own key: the seed's hash of the key must give
//    the way's signature and name this bucket as one of its two, and the
//    state must be a valid, non-empty one; the confirmed bit is rewritten
//    from the state. A way that fails is freed: at worst one flow is
//    scheduled afresh, never is a packet sent to a backend chosen for
//    another flow. (A copy left by an interrupted move is a true duplicate
//    of one flow: lookup finds the first, the other ages out.)
//  - A backend index is valid for one configuration generation, and the
//    restarted daemon publishes its configuration anew, with generation
//    numbers that may repeat the old ones (a services file starts at 1)
//    over another order of backends. So every entry is marked stale, and
//    its first packet finds the backend again by fingerprint, as the engine
//    does for any entry cached under another generation: a draining backend
//    keeps its flows, a removed one loses them.
//  - Times are wrapping milliseconds of CLOCK_MONOTONIC (the file header
//    checked it is the same boot), but each process converts TSC cycles to
//    them with its own estimate of the TSC rate, so the old one may have
//    stamped a little ahead of the new clock. Such an entry would look idle
//    for ~49 days and expire on the spot; one ahead by at most max_ahead_ms
//    is taken as seen now instead.
#include "dataplane/engine/flow_table.h"

namespace sluice::engine {
namespace {

bool valid_state(FlowState s) {
  return s == FlowState::kSynSent || s == FlowState::kEstablished ||
         s == FlowState::kClosing || s == FlowState::kUdp || s == FlowState::kProbation;
}

// Whether `t` is ahead of now by at most max_ahead (and not equal).
bool ahead(uint32_t t, uint32_t now_ms, uint32_t max_ahead) {
  const uint32_t by = t - now_ms;
  return by != 0 && by <= max_ahead;
}

}  // namespace

FlowAdoptReport FlowTable::adopt(uint32_t now_ms, const sluice_hash_seed& seed,
                                 uint32_t max_ahead_ms) {
  FlowAdoptReport report;
  occupied_ = 0;
  room_failures_ = 0;
  room_skips_ = 0;
  sweep_cursor_ = 0;
  stats_ = {};
  for (uint32_t b = 0; b <= mask_; ++b) {
    SignatureLine& line = sigs_[b];
    for (uint32_t w = 0; w < kWays; ++w) {
      if (line.sig[w] == 0) continue;
      FlowEntry& e = entries_[b * kWays + w];
      const uint64_t hash = sluice_flow_hash(&e.key, &seed);
      const uint32_t sig = signature(hash);
      const auto b1 = static_cast<uint32_t>(hash) & mask_;
      const bool in_place = (line.sig[w] & ~kConfirmedBit) == sig &&
                            (b == b1 || b == other_bucket(b1, sig));
      if (!in_place || !valid_state(e.state)) {
        line.sig[w] = 0;
        e.state = FlowState::kEmpty;
        ++report.dropped;
        continue;
      }
      line.sig[w] = sig | (flow_confirmed(e.state) ? kConfirmedBit : 0u);
      if (ahead(e.last_seen_ms, now_ms, max_ahead_ms)) {
        e.last_seen_ms = now_ms;
        ++report.clamped;
      }
      if (ahead(e.first_seen_ms, now_ms, max_ahead_ms)) e.first_seen_ms = now_ms;
      line.seen[w] = e.last_seen_ms;  // the copy insert and sweep trust
      e.generation = kStaleGeneration;
      ++occupied_;
      ++report.kept;
    }
  }
  return report;
}

}  // namespace sluice::engine
