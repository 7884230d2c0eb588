// SPDX-License-Identifier: Apache-2.0
#include "tools/sluicectl/enum_text.h"

namespace sluice::sluicectl {

std::string short_name(const std::string& enum_value_name, const std::string& prefix) {
  return enum_value_name.rfind(prefix, 0) == 0 ? enum_value_name.substr(prefix.size())
                                                : enum_value_name;
}

std::string protocol_text(v1::Protocol protocol) {
  return short_name(v1::Protocol_Name(protocol), "PROTOCOL_");
}

std::string state_text(v1::BackendState state) {
  return short_name(v1::BackendState_Name(state), "BACKEND_STATE_");
}

// Lower case, as in sluiced's stats file and log.
std::string circuit_text(v1::CircuitState state) {
  switch (state) {
    case v1::CIRCUIT_STATE_CLOSED: return "closed";
    case v1::CIRCUIT_STATE_OPEN: return "open";
    case v1::CIRCUIT_STATE_HALF_OPEN: return "half-open";
    case v1::CIRCUIT_STATE_SUSPECTED: return "suspected";
    default: return "unknown";
  }
}

// Lower case too, as in sluiced's log and audit lines.
std::string health_state_text(v1::HealthState state) {
  switch (state) {
    case v1::HEALTH_STATE_HEALTHY: return "healthy";
    case v1::HEALTH_STATE_UNHEALTHY: return "unhealthy";
    default: return "unknown";
  }
}

}  // namespace sluice::sluicectl
