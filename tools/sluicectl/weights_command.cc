// SPDX-License-Identifier: Apache-2.0
// sluicectl set-weights SERVICE POOL=WEIGHT...: the rollout step.
#include <map>

#include "tools/sluicectl/command.h"
#include "tools/sluicectl/json_output.h"
#include "tools/sluicectl/mutation_flags.h"
#include "tools/sluicectl/rpc.h"

namespace sluice::sluicectl {
namespace {

// "canary=10" -> {"canary", 10}. The range (0..1000000) is sluiced's to
// check; here only the form, so a typo is a usage error.
std::pair<std::string, uint32_t> parse_weight(const std::string& text) {
  const size_t eq = text.find('=');
  const std::string pool = eq == std::string::npos ? "" : text.substr(0, eq);
  const std::string digits = eq == std::string::npos ? "" : text.substr(eq + 1);
  uint64_t value = 0;
  bool ok = !pool.empty() && !digits.empty() && digits.size() <= 10;
  for (char c : digits) {
    if (c < '0' || c > '9') ok = false;
    if (ok) value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  if (!ok || value > UINT32_MAX) {
    throw UsageError("\"" + text + "\" is not POOL=WEIGHT (a pool name, '=', a whole number)");
  }
  return {pool, static_cast<uint32_t>(value)};
}

int run_set_weights(Context& ctx, const po::variables_map& vm) {
  const MutationFlags flags = mutation_flags(vm);
  v1::SetWeightsRequest request;
  request.set_service(required_argument(vm, "service", "the service's name"));
  const std::vector<std::string> pairs = arguments(vm, "weights");
  if (pairs.empty()) throw UsageError("give at least one POOL=WEIGHT");
  std::map<std::string, uint32_t> weights;  // ordered, for the message below
  for (const std::string& text : pairs) {
    const auto [pool, weight] = parse_weight(text);
    if (!weights.emplace(pool, weight).second) {
      throw UsageError("pool \"" + pool + "\" is given twice");
    }
  }
  request.mutable_weights()->insert(weights.begin(), weights.end());
  fill_request(request, flags);

  grpc::ClientContext context;
  set_mutation_deadline(context, flags);
  v1::MutationResponse response;
  const grpc::Status status = ctx.stub().SetWeights(&context, request, &response);
  if (!status.ok()) return report_rpc_error(ctx, status, context);
  if (ctx.output() == Output::kJson) {
    ctx.out() << to_json(response);
    return kExitOk;
  }
  std::string list;
  for (const auto& [pool, weight] : weights) {
    list += (list.empty() ? "" : " ") + pool + "=" + std::to_string(weight);
  }
  ctx.out() << "service/" << request.service() << " weights " << list << " "
            << result_note(response, flags) << "\n";
  return kExitOk;
}

}  // namespace

Command set_weights_command() {
  Command c;
  c.name = "set-weights";
  c.usage =
      "set-weights SERVICE POOL=WEIGHT... [--dry-run] [--expect-revision N] [--wait[=SECONDS]]";
  c.summary = "change the weights of version pools (a rollout step)";
  c.description =
      "Sets the weight of each named pool of SERVICE, all in one change; pools not\n"
      "named keep their weight. Weights are relative (0..1000000): a pool gets\n"
      "weight / (sum of weights) of new flows. Established flows stay where they are.\n"
      "\n"
      "A rollout step that must not race another tool, and must not report success\n"
      "before traffic actually moves:\n"
      "  sluicectl set-weights web stable=50 canary=50 --expect-revision 41 --wait=10";
  c.add_options = add_mutation_options;
  c.arguments = {{"service", 1}, {"weights", -1}};
  c.run = run_set_weights;
  return c;
}

}  // namespace sluice::sluicectl
