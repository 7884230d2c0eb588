// SPDX-License-Identifier: Apache-2.0
// sluicectl apply -f FILE / delete service NAME: whole-service changes.
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "control/config/json_syntax.h"
#include "control/config/service_json.h"
#include "tools/sluicectl/command.h"
#include "tools/sluicectl/json_output.h"
#include "tools/sluicectl/mutation_flags.h"
#include "tools/sluicectl/rpc.h"

namespace sluice::sluicectl {
namespace {

// The file's text, or nullopt after printing why it cannot be read. "-" is
// standard input.
std::optional<std::string> read_file(Context& ctx, const std::string& path) {
  std::ostringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      ctx.err() << "sluicectl: " << path << ": cannot open: " << std::strerror(errno) << "\n";
      return std::nullopt;
    }
    text << in.rdbuf();
    if (in.bad()) {
      ctx.err() << "sluicectl: " << path << ": cannot read\n";
      return std::nullopt;
    }
  }
  std::string out = std::move(text).str();
  if (out.size() > control::config::kMaxServicesFileBytes) {
    ctx.err() << "sluicectl: " << path << ": larger than "
              << (control::config::kMaxServicesFileBytes >> 20) << " MiB\n";
    return std::nullopt;
  }
  return out;
}

// The services of a document, as written (absent fields stay absent, so
// sluiced applies its own defaults). The document is checked first with the
// services-file loader of sluiced, which names every error by its path; a
// document it accepts parses here without error.
std::optional<v1::ServiceList> parse_services(Context& ctx, const std::string& path,
                                              const std::string& text) {
  const auto loaded = control::config::load_services_json(text);
  if (!loaded.errors.empty()) {
    for (const auto& e : loaded.errors) {
      ctx.err() << "sluicectl: " << path << ": "
                << (e.field == "document" ? e.message : e.to_string()) << "\n";
    }
    return std::nullopt;
  }
  const auto keys = control::config::check_json_syntax(text).top_level_keys;
  const bool is_list = std::find(keys.begin(), keys.end(), "services") != keys.end();
  std::string_view body = text;
  if (body.substr(0, 3) == "\xef\xbb\xbf") body.remove_prefix(3);  // as the loader does
  const google::protobuf::StringPiece piece(body.data(), body.size());
  v1::ServiceList list;
  const auto status = is_list ? google::protobuf::util::JsonStringToMessage(piece, &list)
                              : google::protobuf::util::JsonStringToMessage(
                                    piece, list.add_services());
  if (!status.ok()) {
    ctx.err() << "sluicectl: " << path << ": " << status.message() << "\n";
    return std::nullopt;
  }
  return list;
}

int run_apply(Context& ctx, const po::variables_map& vm) {
  if (!vm.count("filename")) throw UsageError("-f FILE is required");
  const std::string path = vm["filename"].as<std::string>();
  const MutationFlags flags = mutation_flags(vm);
  const std::optional<std::string> text = read_file(ctx, path);
  if (!text) return kExitFailed;
  const std::optional<v1::ServiceList> list = parse_services(ctx, path, *text);
  if (!list) return kExitFailed;
  if (list->services_size() == 0) {
    ctx.err() << "sluicectl: " << path << ": holds no services\n";
    return kExitFailed;
  }

  // One call per service, in file order. With --expect-revision each call
  // expects the revision the previous one created, so nobody else's change
  // can slip in between without failing the apply.
  MutationFlags call_flags = flags;
  std::vector<v1::MutationResponse> responses;
  responses.reserve(list->services_size());
  int exit_code = kExitOk;
  for (const v1::Service& service : list->services()) {
    v1::ApplyServiceRequest request;
    *request.mutable_service() = service;
    fill_request(request, call_flags);
    grpc::ClientContext context;
    set_mutation_deadline(context, call_flags);
    v1::MutationResponse response;
    const grpc::Status status = ctx.stub().ApplyService(&context, request, &response);
    if (!status.ok()) {
      ctx.err() << "sluicectl: service/" << service.name() << " not applied\n";
      exit_code = report_rpc_error(ctx, status, context);
      break;
    }
    if (ctx.output() == Output::kTable) {
      // "applied" only when sluiced said so (--wait); otherwise it is saved
      // and being published.
      ctx.out() << "service/" << service.name()
                << (flags.dry_run ? " checked " : response.applied() ? " applied " : " saved ")
                << result_note(response, flags) << "\n";
    }
    if (call_flags.expected_revision && !flags.dry_run) {
      call_flags.expected_revision = response.revision();
    }
    responses.push_back(std::move(response));
  }
  if (ctx.output() == Output::kJson) {
    std::vector<const google::protobuf::Message*> messages;
    for (const auto& r : responses) messages.push_back(&r);
    ctx.out() << to_json_array(messages);
  }
  return exit_code;
}

int run_delete(Context& ctx, const po::variables_map& vm) {
  const std::string kind = required_argument(vm, "kind", "what to delete (service)");
  if (kind != "service") {
    throw UsageError("cannot delete \"" + kind + "\"; try `delete service NAME`");
  }
  const MutationFlags flags = mutation_flags(vm);
  v1::DeleteServiceRequest request;
  request.set_name(required_argument(vm, "name", "the service's name"));
  fill_request(request, flags);
  grpc::ClientContext context;
  set_mutation_deadline(context, flags);
  v1::MutationResponse response;
  const grpc::Status status = ctx.stub().DeleteService(&context, request, &response);
  if (!status.ok()) return report_rpc_error(ctx, status, context);
  if (ctx.output() == Output::kJson) {
    ctx.out() << to_json(response);
  } else {
    ctx.out() << "service/" << request.name() << (flags.dry_run ? " can be deleted " : " deleted ")
              << result_note(response, flags) << "\n";
  }
  return kExitOk;
}

}  // namespace

Command apply_command() {
  Command c;
  c.name = "apply";
  c.usage = "apply -f FILE [--dry-run] [--expect-revision N] [--wait[=SECONDS]]";
  c.summary = "create or replace services from a JSON file";
  c.description =
      "Creates or replaces (whole) each service of FILE, in the JSON form of the\n"
      "services file of sluiced (control/config/README.md): one service object, or\n"
      "{\"services\": [...]}. FILE \"-\" reads standard input.\n"
      "\n"
      "The file is checked before anything is sent: any error (syntax, unknown\n"
      "field, bad address, out-of-range number...) is reported by its path, e.g.\n"
      "  web.json: services[0].pools[1].backends[0].address: \"10.0.0.300\" is not\n"
      "  an IPv4 or IPv6 address\n"
      "and nothing is applied. Each service is then one change (one revision) of its\n"
      "own, in file order; applying stops at the first service sluiced refuses.\n"
      "Services not in the file are left alone (use `delete service`).";
  c.add_options = [](po::options_description& o) {
    o.add_options()("filename,f", po::value<std::string>()->value_name("FILE"),
                    "the JSON file to apply (\"-\": standard input)");
    add_mutation_options(o);
  };
  c.run = run_apply;
  return c;
}

Command delete_command() {
  Command c;
  c.name = "delete";
  c.usage = "delete service NAME [--dry-run] [--expect-revision N] [--wait[=SECONDS]]";
  c.summary = "delete a service";
  c.description =
      "Deletes the service NAME: its VIP stops being balanced once the change is\n"
      "applied, and its established flows are no longer forwarded.";
  c.add_options = add_mutation_options;
  c.arguments = {{"kind", 1}, {"name", 1}};
  c.run = run_delete;
  return c;
}

}  // namespace sluice::sluicectl
