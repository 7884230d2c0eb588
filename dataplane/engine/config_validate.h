// SPDX-License-Identifier: Apache-2.0
// Validation of the engine configuration, done entirely before anything is
// compiled or published: a configuration with any error changes nothing.
// Every error names the field by its path, as an operator wrote it:
//   services[0].pools[1].backends[0].weight: 0 is out of range 1..1000000
#pragma once

#include <string>
#include <vector>

#include "dataplane/engine/config.h"

namespace sluice::engine {

struct ConfigError {
  std::string field;    // "services[2].pools[0].name"
  std::string message;  // "duplicate pool name \"canary\""

  std::string to_string() const { return field + ": " + message; }
};

// All errors of the whole configuration (empty when it is valid).
std::vector<ConfigError> validate_config(const EngineConfig& config);

// All errors of one service; `path` prefixes every field ("services[2]").
std::vector<ConfigError> validate_service(const ServiceConfig& service,
                                          const std::string& path);

}  // namespace sluice::engine
