// SPDX-License-Identifier: Apache-2.0
#include "control/api/mutation_options.h"

#include <algorithm>

namespace sluice::control::api {

MutationOptions to_mutation_options(
    const RequestOptions& request,
    std::optional<std::chrono::steady_clock::time_point> call_deadline,
    std::chrono::steady_clock::time_point now) {
  MutationOptions options;
  options.dry_run = request.dry_run;
  options.expected_revision = request.expected_revision;
  // A dry run changes nothing, so there is nothing to wait for.
  if (!request.wait.enabled() || request.dry_run) return options;

  std::optional<std::chrono::steady_clock::time_point> until;
  if (request.wait.timeout_ms() > 0) {
    until = now + std::chrono::milliseconds(request.wait.timeout_ms());
  }
  if (call_deadline) {
    const auto left = std::max(*call_deadline - now, std::chrono::steady_clock::duration::zero());
    const auto margin = std::min<std::chrono::steady_clock::duration>(kDeadlineMargin, left / 10);
    const auto before_deadline = *call_deadline - margin;
    until = until ? std::min(*until, before_deadline) : before_deadline;
  }
  options.wait_applied_until = until ? *until : now + kDefaultWaitApplied;
  return options;
}

}  // namespace sluice::control::api
