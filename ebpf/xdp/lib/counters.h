/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Counting, as engine Worker::count does it: per-CPU worker counters (the
 * same list as the engine's, counter_list.h) with one counter per drop
 * reason, and the golden signals (signal_list.h) per service, pool and
 * backend counter slot: packets and bytes of every forwarded frame here,
 * the flow events (new flow, handshake, reset, ...) where they happen, with
 * sluice_count_signal, and handshake times in per-slot histograms.
 */
#pragma once

#include "ebpf/xdp/lib/common.h"

SLUICE_XDP_INLINE struct sluice_xdp_counters *sluice_counters(void)
{
	const uint32_t zero = 0;

	return bpf_map_lookup_elem(&counters, &zero);
}

/* Slots beyond a map's size are not counted (bounded memory), as the engine
 * skips slots beyond its vectors. */
SLUICE_XDP_INLINE void sluice_add_traffic(void *map, uint32_t slot, uint32_t bytes)
{
	struct sluice_xdp_traffic *t = bpf_map_lookup_elem(map, &slot);

	if (t) {
		t->packets++;
		t->bytes += bytes;
	}
}

/* The counter slots one flow event is counted on. */
struct sluice_xdp_slots {
	uint32_t service;
	uint32_t pool;
	uint32_t backend;
};

/* The slots of backend b of service svc, in pool `pool` (b's own). False
 * for a pool index out of range. */
SLUICE_XDP_INLINE bool sluice_slots_of(const struct sluice_xdp_service *svc, uint32_t pool,
				       const struct sluice_xdp_backend *b, struct sluice_xdp_slots *out)
{
	if (pool >= SLUICE_MAX_POOLS)
		return false;
	/* clang may compare one copy of the index and address with another,
	 * which the verifier cannot relate: mask the value it addresses with
	 * (a no-op, SLUICE_MAX_POOLS being a power of two) behind a barrier
	 * that keeps clang from dropping the mask. */
	sluice_barrier_var(pool);
	out->service = svc->counter_slot;
	out->pool = svc->pools[pool & (SLUICE_MAX_POOLS - 1)].counter_slot;
	out->backend = b->counter_slot;
	return true;
}

/* The offset of a signal in struct sluice_xdp_traffic: the argument of the
 * functions below (a constant, so each call compiles to one increment). */
#define SLUICE_SIGNAL(name) ((uint32_t)offsetof(struct sluice_xdp_traffic, name))

/* Adds one event to the signal at `offset` of one slot of `map`. The
 * offset is widened before it is checked: a 32-bit one would be
 * zero-extended again after the check, and the verifier would not know the
 * extended copy's bound. */
SLUICE_XDP_INLINE void sluice_add_signal(void *map, uint32_t slot, uint32_t offset)
{
	uint8_t *t = bpf_map_lookup_elem(map, &slot);
	uint64_t at = offset;

	sluice_barrier_var(at);
	if (t && at <= sizeof(struct sluice_xdp_traffic) - sizeof(uint64_t))
		(*(uint64_t *)(t + at))++;
}

/* One flow event, SLUICE_SIGNAL(name), on its service, pool and backend.
 * A function of its own (verified once), not inlined at each of the dozen
 * places an event happens: they are rare, and three map lookups each would
 * add about a thousand instructions to the program. */
SLUICE_XDP_FN int sluice_count_signal(const struct sluice_xdp_slots *s, uint32_t offset)
{
	if (!s)
		return 0;
	offset &= ~7u; /* 8-byte aligned, whatever the caller passed */
	sluice_add_signal(&service_traffic, s->service, offset);
	sluice_add_signal(&pool_traffic, s->pool, offset);
	sluice_add_signal(&backend_traffic, s->backend, offset);
	return 0;
}

/* Adds a handshake time `ms`, of bucket `bucket`, to one histogram
 * (signal_list.h). */
SLUICE_XDP_INLINE void sluice_add_handshake(void *map, uint32_t slot, uint32_t bucket, uint32_t ms)
{
	struct sluice_handshake_histogram *h = bpf_map_lookup_elem(map, &slot);

	if (!h || bucket >= SLUICE_HANDSHAKE_BUCKETS)
		return;
	h->buckets[bucket]++;
	h->sum_ms += ms;
}

/* A completed handshake of `ms` milliseconds: counted on the three slots,
 * its time in the pool's and the backend's histograms. */
SLUICE_XDP_FN int sluice_count_handshake(const struct sluice_xdp_slots *s, uint32_t ms)
{
	uint32_t bucket = sluice_handshake_bucket(ms);

	if (!s)
		return 0;
	sluice_count_signal(s, SLUICE_SIGNAL(handshakes_completed));
	sluice_add_handshake(&pool_handshakes, s->pool, bucket, ms);
	sluice_add_handshake(&backend_handshakes, s->backend, bucket, ms);
	return 0;
}

/* Counts a packet's verdict; `bytes` is its length as received. */
SLUICE_XDP_INLINE void sluice_count(struct sluice_xdp_counters *c,
				    const struct sluice_xdp_decision *d, uint32_t bytes)
{
	if (d->action == SLUICE_ACTION_HOST) {
		c->to_host++;
		return;
	}
	if (d->action == SLUICE_ACTION_DROP) {
		c->dropped++;
		if (d->reason < SLUICE_DROP_REASON_COUNT)
			c->drops[d->reason]++;
		return;
	}
	if (!d->counted)
		return; /* an echo reply */
	c->forwarded++;
	sluice_add_traffic(&service_traffic, d->service_slot, bytes);
	sluice_add_traffic(&pool_traffic, d->pool_slot, bytes);
	sluice_add_traffic(&backend_traffic, d->backend_slot, bytes);
}
