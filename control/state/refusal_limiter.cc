// SPDX-License-Identifier: Apache-2.0
#include "control/state/refusal_limiter.h"

namespace sluice::control {

void RefusalLimiter::suppress(Peer& p, uint64_t n, uint32_t first_ms) {
  if (p.suppressed == 0) p.first_suppressed_ms = first_ms;
  p.suppressed += n;
}

bool RefusalLimiter::admit(const std::string& peer, uint32_t now_ms) {
  auto found = table_.find(peer);
  if (found != table_.end()) {
    lru_.splice(lru_.begin(), lru_, found->second);  // now the most recent
  } else {
    if (table_.size() >= limits_.max_peers && !lru_.empty()) {
      Peer& oldest = lru_.back();
      if (oldest.suppressed) suppress(others_, oldest.suppressed, oldest.first_suppressed_ms);
      table_.erase(oldest.key);
      lru_.pop_back();
    }
    lru_.push_front(Peer{peer});
    table_.emplace(peer, lru_.begin());
  }
  Peer& p = lru_.front();
  // Both buckets are asked in turn: a peer within its own rate still waits
  // for the shared one, and then its own token is spent (it did call).
  const bool own = sluice_token_bucket_take(&p.bucket, now_ms, limits_.per_peer_rate,
                                            limits_.per_peer_burst);
  if (own && sluice_token_bucket_take(&all_, now_ms, limits_.all_rate, limits_.all_burst)) {
    return true;
  }
  suppress(p, 1, now_ms);
  return false;
}

std::vector<RefusalLimiter::Summary> RefusalLimiter::collect(uint32_t now_ms, bool every) {
  std::vector<Summary> out;
  auto take = [&](Peer& p) {
    if (p.suppressed == 0) return;
    const uint32_t age = now_ms - p.first_suppressed_ms;  // wraps correctly
    if (!every && age < limits_.summary_interval_ms) return;
    out.push_back(Summary{p.key, p.suppressed, age});
    p.suppressed = 0;
  };
  for (Peer& p : lru_) take(p);
  take(others_);
  return out;
}

std::vector<RefusalLimiter::Summary> RefusalLimiter::due(uint32_t now_ms) {
  return collect(now_ms, false);
}

std::vector<RefusalLimiter::Summary> RefusalLimiter::all(uint32_t now_ms) {
  return collect(now_ms, true);
}

}  // namespace sluice::control
