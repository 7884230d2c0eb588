// SPDX-License-Identifier: Apache-2.0
// Where /metrics and /metrics/backends get their figures: one sample of
// the daemon's counters and status per scrape. The exporter depends on this
// interface only, never on the control core; sluiced adapts its ControlCore
// to it.
//
// Contract for implementations: a scrape of /metrics calls stats() then
// status(), one of /metrics/backends stats() only, from a web-server
// thread, at most one scrape at a time over both paths (StatsCollectable
// serialises them). Neither may make a dataplane worker wait: read the
// workers' counter blocks as they are (single-writer, slightly stale) and
// the latest flow census, as GetStats does; never lock anything a worker
// takes on its packet path.
#pragma once

#include "control/api/control_core.h"
#include "control/api/control_stats.h"

namespace sluice::control::metrics {

class MetricsSource {
 public:
  virtual ~MetricsSource() = default;

  // Every service's traffic, named by the current revision (all services).
  virtual ControlStats stats() = 0;
  // Revision, per-worker generations, dataplane kind, uptime and version.
  virtual ControlStatus status() = 0;
};

}  // namespace sluice::control::metrics
