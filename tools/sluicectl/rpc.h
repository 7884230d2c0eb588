// SPDX-License-Identifier: Apache-2.0
// Calling sluiced: deadlines, and reporting a failed call the same way for
// every command.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>

#include "tools/sluicectl/context.h"

namespace sluice::sluicectl {

// Every call gets this long, plus the wait of --wait: a sluiced that hangs
// must not hang a rollout script with it.
inline constexpr std::chrono::seconds kCallTimeout{15};

void set_deadline(grpc::ClientContext& context, std::chrono::milliseconds extra = {});

// Prints "sluicectl: CODE: message" (and what to check when sluiced cannot
// be reached) to ctx.err(); returns kExitFailed.
int report_rpc_error(Context& ctx, const grpc::Status& status, const grpc::ClientContext& context);

}  // namespace sluice::sluicectl
