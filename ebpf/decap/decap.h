/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the backend-side decapsulator (decap.bpf.c) shares with the programs
 * that load, configure and test it: map names, the configuration record and
 * the counter indices. Plain C on <stdint.h> so that clang -target bpf and
 * g++ both build it.
 */
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The engine's default (ForwardingConfig::gue_port). */
#define SLUICE_DECAP_DEFAULT_GUE_PORT 6080

/*
 * Map names as the kernel reports them (bpftool map show name ...).
 * BPF object names are at most 15 characters.
 */
#define SLUICE_DECAP_CONFIG_MAP "decap_config"
#define SLUICE_DECAP_STATS_MAP "decap_stats"

/*
 * Entry 0 of the one-entry array map decap_config. The map, not a
 * `const volatile` global, holds the configuration because `tc filter add
 * ... bpf object-file` loads the object with its compiled-in .rodata and
 * offers no way to change it; a map entry can be written after tc has loaded
 * the program (bpftool map update name decap_config ...). All zeroes, the
 * state of a fresh map, means "defaults".
 */
struct sluice_decap_config {
	uint32_t gue_port; /* host byte order; 0: SLUICE_DECAP_DEFAULT_GUE_PORT */
};

/* Indices into the per-CPU array map decap_stats (uint64_t packet counts). */
enum sluice_decap_counter {
	SLUICE_DECAP_IPIP = 0,   /* IPIP outer header removed */
	SLUICE_DECAP_GUE = 1,    /* GUE outer IP + UDP removed */
	SLUICE_DECAP_PASSED = 2, /* not a tunnel packet for us: untouched */
	SLUICE_DECAP_BAD = 3,    /* looked like a tunnel, malformed: untouched */
	SLUICE_DECAP_FAILED = 4, /* bpf_skb_adjust_room refused: untouched */
	SLUICE_DECAP_COUNTERS = 5,
};

#ifdef __cplusplus
}
#endif
