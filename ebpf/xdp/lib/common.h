/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What every part of the XDP program shares: the kernel and libbpf headers,
 * the per-packet records passed between the pipeline's functions, and the
 * configuration sizes the loader may set before loading.
 *
 * Verification: the pipeline is split into global (non-static, noinline)
 * BPF functions, SLUICE_XDP_FN. The verifier checks each of them once, with
 * unknown arguments, instead of once per path that reaches it, which keeps
 * the program within its complexity limit whatever the mix of VLAN, IPv6
 * extension headers, ICMP quotes and circuit state. The price is that such
 * a function takes only the context, scalars and pointers to plain memory
 * (which may be NULL: each one checks), so the records below carry indices,
 * never pointers, and each function looks up the map values it needs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "dataplane/engine/drop_reasons.h"
#include "dataplane/engine/flow_hash.h"
#include "dataplane/engine/wire.h"
#include "ebpf/xdp/xdp_maps.bpf.h"

#define SLUICE_XDP_FN __attribute__((noinline))
#define SLUICE_XDP_INLINE static __always_inline

/* Makes clang forget what it knows about a variable's value (libbpf's
 * barrier_var), so a bounds mask on it stays in the code. */
#define sluice_barrier_var(var) asm volatile("" : "+r"(var))

#ifndef likely
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

/*
 * Per-slot capacities, as the slot offsets of the array maps use them
 * (xdp_layout.h). A loader that resizes a map sets the matching value here
 * before loading: max_entries / SLUICE_XDP_SLOTS (for "maglev",
 * max_entries * SLUICE_XDP_MAGLEV_PER_VALUE / SLUICE_XDP_SLOTS).
 */
const volatile uint32_t sluice_max_services = SLUICE_XDP_MAX_SERVICES;
const volatile uint32_t sluice_max_backends = SLUICE_XDP_MAX_BACKENDS;
const volatile uint32_t sluice_maglev_entries = SLUICE_XDP_MAGLEV_ENTRIES;

/*
 * Packet offsets are bounded by this constant, which the verifier needs
 * (and with room to spare: it gives up on a packet pointer whose offset may
 * pass 0xffff). A program without multi-buffer support sees at most one page
 * of frame, so no byte of a real frame lies beyond it on 4 KiB-page systems;
 * where pages are larger, a jumbo frame's bytes past 16 KiB read as missing.
 */
#define SLUICE_XDP_MAX_OFFSET 0x3fffu

/* engine::Action. */
enum sluice_xdp_action {
	SLUICE_ACTION_FORWARD = 0,
	SLUICE_ACTION_HOST = 1,
	SLUICE_ACTION_DROP = 2,
};

/* engine::kNoBackendIndex. */
#define SLUICE_XDP_NO_BACKEND 0xffffu

/* The configuration one packet is decided under, and what it gives the
 * packet before any table is read. */
struct sluice_xdp_env {
	uint64_t generation;
	uint64_t flow_hash; /* of the packet's flow key under the seed (service packets) */
	uint32_t slot;      /* 0 or 1 */
	uint32_t now_ms;    /* wrapping milliseconds, as the engine's now_ms */
	uint32_t service;   /* the packet's service index (service packets) */
	/* Where the flow's entry was found: SLUICE_XDP_IN_NONE, _IN_FLOWS
	 * (confirmed map) or _IN_FLOWS_NEW (unconfirmed map; xdp_layout.h). */
	uint32_t entry_map;
};

#define SLUICE_XDP_IN_NONE 0
#define SLUICE_XDP_IN_FLOWS 1
#define SLUICE_XDP_IN_FLOWS_NEW 2

/* A packet's verdict, and what its traffic is counted against. */
struct sluice_xdp_decision {
	uint32_t service_slot; /* counter slots, when `counted` */
	uint32_t pool_slot;
	uint32_t backend_slot;
	uint8_t action;        /* enum sluice_xdp_action */
	uint8_t reason;        /* enum sluice_drop_reason */
	uint8_t counted;       /* forwarded to a backend (an echo reply is not) */
	uint8_t to_sender;     /* forward: back out of the receiving interface (XDP_TX) */
};

SLUICE_XDP_INLINE void sluice_decide_drop(struct sluice_xdp_decision *d, uint8_t reason)
{
	d->action = SLUICE_ACTION_DROP;
	d->reason = reason;
	d->counted = 0;
	d->to_sender = 0;
}

SLUICE_XDP_INLINE void sluice_decide_host(struct sluice_xdp_decision *d)
{
	d->action = SLUICE_ACTION_HOST;
	d->reason = SLUICE_DROP_NONE;
	d->counted = 0;
	d->to_sender = 0;
}
