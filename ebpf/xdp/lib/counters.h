/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Counting, as engine Worker::count does it: per-CPU worker counters (the
 * same list as the engine's, counter_list.h) with one counter per drop
 * reason, and traffic per service, pool and backend counter slot.
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
