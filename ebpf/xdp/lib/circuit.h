/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-CPU circuit state, kept in the "circuits" map (LRU_PERCPU_HASH keyed
 * by backend fingerprint) and run by the engine's own state machine
 * (dataplane/engine/circuit_logic.h): the engine's CircuitTable calls, for
 * an enabled policy, with a map value instead of a table slot. A key with a
 * zeroed value on this CPU (phase FREE) holds no state, like a missing key:
 * other CPUs read a key one CPU created as zeroed, and "forgetting" a state
 * zeroes it rather than deleting the key, which would forget it on every
 * CPU.
 *
 * The map is an LRU: when more backends than it holds have state on some
 * CPU, the least recently used keys are dropped, on every CPU. Dropping an
 * open or half-open circuit closes it without a transition, so the pool's
 * ejected count (schedule.h, "pool_ejected") stays one too high, on the
 * side of ejecting less, until the next configuration counts the pool
 * afresh. (The engine's table never drops a circuit that is not closed: a
 * backend it has no room for is not tracked.) Size "circuits" above the
 * backends a CPU can reach and it does not happen.
 */
#pragma once

#include "dataplane/engine/circuit_logic.h"
#include "dataplane/engine/circuit_source.h"
#include "ebpf/xdp/lib/common.h"

/*
 * The client's source prefix tag (circuit_source.h) for a circuit's
 * evidence. A function of its own: the prefix key and the hash's words
 * would otherwise sit in the frames of its callers (a SYN retry, a
 * completed handshake), which are on the program's deepest call chain and
 * the 512-byte stack limit.
 */
SLUICE_XDP_FN uint32_t sluice_xdp_source_tag(const struct sluice_flow_key *key,
					     const struct sluice_hash_seed *seed)
{
	if (!key || !seed)
		return 1;
	return sluice_source_tag(key, seed);
}

SLUICE_XDP_INLINE void sluice_circuit_policy_of(const struct sluice_xdp_service *svc,
						struct sluice_circuit_policy *p)
{
	p->consecutive_failures = svc->consecutive_failures;
	p->base_ejection_ms = svc->base_ejection_ms;
	p->max_ejection_ms = svc->max_ejection_ms;
	p->half_open_trials = svc->half_open_trials;
	p->max_ejected_percent = svc->max_ejected_percent;
	p->failure_window_ms = svc->failure_window_ms;
}

/* A zeroed circuit (phase FREE): what a new key of "circuits" starts as. */
static const struct sluice_circuit sluice_circuit_none = {};

/*
 * Every in-place change of a circuit is bracketed by these two, so that
 * sluiced, copying the value from another CPU with bpf_map_lookup_elem,
 * can tell a copy taken mid-change (dataplane/xdp/circuit_read.h): the
 * sequence turns odd before the first store of a change and even after the
 * last. The empty asm is a compiler barrier (clang keeps the stores on its
 * side of it); the JIT emits stores in program order and x86 makes them
 * visible in that order. Two extra stores per change, and only changes
 * (failures, successes, trials of a backend with state) pay them.
 */
SLUICE_XDP_INLINE void sluice_circuit_change_begin(struct sluice_circuit *c)
{
	*(volatile uint32_t *)&c->seq = c->seq + 1;
	asm volatile("" ::: "memory");
}

SLUICE_XDP_INLINE void sluice_circuit_change_end(struct sluice_circuit *c)
{
	asm volatile("" ::: "memory");
	*(volatile uint32_t *)&c->seq = c->seq + 1;
}

/* This CPU's stored state for a backend, or NULL. */
SLUICE_XDP_INLINE struct sluice_circuit *sluice_circuit_find(uint64_t fp)
{
	struct sluice_circuit *c = bpf_map_lookup_elem(&circuits, &fp);

	return c && c->phase != SLUICE_CIRCUIT_FREE ? c : NULL;
}

/* CircuitTable::admit; health: the backend's SLUICE_HEALTH_*. */
SLUICE_XDP_INLINE bool sluice_circuit_admit_backend(uint64_t fp, uint32_t now_ms,
						    const struct sluice_circuit_policy *p,
						    uint8_t health)
{
	struct sluice_circuit *c = sluice_circuit_find(fp);
	uint32_t events = 0;
	int admitted, changes;

	if (!c)
		return true;
	/* Bumped only when admit may turn it half-open or take a trial: a
	 * closed or ejected backend probed by every new flow stays readable. */
	changes = !sluice_circuit_admit_keeps(c, now_ms, health);
	if (changes)
		sluice_circuit_change_begin(c);
	admitted = sluice_circuit_admit(c, now_ms, p, health, &events);
	if (changes)
		sluice_circuit_change_end(c);
	return admitted;
}

/* CircuitTable::available. */
SLUICE_XDP_INLINE bool sluice_circuit_available_backend(uint64_t fp, uint32_t now_ms,
							uint8_t health)
{
	const struct sluice_circuit *c = sluice_circuit_find(fp);

	return !c || sluice_circuit_available(c, now_ms, health);
}

/* circuit_ejected(CircuitTable::state): open or half-open. */
SLUICE_XDP_INLINE bool sluice_circuit_ejected(uint64_t fp, uint32_t now_ms)
{
	const struct sluice_circuit *c = sluice_circuit_find(fp);

	return c && sluice_circuit_is_ejected(sluice_circuit_state(c, now_ms));
}

SLUICE_XDP_INLINE void sluice_circuit_forget(struct sluice_circuit *c)
{
	sluice_circuit_init(c);
	c->phase = SLUICE_CIRCUIT_FREE;
}

/* CircuitTable::record_success. Returns what changed (SLUICE_CIRCUIT_EV_*):
 * the caller counts a closing (CLOSED) as the end of an ejection. */
SLUICE_XDP_INLINE uint32_t sluice_circuit_success(uint64_t fp, uint32_t now_ms,
						  const struct sluice_circuit_policy *p,
						  uint32_t source, uint8_t health)
{
	struct sluice_circuit *c = sluice_circuit_find(fp);
	uint32_t events = 0;

	if (!c)
		return 0; /* closed, no history: nothing to reset */
	sluice_circuit_change_begin(c);
	sluice_circuit_record_success(c, now_ms, p, source, health, &events);
	if (events & SLUICE_CIRCUIT_EV_RELEASE)
		sluice_circuit_forget(c);
	sluice_circuit_change_end(c);
	return events;
}

/* CircuitTable::record_failure: claims a state for the backend if it has
 * none on this CPU. Returns what changed (SLUICE_CIRCUIT_EV_*): the caller
 * counts an opening (OPENED or REOPENED) as an ejection. */
SLUICE_XDP_INLINE uint32_t sluice_circuit_failure(uint64_t fp, uint32_t now_ms,
					      const struct sluice_circuit_policy *p,
					      uint32_t pool_size, uint32_t pool_open_count,
					      uint32_t source, uint8_t health)
{
	struct sluice_circuit *c = bpf_map_lookup_elem(&circuits, &fp);
	uint32_t events = 0;

	if (!c) {
		/* Inserted zeroed (FREE) from read-only data rather than from a
		 * 72-byte copy on this deep call chain's stack; set up below. */
		if (bpf_map_update_elem(&circuits, &fp, &sluice_circuit_none, BPF_ANY) != 0)
			return 0; /* untracked, as when the engine's table is full */
		c = bpf_map_lookup_elem(&circuits, &fp);
		if (!c)
			return 0;
	}
	sluice_circuit_change_begin(c);
	if (c->phase == SLUICE_CIRCUIT_FREE)
		sluice_circuit_init(c);
	sluice_circuit_record_failure(c, now_ms, p, pool_size, pool_open_count, source, health,
				      &events);
	sluice_circuit_change_end(c);
	return events;
}
