// SPDX-License-Identifier: Apache-2.0
#include "tools/sluicectl/mutation_flags.h"

#include "tools/sluicectl/rpc.h"

namespace sluice::sluicectl {
namespace {

// Whole decimal numbers only: boost's lexical_cast would take "-1" as
// 2^64-1 for an unsigned option, and a typo must not become a revision.
std::optional<uint64_t> parse_decimal(const std::string& text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  return value;
}

}  // namespace

void add_mutation_options(po::options_description& options) {
  options.add_options()
      ("dry-run", po::bool_switch(),
       "validate against the current state and change nothing")
      ("expect-revision", po::value<std::string>()->value_name("N"),
       "refuse unless the configuration is still at revision N (see `get services` or "
       "`status`): a change made by anyone since then makes the command fail")
      ("wait", po::value<std::string>()->implicit_value(std::to_string(kDefaultWaitSeconds))
                   ->value_name("SECONDS"),
       "return only once every dataplane worker forwards with the change, or fail "
       "(exit 1) after SECONDS (default 30; write --wait=SECONDS); the change is "
       "saved either way");
}

MutationFlags mutation_flags(const po::variables_map& vm) {
  MutationFlags flags;
  flags.dry_run = vm["dry-run"].as<bool>();
  if (vm.count("expect-revision")) {
    const std::string text = vm["expect-revision"].as<std::string>();
    flags.expected_revision = parse_decimal(text);
    if (!flags.expected_revision) {
      throw UsageError("--expect-revision: \"" + text + "\" is not a revision number");
    }
  }
  if (vm.count("wait")) {
    const std::string text = vm["wait"].as<std::string>();
    const std::optional<uint64_t> seconds = parse_decimal(text);
    if (!seconds || *seconds == 0 || *seconds > kMaxWaitSeconds) {
      throw UsageError("--wait: \"" + text + "\" is not a number of seconds 1.." +
                       std::to_string(kMaxWaitSeconds));
    }
    flags.wait = std::chrono::seconds(*seconds);
  }
  return flags;
}

void set_mutation_deadline(grpc::ClientContext& context, const MutationFlags& flags) {
  set_deadline(context, flags.wait ? *flags.wait : std::chrono::milliseconds{});
}

std::string result_note(const v1::MutationResponse& response, const MutationFlags& flags) {
  const std::string revision = std::to_string(response.revision());
  if (flags.dry_run) return "(dry run against revision " + revision + ": valid, nothing changed)";
  if (response.applied()) return "(revision " + revision + ", applied on every worker)";
  return "(revision " + revision + ")";
}

}  // namespace sluice::sluicectl
