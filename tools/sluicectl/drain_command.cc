// SPDX-License-Identifier: Apache-2.0
// sluicectl drain status SERVICE [POOL|BACKEND] [--wait-empty]: has it
// drained? The gate a rollout tool or script puts before a scale-down:
// exit 0 when safe to remove, kExitNotDrained otherwise.
#include <chrono>
#include <optional>
#include <string>

#include "tools/sluicectl/command.h"
#include "tools/sluicectl/interrupt.h"
#include "tools/sluicectl/json_output.h"
#include "tools/sluicectl/rpc.h"
#include "tools/sluicectl/table.h"
#include "tools/sluicectl/units.h"

namespace sluice::sluicectl {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kDefaultTimeoutMs = 5 * 60 * 1000;
constexpr uint64_t kDefaultIntervalMs = 1000;
constexpr uint64_t kMinIntervalMs = 100;
constexpr uint64_t kMaxIntervalMs = 10 * 60 * 1000;

struct DrainFlags {
  std::optional<uint32_t> quiet_ms;  // absent: sluiced's default (30 s)
  bool wait_empty = false;
  uint64_t timeout_ms = kDefaultTimeoutMs;
  uint64_t interval_ms = kDefaultIntervalMs;
};

// The duration option `name`, if given; UsageError when malformed or out of
// [min_ms, max_ms].
std::optional<uint64_t> duration_option(const po::variables_map& vm, const std::string& name,
                                        uint64_t min_ms, uint64_t max_ms) {
  if (!vm.count(name)) return std::nullopt;
  const std::string text = vm[name].as<std::string>();
  const std::optional<uint64_t> ms = parse_duration_ms(text);
  if (!ms) {
    throw UsageError("--" + name + ": \"" + text +
                     "\" is not a duration (a number and its unit: 500ms, 30s, 2m, 1h)");
  }
  if (*ms < min_ms || *ms > max_ms) {
    throw UsageError("--" + name + ": " + text + " is not between " + duration_text(min_ms) +
                     " and " + duration_text(max_ms));
  }
  return ms;
}

DrainFlags drain_flags(const po::variables_map& vm) {
  DrainFlags flags;
  if (auto quiet = duration_option(vm, "quiet", 0, 86400000)) {
    flags.quiet_ms = static_cast<uint32_t>(*quiet);
  }
  flags.wait_empty = vm["wait-empty"].as<bool>();
  const auto timeout = duration_option(vm, "timeout", 1, 86400000);
  const auto interval = duration_option(vm, "interval", kMinIntervalMs, kMaxIntervalMs);
  if (!flags.wait_empty && (timeout || interval)) {
    throw UsageError(std::string(timeout ? "--timeout" : "--interval") + " goes with --wait-empty");
  }
  if (timeout) flags.timeout_ms = *timeout;
  if (interval) flags.interval_ms = *interval;
  return flags;
}

// "web (service)", "web/canary (pool)", "web/10.77.0.31 (backend)".
std::string target_text(const v1::DrainStatus& d) {
  return d.service() + (d.target().empty() ? "" : "/" + d.target()) + " (" + d.target_kind() +
         ")";
}

std::string join(const google::protobuf::RepeatedPtrField<std::string>& items,
                 const std::string& none) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
  return out.empty() ? none : out;
}

// " (W0=2 W1=1)": live flows per worker; "" without flows.
std::string by_worker_text(const v1::DrainStatus& d) {
  if (d.active_flows() == 0) return "";
  std::string out = " (";
  for (int w = 0; w < d.by_worker_size(); ++w) {
    out += (w ? " W" : "W") + std::to_string(w) + "=" + std::to_string(d.by_worker(w));
  }
  return out + ")";
}

std::string idle_text(const v1::DrainStatus& d) {
  return d.has_idle_ms() ? duration_text(d.idle_ms()) : "-";
}

std::string oldest_text(const v1::DrainStatus& d) {
  return d.active_flows() ? duration_text(d.oldest_age_ms()) : "-";
}

void print_status(const v1::DrainStatus& d, std::ostream& out) {
  Fields fields;
  fields.add("target", target_text(d));
  fields.add("backends", join(d.backends(), "none"));
  fields.add("safe to remove", d.safe_to_remove() ? "yes" : "no");
  fields.add("reason", d.reason());
  fields.add("active flows", std::to_string(d.active_flows()) + by_worker_text(d));
  fields.add("oldest flow", oldest_text(d));
  fields.add("idle", idle_text(d));
  fields.add("quiet time", duration_text(d.quiet_ms()));
  fields.add("still receiving", join(d.still_receiving(), "none"));
  fields.add("census", duration_text(d.census_age_ms()) + " old, revision " +
                           std::to_string(d.revision()));
  fields.print(out);
}

// One line per poll of --wait-empty:
// "waiting 4s: 3 live flows (W0=2 W1=1), oldest 5m2s, idle 1.2s; still receiving: 10.0.0.2".
std::string progress_text(const v1::DrainStatus& d, uint64_t elapsed_ms) {
  std::string line = "waiting " + duration_text(elapsed_ms) + ": " +
                     std::to_string(d.active_flows()) +
                     (d.active_flows() == 1 ? " live flow" : " live flows") + by_worker_text(d) +
                     ", oldest " + oldest_text(d) + ", idle " + idle_text(d);
  if (d.still_receiving_size() > 0) {
    line += "; still receiving: " + join(d.still_receiving(), "");
  }
  return line;
}

class DrainWaiter {
 public:
  DrainWaiter(Context& ctx, v1::GetDrainStatusRequest request, const DrainFlags& flags)
      : ctx_(ctx), request_(std::move(request)), flags_(flags) {}

  int run() {
    // Made before the first call, so that gRPC's threads leave Ctrl-C to it.
    Interrupt interrupt;
    const Clock::time_point start = Clock::now();
    const Clock::time_point deadline = start + std::chrono::milliseconds(flags_.timeout_ms);
    std::optional<v1::DrainStatus> last;  // the latest answer
    while (true) {
      grpc::ClientContext context;
      set_deadline(context);
      v1::DrainStatus status;
      const grpc::Status rpc = ctx_.stub().GetDrainStatus(&context, request_, &status);
      const auto elapsed_ms = static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
      if (interrupt.interrupted()) break;
      if (!rpc.ok()) {
        // sluiced restarting or busy: keep asking until the timeout; any
        // other error (no such target, bad request) will not go away.
        if (!retryable(rpc.error_code())) return report_rpc_error(ctx_, rpc, context);
        ctx_.err() << "sluicectl: " << duration_text(elapsed_ms) << ": "
                   << rpc.error_message() << " (asking again)\n";
      } else {
        last = status;
        if (ctx_.output() == Output::kJson) {
          ctx_.out() << to_json_line(status) << std::flush;
        } else if (!status.safe_to_remove()) {
          ctx_.out() << progress_text(status, elapsed_ms) << "\n" << std::flush;
        }
        if (status.safe_to_remove()) break;
      }
      const Clock::time_point now = Clock::now();
      if (now >= deadline) break;
      const auto pause = std::min<Clock::duration>(std::chrono::milliseconds(flags_.interval_ms),
                                                   deadline - now);
      if (interrupt.sleep_for(std::chrono::ceil<std::chrono::milliseconds>(pause))) break;
    }
    if (last && last->safe_to_remove()) {
      if (ctx_.output() == Output::kTable) print_status(*last, ctx_.out());
      return kExitOk;
    }
    if (last && ctx_.output() == Output::kTable) print_status(*last, ctx_.out());
    ctx_.out() << std::flush;
    const std::string waited = duration_text(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count()));
    if (interrupt.interrupted()) {
      ctx_.err() << "sluicectl: interrupted after " << waited << ": not drained\n";
      return kExitNotDrained;
    }
    if (!last) {  // every call failed: that is no "not drained"
      ctx_.err() << "sluicectl: no answer from sluiced in " << waited << " (--timeout)\n";
      return kExitFailed;
    }
    ctx_.err() << "sluicectl: not drained after " << waited << " (--timeout "
               << duration_text(flags_.timeout_ms) << ")\n";
    return kExitNotDrained;
  }

 private:
  static bool retryable(grpc::StatusCode code) {
    return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED;
  }

  Context& ctx_;
  const v1::GetDrainStatusRequest request_;
  const DrainFlags& flags_;
};

int run_drain(Context& ctx, const po::variables_map& vm) {
  const std::string action = required_argument(vm, "action", "status");
  if (action != "status") throw UsageError("unknown action \"" + action + "\": status");
  const DrainFlags flags = drain_flags(vm);
  v1::GetDrainStatusRequest request;
  request.set_service(required_argument(vm, "service", "the service's name"));
  request.set_target(argument(vm, "target"));
  if (flags.quiet_ms) request.set_quiet_ms(*flags.quiet_ms);

  if (flags.wait_empty) {
    // Each poll must see flows as they are now, not a census as old as
    // sluiced's default allows.
    request.set_max_census_age_ms(static_cast<uint32_t>(flags.interval_ms));
    return DrainWaiter(ctx, std::move(request), flags).run();
  }
  grpc::ClientContext context;
  set_deadline(context);
  v1::DrainStatus status;
  const grpc::Status rpc = ctx.stub().GetDrainStatus(&context, request, &status);
  if (!rpc.ok()) return report_rpc_error(ctx, rpc, context);
  if (ctx.output() == Output::kJson) {
    ctx.out() << to_json(status);
  } else {
    print_status(status, ctx.out());
  }
  return status.safe_to_remove() ? kExitOk : kExitNotDrained;
}

}  // namespace

Command drain_command() {
  Command c;
  c.name = "drain";
  c.usage = "drain status SERVICE [POOL|BACKEND] [--quiet DURATION] "
            "[--wait-empty [--timeout DURATION] [--interval DURATION]]";
  c.summary = "has a service, pool or backend drained? (a scale-down gate)";
  c.description =
      "Shows the live flows of SERVICE, or of one of its pools or backends (by pool\n"
      "name or backend address): in total and per worker (W0=...), the age of the\n"
      "oldest, how long since the last packet of any of them (idle), and whether\n"
      "the target is safe to remove, with the reason. The rule (sluiced's):\n"
      "  safe to remove = no live flow on any worker, or every live flow has been\n"
      "                   idle for at least the quiet time (--quiet, default 30s).\n"
      "A flow stays live until its idle timeout passes (the service's established\n"
      "timeout, 300s by default), so a connection that is open but silent keeps the\n"
      "target busy that long; --quiet says how long silence counts as the end.\n"
      "\"still receiving\" names backends of the target that still get new flows\n"
      "(active and not unhealthy): drain them first (`backend drain`, or weight 0),\n"
      "or new flows keep arriving.\n"
      "\n"
      "With --wait-empty it asks again every --interval (with a census no older than\n"
      "that), printing one line per answer, until the target is safe to remove or\n"
      "--timeout passes; Ctrl-C stops it. -o json prints the DrainStatus (with\n"
      "--wait-empty one JSON object per answer, one per line).\n"
      "Durations are a number and a unit: 500ms, 30s, 1.5s, 2m, 1h, 1m30s.\n"
      "\n"
      "Exit status: 0 safe to remove; 3 not drained (not safe now, or still not\n"
      "after --timeout, or interrupted); 1 sluiced refused (no such service, pool or\n"
      "backend) or could not be reached; 2 the command line is wrong. A gate:\n"
      "  sluicectl drain status web canary --wait-empty --timeout 10m && scale-down";
  c.add_options = [](po::options_description& o) {
    o.add_options()
        ("quiet", po::value<std::string>()->value_name("DURATION"),
         "live flows all idle this long count as drained (default 30s; 0: only an "
         "empty table counts)")
        ("wait-empty", po::bool_switch(),
         "ask again until safe to remove (exit 0) or --timeout (exit 3)")
        ("timeout", po::value<std::string>()->value_name("DURATION"),
         "with --wait-empty: give up after this long (default 5m)")
        ("interval", po::value<std::string>()->value_name("DURATION"),
         "with --wait-empty: between two questions (default 1s, 100ms..10m)");
  };
  c.arguments = {{"action", 1}, {"service", 1}, {"target", 1}};
  c.run = run_drain;
  return c;
}

}  // namespace sluice::sluicectl
