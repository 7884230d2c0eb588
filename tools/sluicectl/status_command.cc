// SPDX-License-Identifier: Apache-2.0
// sluicectl status: the revision, the dataplane and what each worker runs.
#include <string>

#include "tools/sluicectl/command.h"
#include "tools/sluicectl/json_output.h"
#include "tools/sluicectl/rpc.h"
#include "tools/sluicectl/table.h"

namespace sluice::sluicectl {
namespace {

// 3723000 -> "1h2m3s"; below a minute, "42s".
std::string uptime_text(uint64_t ms) {
  const uint64_t s = ms / 1000;
  const uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;
  std::string out;
  if (d) out += std::to_string(d) + "d";
  if (d || h) out += std::to_string(h) + "h";
  if (d || h || m) out += std::to_string(m) + "m";
  return out + std::to_string(sec) + "s";
}

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

  int behind = 0;
  for (uint64_t g : response.worker_generations()) behind += g < response.revision();
  const int workers = response.worker_generations_size();
  std::string workers_text = std::to_string(workers);
  if (workers == 0) {
    workers_text = "none";
  } else if (behind == 0) {
    workers_text += ", all at revision " + std::to_string(response.revision());
  } else {
    workers_text += ", " + std::to_string(behind) + " behind revision " +
                    std::to_string(response.revision());
  }
  Fields fields;
  fields.add("revision", std::to_string(response.revision()));
  fields.add("dataplane", response.dataplane());
  fields.add("workers", workers_text);
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
  c.summary = "the current revision, the dataplane and each worker's generation";
  c.description =
      "Shows the configuration revision sluiced holds (every accepted change adds one),\n"
      "the dataplane it drives, and for each dataplane worker the revision it forwards\n"
      "with (its generation). A worker whose generation is below the revision has not\n"
      "picked up the latest change yet.";
  c.run = run_status;
  return c;
}

}  // namespace sluice::sluicectl
