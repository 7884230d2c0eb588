/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The record exchanged with shared_header_probe.bpf.c through BPF_PROG_TEST_RUN.
 *
 * The test writes the inputs into a packet buffer, the XDP probe runs the
 * shared decision headers (flow_hash.h, pool_split.h) on them as BPF code and
 * writes the outputs back into the same buffer. Plain C with fixed-size
 * fields and explicit padding, so clang -target bpf and g++ agree on every
 * offset (checked by the static asserts below).
 */
#pragma once

#include <stdint.h>

#include "dataplane/engine/flow_hash.h"
#include "dataplane/engine/pool_split.h"

struct sluice_probe_in {
	struct sluice_flow_key key;
	struct sluice_hash_seed seed;
	struct sluice_pool_split split;
	uint32_t weight[SLUICE_MAX_POOLS]; /* fed to sluice_inv_weight() */
	uint64_t x;                         /* fed to neg_log2_q20() and mix64() */
	uint64_t range_hash;                /* fed to hash_to_range() with n */
	uint32_t n;
	uint8_t affinity;                   /* enum sluice_affinity, or garbage */
	uint8_t prefix_len;
	uint8_t pad[2];
};

struct sluice_probe_out {
	uint64_t flow_hash;     /* sluice_flow_hash(key, seed) */
	uint64_t affinity_hash; /* flow hash of sluice_affinity_key(key, ...) */
	uint64_t neg_log2_q20;  /* sluice_neg_log2_q20(x) */
	uint64_t mix64;         /* sluice_mix64(x) */
	uint64_t inv_weight[SLUICE_MAX_POOLS]; /* sluice_inv_weight(weight[i]) */
	uint32_t pool;          /* sluice_pick_pool(affinity_hash, split) */
	uint32_t range;         /* sluice_hash_to_range(range_hash, n) */
};

/* The whole packet: inputs first, then the outputs the probe fills in. */
struct sluice_probe_record {
	struct sluice_probe_in in;
	struct sluice_probe_out out;
};

/* Offsets the C++ side relies on; a mismatch here fails the BPF build too. */
#ifdef __cplusplus
#define SLUICE_PROBE_STATIC_ASSERT static_assert
#else
#define SLUICE_PROBE_STATIC_ASSERT _Static_assert
#endif
SLUICE_PROBE_STATIC_ASSERT(sizeof(struct sluice_flow_key) == 40, "flow key layout");
SLUICE_PROBE_STATIC_ASSERT(sizeof(struct sluice_pool_split) == 104, "pool split layout");
SLUICE_PROBE_STATIC_ASSERT(sizeof(struct sluice_probe_in) == 216, "probe input layout");
SLUICE_PROBE_STATIC_ASSERT(sizeof(struct sluice_probe_out) == 104, "probe output layout");
SLUICE_PROBE_STATIC_ASSERT(sizeof(struct sluice_probe_record) == 320, "probe record layout");

/* The probe's verdicts: XDP_TX with outputs written, XDP_ABORTED if short. */
#define SLUICE_PROBE_OK 3      /* XDP_TX */
#define SLUICE_PROBE_SHORT 0   /* XDP_ABORTED */
