/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Packets of TCP/UDP flows to a service: engine Worker::handle_flow over the
 * "flows" map (LRU_PERCPU_HASH: the key is shared, each CPU has its own
 * entry; a zeroed entry, state EMPTY, is how other CPUs see a key one CPU
 * created, and reads as absent).
 *
 * Expiry: an entry idle for at least its state's timeout (the service's
 * timeouts) is absent, as engine FlowTable::lookup has it, and a new flow
 * overwrites it. The engine sweeps expired entries to keep room in its
 * fixed table; the LRU map needs no sweep: when it is full, the least
 * recently used entries go first, which the engine's table would have
 * freed or evicted too. An expired SYN_SENT entry is a handshake that never
 * completed (signal handshakes_expired): a packet of its flow that finds it
 * counts it and empties it; the XDP flow census (dataplane/xdp/
 * flow_census.h) counts and deletes those no packet comes back for.
 *
 * Signals (signal_list.h) counted here: new_flows, handshakes_completed
 * with the handshake time, client_resets and handshakes_expired, on the
 * flow's service, pool and backend slots.
 */
#pragma once

#include "ebpf/xdp/lib/circuit.h"
#include "ebpf/xdp/lib/common.h"
#include "ebpf/xdp/lib/counters.h"
#include "ebpf/xdp/lib/encap.h"
#include "ebpf/xdp/lib/health.h"
#include "ebpf/xdp/lib/parse.h"
#include "ebpf/xdp/lib/schedule.h"
#include "ebpf/xdp/lib/service.h"

/* The timeout of an entry's state (engine flow_timeout_ms); EMPTY has none. */
SLUICE_XDP_INLINE uint32_t sluice_flow_timeout_ms(uint8_t state, const struct sluice_xdp_service *svc)
{
	switch (state) {
	case SLUICE_XDP_FLOW_SYN_SENT:
		return svc->tcp_syn_ms;
	case SLUICE_XDP_FLOW_ESTABLISHED:
		return svc->tcp_established_ms;
	case SLUICE_XDP_FLOW_CLOSING:
		return svc->tcp_closing_ms;
	case SLUICE_XDP_FLOW_UDP:
		return svc->udp_ms;
	}
	return 0;
}

/* The entry if it is live: not empty, not expired. */
SLUICE_XDP_INLINE struct sluice_xdp_flow *sluice_flow_live(struct sluice_xdp_flow *e, uint32_t now_ms,
							   const struct sluice_xdp_service *svc)
{
	if (!e || e->state == SLUICE_XDP_FLOW_EMPTY)
		return NULL;
	if (now_ms - e->last_seen_ms >= sluice_flow_timeout_ms(e->state, svc))
		return NULL;
	return e;
}

/*
 * A flow another CPU has been handling. Flow tables are per CPU, which is
 * right while the NIC's RSS keeps each flow on one CPU; but RSS tables get
 * rebalanced, and on veth (and generic XDP) a flow's packets run on the
 * sending CPU, which moves. Then the key exists (another CPU created it)
 * while this CPU's value is empty: instead of rescheduling the flow, which
 * breaks it if the weights changed since, copy the most recently used live
 * copy from the other CPUs (bpf_map_lookup_percpu_elem, Linux 5.19). Only
 * that case pays the scan: a key absent from the map is a new flow.
 * The flow moves rather than forks: the copied CPU's entry is emptied, so
 * that a handshake completed here is not completed again there (signals
 * count each flow's events once, wherever its packets run); should a packet
 * go back there, that CPU copies the entry back the same way. Returns
 * whether `e` now holds an entry.
 */
#define SLUICE_XDP_MAX_CPU_SCAN 4096

/* bpf_loop state of the scan: the key (a stack copy, which every verifier
 * takes as a map key) and which CPU holds the freshest live entry. A
 * bpf_loop callback is verified once, whatever the CPU count; the entry
 * itself is not kept here, to spare the 512-byte stack. */
struct sluice_cpu_scan {
	struct sluice_flow_key key;
	uint32_t best_cpu;
	uint32_t best_seen_ms;
	uint32_t found;
	uint32_t pad;
};

static long sluice_cpu_scan_step(uint32_t cpu, void *arg)
{
	struct sluice_cpu_scan *scan = arg;
	const struct sluice_xdp_flow *o = bpf_map_lookup_percpu_elem(&flows, &scan->key, cpu);

	if (!o)
		return 1; /* past the last possible CPU (or the key is gone) */
	if (o->state != SLUICE_XDP_FLOW_EMPTY &&
	    (!scan->found || (int32_t)(o->last_seen_ms - scan->best_seen_ms) > 0)) {
		scan->best_cpu = cpu;
		scan->best_seen_ms = o->last_seen_ms;
		scan->found = 1;
	}
	return 0;
}

SLUICE_XDP_INLINE bool sluice_flow_from_other_cpu(struct sluice_xdp_flow *e,
						  const struct sluice_flow_key *key)
{
	struct sluice_cpu_scan scan = {};
	struct sluice_xdp_flow *best;

	scan.key = *key;
	bpf_loop(SLUICE_XDP_MAX_CPU_SCAN, sluice_cpu_scan_step, &scan, 0);
	if (!scan.found)
		return false;
	best = bpf_map_lookup_percpu_elem(&flows, &scan.key, scan.best_cpu);
	if (!best || best->state == SLUICE_XDP_FLOW_EMPTY)
		return false;
	*e = *best;
	best->state = SLUICE_XDP_FLOW_EMPTY;
	return true;
}

/* This CPU's live entry for the key, or NULL (absent, empty or expired).
 * The key is copied to the stack first: older verifiers take map keys only
 * from the stack, a packet or a map value, and a global function's pointer
 * argument is none of these. */
SLUICE_XDP_INLINE struct sluice_xdp_flow *sluice_flow_lookup(const struct sluice_flow_key *key,
							     uint32_t now_ms,
							     const struct sluice_xdp_service *svc)
{
	const struct sluice_flow_key k = *key;

	return sluice_flow_live(bpf_map_lookup_elem(&flows, &k), now_ms, svc);
}

/*
 * A SYN retransmitted at least syn_retry_min_ms after the flow's previous
 * packet, for a flow whose handshake has not completed: a connect failure
 * of its backend, and the retry goes to the next usable backend of the same
 * pool in Maglev order (else of the fallback pool), so that the client's
 * next SYN gets an answer. Updates the entry's backend and pool;
 * first_seen_ms stays the first SYN's, so the handshake time the client
 * sees includes the retries.
 */
SLUICE_XDP_FN int sluice_retry_syn(struct sluice_xdp_flow *e, const struct sluice_xdp_parsed *p,
				   const struct sluice_xdp_env *env, uint32_t service)
{
	struct sluice_xdp_counters *cnt = sluice_counters();
	const struct sluice_xdp_service *svc;
	const struct sluice_xdp_globals *g;
	const struct sluice_xdp_backend *b;
	struct sluice_xdp_pick pk = {};
	uint32_t slot;
	int next;

	if (!e || !p || !env || !cnt)
		return 0;
	slot = env->slot & 1;
	svc = sluice_service(slot, service);
	g = sluice_globals(slot);
	if (!svc || !g)
		return 0;
	b = sluice_backend(slot, svc, e->backend_index);
	if (!b)
		return 0;
	pk.slot = slot;
	pk.service = service;
	pk.now_ms = env->now_ms;
	if (sluice_record_connect_failure(&pk, e->backend_index, env->generation))
		sluice_count_ejection(slot, service, e->backend_index, 1, env->generation);
	pk.hash = sluice_affinity_hash(svc, &p->key, env->flow_hash, &g->seed);
	pk.consume = 1;
	pk.exclude_fp = b->fingerprint;
	pk.pool = e->pool;
	next = sluice_pick_backend(&pk);
	if (next == SLUICE_XDP_NO_BACKEND && e->pool != svc->fallback_pool) {
		/* The pool has no other usable backend: retry in the fallback pool. */
		pk.pool = svc->fallback_pool;
		next = sluice_pick_backend(&pk);
		if (next != SLUICE_XDP_NO_BACKEND)
			e->pool = svc->fallback_pool;
	}
	if (next != SLUICE_XDP_NO_BACKEND) {
		b = sluice_backend(slot, svc, (uint32_t)next);
		if (b) {
			e->backend_index = (uint16_t)next;
			e->backend_fingerprint = b->fingerprint;
			cnt->syn_retry_steered++;
		}
	}
	return 0;
}

SLUICE_XDP_INLINE bool sluice_is_syn(const struct sluice_xdp_parsed *p)
{
	return p->key.proto == SLUICE_IPPROTO_TCP &&
	       (p->tcp_flags & (SLUICE_TCP_SYN | SLUICE_TCP_ACK)) == SLUICE_TCP_SYN;
}

/*
 * The flow events (signal_list.h) of backend `index` (of the current
 * generation) of a service, counted on the service's, the backend's and
 * its pool's slots: the signal at `offset` (SLUICE_SIGNAL), or with
 * sluice_flow_handshake a completed handshake and its time. Functions of
 * their own, verified once, rather than inlined wherever an event happens:
 * they run once per flow at most, and keep sluice_handle_flow and
 * sluice_new_flow (the per-packet code) small.
 */
SLUICE_XDP_FN int sluice_flow_signal(uint32_t slot, uint32_t service, uint32_t index,
				     uint32_t offset)
{
	const struct sluice_xdp_service *svc = sluice_service(slot & 1, service);
	const struct sluice_xdp_backend *b;
	struct sluice_xdp_slots slots;

	if (!svc)
		return 0;
	b = sluice_backend(slot & 1, svc, index);
	if (b && sluice_slots_of(svc, b->pool, b, &slots))
		sluice_count_signal(&slots, offset);
	return 0;
}

SLUICE_XDP_FN int sluice_flow_handshake(uint32_t slot, uint32_t service, uint32_t index,
					uint32_t ms)
{
	const struct sluice_xdp_service *svc = sluice_service(slot & 1, service);
	const struct sluice_xdp_backend *b;
	struct sluice_xdp_slots slots;

	if (!svc)
		return 0;
	b = sluice_backend(slot & 1, svc, index);
	if (b && sluice_slots_of(svc, b->pool, b, &slots))
		sluice_count_handshake(&slots, ms);
	return 0;
}

/*
 * This CPU's entry `e` for the packet's key is a SYN_SENT entry idle past
 * tcp_syn_ms: the handshake never completed. Counted once, on the service
 * and, when the configuration still has the backend (found by fingerprint:
 * the entry's cached index may be of an older generation), on its pool and
 * backend; then the entry is emptied on this CPU (the new flow the caller
 * schedules overwrites it, and if none can be scheduled it stays empty).
 */
SLUICE_XDP_FN int sluice_expire_handshake(struct sluice_xdp_flow *e, uint32_t slot,
					  uint32_t service)
{
	const struct sluice_xdp_service *svc = sluice_service(slot & 1, service);
	uint32_t index;

	if (!e || !svc)
		return 0;
	e->state = SLUICE_XDP_FLOW_EMPTY;
	index = sluice_find_backend(slot & 1, service, e->backend_fingerprint);
	if (sluice_backend(slot & 1, svc, index))
		sluice_flow_signal(slot, service, index, SLUICE_SIGNAL(handshakes_expired));
	else
		sluice_add_signal(&service_traffic, svc->counter_slot, SLUICE_SIGNAL(handshakes_expired));
	return 0;
}

/*
 * A packet of a TCP/UDP flow to service env->service, with this CPU's entry
 * `entry` for its key (the caller looked it up): when the entry is usable it
 * decides (engine handle_flow up to its forward). Returns 1, deciding
 * nothing, when it is not (empty, expired, its backend removed or disabled,
 * or a SYN starting a new connection on the tuple of a finished one): the
 * caller then schedules the flow with sluice_new_flow.
 */
SLUICE_XDP_FN int sluice_handle_flow(struct xdp_md *ctx, const struct sluice_xdp_parsed *p,
				     struct sluice_xdp_decision *d,
				     const struct sluice_xdp_env *env, struct sluice_xdp_flow *entry)
{
	struct sluice_xdp_counters *cnt = sluice_counters();
	const struct sluice_xdp_service *svc;
	const struct sluice_xdp_backend *b;
	struct sluice_xdp_target t = {};
	struct sluice_xdp_flow *e;
	uint32_t now_ms, gen32, slot, service;
	bool tcp, syn;

	if (!p || !d || !env || !cnt)
		return 0;
	sluice_decide_drop(d, SLUICE_DROP_NO_SERVICE);
	slot = env->slot & 1;
	service = env->service;
	now_ms = env->now_ms;
	gen32 = (uint32_t)env->generation;
	svc = sluice_service(slot, service);
	if (!svc)
		return 0;
	tcp = p->key.proto == SLUICE_IPPROTO_TCP;
	syn = sluice_is_syn(p);

	e = sluice_flow_live(entry, now_ms, svc);
	if (!e) {
		/* Moved here from another CPU or not, the entry is this CPU's
		 * alone now (sluice_flow_from_other_cpu emptied the other). */
		if (entry && entry->state == SLUICE_XDP_FLOW_SYN_SENT)
			sluice_expire_handshake(entry, slot, service);
		return 1;
	}
	cnt->flow_hits++;
	/* Re-find the backend when the configuration changed since the entry
	 * last cached its index; draining backends keep their flows, removed or
	 * disabled ones do not. */
	if (e->generation != gen32) {
		const uint32_t index = sluice_find_backend(slot, service, e->backend_fingerprint);

		b = sluice_backend(slot, svc, index);
		if (!b || b->state == SLUICE_BACKEND_DISABLED) {
			cnt->flows_rescheduled++;
			return 1;
		}
		e->backend_index = (uint16_t)index;
		e->pool = b->pool;
		e->service = service;
		e->generation = gen32;
	}
	if (syn && e->state != SLUICE_XDP_FLOW_SYN_SENT)
		return 1; /* a new connection reusing the 5-tuple: schedule it afresh */
	/* A backend failing its health checks keeps its flows unless the
	 * service moves them (unhealthy_flows: reschedule). */
	if (svc->unhealthy_reschedule) {
		b = sluice_backend(slot, svc, e->backend_index);
		if (b && sluice_backend_unhealthy(b)) {
			cnt->unhealthy_rescheduled++;
			return 1;
		}
	}

	if (syn) {
		/* A retransmitted SYN: the backend did not answer in time. */
		if (svc->circuit_enabled && now_ms - e->last_seen_ms >= svc->syn_retry_min_ms)
			sluice_retry_syn(e, p, env, service);
	} else if (e->state == SLUICE_XDP_FLOW_SYN_SENT) {
		/* The client's first non-SYN packet: the handshake completed, in
		 * the time since the flow's first SYN. */
		e->state = SLUICE_XDP_FLOW_ESTABLISHED;
		cnt->handshakes_completed++;
		sluice_flow_handshake(slot, service, e->backend_index, now_ms - e->first_seen_ms);
		if (svc->circuit_enabled) {
			struct sluice_circuit_policy policy;

			sluice_circuit_policy_of(svc, &policy);
			/* A half-open circuit that closes ends an ejection. */
			if (sluice_circuit_success(e->backend_fingerprint, now_ms, &policy) &
			    SLUICE_CIRCUIT_EV_CLOSED)
				sluice_count_ejection(slot, service, e->backend_index, -1,
						      env->generation);
		}
	}
	if (tcp && (p->tcp_flags & (SLUICE_TCP_FIN | SLUICE_TCP_RST)) &&
	    e->state != SLUICE_XDP_FLOW_CLOSING) {
		e->state = SLUICE_XDP_FLOW_CLOSING;
		if (p->tcp_flags & SLUICE_TCP_RST) /* the client reset it */
			sluice_flow_signal(slot, service, e->backend_index, SLUICE_SIGNAL(client_resets));
	}
	e->last_seen_ms = now_ms;
	t.slot = slot;
	t.service = service;
	t.backend = e->backend_index;
	t.pool = e->pool;
	sluice_forward(ctx, p, &t, d, env->flow_hash);
	return 0;
}

/*
 * A flow this CPU has not seen (or must reschedule): pool and backend from
 * the rules, the split and Maglev, a new flow-table entry, and forward
 * (engine handle_flow from its schedule on).
 */
SLUICE_XDP_FN int sluice_new_flow(struct xdp_md *ctx, const struct sluice_xdp_parsed *p,
				  struct sluice_xdp_decision *d, const struct sluice_xdp_env *env,
				  uint32_t service)
{
	struct sluice_xdp_counters *cnt = sluice_counters();
	const struct sluice_xdp_service *svc;
	const struct sluice_xdp_backend *b;
	struct sluice_xdp_schedule s = {};
	struct sluice_xdp_target t = {};
	struct sluice_xdp_flow fresh = {};
	struct sluice_flow_key key;
	bool tcp, syn;
	int r;

	if (!p || !d || !env || !cnt)
		return 0;
	sluice_decide_drop(d, SLUICE_DROP_NO_SERVICE);
	s.slot = env->slot & 1;
	s.service = service;
	s.now_ms = env->now_ms;
	s.flow_hash = env->flow_hash;
	svc = sluice_service(s.slot, service);
	if (!svc)
		return 0;
	tcp = p->key.proto == SLUICE_IPPROTO_TCP;
	syn = sluice_is_syn(p);
	s.consume = syn || !tcp;
	r = sluice_schedule(&s, &p->key);
	if (r != SLUICE_DROP_NONE) {
		sluice_decide_drop(d, (uint8_t)r);
		return 0;
	}
	b = sluice_backend(s.slot, svc, s.backend);
	if (!b)
		return 0;
	cnt->new_flows++;
	if (tcp && !syn)
		cnt->untracked_tcp++;
	fresh.backend_fingerprint = b->fingerprint;
	fresh.backend_index = s.backend;
	fresh.pool = s.pool;
	fresh.generation = (uint32_t)env->generation;
	fresh.service = service;
	fresh.last_seen_ms = s.now_ms;
	fresh.first_seen_ms = s.now_ms;
	if (!tcp)
		fresh.state = SLUICE_XDP_FLOW_UDP;
	else if (syn)
		fresh.state = SLUICE_XDP_FLOW_SYN_SENT;
	else if (p->tcp_flags & (SLUICE_TCP_FIN | SLUICE_TCP_RST))
		fresh.state = SLUICE_XDP_FLOW_CLOSING;
	else
		fresh.state = SLUICE_XDP_FLOW_ESTABLISHED;
	sluice_flow_signal(s.slot, service, s.backend, SLUICE_SIGNAL(new_flows));
	/* An unknown flow whose first packet is the client's RST: a reset. */
	if (fresh.state == SLUICE_XDP_FLOW_CLOSING && (p->tcp_flags & SLUICE_TCP_RST))
		sluice_flow_signal(s.slot, service, s.backend, SLUICE_SIGNAL(client_resets));
	key = p->key; /* on the stack: see sluice_flow_lookup */
	bpf_map_update_elem(&flows, &key, &fresh, BPF_ANY);
	t.slot = s.slot;
	t.service = service;
	t.backend = s.backend;
	t.pool = s.pool;
	sluice_forward(ctx, p, &t, d, s.flow_hash);
	return 0;
}
