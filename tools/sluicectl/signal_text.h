// SPDX-License-Identifier: Apache-2.0
// The golden signals of GetStats (Traffic, HandshakeHistogram, ActiveFlows,
// BackendHealth) as the stats tables print them.
#pragma once

#include <cstdint>
#include <string>

#include "sluice/v1/control.pb.h"

namespace sluice::sluicectl {

// Connect success: handshakes_completed / (handshakes_completed +
// connect_failures + handshakes_expired), as "99.5%" (rounded down, so
// that a single failure never reads as "100.0%"); "-" without attempts.
std::string connect_success_text(uint64_t completed, uint64_t failures, uint64_t expired);
std::string connect_success_text(const v1::Traffic& t);

// "2ms/50ms": the histogram's p50 and p99 as sluiced estimated them (the
// upper bound of the bucket holding the quantile); ">5s" for one in the
// last, unbounded bucket; "-" without handshakes.
std::string handshake_quantiles_text(const v1::HandshakeHistogram& h);

// "healthy", "unhealthy", "unknown"; "-" when no active check is
// configured for the backend.
std::string health_text(const v1::BackendHealth& h);

}  // namespace sluice::sluicectl
