// SPDX-License-Identifier: Apache-2.0
// The API's enum values as sluicectl's tables print them.
#pragma once

#include <string>

#include "sluice/v1/control.pb.h"

namespace sluice::sluicectl {

// "PROTOCOL_TCP" -> "TCP": the enum's own prefix says nothing on screen.
std::string short_name(const std::string& enum_value_name, const std::string& prefix);
std::string protocol_text(v1::Protocol protocol);    // "TCP"
std::string state_text(v1::BackendState state);      // "ACTIVE", "DRAINING", "DISABLED"
std::string circuit_text(v1::CircuitState state);    // "closed", "open", "half-open", "suspected"
std::string health_state_text(v1::HealthState state);  // "healthy", "unhealthy", "unknown"

}  // namespace sluice::sluicectl
