// SPDX-License-Identifier: Apache-2.0
// Quantiles of a fixed-bucket handshake histogram (engine/signal_list.h),
// as a reader can tell them from the buckets alone: the upper bound of the
// bucket that holds the quantile. That over-estimates by at most one
// bucket's width, and never under-estimates, which is the safe side for a
// latency gate. A quantile in the last (+Inf) bucket reads as the largest
// bound: "at least 5000 ms".
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>

#include "dataplane/engine/counters.h"

namespace sluice::control {

// q in (0, 1]; nullopt when the histogram is empty.
inline std::optional<uint32_t> histogram_quantile_ms(const engine::HandshakeHistogram& h,
                                                     double q) {
  const uint64_t total = h.count();
  if (total == 0) return std::nullopt;
  // The rank of the quantile, 1-based: the smallest r with r >= q * total.
  const auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total)));
  uint64_t seen = 0;
  for (int i = 0; i < SLUICE_HANDSHAKE_BUCKETS; ++i) {
    seen += h.buckets[i];
    if (seen >= rank && seen > 0) {
      return i < SLUICE_HANDSHAKE_BUCKETS - 1 ? engine::kHandshakeBoundsMs[i]
                                              : engine::kHandshakeBoundsMs[SLUICE_HANDSHAKE_BUCKETS - 2];
    }
  }
  return engine::kHandshakeBoundsMs[SLUICE_HANDSHAKE_BUCKETS - 2];
}

}  // namespace sluice::control
