// SPDX-License-Identifier: Apache-2.0
// One sluicectl command: its help text, its options and positional
// arguments, and what it does. The dispatcher (cli.cc) parses the command
// line with them and prints the help; each command group lives in its own
// file (status_command.cc, services_command.cc, ...).
#pragma once

#include <boost/program_options.hpp>

#include <functional>
#include <string>
#include <vector>

#include "tools/sluicectl/context.h"

namespace sluice::sluicectl {

namespace po = boost::program_options;

struct Command {
  std::string name;         // "set-weights"
  std::string usage;        // "set-weights SERVICE POOL=WEIGHT... [options]"
  std::string summary;      // one line, for the command list
  std::string description;  // what it does, shown by --help
  std::function<void(po::options_description&)> add_options;  // may be empty
  // Positional arguments, in order: the last may repeat (count -1).
  std::vector<std::pair<std::string, int>> arguments;
  std::function<int(Context&, const po::variables_map&)> run;
};

// Every command, in the order of the help.
std::vector<Command> all_commands();

// The commands (one function per file).
Command status_command();
Command get_command();
Command describe_command();
Command apply_command();
Command delete_command();
Command set_weights_command();
Command backend_command();
Command drain_command();
Command explain_command();
Command stats_command();
Command events_command();

// Helpers for the commands.
// The positional argument `name`, as given (empty when absent).
std::string argument(const po::variables_map& vm, const std::string& name);
std::vector<std::string> arguments(const po::variables_map& vm, const std::string& name);
// Throws UsageError unless `vm` holds argument `name`; returns it.
std::string required_argument(const po::variables_map& vm, const std::string& name,
                              const std::string& what);
// The workers' generations against the revision, for the field "workers":
// "2, all at revision 4", "2, 1 behind revision 4", "none".
std::string workers_text(const std::vector<uint64_t>& generations, uint64_t revision);

}  // namespace sluice::sluicectl
