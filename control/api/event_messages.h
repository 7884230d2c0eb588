// SPDX-License-Identifier: Apache-2.0
// ControlEvent (control_events.h) as sluice.v1.Event.
#pragma once

#include "control/api/control_events.h"
#include "sluice/v1/control.pb.h"

namespace sluice::control::api {

v1::Event event_to_proto(const ControlEvent& event);

}  // namespace sluice::control::api
