/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The active configuration as one packet reads it: the slot and generation
 * from "root", and the per-slot records of xdp_layout.h (services, VIPs,
 * backends, Maglev tables). The engine's Snapshot accessors
 * (find_service, is_vip, CompiledService::find_backend) as map lookups.
 */
#pragma once

#include "ebpf/xdp/lib/common.h"

/* engine::BackendState. */
enum sluice_backend_state {
	SLUICE_BACKEND_ACTIVE = 0,
	SLUICE_BACKEND_DRAINING = 1,
	SLUICE_BACKEND_DISABLED = 2,
};

/* engine::Encapsulation. */
enum sluice_encapsulation {
	SLUICE_ENCAP_IPIP = 0,
	SLUICE_ENCAP_GUE = 1,
};

/* The root word (generation << 1 | slot); 0 when nothing is configured. */
SLUICE_XDP_INLINE uint64_t sluice_root_word(void)
{
	const uint32_t zero = 0;
	const struct sluice_xdp_root *r = bpf_map_lookup_elem(&root, &zero);

	return r ? r->word : 0;
}

SLUICE_XDP_INLINE const struct sluice_xdp_globals *sluice_globals(uint32_t slot)
{
	return bpf_map_lookup_elem(&globals, &slot);
}

SLUICE_XDP_INLINE const struct sluice_xdp_service *sluice_service(uint32_t slot, uint32_t index)
{
	uint32_t at;

	if (index >= sluice_max_services)
		return NULL;
	at = slot * sluice_max_services + index;
	return bpf_map_lookup_elem(&service_config, &at);
}

/* The service for a client -> VIP key, as its index, or -1. */
SLUICE_XDP_INLINE int64_t sluice_find_service(uint32_t slot, const struct sluice_flow_key *key)
{
	struct sluice_xdp_service_key k = {};
	const uint32_t *index;

	k.slot = (uint8_t)slot;
	k.family = key->family;
	k.proto = key->proto;
	k.port = key->dport;
	__builtin_memcpy(k.addr, key->dst, 16);
	index = bpf_map_lookup_elem(&services, &k);
	return index ? (int64_t)*index : -1;
}

/* Whether the key's destination address is any service's VIP. */
SLUICE_XDP_INLINE bool sluice_is_vip(uint32_t slot, const struct sluice_flow_key *key)
{
	struct sluice_xdp_vip_key k = {};

	k.slot = (uint8_t)slot;
	k.family = key->family;
	__builtin_memcpy(k.addr, key->dst, 16);
	return bpf_map_lookup_elem(&vips, &k) != NULL;
}

/* Backend `index` (service-relative) of a service. */
SLUICE_XDP_INLINE const struct sluice_xdp_backend *
sluice_backend(uint32_t slot, const struct sluice_xdp_service *svc, uint32_t index)
{
	uint32_t at;

	if (index >= svc->backend_count || svc->backend_base >= sluice_max_backends ||
	    index >= sluice_max_backends - svc->backend_base)
		return NULL;
	at = slot * sluice_max_backends + svc->backend_base + index;
	return bpf_map_lookup_elem(&backends, &at);
}

/* The index of the service's backend with this fingerprint, or
 * SLUICE_XDP_NO_BACKEND. */
SLUICE_XDP_INLINE uint32_t sluice_find_backend(uint32_t slot, uint32_t service, uint64_t fingerprint)
{
	struct sluice_xdp_backend_key k = {};
	const uint32_t *index;

	k.slot_service = slot << 24 | service;
	k.fingerprint = fingerprint;
	index = bpf_map_lookup_elem(&backend_index, &k);
	return index ? *index : SLUICE_XDP_NO_BACKEND;
}

/* Entry `at` of a pool's Maglev table, or SLUICE_XDP_NO_BACKEND. */
SLUICE_XDP_INLINE uint32_t sluice_maglev_entry(uint32_t slot, const struct sluice_xdp_pool *pool,
					       uint32_t at)
{
	const struct sluice_xdp_maglev *v;
	uint32_t entry, key;

	if (at >= pool->maglev_size)
		return SLUICE_XDP_NO_BACKEND;
	entry = pool->maglev_offset + at;
	if (entry >= sluice_maglev_entries)
		return SLUICE_XDP_NO_BACKEND;
	key = slot * (sluice_maglev_entries / SLUICE_XDP_MAGLEV_PER_VALUE) +
	      entry / SLUICE_XDP_MAGLEV_PER_VALUE;
	v = bpf_map_lookup_elem(&maglev, &key);
	if (!v)
		return SLUICE_XDP_NO_BACKEND;
	return v->index[entry % SLUICE_XDP_MAGLEV_PER_VALUE];
}
