/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A token bucket of `rate` events per second with room for `burst`, shared
 * by the places that must bound a rate without a lock or a system call:
 *  - the per-core new-flow rate limit that the DPDK engine (Worker) and the
 *    XDP program (ebpf/xdp/lib/flow.h, one bucket per CPU) both apply, so
 *    that they enter the same flows in their tables. A flow the bucket
 *    refuses is forwarded statelessly (README "Flow state under attack"):
 *    consistent hashing picks its backend, the same one while the
 *    configuration is unchanged, and no entry is written, so a flood of new
 *    flows costs the table nothing above the rate (Katran does the same
 *    above its rate of LRU misses);
 *  - the DPDK exception path's policer of frames to the kernel, one bucket
 *    per worker (dataplane/dpdk/worker_loop.cc, exception_path.h).
 *
 * Integer arithmetic in thousandths of a token: `rate` tokens per second is
 * `rate` thousandths per millisecond, so refilling is one multiply and the
 * two dataplanes agree to the token. Times are wrapping 32-bit
 * milliseconds of one core's clock (see circuit_logic.h).
 *
 * Compiled as C++ (g++), C, and BPF C (clang -target bpf): <stdint.h> only,
 * `static inline`, no loops.
 */
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SLUICE_TOKEN_BUCKET_INLINE static inline __attribute__((always_inline))

/* One bucket (one per core or thread); zeroed is a valid start (the first call fills it). */
struct sluice_token_bucket {
	uint64_t tokens;  /* thousandths of a token */
	uint32_t last_ms; /* when tokens was last refilled */
	uint32_t started; /* 0 until the first call */
};

/*
 * Whether one more event (a new flow, a frame) may pass at now_ms; takes
 * its token when it may. rate 0: no limit (always 1, the bucket untouched).
 */
SLUICE_TOKEN_BUCKET_INLINE int sluice_token_bucket_take(struct sluice_token_bucket *b,
							uint32_t now_ms, uint32_t rate,
							uint32_t burst)
{
	const uint64_t cap = (uint64_t)burst * 1000u;
	uint64_t tokens;

	if (rate == 0)
		return 1;
	if (!b->started) {
		b->started = 1;
		tokens = cap;
	} else {
		/* A clock that went back (it cannot, but a zero refill is safe)
		 * reads as a huge elapsed time; the cap bounds it either way. */
		const uint32_t elapsed = now_ms - b->last_ms;

		tokens = b->tokens + (uint64_t)elapsed * rate;
		if (tokens > cap || tokens < b->tokens)
			tokens = cap;
	}
	b->last_ms = now_ms;
	if (tokens < 1000u) {
		b->tokens = tokens;
		return 0;
	}
	b->tokens = tokens - 1000u;
	return 1;
}

#ifdef __cplusplus
}
#endif
