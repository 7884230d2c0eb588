// SPDX-License-Identifier: Apache-2.0
#include "tools/sluicectl/signal_text.h"

#include <cmath>
#include <cstdio>
#include <optional>

#include "tools/sluicectl/enum_text.h"
#include "tools/sluicectl/units.h"

namespace sluice::sluicectl {
namespace {

// Whether quantile q of `h` lies in its last bucket (+Inf), where sluiced
// reports the largest bound although the times are above it.
bool beyond_last_bound(const v1::HandshakeHistogram& h, double q) {
  if (h.counts_size() != h.bounds_ms_size() + 1 || h.count() == 0) return false;
  const auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(h.count())));
  uint64_t bounded = 0;
  for (int i = 0; i < h.bounds_ms_size(); ++i) bounded += h.counts(i);
  return bounded < rank;
}

std::string quantile_text(const v1::HandshakeHistogram& h, double q, std::optional<uint32_t> ms) {
  if (!ms) return "-";
  return (beyond_last_bound(h, q) ? ">" : "") + duration_text(*ms);
}

}  // namespace

std::string connect_success_text(uint64_t completed, uint64_t failures, uint64_t expired) {
  const uint64_t attempts = completed + failures + expired;
  if (attempts == 0) return "-";
  // Tenths of a percent, rounded down.
  const double tenths = std::floor(1000.0 * static_cast<double>(completed) /
                                   static_cast<double>(attempts));
  char buffer[16];
  std::snprintf(buffer, sizeof(buffer), "%.1f%%", tenths / 10);
  return buffer;
}

std::string connect_success_text(const v1::Traffic& t) {
  return connect_success_text(t.handshakes_completed(), t.connect_failures(),
                              t.handshakes_expired());
}

std::string handshake_quantiles_text(const v1::HandshakeHistogram& h) {
  if (!h.has_p50_ms() && !h.has_p99_ms()) return "-";
  return quantile_text(h, 0.5, h.has_p50_ms() ? std::optional(h.p50_ms()) : std::nullopt) + "/" +
         quantile_text(h, 0.99, h.has_p99_ms() ? std::optional(h.p99_ms()) : std::nullopt);
}

std::string health_text(const v1::BackendHealth& h) {
  return h.checked() ? health_state_text(h.state()) : "-";
}

}  // namespace sluice::sluicectl
