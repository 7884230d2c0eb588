// SPDX-License-Identifier: Apache-2.0
// glibc malloc settings that keep a scrape's memory in the process between
// scrapes, so that a scrape does not page-fault it in again each time
// (README.md, "Cost", for the numbers).
#pragma once

namespace sluice::control::metrics {

// Call once, early in main(), before any thread starts (the arena limit
// only holds for threads that have not allocated yet). Affects the whole
// process; harmless without --metrics-listen, but sluiced need not call it
// then.
void tune_allocator_for_scrapes();

}  // namespace sluice::control::metrics
