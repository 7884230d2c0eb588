/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which backends of a pool a new flow may be tried on, shared by the DPDK
 * engine (Worker::pick_backend) and the XDP program (sluice_pick_backend in
 * ebpf/xdp/lib/schedule.h), so that both try the same backends in the same
 * order and settle on the same one:
 *
 *  1. the flow's Maglev slot and the SLUICE_MAX_CIRCUIT_PROBES - 1 slots
 *     after it: the backends that would take over this slot's traffic, in
 *     proportion to their weights;
 *  2. then SLUICE_POOL_SAMPLES backends of the pool (in its backend order,
 *     sorted by address), spread evenly over it from a position chosen by
 *     the flow's hash: sluice_pool_sample(start, j, count) for j below
 *     sluice_pool_samples(count). A pool of at most SLUICE_POOL_SAMPLES
 *     backends is thus scanned whole, from `start`, as before; in a larger
 *     one the samples are count / SLUICE_POOL_SAMPLES apart, so a run of
 *     neighbouring addresses that all fail (a rack) cannot hide the rest.
 *
 * Nothing else: if none of these may take the flow the pool counts as
 * unavailable and the caller goes on to the fallback pool (and then drops
 * the flow, or leaves a retried SYN where it was). That bounds the work of
 * choosing a backend to SLUICE_MAX_CIRCUIT_PROBES + SLUICE_POOL_SAMPLES
 * backends per pool whatever its size (4096 backends at most), where a
 * scan of the whole pool cost up to 4096 circuit lookups per packet. The
 * price: in a large pool where nearly every backend is ejected or
 * unhealthy, a flow may fall back although a few backends could still
 * take it (with a fraction f of them unusable, one flow falls back with
 * probability about f^24: 6e-8 at f = 0.5, the default max_ejected_percent,
 * 8% at f = 0.9).
 *
 * Compiled as C++ (g++), C, and BPF C (clang -target bpf): <stdint.h> only,
 * `static inline`, no loops.
 */
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Maglev slots tried, the flow's own included. */
#define SLUICE_MAX_CIRCUIT_PROBES 8u
/* Backends of the pool tried after the Maglev slots (a power of two). */
#define SLUICE_POOL_SAMPLES 16u
#define SLUICE_POOL_SAMPLES_SHIFT 4

/* How many samples a pool of `count` backends gets. */
static inline uint32_t sluice_pool_samples(uint32_t count)
{
	return count < SLUICE_POOL_SAMPLES ? count : SLUICE_POOL_SAMPLES;
}

/*
 * The pool-relative index of sample j (j < sluice_pool_samples(count)) of a
 * pool of `count` backends, from `start` (< count; sluice_hash_to_range of
 * the flow's affinity hash). Distinct for distinct j.
 */
static inline uint32_t sluice_pool_sample(uint32_t start, uint32_t j, uint32_t count)
{
	const uint32_t step = count <= SLUICE_POOL_SAMPLES
				      ? j
				      : (uint32_t)(((uint64_t)j * count) >> SLUICE_POOL_SAMPLES_SHIFT);
	const uint32_t k = start + step;

	return k >= count ? k - count : k;
}

#ifdef __cplusplus
}
#endif
