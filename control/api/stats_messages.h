// SPDX-License-Identifier: Apache-2.0
// ControlStats (control_stats.h) as sluice.v1.GetStatsResponse.
#pragma once

#include "control/api/control_stats.h"
#include "sluice/v1/control.pb.h"

namespace sluice::control::api {

v1::GetStatsResponse stats_to_proto(const ControlStats& stats);
v1::CircuitState circuit_state_to_proto(engine::CircuitState state);
v1::HealthState health_state_to_proto(HealthState state);

}  // namespace sluice::control::api
