// SPDX-License-Identifier: Apache-2.0
// How many refusal lines the audit log writes: a token bucket per peer
// (dataplane/engine/token_bucket.h, the one the dataplanes use), and one
// for all peers together, so that a caller looping on refused calls, or
// many callers at once, cannot fill the disk. Accepted changes never pass
// through here: every one of them is recorded.
//
// A refusal over either rate is not written but counted for its peer.
// Once a peer's first suppressed refusal is `summary_interval_ms` old, one
// line says "suppressed N refusal lines from PEER" (taken by the caller
// from due()), and counting starts over. So the log still shows who tried,
// how often and when, at a bounded cost: per interval at most
// all_burst + all_rate * interval refusal lines plus one summary per peer
// with something suppressed.
//
// Peers live in a table of at most `max_peers`, least recently refused
// first out. A peer pushed out with refusals still uncounted in a summary
// hands them to a shared "other peers" count, summarised the same way, so
// that cycling through identities neither loses the count nor makes a
// summary line per identity.
//
// Summaries are produced when the log is next called after the interval
// (or at close, with all()); a peer that stops calling gets its summary
// with the next audit record of anyone, or at shutdown.
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>
#include <vector>

#include "dataplane/engine/token_bucket.h"

namespace sluice::control {

struct RefusalLimits {
  uint32_t per_peer_rate = 1;   // refusal lines per second, per peer
  uint32_t per_peer_burst = 20;
  uint32_t all_rate = 20;       // refusal lines per second, all peers together
  uint32_t all_burst = 200;
  size_t max_peers = 1024;
  uint32_t summary_interval_ms = 60000;
};

class RefusalLimiter {
 public:
  // Key under which peers pushed out of the table are counted together.
  static constexpr char kOtherPeers[] = "(peers no longer tracked)";

  struct Summary {
    std::string peer;
    uint64_t suppressed = 0;
    uint32_t over_ms = 0;  // since the first suppressed line
  };

  explicit RefusalLimiter(RefusalLimits limits) : limits_(limits) {}

  // Whether a refusal line for `peer` may be written at now_ms (wrapping
  // milliseconds of a monotonic clock); counts it as suppressed otherwise.
  bool admit(const std::string& peer, uint32_t now_ms);
  // The summaries due at now_ms, each taken once.
  std::vector<Summary> due(uint32_t now_ms);
  // Every summary still pending, due or not (at shutdown).
  std::vector<Summary> all(uint32_t now_ms);

  size_t peers() const { return table_.size(); }

 private:
  struct Peer {
    std::string key;
    sluice_token_bucket bucket{};
    uint64_t suppressed = 0;
    uint32_t first_suppressed_ms = 0;
  };
  using Lru = std::list<Peer>;  // most recently refused first

  static void suppress(Peer& p, uint64_t n, uint32_t first_ms);
  std::vector<Summary> collect(uint32_t now_ms, bool every);

  const RefusalLimits limits_;
  sluice_token_bucket all_{};
  Lru lru_;
  std::unordered_map<std::string, Lru::iterator> table_;
  Peer others_{kOtherPeers};
};

}  // namespace sluice::control
