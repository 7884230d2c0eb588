// SPDX-License-Identifier: Apache-2.0
// The services file of sluiced: services in the protobuf JSON form of the
// control API (sluice.v1.Service, proto/sluice/v1/service.proto), read at
// start and again on SIGHUP. The schema is in control/config/README.md.
//
// A document is either one Service object or a ServiceList
// ({"services": [...]}); which one is told by a top-level "services" key.
// Either way fields are named by their path from the list, "services[i]",
// so an error reads the same whichever form the operator chose.
//
// Loading is all or nothing: it returns every error it can find (syntax,
// JSON types, unknown fields, unmappable values and the engine's own
// validation), and services only when there are none.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "dataplane/engine/config.h"
#include "dataplane/engine/config_validate.h"

namespace sluice::control::config {

struct ServicesLoadResult {
  std::vector<engine::ServiceConfig> services;  // empty whenever errors is not
  std::vector<engine::ConfigError> errors;
};

// Parses and validates a services document. Error fields are JSON paths
// ("services[0].pools[1].weight"), "line L, column C" for syntax errors, or
// "document" for the document as a whole (empty, not an object).
ServicesLoadResult load_services_json(std::string_view json_text);

// The same from a file. Every error names the file: its field is
// "PATH: " + the field above, or just PATH for the document as a whole and
// for a file that cannot be read (the message then carries errno's text).
ServicesLoadResult load_services_json_file(const std::string& path);

// The services as a ServiceList JSON document, with proto field names and
// every field written out (see service_to_proto), ending in a newline. It
// loads back to the same services.
std::string services_to_json(const std::vector<engine::ServiceConfig>& services);

// protobuf's JSON parse error ("(services[0].protocol): invalid value ...",
// "(services[0]) bogus: Cannot find field.") as a field-path error in the
// words of a JSON file ("invalid value \"TCP\"; expected one of ...",
// "unknown field"). Shared by every loader of protobuf JSON.
engine::ConfigError json_parse_error(const std::string& status_message);

// Files larger than this are refused (a services file is a few MiB at most;
// this keeps a wrong path such as /dev/zero from eating memory).
inline constexpr size_t kMaxServicesFileBytes = 64u << 20;

}  // namespace sluice::control::config
