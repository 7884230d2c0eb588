// SPDX-License-Identifier: Apache-2.0
#include "control/metrics/allocator_tuning.h"

#include <malloc.h>

namespace sluice::control::metrics {

// Why: a scrape of /metrics/backends at 5,000 backends (README.md, "Cost",
// reading (b)) builds about 100 MB (families, a 17.8 MB text in a string
// that doubles to 32 MB, its gzip) and frees it all when the answer is
// sent. With glibc's defaults that memory goes back to the kernel after
// every scrape and the next one faults it in again: 8,700 minor faults per
// plain GET, almost half of its CPU time on this VM (release build: 243 ms
// CPU with the defaults, 136 ms with these settings and 0 faults; gzip 286
// vs 224 ms). All three settings are needed; with any two of them the
// faults stayed at 8,000-20,000 per scrape:
//   M_ARENA_MAX 1         civetweb's threads would each get an arena of their
//                         own, made of 64 MB heaps that glibc unmaps as soon
//                         as they are empty, whatever the trim threshold.
//                         One arena keeps every thread in the main heap.
//                         sluiced's threads that allocate (gRPC, health
//                         checker, census, metrics) share its lock;
//                         dataplane workers do not allocate while forwarding.
//   M_TRIM_THRESHOLD      the main heap keeps up to 256 MB free at its top
//     256 MB              instead of returning it (default: 128 KB, raised
//                         dynamically only up to 64 MB).
//   M_MMAP_THRESHOLD      blocks up to 64 MB come from that heap instead of
//     64 MB               a fresh mmap each time (default: 128 KB, raised
//                         dynamically up to 32 MB; setting the trim
//                         threshold alone would pin it at 128 KB).
// The price is resident memory that stays after a scrape: 130 MB at
// reading (b), less than the 162 MB the defaults left there (thread arenas
// included). At 40,000 backends (reading (a)) a scrape needs more than 256
// MB: what is beyond is returned and faulted in again (103,000 faults per
// plain GET instead of 162,000).
void tune_allocator_for_scrapes() {
  mallopt(M_ARENA_MAX, 1);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
}

}  // namespace sluice::control::metrics
