/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Choosing pool and backend for a new flow: engine Worker::schedule,
 * pick_backend and record_connect_failure. The split, the affinity hash and
 * the backends tried are the engine's own headers (pool_split.h,
 * flow_hash.h, pool_probe.h), so a flow gets the same pool and backend on
 * either dataplane. A backend is usable when it is not the one being
 * retried away from, its health check has not marked it unhealthy
 * (health.h), and its circuit admits the flow, checked in that order: an
 * unhealthy backend never takes a half-open trial.
 *
 * Bounded work: choosing a backend tries at most SLUICE_MAX_CIRCUIT_PROBES
 * + SLUICE_POOL_SAMPLES backends of a pool (24; two pools at most, with the
 * fallback), and a connect failure reads its pool's ejected count from
 * "pool_ejected" instead of counting it, except, once per CPU, the first
 * after the pool's active backends changed (sluice_pool_ejected); an
 * ejection that begins or ends updates the count of each pool listing the
 * backend's address (one, unless services share backend addresses).
 */
#pragma once

#include "dataplane/engine/pool_probe.h"
#include "dataplane/engine/pool_split.h"
#include "ebpf/xdp/lib/circuit.h"
#include "ebpf/xdp/lib/common.h"
#include "ebpf/xdp/lib/counters.h"
#include "ebpf/xdp/lib/health.h"
#include "ebpf/xdp/lib/service.h"

/* Backends of one pool (engine kMaxBackendsPerPool): the bound of the pool
 * census below. */
#define SLUICE_MAX_BACKENDS_PER_POOL 4096

/* A backend choice inside one pool (sluice_pick_backend). */
struct sluice_xdp_pick {
	uint64_t hash;       /* affinity hash */
	uint64_t exclude_fp; /* a backend not to pick (the one that failed); 0: none */
	uint32_t service;
	uint32_t slot;
	uint32_t now_ms;
	uint8_t pool;
	uint8_t consume;     /* admit (take half-open trials) rather than peek */
	uint8_t skipped;     /* out: a Maglev probe passed over an excluded or ejected backend */
	uint8_t health_skipped; /* out: a Maglev probe passed over an unhealthy backend */
};

/* A new flow's schedule (sluice_schedule). */
struct sluice_xdp_schedule {
	uint64_t flow_hash;
	uint32_t service;
	uint32_t slot;
	uint32_t now_ms;
	uint8_t consume;   /* a real new flow (count, take trials), not an ICMP lookup */
	uint8_t pool;      /* out */
	uint16_t backend;  /* out: SLUICE_XDP_NO_BACKEND on a drop */
};

/* The hash that picks pool and backend: the flow hash, or the hash of the
 * client's address or prefix (engine affinity_hash). */
SLUICE_XDP_INLINE uint64_t sluice_affinity_hash(const struct sluice_xdp_service *svc,
						const struct sluice_flow_key *key,
						uint64_t flow_hash,
						const struct sluice_hash_seed *seed)
{
	struct sluice_flow_key akey;

	if (svc->affinity == SLUICE_AFFINITY_FLOW)
		return flow_hash;
	sluice_affinity_key(key, svc->affinity, svc->affinity_prefix_len, &akey);
	return sluice_flow_hash(&akey, seed);
}

/* sluice_usable's answers. */
enum sluice_usability {
	SLUICE_USABLE = 0,
	SLUICE_UNUSABLE = 1,  /* excluded, or its circuit refuses the flow */
	SLUICE_UNHEALTHY = 2, /* failing its health checks */
};

/* May backend b take the flow? */
SLUICE_XDP_INLINE int sluice_usable(const struct sluice_xdp_service *svc,
				    const struct sluice_xdp_backend *b,
				    const struct sluice_xdp_pick *pk)
{
	struct sluice_circuit_policy policy;
	uint8_t health;

	if (b->fingerprint == pk->exclude_fp && pk->exclude_fp != 0)
		return SLUICE_UNUSABLE;
	health = sluice_backend_health(b);
	if (health == SLUICE_HEALTH_UNHEALTHY)
		return SLUICE_UNHEALTHY;
	/* Passing checks outrank the circuit: admit and available answer yes
	 * for a HEALTHY backend, changing nothing, so they are not asked (and
	 * `health` is not kept across their calls: this frame is on the
	 * program's deepest call chain). */
	if (!svc->circuit_enabled || health == SLUICE_HEALTH_HEALTHY)
		return SLUICE_USABLE;
	if (!pk->consume)
		return sluice_circuit_available_backend(b->fingerprint, pk->now_ms,
							SLUICE_HEALTH_UNKNOWN)
			       ? SLUICE_USABLE
			       : SLUICE_UNUSABLE;
	sluice_circuit_policy_of(svc, &policy);
	return sluice_circuit_admit_backend(b->fingerprint, pk->now_ms, &policy,
					    SLUICE_HEALTH_UNKNOWN)
		       ? SLUICE_USABLE
		       : SLUICE_UNUSABLE;
}

/* bpf_loop state of the pool's samples (pool_probe.h). */
struct sluice_pool_scan {
	const struct sluice_xdp_pick *pick;
	uint32_t start;
	uint32_t first;
	uint32_t count;
	uint32_t found;
};

static long sluice_pool_scan_step(uint32_t j, void *arg)
{
	struct sluice_pool_scan *scan = arg;
	const struct sluice_xdp_service *svc;
	const struct sluice_xdp_backend *b;
	const struct sluice_xdp_pick *pk = scan->pick;
	const uint32_t k = sluice_pool_sample(scan->start, j, scan->count);

	svc = sluice_service(pk->slot, pk->service);
	if (!svc)
		return 1;
	b = sluice_backend(pk->slot, svc, scan->first + k);
	if (b && b->state == SLUICE_BACKEND_ACTIVE && sluice_usable(svc, b, pk) == SLUICE_USABLE) {
		scan->found = scan->first + k;
		return 1;
	}
	return 0;
}

/*
 * A backend of pool pk->pool for pk->hash, or SLUICE_XDP_NO_BACKEND: the
 * Maglev slot, then the next few slots (the backends that would take over
 * this slot's traffic, in proportion to their weights), then, rarely (many
 * ejected or unhealthy backends), SLUICE_POOL_SAMPLES backends spread over
 * the pool from a hash-chosen start (pool_probe.h).
 */
SLUICE_XDP_FN int sluice_pick_backend(struct sluice_xdp_pick *pk)
{
	const struct sluice_xdp_service *svc;
	const struct sluice_xdp_pool *pool;
	struct sluice_pool_scan scan = {};
	uint32_t size, slot, probe;

	if (!pk)
		return SLUICE_XDP_NO_BACKEND;
	svc = sluice_service(pk->slot, pk->service);
	if (!svc || pk->pool >= SLUICE_MAX_POOLS)
		return SLUICE_XDP_NO_BACKEND;
	pool = &svc->pools[pk->pool];
	size = pool->maglev_size;
	if (size == 0)
		return SLUICE_XDP_NO_BACKEND;
	slot = sluice_hash_to_range(pk->hash, size);
	for (probe = 0; probe < SLUICE_MAX_CIRCUIT_PROBES; probe++) {
		const uint32_t at = slot + probe < size ? slot + probe : slot + probe - size;
		const uint32_t index = sluice_maglev_entry(pk->slot, pool, at);
		const struct sluice_xdp_backend *b = sluice_backend(pk->slot, svc, index);
		const int usable = b ? sluice_usable(svc, b, pk) : SLUICE_UNUSABLE;

		if (usable == SLUICE_USABLE)
			return (int)index;
		if (usable == SLUICE_UNHEALTHY)
			pk->health_skipped = 1;
		else
			pk->skipped = 1;
	}
	scan.pick = pk;
	scan.count = pool->backend_count;
	scan.first = pool->first_backend;
	scan.start = sluice_hash_to_range(pk->hash, scan.count);
	scan.found = SLUICE_XDP_NO_BACKEND;
	bpf_loop(sluice_pool_samples(scan.count), sluice_pool_scan_step, &scan, 0);
	return (int)scan.found;
}

/* bpf_loop state of the pool census of a connect failure. */
struct sluice_pool_census {
	uint32_t slot;
	uint32_t service;
	uint32_t first;
	uint32_t now_ms;
	uint32_t open;
	uint32_t pad;
};

static long sluice_pool_census_step(uint32_t k, void *arg)
{
	struct sluice_pool_census *census = arg;
	const struct sluice_xdp_service *svc = sluice_service(census->slot, census->service);
	const struct sluice_xdp_backend *b;

	if (!svc)
		return 1;
	b = sluice_backend(census->slot, svc, census->first + k);
	if (!b || b->state != SLUICE_BACKEND_ACTIVE)
		return 0;
	/* Half-open backends are still ejected: they only take trial flows. */
	if (sluice_circuit_ejected(b->fingerprint, census->now_ms))
		census->open++;
	return 0;
}

/* Whether a kept count holds for a pool (engine PoolEjected::current). */
SLUICE_XDP_INLINE bool sluice_pool_ejected_current(const struct sluice_xdp_pool_ejected *pe,
						   const struct sluice_xdp_pool *pool,
						   uint64_t generation)
{
	return pe->valid && pe->generation >= pool->members_since && pe->generation <= generation;
}

/*
 * This CPU's count of the ejected active backends of pool `pool_index` of
 * the service (engine Worker::ejected_count): kept in "pool_ejected", and
 * counted afresh, by a walk of the pool, when the pool's active backends
 * changed since it was last kept (or, which cannot happen as the loader
 * sizes the map, when the map has no entry for the pool).
 */
SLUICE_XDP_INLINE uint32_t sluice_pool_ejected(const struct sluice_xdp_pick *pk,
					       const struct sluice_xdp_pool *pool,
					       uint32_t pool_index, uint64_t generation)
{
	struct sluice_pool_census census = {};
	struct sluice_xdp_pool_ejected *pe;
	const uint32_t key = pk->service * SLUICE_MAX_POOLS + pool_index;
	uint32_t count;

	pe = bpf_map_lookup_elem(&pool_ejected, &key);
	if (pe && sluice_pool_ejected_current(pe, pool, generation)) {
		pe->generation = generation;
		return pe->ejected;
	}
	census.slot = pk->slot;
	census.service = pk->service;
	census.first = pool->first_backend;
	census.now_ms = pk->now_ms;
	count = pool->backend_count;
	if (count > SLUICE_MAX_BACKENDS_PER_POOL)
		count = SLUICE_MAX_BACKENDS_PER_POOL;
	bpf_loop(count, sluice_pool_census_step, &census, 0);
	if (pe) {
		pe->generation = generation; /* brought up to date */
		pe->ejected = census.open;
		pe->valid = 1;
	}
	return census.open;
}

/* bpf_loop state of sluice_count_ejection: a walk round the backends that
 * share one fingerprint. */
struct sluice_ejection_walk {
	uint64_t generation;
	uint32_t slot;
	uint32_t start; /* slot-relative "backends" index where the walk began */
	uint32_t at;    /* and where it is */
	int32_t delta;
};

static long sluice_ejection_step(uint32_t n, void *arg)
{
	struct sluice_ejection_walk *w = arg;
	const struct sluice_xdp_service *svc;
	struct sluice_xdp_pool_ejected *pe;
	const struct sluice_xdp_backend *b;
	uint32_t at, key, pool;

	if (w->at >= sluice_max_backends)
		return 1;
	at = w->slot * sluice_max_backends + w->at;
	b = bpf_map_lookup_elem(&backends, &at);
	if (!b)
		return 1;
	pool = b->pool & (SLUICE_MAX_POOLS - 1);
	if (b->state == SLUICE_BACKEND_ACTIVE && pool == b->pool) {
		svc = sluice_service(w->slot, b->service);
		key = b->service * SLUICE_MAX_POOLS + pool;
		pe = bpf_map_lookup_elem(&pool_ejected, &key);
		/* A pool whose count does not hold is counted in full when it
		 * is needed, this ejection included. */
		if (svc && pe && sluice_pool_ejected_current(pe, &svc->pools[pool], w->generation)) {
			pe->generation = w->generation;
			if (w->delta > 0)
				pe->ejected++;
			else if (pe->ejected > 0)
				pe->ejected--;
		}
	}
	w->at = b->shared_next;
	return w->at == w->start;
}

/*
 * Backend `index` of a service was ejected (delta 1: its circuit opened) or
 * readmitted (-1: a half-open circuit closed): one more or one fewer in the
 * ejected count of every pool where its address is an active backend
 * (engine Worker::count_ejection). One step per service that lists the
 * address.
 */
SLUICE_XDP_FN int sluice_count_ejection(uint32_t slot, uint32_t service, uint32_t index,
					int32_t delta, uint64_t generation)
{
	const struct sluice_xdp_service *svc = sluice_service(slot & 1, service);
	struct sluice_ejection_walk walk = {};

	if (!svc || index >= svc->backend_count)
		return 0;
	walk.generation = generation;
	walk.slot = slot & 1;
	walk.start = svc->backend_base + index;
	walk.at = walk.start;
	walk.delta = delta;
	bpf_loop(sluice_max_services, sluice_ejection_step, &walk, 0);
	return 0;
}

/*
 * A retransmitted SYN to backend `index`: a connect failure, judged against
 * its pool's active and ejected backends on this CPU (engine
 * Worker::record_connect_failure), counted on the failing backend's
 * service, pool and backend slots; an ejection on its backend slot when the
 * circuit opens. Returns 1 when the circuit opened (closed -> open): the
 * caller then counts the ejection in the pools (sluice_count_ejection; not
 * called from here, which would take one more stack frame than the 512
 * bytes allow). `source`: the client's prefix (sluice_source_tag).
 */
SLUICE_XDP_FN int sluice_record_connect_failure(const struct sluice_xdp_pick *pk, uint32_t index,
						uint64_t generation, uint32_t source)
{
	struct sluice_circuit_policy policy;
	const struct sluice_xdp_service *svc;
	const struct sluice_xdp_backend *b;
	const struct sluice_xdp_pool *pool;
	struct sluice_xdp_counters *cnt = sluice_counters();
	struct sluice_xdp_slots slots;
	uint32_t events, pool_index, ejected;

	if (!pk || !cnt)
		return 0;
	svc = sluice_service(pk->slot, pk->service);
	if (!svc)
		return 0;
	b = sluice_backend(pk->slot, svc, index);
	if (!b)
		return 0;
	pool_index = b->pool;
	if (pool_index >= SLUICE_MAX_POOLS || !sluice_slots_of(svc, pool_index, b, &slots))
		return 0;
	cnt->connect_failures++;
	sluice_count_signal(&slots, SLUICE_SIGNAL(connect_failures));
	pool = &svc->pools[pool_index];
	ejected = sluice_pool_ejected(pk, pool, pool_index, generation);
	sluice_circuit_policy_of(svc, &policy);
	events = sluice_circuit_failure(b->fingerprint, pk->now_ms, &policy, pool->active_count,
					ejected, source, sluice_backend_health(b));
	/* Evidence a spoofer can forge blind, kept from ejecting (circuit_logic.h). */
	if (events & SLUICE_CIRCUIT_EV_REPEAT_SOURCE)
		cnt->circuit_repeat_sources++;
	if (events & SLUICE_CIRCUIT_EV_SUSPECTED)
		cnt->circuit_suspected++;
	if (events & (SLUICE_CIRCUIT_EV_OPENED | SLUICE_CIRCUIT_EV_REOPENED))
		sluice_add_signal(&backend_traffic, slots.backend, SLUICE_SIGNAL(ejections));
	/* A half-open backend that reopens was ejected already. */
	return (events & SLUICE_CIRCUIT_EV_OPENED) ? 1 : 0;
}

/* The pool a source-CIDR rule pins the client to, or SLUICE_NO_POOL. */
SLUICE_XDP_INLINE uint32_t sluice_rule_pool(uint32_t slot, uint32_t service,
					    const struct sluice_flow_key *key)
{
	struct sluice_xdp_rule_key k = {};
	const uint32_t slot_service = slot << 24 | service;
	const uint32_t *pool;

	k.prefixlen = 32 + (key->family == SLUICE_AF_INET ? 32 : 128);
	k.slot_service[0] = (uint8_t)(slot_service >> 24);
	k.slot_service[1] = (uint8_t)(slot_service >> 16);
	k.slot_service[2] = (uint8_t)(slot_service >> 8);
	k.slot_service[3] = (uint8_t)slot_service;
	__builtin_memcpy(k.addr, key->src, 16);
	pool = bpf_map_lookup_elem(&rules, &k);
	return pool ? *pool : SLUICE_NO_POOL;
}

/*
 * Pool and backend for a new flow of client key `key` (engine
 * Worker::schedule). Returns SLUICE_DROP_NONE with s->pool and s->backend
 * set, or SLUICE_DROP_NO_POOL / SLUICE_DROP_NO_BACKEND.
 */
SLUICE_XDP_FN int sluice_schedule(struct sluice_xdp_schedule *s, const struct sluice_flow_key *key)
{
	const struct sluice_xdp_service *svc;
	const struct sluice_xdp_globals *g;
	struct sluice_xdp_counters *cnt = sluice_counters();
	struct sluice_xdp_pick pk = {};
	uint32_t pool = SLUICE_NO_POOL;
	int backend;

	if (!s || !key || !cnt)
		return SLUICE_DROP_NO_BACKEND;
	s->backend = SLUICE_XDP_NO_BACKEND;
	svc = sluice_service(s->slot, s->service);
	g = sluice_globals(s->slot);
	if (!svc || !g)
		return SLUICE_DROP_NO_BACKEND;
	/* Source-CIDR rules pin clients to a pool ahead of the weighted split. */
	if (svc->rule_count != 0) {
		pool = sluice_rule_pool(s->slot, s->service, key);
		if (pool != SLUICE_NO_POOL && s->consume)
			cnt->rule_matches++;
	}
	pk.hash = sluice_affinity_hash(svc, key, s->flow_hash, &g->seed);
	if (pool == SLUICE_NO_POOL) {
		pool = sluice_pick_pool(pk.hash, &svc->split);
		if (pool == SLUICE_NO_POOL)
			return SLUICE_DROP_NO_POOL;
	}
	pk.service = s->service;
	pk.slot = s->slot;
	pk.now_ms = s->now_ms;
	pk.consume = s->consume;
	pk.pool = (uint8_t)pool;
	backend = sluice_pick_backend(&pk);
	if (pk.skipped && s->consume)
		cnt->circuit_skips++;
	if (pk.health_skipped && s->consume)
		cnt->health_skips++;
	if (backend == SLUICE_XDP_NO_BACKEND && pool != svc->fallback_pool) {
		/* Every backend of the pool is ejected (or none is active) on this
		 * CPU: its share goes to the fallback pool. */
		pool = svc->fallback_pool;
		pk.pool = (uint8_t)pool;
		backend = sluice_pick_backend(&pk);
		if (backend != SLUICE_XDP_NO_BACKEND && s->consume)
			cnt->fallback_used++;
	}
	s->pool = (uint8_t)pool;
	if (backend == SLUICE_XDP_NO_BACKEND)
		return SLUICE_DROP_NO_BACKEND;
	s->backend = (uint16_t)backend;
	return SLUICE_DROP_NONE;
}
