// SPDX-License-Identifier: Apache-2.0
// The daemon's counters as one JSON document: per-worker generation and
// port counters, engine counters and drop reasons summed over workers, and
// traffic per service, pool and backend by name. Written to --stats-file
// (atomically replaced) until the gRPC GetStats call exists.
#pragma once

#include <cstdint>
#include <string>

#include "dataplane/dpdk/runtime.h"

namespace sluice::control {

std::string stats_json(const dpdk::DpdkRuntime& runtime, const engine::Snapshot* snapshot,
                       uint64_t uptime_ms);

// Writes `content` to a temporary file beside `path`, fsyncs it, then
// renames it over `path`: readers see the old or the new file, never half.
bool write_file_atomically(const std::string& path, const std::string& content,
                           std::string* error);

}  // namespace sluice::control
