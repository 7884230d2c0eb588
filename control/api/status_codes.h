// SPDX-License-Identifier: Apache-2.0
// ControlCore's error codes as gRPC status codes (the table is in
// proto/sluice/v1/control.proto).
#pragma once

#include <grpcpp/support/status.h>

#include "control/api/control_core.h"

namespace sluice::control::api {

grpc::StatusCode grpc_code(ErrorCode code);

inline grpc::Status to_grpc_status(const CallError& error) {
  return grpc::Status(grpc_code(error.code), error.message);
}

}  // namespace sluice::control::api
