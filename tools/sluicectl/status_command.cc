// SPDX-License-Identifier: Apache-2.0
// sluicectl status: the revision, the dataplane and what each worker runs.
#include <string>

#include "tools/sluicectl/command.h"
#include "tools/sluicectl/json_output.h"
#include "tools/sluicectl/rpc.h"
#include "tools/sluicectl/table.h"
#include "tools/sluicectl/units.h"

namespace sluice::sluicectl {

std::string workers_text(const std::vector<uint64_t>& generations, uint64_t revision) {
  if (generations.empty()) return "none";
  int behind = 0;
  for (uint64_t g : generations) behind += g < revision;
  return std::to_string(generations.size()) +
         (behind == 0 ? ", all at revision " + std::to_string(revision)
                      : ", " + std::to_string(behind) + " behind revision " +
                            std::to_string(revision));
}

namespace {

int run_status(Context& ctx, const po::variables_map&) {
  grpc::ClientContext context;
  set_deadline(context);
  v1::GetStatusResponse response;
  const grpc::Status status = ctx.stub().GetStatus(&context, v1::GetStatusRequest(), &response);
  if (!status.ok()) return report_rpc_error(ctx, status, context);
  if (ctx.output() == Output::kJson) {
    ctx.out() << to_json(response);
    return kExitOk;
  }

  const int workers = response.worker_generations_size();
  Fields fields;
  fields.add("revision", std::to_string(response.revision()) + " (desired: saved)");
  fields.add("applied", std::to_string(response.applied_revision()) +
                            (response.applied_revision() >= response.revision()
                                 ? " (every worker)"
                                 : " (lowest worker; behind the desired revision)"));
  fields.add("dataplane", response.dataplane());
  fields.add("health", response.serving() ? "SERVING"
                                          : "NOT SERVING: " + response.not_serving_reason());
  if (!response.dataplane_fault().empty()) fields.add("fault", response.dataplane_fault());
  if (response.publish_failures() > 0) {
    fields.add("publish", std::to_string(response.publish_attempts()) + " attempts, " +
                              std::to_string(response.publish_failures()) + " refused" +
                              (response.publish_error().empty()
                                   ? " (the latest taken)"
                                   : "; retrying, last refusal: " + response.publish_error()));
  }
  fields.add("workers",
             workers_text({response.worker_generations().begin(),
                           response.worker_generations().end()},
                          response.revision()));
  fields.add("version", response.version());
  fields.add("uptime", uptime_text(response.uptime_ms()));
  fields.print(ctx.out());
  if (workers == 0) return kExitOk;

  Table table({"WORKER", "GENERATION", "STATE"});
  for (int i = 0; i < workers; ++i) {
    const uint64_t g = response.worker_generations(i);
    table.add_row({std::to_string(i), std::to_string(g),
                   g >= response.revision() ? "current" : "behind"});
  }
  ctx.out() << "\n";
  table.print(ctx.out());
  return kExitOk;
}

}  // namespace

Command status_command() {
  Command c;
  c.name = "status";
  c.usage = "status";
  c.summary = "desired and applied revisions, health, and each worker's generation";
  c.description =
      "Shows the configuration revision sluiced holds (every accepted change adds one:\n"
      "the desired revision), the lowest revision a worker forwards with (applied),\n"
      "the dataplane it drives, and for each dataplane worker the revision it forwards\n"
      "with (its generation). A worker whose generation is below the revision has not\n"
      "picked up the latest change yet.\n"
      "health is what grpc.health.v1 answers: NOT SERVING while the dataplane has a\n"
      "fault (fault: says which, e.g. its XDP program detached behind sluiced's back)\n"
      "or has stayed behind the desired revision for more than 1 s (publish: shows\n"
      "refused publications, which sluiced retries with backoff).";
  c.run = run_status;
  return c;
}

}  // namespace sluice::sluicectl
