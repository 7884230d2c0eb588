/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Packets of TCP/UDP flows to a service: engine Worker::handle_flow over the
 * "flows" map (LRU_HASH: one entry per flow, shared by every CPU; a zeroed
 * entry, state EMPTY, reads as absent). A flow whose packets move to another
 * CPU (RSS rebalanced; veth and generic XDP run the program on the sending
 * CPU) finds its entry there and keeps its backend: no per-CPU copies to
 * look for or reconcile.
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
 * Two CPUs may run packets of one flow at the same instant (only while it
 * moves): their plain stores to the shared entry (last_seen_ms, state, the
 * revalidated backend) race benignly, the last one wins and a lost one at
 * worst delays a state change by a packet (xdp_layout.h). A handshake's
 * outcome is counted once per flow all the same: the CPU that counts it
 * first claims it (sluice_flow_claim_handshake). Two first packets of a new
 * flow on two CPUs at once may both schedule it (new_flows counted twice,
 * the second insert wins); both pick with the same configuration, so the
 * same backend unless a SYN's circuit or health state differs per CPU.
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
	case SLUICE_XDP_FLOW_PROBATION:
		return svc->probation_ms;
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
 * Whether this CPU is the first to settle the handshake of entry `e`
 * (completed or expired): an atomic exchange of handshake_claimed, so that
 * two CPUs racing on one flow's SYN_SENT entry count it once, without a
 * lock or a compare-and-swap. Only packets that settle a handshake pay for
 * it (a locked instruction, tens of ns), once per flow.
 */
SLUICE_XDP_INLINE bool sluice_flow_claim_handshake(struct sluice_xdp_flow *e)
{
	return __sync_lock_test_and_set(&e->handshake_claimed, 1) == 0;
}

/* The live entry for the key, confirmed or not, or NULL (absent, empty or
 * expired). The key is copied to the stack first: older verifiers take map
 * keys only from the stack, a packet or a map value, and a global
 * function's pointer argument is none of these. */
SLUICE_XDP_INLINE struct sluice_xdp_flow *sluice_flow_lookup(const struct sluice_flow_key *key,
							     uint32_t now_ms,
							     const struct sluice_xdp_service *svc)
{
	const struct sluice_flow_key k = *key;
	struct sluice_xdp_flow *e = bpf_map_lookup_elem(&flows, &k);

	if (!e)
		e = bpf_map_lookup_elem(&flows_new, &k);
	return sluice_flow_live(e, now_ms, svc);
}

/*
 * A flow of "flows_new" that a second packet from its client confirmed
 * (engine FlowTable::set_state to a confirmed state): its entry moves to
 * "flows", where no flood reaches it (xdp_layout.h). Copied through the
 * stack, then deleted from "flows_new"; `e` must not be used after this.
 * Once per flow.
 */
SLUICE_XDP_FN int sluice_flow_confirm(const struct sluice_xdp_flow *e,
				      const struct sluice_flow_key *key)
{
	struct sluice_xdp_flow copy;
	struct sluice_flow_key k;

	if (!e || !key)
		return 0;
	copy = *e;
	k = *key;
	bpf_map_update_elem(&flows, &k, &copy, BPF_ANY);
	bpf_map_delete_elem(&flows_new, &k);
	return 0;
}

/*
 * The service (*svc), the slot's globals (*g) and the backend of entry e
 * under env's configuration slot, for the circuit calls of a SYN retry or a
 * completed handshake; NULL when any is gone. Inlined: the out-pointers
 * cost no stack.
 */
SLUICE_XDP_INLINE const struct sluice_xdp_backend *
sluice_flow_backend(const struct sluice_xdp_flow *e, const struct sluice_xdp_env *env,
		    uint32_t service, const struct sluice_xdp_service **svc,
		    const struct sluice_xdp_globals **g)
{
	const uint32_t slot = env->slot & 1;

	*svc = sluice_service(slot, service);
	*g = sluice_globals(slot);
	if (!*svc || !*g)
		return NULL;
	return sluice_backend(slot, *svc, e->backend_index);
}

/*
 * A handshake completed on a flow: its circuit records the success from the
 * client's source prefix, judged with the backend's health (engine
 * CircuitTable::record_success); a half-open circuit that closes ends an
 * ejection. A function of its own: a success is rare next to the packets of
 * established flows, and its stack stays out of theirs.
 */
SLUICE_XDP_FN int sluice_flow_success(struct sluice_xdp_flow *e, const struct sluice_xdp_parsed *p,
				      const struct sluice_xdp_env *env, uint32_t service)
{
	struct sluice_circuit_policy policy;
	const struct sluice_xdp_service *svc;
	const struct sluice_xdp_globals *g;
	const struct sluice_xdp_backend *b;

	if (!e || !p || !env)
		return 0;
	b = sluice_flow_backend(e, env, service, &svc, &g);
	if (!b)
		return 0;
	sluice_circuit_policy_of(svc, &policy);
	if (sluice_circuit_success(e->backend_fingerprint, env->now_ms, &policy,
				   sluice_xdp_source_tag(&p->key, &g->seed), sluice_backend_health(b)) &
	    SLUICE_CIRCUIT_EV_CLOSED)
		sluice_count_ejection(env->slot & 1, service, e->backend_index, -1, env->generation);
	return 0;
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
	b = sluice_flow_backend(e, env, service, &svc, &g);
	if (!b)
		return 0;
	pk.slot = slot;
	pk.service = service;
	pk.now_ms = env->now_ms;
	if (sluice_record_connect_failure(&pk, e->backend_index, env->generation,
					  sluice_xdp_source_tag(&p->key, &g->seed)))
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
/* The counter slots of backend `index` of a service (and of its pool and
 * service); false when the configuration has no such backend. */
SLUICE_XDP_INLINE bool sluice_flow_slots(uint32_t slot, uint32_t service, uint32_t index,
					 struct sluice_xdp_slots *slots)
{
	const struct sluice_xdp_service *svc = sluice_service(slot & 1, service);
	const struct sluice_xdp_backend *b;

	if (!svc)
		return false;
	b = sluice_backend(slot & 1, svc, index);
	return b && sluice_slots_of(svc, b->pool, b, slots);
}

SLUICE_XDP_FN int sluice_flow_signal(uint32_t slot, uint32_t service, uint32_t index,
				     uint32_t offset)
{
	struct sluice_xdp_slots slots;

	if (sluice_flow_slots(slot, service, index, &slots))
		sluice_count_signal(&slots, offset);
	return 0;
}

SLUICE_XDP_FN int sluice_flow_handshake(uint32_t slot, uint32_t service, uint32_t index,
					uint32_t ms)
{
	struct sluice_xdp_slots slots;

	if (sluice_flow_slots(slot, service, index, &slots))
		sluice_count_handshake(&slots, ms);
	return 0;
}

/*
 * The entry `e` for the packet's key is a SYN_SENT entry idle past
 * tcp_syn_ms: the handshake never completed. Counted once (by the CPU that
 * claims it), on the service and, when the configuration still has the
 * backend (found by fingerprint: the entry's cached index may be of an
 * older generation), on its pool and backend; then the entry is emptied
 * (the new flow the caller schedules overwrites it, and if none can be
 * scheduled it stays empty).
 */
SLUICE_XDP_FN int sluice_expire_handshake(struct sluice_xdp_flow *e, uint32_t slot,
					  uint32_t service)
{
	const struct sluice_xdp_service *svc = sluice_service(slot & 1, service);
	uint32_t index;

	if (!e || !svc)
		return 0;
	e->state = SLUICE_XDP_FLOW_EMPTY;
	if (!sluice_flow_claim_handshake(e))
		return 0; /* another CPU settled it */
	index = sluice_find_backend(slot & 1, service, e->backend_fingerprint);
	if (sluice_backend(slot & 1, svc, index))
		sluice_flow_signal(slot, service, index, SLUICE_SIGNAL(handshakes_expired));
	else
		sluice_add_signal(&service_traffic, svc->counter_slot, SLUICE_SIGNAL(handshakes_expired));
	return 0;
}

/*
 * A packet of a TCP/UDP flow to service env->service, with the entry
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
	uint32_t now_ms, gen32, slot, service, cpu;
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
		 * the time since the flow's first SYN; counted by the CPU that
		 * claims it (its circuit records the success). */
		e->state = SLUICE_XDP_FLOW_ESTABLISHED;
		if (sluice_flow_claim_handshake(e)) {
			cnt->handshakes_completed++;
			sluice_flow_handshake(slot, service, e->backend_index,
					      now_ms - e->first_seen_ms);
			if (svc->circuit_enabled)
				sluice_flow_success(e, p, env, service);
		}
	} else if (e->state == SLUICE_XDP_FLOW_PROBATION) {
		/* The second packet of a flow first seen mid-stream (TCP) or of
		 * a UDP flow: confirmed (engine FlowState). */
		e->state = tcp ? SLUICE_XDP_FLOW_ESTABLISHED : SLUICE_XDP_FLOW_UDP;
		cnt->flows_confirmed++;
	}
	if (tcp && (p->tcp_flags & (SLUICE_TCP_FIN | SLUICE_TCP_RST)) &&
	    e->state != SLUICE_XDP_FLOW_CLOSING) {
		e->state = SLUICE_XDP_FLOW_CLOSING;
		if (p->tcp_flags & SLUICE_TCP_RST) /* the client reset it */
			sluice_flow_signal(slot, service, e->backend_index, SLUICE_SIGNAL(client_resets));
	}
	e->last_seen_ms = now_ms;
	/* The CPU that carries the flow now, where the flow census counts it
	 * (as a worker's flows are those in its table on DPDK). Stored only
	 * when the flow moved; the helper is inlined by the JIT (6.10+). */
	cpu = bpf_get_smp_processor_id();
	if (e->cpu != cpu)
		e->cpu = cpu;
	t.slot = slot;
	t.service = service;
	t.backend = e->backend_index;
	t.pool = e->pool;
	if (env->entry_map == SLUICE_XDP_IN_FLOWS_NEW &&
	    (e->state == SLUICE_XDP_FLOW_ESTABLISHED || e->state == SLUICE_XDP_FLOW_UDP))
		sluice_flow_confirm(e, &p->key);
	sluice_forward(ctx, p, &t, d, env->flow_hash);
	return 0;
}

/*
 * This CPU's new-flow token bucket admits one more flow entry (engine
 * Worker::new_flow; dataplane/engine/token_bucket.h).
 */
SLUICE_XDP_INLINE bool sluice_admit_new_flow(uint32_t slot, uint32_t now_ms)
{
	const struct sluice_xdp_globals *g = sluice_globals(slot);
	const uint32_t zero = 0;
	struct sluice_token_bucket *bucket = bpf_map_lookup_elem(&new_flow_buckets, &zero);

	if (!g || !bucket)
		return true;
	return sluice_token_bucket_take(bucket, now_ms, g->new_flow_rate, g->new_flow_burst) != 0;
}

/*
 * A flow not in the maps (or one to reschedule): pool and backend from
 * the rules, the split and Maglev, a new entry in "flows_new"
 * (unconfirmed), and forward (engine Worker::new_flow). Above this CPU's
 * new-flow rate the flow is forwarded statelessly: no entry, no half-open
 * trial taken, counted in flows_stateless_rate rather than new_flows.
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
	bool tcp, syn, admitted;
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
	admitted = sluice_admit_new_flow(s.slot, s.now_ms);
	if (!admitted)
		cnt->flows_stateless_rate++;
	s.consume = admitted && (syn || !tcp);
	r = sluice_schedule(&s, &p->key);
	if (r != SLUICE_DROP_NONE) {
		sluice_decide_drop(d, (uint8_t)r);
		return 0;
	}
	b = sluice_backend(s.slot, svc, s.backend);
	if (!b)
		return 0;
	t.slot = s.slot;
	t.service = service;
	t.backend = s.backend;
	t.pool = s.pool;
	if (!admitted) {
		sluice_forward(ctx, p, &t, d, s.flow_hash);
		return 0;
	}
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
	fresh.cpu = bpf_get_smp_processor_id();
	if (syn)
		fresh.state = SLUICE_XDP_FLOW_SYN_SENT;
	else if (tcp && (p->tcp_flags & (SLUICE_TCP_FIN | SLUICE_TCP_RST)))
		fresh.state = SLUICE_XDP_FLOW_CLOSING;
	else /* UDP, or TCP first seen mid-stream: until a second packet */
		fresh.state = SLUICE_XDP_FLOW_PROBATION;
	sluice_flow_signal(s.slot, service, s.backend, SLUICE_SIGNAL(new_flows));
	/* An unknown flow whose first packet is the client's RST: a reset. */
	if (fresh.state == SLUICE_XDP_FLOW_CLOSING && (p->tcp_flags & SLUICE_TCP_RST))
		sluice_flow_signal(s.slot, service, s.backend, SLUICE_SIGNAL(client_resets));
	key = p->key; /* on the stack: see sluice_flow_lookup */
	/* A key is in one map at a time: a confirmed entry being replaced (a
	 * new connection on its tuple, its backend gone, expired) leaves. */
	if (env->entry_map == SLUICE_XDP_IN_FLOWS)
		bpf_map_delete_elem(&flows, &key);
	bpf_map_update_elem(&flows_new, &key, &fresh, BPF_ANY);
	sluice_forward(ctx, p, &t, d, s.flow_hash);
	return 0;
}
