// SPDX-License-Identifier: Apache-2.0
// sluicectl backend drain|enable|disable SERVICE ADDRESS.
#include "tools/sluicectl/command.h"
#include "tools/sluicectl/json_output.h"
#include "tools/sluicectl/mutation_flags.h"
#include "tools/sluicectl/rpc.h"

namespace sluice::sluicectl {
namespace {

struct Action {
  const char* verb;
  v1::BackendState state;
  const char* done;  // for the message
};

constexpr Action kActions[] = {
    {"drain", v1::BACKEND_STATE_DRAINING, "draining"},
    {"enable", v1::BACKEND_STATE_ACTIVE, "active"},
    {"disable", v1::BACKEND_STATE_DISABLED, "disabled"},
};

int run_backend(Context& ctx, const po::variables_map& vm) {
  const std::string verb = required_argument(vm, "action", "drain, enable or disable");
  const Action* action = nullptr;
  for (const Action& a : kActions) {
    if (verb == a.verb) action = &a;
  }
  if (!action) throw UsageError("unknown action \"" + verb + "\": drain, enable or disable");
  const MutationFlags flags = mutation_flags(vm);
  v1::SetBackendStateRequest request;
  request.set_service(required_argument(vm, "service", "the service's name"));
  request.set_address(required_argument(vm, "address", "the backend's address"));
  request.set_state(action->state);
  fill_request(request, flags);

  grpc::ClientContext context;
  set_mutation_deadline(context, flags);
  v1::MutationResponse response;
  const grpc::Status status = ctx.stub().SetBackendState(&context, request, &response);
  if (!status.ok()) return report_rpc_error(ctx, status, context);
  if (ctx.output() == Output::kJson) {
    ctx.out() << to_json(response);
    return kExitOk;
  }
  ctx.out() << "service/" << request.service() << " backend " << request.address() << " "
            << action->done << " " << result_note(response, flags) << "\n";
  return kExitOk;
}

}  // namespace

Command backend_command() {
  Command c;
  c.name = "backend";
  c.usage = "backend drain|enable|disable SERVICE ADDRESS [--dry-run] [--expect-revision N] "
            "[--wait[=SECONDS]]";
  c.summary = "drain, disable or re-enable one backend";
  c.description =
      "Changes the state of the backend ADDRESS in every pool of SERVICE:\n"
      "  drain    it keeps its established flows and gets no new ones; take it out\n"
      "           once its connections have finished (maintenance, scale-in);\n"
      "  disable  it gets nothing: its flows move to other backends of its pool on\n"
      "           their next packet (a broken backend);\n"
      "  enable   it takes new flows again.";
  c.add_options = add_mutation_options;
  c.arguments = {{"action", 1}, {"service", 1}, {"address", 1}};
  c.run = run_backend;
  return c;
}

}  // namespace sluice::sluicectl
