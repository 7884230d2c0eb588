// SPDX-License-Identifier: Apache-2.0
// Size limits on every string a request carries, checked before anything
// else looks at the request (validation, the core, the audit log), so that
// a huge string is refused by its size alone and never copied into an
// error message, a log or the audit log.
//
// Limits, by field name (the same in every message):
//   names: name, service, pool, fallback_pool and the keys of `weights`:
//     63 bytes, the engine's own limit (dataplane/engine/config_validate.cc)
//     checked here too, so that the caller hears it before its name is
//     echoed anywhere
//   target (GetDrainStatus: a pool name or an address): 64 bytes, as
//     GetDrainStatus checks it
//   http_path, http_host: 1024 bytes (an HTTP request line)
//   any other string (addresses, CIDRs, a drain target): 256 bytes
// Above them, gRPC refuses a request over kMaxRequestBytes itself
// (server.h) before this layer runs.
#pragma once

#include <google/protobuf/message.h>

#include <cstddef>
#include <string>
#include <vector>

#include "dataplane/engine/config_validate.h"

namespace sluice::control::api {

inline constexpr size_t kMaxNameBytes = 63;
inline constexpr size_t kMaxTargetBytes = 64;
inline constexpr size_t kMaxHttpFieldBytes = 1024;
inline constexpr size_t kMaxStringBytes = 256;

// An error for each string field of `request` (at any depth) over its
// limit, named by its path as the mapping names fields ("service.pools[1].name",
// "weights"); the message gives the size and the limit, never the text.
std::vector<engine::ConfigError> oversized_fields(const google::protobuf::Message& request);

}  // namespace sluice::control::api
