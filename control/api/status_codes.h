// SPDX-License-Identifier: Apache-2.0
// ControlCore's error codes as gRPC status codes (the table is in
// proto/sluice/v1/control.proto).
#pragma once

#include <grpcpp/support/status.h>

#include "control/api/control_core.h"
#include "control/state/audit_text.h"

namespace sluice::control::api {

grpc::StatusCode grpc_code(ErrorCode code);

// The message is made printable (audit_text.h): the core's messages quote
// names the caller sent, and a status message must not carry a raw control
// character back to a terminal.
inline grpc::Status to_grpc_status(const CallError& error) {
  return grpc::Status(grpc_code(error.code), printable(error.message));
}

}  // namespace sluice::control::api
