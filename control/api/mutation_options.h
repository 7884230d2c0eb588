// SPDX-License-Identifier: Apache-2.0
// The options shared by every mutation request (dry_run, expected_revision,
// wait) as the core's MutationOptions, and in particular when a wait for
// "applied" ends (the rules are documented on WaitApplied in control.proto).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "control/api/control_core.h"
#include "sluice/v1/control.pb.h"

namespace sluice::control::api {

// A wait with neither timeout_ms nor a call deadline ends after this.
inline constexpr std::chrono::milliseconds kDefaultWaitApplied{30000};
// The server gives up waiting this long before the call's own deadline (or
// a tenth of the time left, if less), so that its DEADLINE_EXCEEDED, which
// names the revision, beats the client library's bare one.
inline constexpr std::chrono::milliseconds kDeadlineMargin{200};

struct RequestOptions {
  bool dry_run = false;
  std::optional<uint64_t> expected_revision;
  v1::WaitApplied wait;
};

// `call_deadline` is the call's remaining time as a steady_clock instant
// (nullopt: the call has none); `now` is when the call was received.
MutationOptions to_mutation_options(
    const RequestOptions& request,
    std::optional<std::chrono::steady_clock::time_point> call_deadline,
    std::chrono::steady_clock::time_point now);

// Fills a RequestOptions from any of the mutation requests (they share the
// field names dry_run, expected_revision and wait).
template <typename Request>
RequestOptions request_options(const Request& r) {
  RequestOptions o;
  o.dry_run = r.dry_run();
  if (r.has_expected_revision()) o.expected_revision = r.expected_revision();
  o.wait = r.wait();
  return o;
}

}  // namespace sluice::control::api
