// SPDX-License-Identifier: Apache-2.0
// The HTTP side of a health check, apart from any socket: the request it
// sends and how it judges what comes back. Only the status line is read:
// the check is "does the backend answer this path with an expected status",
// and a body or headers of any size must not cost the checker anything.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "control/health/health_target.h"
#include "control/health/prober.h"

namespace sluice::control::health {

// Bytes read at most before the status line must have ended.
inline constexpr size_t kMaxStatusLineBytes = 4096;

// The Host header: config.http_host, else the backend's address (IPv6 in
// brackets) with ":port" unless it is the scheme's default port.
std::string http_host_header(const HealthTarget& target);

// "GET <http_path> HTTP/1.1" with Host, User-Agent and Connection: close.
std::string http_request(const HealthTarget& target);

// Judges the response received so far (`eof`: the peer closed). nullopt
// while the status line is incomplete and more may come; otherwise ok when
// the status is in [expected_status_start, expected_status_end).
std::optional<ProbeResult> judge_http_response(std::string_view received, bool eof,
                                               const engine::HealthCheckConfig& config);

}  // namespace sluice::control::health
