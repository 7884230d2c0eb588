// SPDX-License-Identifier: Apache-2.0
// The options every changing command takes: --dry-run, --expect-revision N,
// --wait[=SECONDS]; how they go into a request and how a result is told.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "tools/sluicectl/command.h"

namespace sluice::sluicectl {

// --wait without SECONDS waits this long (sluiced's own default too).
inline constexpr uint32_t kDefaultWaitSeconds = 30;
inline constexpr uint32_t kMaxWaitSeconds = 3600;

struct MutationFlags {
  bool dry_run = false;
  std::optional<uint64_t> expected_revision;
  std::optional<std::chrono::milliseconds> wait;
};

void add_mutation_options(po::options_description& options);
// Throws UsageError for a malformed --expect-revision or --wait.
MutationFlags mutation_flags(const po::variables_map& vm);

// Sets dry_run, expected_revision and wait of any mutation request.
template <typename Request>
void fill_request(Request& request, const MutationFlags& flags) {
  request.set_dry_run(flags.dry_run);
  if (flags.expected_revision) request.set_expected_revision(*flags.expected_revision);
  if (flags.wait) {
    request.mutable_wait()->set_enabled(true);
    request.mutable_wait()->set_timeout_ms(static_cast<uint32_t>(flags.wait->count()));
  }
}

// The call's deadline: the usual one, plus the wait.
void set_mutation_deadline(grpc::ClientContext& context, const MutationFlags& flags);

// "(revision 7)", "(revision 7, applied on every worker)" or
// "(dry run against revision 6: valid, nothing changed)".
std::string result_note(const v1::MutationResponse& response, const MutationFlags& flags);

}  // namespace sluice::sluicectl
