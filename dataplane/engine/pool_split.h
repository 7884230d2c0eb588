/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The version-pool split, shared by the DPDK engine and the XDP program.
 *
 * A service has 1..SLUICE_MAX_POOLS pools with integer weights. A new flow
 * goes to the pool chosen by weighted rendezvous hashing (highest random
 * weight, in its exponential form): every pool j draws
 *     score_j = -ln(u_j) / w_j,   u_j uniform in (0,1) from hash(key, pool_j)
 * and the smallest score wins. -ln(u) is an Exp(1) variable, so score_j is
 * Exp(w_j) and pool j wins with probability exactly w_j / sum(w).
 *
 * Why this and not contiguous intervals over [0,1):
 *  - Monotone: raising pool i's weight lowers only score_i and lowering the
 *    others raises only theirs, so no key ever leaves a pool whose weight
 *    rises while the others fall. Intervals shift their neighbours instead.
 *  - Memoryless: the pool is a function of (key, weights) alone, so going
 *    back to earlier weights puts every key back where it was.
 *  - Minimal movement: when pool i's weight changes and the other pools keep
 *    their weights relative to each other (always so with two pools, and so
 *    with more when only one weight is edited), the scores of the others keep
 *    their order, so the only keys that move are those that move into (or out
 *    of) pool i: exactly the change in its share. No memoryless rule can move
 *    the minimum for every change of three or more weights at once; keys may
 *    then also move between the shrinking pools.
 *  - Weight 0 is never chosen.
 *  - Pools are identified by a stable 32-bit id (a hash of the pool's name),
 *    not by position, so reordering or adding pools moves no other key.
 *
 * BPF has no floating point, so -log2(u) is computed in Q20 fixed point with
 * a branch-only leading-zero count and 20 rounds of repeated squaring, and the
 * division by w_j is a multiplication by a precomputed reciprocal
 * inv_weight = floor(2^36 / w). Ties (astronomically rare) go to the lower
 * index. Everything is integer and bit-identical in C, C++ and BPF.
 */
#pragma once

#include <stdint.h>

#include "dataplane/engine/flow_hash.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SLUICE_MAX_POOLS 8
#define SLUICE_MAX_POOL_WEIGHT 1000000u
#define SLUICE_INV_WEIGHT_SHIFT 36
#define SLUICE_NO_POOL 0xffu

/* What the split of one service needs; written by the control plane. */
struct sluice_pool_split {
	uint32_t n_pools;                        /* 1..SLUICE_MAX_POOLS */
	uint32_t pad;
	uint32_t pool_id[SLUICE_MAX_POOLS];      /* stable id per pool name */
	uint64_t inv_weight[SLUICE_MAX_POOLS];   /* 0: weight 0, never chosen */
};

/* floor(2^36 / weight), or 0 for weight 0. weight <= SLUICE_MAX_POOL_WEIGHT. */
static inline uint64_t sluice_inv_weight(uint32_t weight)
{
	if (weight == 0)
		return 0;
	return (1ULL << SLUICE_INV_WEIGHT_SHIFT) / weight;
}

/*
 * -log2(x / 2^64) in Q20 fixed point, for x in [1, 2^64); x = 0 is read as 1.
 * The result lies in (0, 65 << 20].
 */
static inline uint64_t sluice_neg_log2_q20(uint64_t x)
{
	uint64_t n = 0, y, frac = 0;
	int i;

	if (x == 0)
		x = 1;
	/* Normalise so the top bit is set; n counts the shifts (clz). */
	if (!(x >> 32)) { n += 32; x <<= 32; }
	if (!(x >> 48)) { n += 16; x <<= 16; }
	if (!(x >> 56)) { n += 8; x <<= 8; }
	if (!(x >> 60)) { n += 4; x <<= 4; }
	if (!(x >> 62)) { n += 2; x <<= 2; }
	if (!(x >> 63)) { n += 1; x <<= 1; }
	/* y / 2^31 in [1, 2): take log2 bit by bit by repeated squaring. */
	y = x >> 32;
	for (i = 0; i < 20; i++) {
		uint64_t bit;

		y = (y * y) >> 31;
		/* Branch-free: the bit is random, so a branch would mispredict half
		 * the time and cost more than the multiply chain itself. */
		bit = y >> 32;
		frac = (frac << 1) | bit;
		y >>= bit;
	}
	/* log2(x/2^64) = frac/2^20 - 1 - n, negated. */
	return ((n + 1) << 20) - frac;
}

/* The uniform draw of one pool for one key: a bijective mix of both. */
static inline uint64_t sluice_pool_draw(uint64_t affinity_hash, uint32_t pool_id)
{
	return sluice_mix64(affinity_hash ^ ((uint64_t)pool_id * 0x9e3779b97f4a7c15ULL));
}

/*
 * Picks the pool for a key's affinity hash. Returns the pool index, or
 * SLUICE_NO_POOL when every weight is zero.
 */
static inline uint32_t sluice_pick_pool(uint64_t affinity_hash,
					const struct sluice_pool_split *split)
{
	uint64_t best_score = ~0ULL;
	uint32_t best = SLUICE_NO_POOL;
	int i;

	for (i = 0; i < SLUICE_MAX_POOLS; i++) {
		uint64_t score;

		if ((uint32_t)i >= split->n_pools)
			break;
		if (split->inv_weight[i] == 0)
			continue;
		/* score = -log2(u) / w; a smaller score wins. */
		score = sluice_neg_log2_q20(sluice_pool_draw(affinity_hash, split->pool_id[i])) *
			split->inv_weight[i];
		if (score < best_score) {
			best_score = score;
			best = (uint32_t)i;
		}
	}
	return best;
}

/* FNV-1a of a pool name: the stable pool id used above. */
static inline uint32_t sluice_pool_id(const char *name, uint32_t len)
{
	uint32_t h = 2166136261u;
	uint32_t i;

	for (i = 0; i < len; i++) {
		h ^= (uint8_t)name[i];
		h *= 16777619u;
	}
	return h;
}

#ifdef __cplusplus
}
#endif
