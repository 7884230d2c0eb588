// SPDX-License-Identifier: Apache-2.0
// Keeps gRPC's library initialised for the whole test process. Otherwise
// each test's server, the last gRPC object when it is destroyed, runs
// gRPC's global shutdown, which (gRPC 1.51) may wait up to 10 s for an
// internal executor thread's poll: a test that takes 0.2 s at times took
// 10. sluiced holds the library the same way (control/daemon/main.cc).
#pragma once

#include <grpc/grpc.h>

namespace sluice::control::api {

struct HoldGrpc {
  HoldGrpc() { grpc_init(); }
};

inline const HoldGrpc kHoldGrpc;

}  // namespace sluice::control::api
