// SPDX-License-Identifier: Apache-2.0
// sluice.v1.Service (proto/sluice/v1/service.proto) <-> engine::ServiceConfig.
//
// The JSON services file and the gRPC API carry the same messages, so both
// go through this mapping and report errors the same way: by field path, in
// the style of engine::validate_config
//   services[0].pools[1].backends[0].address: "10.0.0.300" is not an IPv4 or IPv6 address
// Paths use the proto field names (snake_case, as in the JSON an operator
// writes), e.g. rules[2].source_cidr where the engine says rules[2].source.
#pragma once

#include <string>
#include <vector>

#include "dataplane/engine/config.h"
#include "dataplane/engine/config_validate.h"
#include "sluice/v1/service.pb.h"

namespace sluice::control::config {

// Maps one service, appending to `errors` (paths under `path`, e.g.
// "services[0]") whatever the engine types cannot hold: unparsable
// addresses and prefixes, numbers too large for their engine field, enum
// values unknown to this version, and an absent pool weight. Absent
// optional fields and *_UNSPECIFIED enums take the engine defaults. A field
// in error is left at a placeholder chosen so that validation does not
// report the same mistake again. Does not validate (services_from_proto does).
engine::ServiceConfig service_from_proto(const v1::Service& proto, const std::string& path,
                                         std::vector<engine::ConfigError>& errors);

struct MappedServices {
  std::vector<engine::ServiceConfig> services;  // empty whenever errors is not
  std::vector<engine::ConfigError> errors;      // mapping errors, then validation errors
};

// Maps every service ("services[i]") and validates them together with the
// engine's own checks (engine::validate_config: per service, plus duplicate
// names and listeners across services). Validation errors that only repeat
// a mapping error (the same field, or a listener clash of a service whose
// VIP, port or protocol did not map) are left out.
MappedServices services_from_proto(const v1::ServiceList& list);

// engine -> proto. Every field is written out explicitly (defaults included,
// never *_UNSPECIFIED), so a dump shows exactly what the engine runs with.
v1::Service service_to_proto(const engine::ServiceConfig& service);
// One backend state (never BACKEND_STATE_UNSPECIFIED).
v1::BackendState backend_state_to_proto(engine::BackendState state);
v1::ServiceList services_to_proto(const std::vector<engine::ServiceConfig>& services);

}  // namespace sluice::control::config
