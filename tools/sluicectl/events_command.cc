// SPDX-License-Identifier: Apache-2.0
// sluicectl events: follow sluiced's events, one line each.
#include <google/protobuf/util/time_util.h>

#include <cstdio>
#include <ctime>
#include <string>

#include "tools/sluicectl/command.h"
#include "tools/sluicectl/enum_text.h"
#include "tools/sluicectl/interrupt.h"
#include "tools/sluicectl/json_output.h"
#include "tools/sluicectl/rpc.h"

namespace sluice::sluicectl {
namespace {

// "2024-05-01T10:00:00.123Z".
std::string time_text(const google::protobuf::Timestamp& t) {
  const std::time_t seconds = static_cast<std::time_t>(t.seconds());
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[40];
  const size_t n = std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(buffer + n, sizeof(buffer) - n, ".%03dZ", t.nanos() / 1000000);
  return buffer;
}

// What follows the sequence number and time: the kind, then its details.
std::string event_text(const v1::Event& e) {
  switch (e.kind_case()) {
    case v1::Event::kConfigChanged: {
      const v1::ConfigChanged& c = e.config_changed();
      return "config    revision " + std::to_string(c.revision()) + " " + c.method() + " " +
             c.service() + ": " + c.summary() + " (by " + c.peer() + ")";
    }
    case v1::Event::kWorkerApplied:
      return "worker    worker " + std::to_string(e.worker_applied().worker()) +
             " forwards with revision " + std::to_string(e.worker_applied().generation());
    case v1::Event::kRevisionApplied:
      return "applied   revision " + std::to_string(e.revision_applied().generation()) +
             " on every worker (" + std::to_string(e.revision_applied().workers()) + ")";
    case v1::Event::kCircuitChanged: {
      const v1::CircuitChanged& c = e.circuit_changed();
      return "circuit   " + c.service() + "/" + c.pool() + " " + c.backend() + " on worker " +
             std::to_string(c.worker()) + ": " + circuit_text(c.from()) + " -> " +
             circuit_text(c.to());
    }
    case v1::Event::kHealthChanged: {
      const v1::HealthChanged& h = e.health_changed();
      return "health    " + h.service() + "/" + h.pool() + " " + h.backend() + ": " +
             health_state_text(h.from()) + " -> " + health_state_text(h.to()) +
             (h.reason().empty() ? "" : " (" + h.reason() + ")");
    }
    case v1::Event::kDataplaneHealth: {
      const v1::DataplaneHealth& d = e.dataplane_health();
      return std::string(d.serving() ? "serving   " : "degraded  ") + "dataplane at revision " +
             std::to_string(d.applied_revision()) + ", desired " +
             std::to_string(d.desired_revision()) +
             (d.serving() ? " (converged)" : ": " + d.reason());
    }
    case v1::Event::kEventsLost: {
      const v1::EventsLost& l = e.events_lost();
      const std::string range = l.first_sequence() == l.last_sequence()
                                    ? "event " + std::to_string(l.first_sequence())
                                    : "events " + std::to_string(l.first_sequence()) + ".." +
                                          std::to_string(l.last_sequence());
      return "lost      " + range +
             (l.reason() == v1::EventsLost::REASON_HISTORY
                  ? " (sluiced no longer holds them)"
                  : " (this client read too slowly)");
    }
    default:
      return "unknown   (an event this sluicectl does not know; try -o json)";
  }
}

int run_events(Context& ctx, const po::variables_map& vm) {
  v1::WatchEventsRequest request;
  if (vm.count("since")) {
    const int64_t since = vm["since"].as<int64_t>();
    if (since < 0) throw UsageError("--since: must be 0 or more");
    request.set_start_sequence(static_cast<uint64_t>(since));
  }
  const int64_t count = vm["count"].as<int64_t>();
  if (count < 0) throw UsageError("--count: must be 0 (no end) or more");

  grpc::ClientContext context;  // no deadline: the stream lasts
  // Made before the call, so that gRPC's threads leave Ctrl-C to it; a
  // Ctrl-C cancels the call, which ends the blocked read below.
  Interrupt interrupt([&context] { context.TryCancel(); });
  std::unique_ptr<grpc::ClientReader<v1::Event>> reader = ctx.stub().WatchEvents(&context, request);
  v1::Event event;
  int64_t shown = 0;
  while ((count == 0 || shown < count) && reader->Read(&event)) {
    if (ctx.output() == Output::kJson) {
      ctx.out() << to_json_line(event);
    } else {
      ctx.out() << (event.sequence() ? std::to_string(event.sequence()) : "-") << "  "
                << time_text(event.time()) << "  " << event_text(event) << "\n";
    }
    ctx.out() << std::flush;
    ++shown;
  }
  if (count != 0 && shown >= count) {
    context.TryCancel();
    reader->Finish();
    return kExitOk;
  }
  const grpc::Status status = reader->Finish();
  if (interrupt.interrupted()) return kExitOk;
  if (status.ok()) {
    ctx.err() << "sluicectl: sluiced ended the stream (it is shutting down)\n";
    return kExitOk;
  }
  return report_rpc_error(ctx, status, context);
}

}  // namespace

Command events_command() {
  Command c;
  c.name = "events";
  c.usage = "events [--since SEQ] [--count N]";
  c.summary = "follow sluiced's events: changes, workers, circuits, health";
  c.description =
      "Prints sluiced's events as they happen, one line each, until Ctrl-C:\n"
      "  SEQ  TIME (UTC)  KIND  DETAILS\n"
      "Kinds:\n"
      "  config   an accepted change: its revision, method, service, summary, caller\n"
      "  worker   a worker forwards with a new revision\n"
      "  applied  every worker forwards with that revision (the change is in effect)\n"
      "  circuit  a backend's circuit changed on one worker: closed, open, half-open, suspected\n"
      "  health   a backend's active checks changed its health: unknown, healthy,\n"
      "           unhealthy (an unhealthy backend gets no new flows), with the last\n"
      "           check's result\n"
      "  degraded the dataplane has a fault, or stayed behind the desired revision\n"
      "           past the grace (1 s): sluiced cannot vouch for what forwards\n"
      "  serving  the dataplane converged again on the desired revision\n"
      "  lost     events this stream missed (\"-\" for SEQ): too old for sluiced's\n"
      "           history, or this client read too slowly\n"
      "Sequence numbers grow by one per event. To resume without missing anything,\n"
      "pass the last SEQ seen plus one to --since; sluiced replays what it still holds\n"
      "(the latest few thousand events). They start again at 1 when sluiced restarts.\n"
      "-o json prints each sluice.v1.Event as one line of JSON.";
  c.add_options = [](po::options_description& o) {
    o.add_options()
        ("since", po::value<int64_t>()->value_name("SEQ"),
         "start with event SEQ (0: the oldest sluiced holds), then follow")
        ("count", po::value<int64_t>()->default_value(0)->value_name("N"),
         "exit after N lines (0: until Ctrl-C or sluiced stops)");
  };
  c.run = run_events;
  return c;
}

}  // namespace sluice::sluicectl
