// SPDX-License-Identifier: Apache-2.0
// sluicectl explain: which rule, pool and backend a new flow gets, and why.
#include <string>

#include "tools/sluicectl/command.h"
#include "tools/sluicectl/json_output.h"
#include "tools/sluicectl/rpc.h"
#include "tools/sluicectl/table.h"

namespace sluice::sluicectl {
namespace {

// "10.0.0.1:4242" or "[2001:db8::1]:4242" -> address and port.
void split_endpoint(const std::string& text, const std::string& what, std::string* address,
                    uint32_t* port) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size()) {
    throw UsageError(what + ": \"" + text + "\" is not ADDRESS:PORT ([IPv6]:PORT)");
  }
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string digits = text.substr(colon + 1);
  if (digits.size() > 5 || digits.find_first_not_of("0123456789") != std::string::npos) {
    throw UsageError(what + ": \"" + digits + "\" is not a port");
  }
  *address = host;
  *port = static_cast<uint32_t>(std::stoul(digits));
}

int run_explain(Context& ctx, const po::variables_map& vm) {
  v1::ExplainFlowRequest request;
  std::string address;
  uint32_t port = 0;
  split_endpoint(required_argument(vm, "client", "the client as ADDRESS:PORT"), "CLIENT", &address,
                 &port);
  request.set_client_address(address);
  request.set_client_port(port);
  split_endpoint(required_argument(vm, "vip", "the VIP as ADDRESS:PORT"), "VIP", &address, &port);
  request.set_vip(address);
  request.set_port(port);
  const std::string proto = argument(vm, "protocol");
  if (proto.empty() || proto == "tcp") {
    request.set_protocol(v1::PROTOCOL_TCP);
  } else if (proto == "udp") {
    request.set_protocol(v1::PROTOCOL_UDP);
  } else {
    throw UsageError("unknown protocol \"" + proto + "\": tcp or udp");
  }
  grpc::ClientContext context;
  set_deadline(context);
  v1::ExplainFlowResponse response;
  const grpc::Status status = ctx.stub().ExplainFlow(&context, request, &response);
  if (!status.ok()) return report_rpc_error(ctx, status, context);
  if (ctx.output() == Output::kJson) {
    ctx.out() << to_json(response);
    return kExitOk;
  }
  Fields fields;
  fields.add("service", response.service().empty() ? "(none)" : response.service());
  if (response.fallback()) fields.add("chosen pool", response.chosen_pool() + " (no backend to give)");
  fields.add("pool", response.pool().empty() ? "(none)"
                     : response.pool() + (response.fallback() ? " (the fallback pool)" : ""));
  fields.add("backend", response.backend().empty() ? "(none)" : response.backend());
  if (!response.drop_reason().empty()) fields.add("verdict", "dropped (" + response.drop_reason() + ")");
  if (!response.backend().empty()) fields.add("maglev slot", std::to_string(response.maglev_slot()));
  fields.add("rule", response.rule_matched() ? "a source-CIDR rule chose the pool" : "no");
  fields.add("why", response.reason());
  fields.add("revision", std::to_string(response.revision()));
  fields.print(ctx.out());
  return kExitOk;
}

}  // namespace

Command explain_command() {
  Command c;
  c.name = "explain";
  c.usage = "explain CLIENT:PORT VIP:PORT [tcp|udp]";
  c.summary = "which rule, pool and backend a new flow gets, and why";
  c.description =
      "Asks sluiced where a NEW flow from CLIENT:PORT to VIP:PORT would go under the\n"
      "current revision: the source-CIDR rule or weighted split that picks the pool, and\n"
      "the Maglev slot that picks the backend. An established flow keeps the backend it\n"
      "already has, and a worker skips a backend whose circuit is open on its core, so a\n"
      "live packet can differ. IPv6 addresses go in brackets: [2001:db8::1]:443.";
  c.arguments = {{"client", 1}, {"vip", 1}, {"protocol", 1}};
  c.run = run_explain;
  return c;
}

}  // namespace sluice::sluicectl
