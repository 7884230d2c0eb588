// SPDX-License-Identifier: Apache-2.0
// sluiced's stats file (--stats-file, atomically replaced every
// --stats-interval-ms): the counters GetStats reports, as one JSON document
// for tools that read files (tools/lab lb-stats, the end-to-end tests):
// per-worker generation and dataplane counters, engine counters, circuit
// counters and drop reasons summed over workers, and traffic and circuit
// state per service, pool and backend by name. The counters are gathered
// and named once, for both, by DataplaneSink::stats and summarize_stats
// (control/core/stats_summary.h).
#pragma once

#include <string>

#include "control/api/control_stats.h"

namespace sluice::control {

// One line of JSON, ending in a newline.
std::string stats_json(const ControlStats& stats);

}  // namespace sluice::control
