// SPDX-License-Identifier: Apache-2.0
#include "tools/sluicectl/command.h"

namespace sluice::sluicectl {

std::vector<Command> all_commands() {
  return {status_command(),      get_command(),     describe_command(),
          apply_command(),       delete_command(),  set_weights_command(),
          backend_command(),     drain_command(),   explain_command(),
          stats_command(),       events_command()};
}

std::string argument(const po::variables_map& vm, const std::string& name) {
  return vm.count(name) ? vm[name].as<std::string>() : std::string();
}

std::vector<std::string> arguments(const po::variables_map& vm, const std::string& name) {
  return vm.count(name) ? vm[name].as<std::vector<std::string>>() : std::vector<std::string>();
}

std::string required_argument(const po::variables_map& vm, const std::string& name,
                              const std::string& what) {
  if (!vm.count(name)) throw UsageError("missing " + name + ": " + what);
  return vm[name].as<std::string>();
}

}  // namespace sluice::sluicectl
