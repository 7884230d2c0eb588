// SPDX-License-Identifier: Apache-2.0
#include "tools/sluicectl/cli.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <iomanip>

#include "tools/sluicectl/command.h"

namespace sluice::sluicectl {
namespace {

// No abbreviated options: with commands adding their own, a prefix that
// is unique today could silently mean another option tomorrow.
constexpr int kStyle = po::command_line_style::unix_style &
                       ~po::command_line_style::allow_guessing;

po::options_description global_options() {
  po::options_description o("Global options");
  o.add_options()
      ("socket", po::value<std::string>()->value_name("PATH"),
       "sluiced's control socket (default: $SLUICECTL_SOCKET, else /run/sluice/sluiced.sock)")
      ("address", po::value<std::string>()->value_name("HOST:PORT"),
       "reach sluiced over TCP instead (its --listen-tcp), with TLS: needs --tls-ca, "
       "--tls-cert and --tls-key, or --insecure")
      ("tls-ca", po::value<std::string>()->value_name("FILE"),
       "CA certificate (PEM) that signed sluiced's certificate; sluiced's certificate must "
       "name HOST of --address")
      ("tls-cert", po::value<std::string>()->value_name("FILE"),
       "our client certificate (PEM); sluiced gives it a role (operator or read-only)")
      ("tls-key", po::value<std::string>()->value_name("FILE"), "its private key (PEM)")
      ("insecure", po::bool_switch(), "--address without TLS (sluiced started with --insecure)")
      ("output,o", po::value<std::string>()->value_name("FORMAT"),
       "table (default): aligned text for people; json: the API's response in protobuf "
       "JSON, every field written out, for scripts")
      ("help,h", po::bool_switch(), "show help (of the command, after one)");
  return o;
}

void print_main_help(std::ostream& out) {
  out << "Usage: sluicectl [global options] COMMAND [ARGUMENTS] [options]\n"
         "\n"
         "Controls sluiced, the sluice load balancer, through its gRPC API: services,\n"
         "their version pools and weights, backends. Every accepted change creates a new\n"
         "revision of the configuration, saved before it takes effect. `stats` and\n"
         "`events` show what the dataplane does with it: traffic, connect success,\n"
         "handshake times, active flows, health, circuits, and when each change is in\n"
         "effect on every worker. `drain status` tells when a backend can go.\n"
         "\n"
         "Commands:\n";
  for (const Command& c : all_commands()) {
    out << "  " << std::left << std::setw(13) << c.name << c.summary << "\n";
  }
  out << "\n" << global_options() << "\n"
      << "Run `sluicectl COMMAND --help` for a command's arguments and options.\n"
         "Exit status: 0 done; 1 sluiced refused the request or could not be reached, or\n"
         "the file to apply is bad (the reason is on stderr); 2 the command line is wrong;\n"
         "3 (`drain status`) not drained.\n";
}

void print_command_help(const Command& c, std::ostream& out) {
  out << "Usage: sluicectl " << c.usage << "\n\n" << c.description << "\n";
  if (c.add_options) {
    po::options_description options("Options");
    c.add_options(options);
    out << "\n" << options;
  }
  out << "\n" << global_options();
}

const Command* find_command(const std::vector<Command>& commands, const std::string& name) {
  for (const Command& c : commands) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

// Parses the command's own options and arguments.
po::variables_map parse_command(const Command& c, const std::vector<std::string>& args) {
  po::options_description all;
  if (c.add_options) c.add_options(all);
  po::positional_options_description positional;
  for (const auto& [name, count] : c.arguments) {
    if (count == 1) {
      all.add_options()(name.c_str(), po::value<std::string>());
    } else {
      all.add_options()(name.c_str(), po::value<std::vector<std::string>>());
    }
    positional.add(name.c_str(), count);
  }
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(all).positional(positional).style(kStyle).run(),
            vm);
  po::notify(vm);
  return vm;
}

// Checks the TCP options against each other and fills `connection`;
// returns the error, or an empty string.
std::string tcp_connection(const po::variables_map& globals, Connection& connection) {
  const bool tls_given = globals.count("tls-ca") || globals.count("tls-cert") ||
                         globals.count("tls-key");
  connection.insecure = globals["insecure"].as<bool>();
  if (!globals.count("address")) {
    if (tls_given || connection.insecure) {
      return "--tls-ca, --tls-cert, --tls-key and --insecure go with --address";
    }
    return {};
  }
  if (globals.count("socket")) return "--socket and --address exclude each other";
  connection.address = globals["address"].as<std::string>();
  if (connection.address.empty() || connection.address.rfind(':') == std::string::npos) {
    return "--address: \"" + connection.address + "\" is not HOST:PORT";
  }
  if (connection.insecure) {
    if (tls_given) return "--insecure means no TLS: drop --tls-ca, --tls-cert and --tls-key";
    return {};
  }
  for (const char* option : {"tls-ca", "tls-cert", "tls-key"}) {
    if (!globals.count(option)) {
      return std::string("--address needs --") + option +
             " (TLS with a client certificate), or --insecure";
    }
  }
  return {};
}

// Reads the PEM files named by --tls-*; returns the error, or an empty string.
std::string read_tls_files(const po::variables_map& globals, Connection& connection) {
  if (connection.address.empty() || connection.insecure) return {};
  for (const auto& [option, contents] :
       {std::pair{"tls-ca", &connection.tls_ca}, std::pair{"tls-cert", &connection.tls_cert},
        std::pair{"tls-key", &connection.tls_key}}) {
    const std::string path = globals[option].as<std::string>();
    std::ifstream in(path);
    std::stringstream text;
    if (in) text << in.rdbuf();
    if (!in || text.str().find("-----BEGIN ") == std::string::npos) {
      return std::string("--") + option + ": cannot read a PEM file at " + path;
    }
    *contents = text.str();
  }
  return {};
}

}  // namespace

int run_cli(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  const std::vector<Command> commands = all_commands();

  // Pass 1: the global options, wherever they are; the rest (the command,
  // its arguments and options) is kept in order for pass 2.
  const po::options_description global = global_options();
  po::variables_map globals;
  std::vector<std::string> rest;
  try {
    const po::parsed_options parsed = po::command_line_parser(argc, argv)
                                          .options(global)
                                          .style(kStyle)
                                          .allow_unregistered()
                                          .run();
    po::store(parsed, globals);
    po::notify(globals);
    rest = po::collect_unrecognized(parsed.options, po::include_positional);
  } catch (const po::error& e) {
    err << "sluicectl: " << e.what() << "\n\n";
    print_main_help(err);
    return kExitUsage;
  }
  const bool help = globals["help"].as<bool>();
  if (rest.empty()) {
    print_main_help(help ? out : err);
    return help ? kExitOk : kExitUsage;
  }
  const Command* command = find_command(commands, rest.front());
  if (!command) {
    err << "sluicectl: " << (rest.front()[0] == '-' ? "unknown option " : "unknown command ")
        << "\"" << rest.front() << "\"\n\n";
    print_main_help(err);
    return kExitUsage;
  }
  if (help) {
    print_command_help(*command, out);
    return kExitOk;
  }
  auto usage_error = [&](const std::string& message) {
    err << "sluicectl " << command->name << ": " << message << "\n\n";
    print_command_help(*command, err);
    return kExitUsage;
  };

  Output output = Output::kTable;
  if (globals.count("output")) {
    const std::string format = globals["output"].as<std::string>();
    if (format == "json") {
      output = Output::kJson;
    } else if (format != "table") {
      return usage_error("-o/--output: \"" + format + "\" is not table or json");
    }
  }
  Connection connection;
  connection.socket_path = kDefaultSocket;
  if (globals.count("socket")) {
    connection.socket_path = globals["socket"].as<std::string>();
  } else if (const char* env = std::getenv("SLUICECTL_SOCKET"); env && *env) {
    connection.socket_path = env;
  }
  if (std::string error = tcp_connection(globals, connection); !error.empty()) {
    return usage_error(error);
  }
  if (std::string error = read_tls_files(globals, connection); !error.empty()) {
    err << "sluicectl: " << error << "\n";
    return kExitFailed;
  }

  try {
    const po::variables_map vm =
        parse_command(*command, std::vector<std::string>(rest.begin() + 1, rest.end()));
    Context ctx(std::move(connection), output, out, err);
    return command->run(ctx, vm);
  } catch (const po::error& e) {
    return usage_error(e.what());
  } catch (const UsageError& e) {
    return usage_error(e.what());
  }
}

}  // namespace sluice::sluicectl
