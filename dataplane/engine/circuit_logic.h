/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The circuit breaker of one backend on one core: the state machine that the
 * DPDK engine (CircuitTable, circuit.cc) and the XDP program
 * (ebpf/xdp/lib/circuit.h) both run, so that a backend is ejected, tried and
 * readmitted at the same moments whichever dataplane watches it. States and
 * policy are described in circuit.h.
 *
 * Only the state of one backend lives here; where it is kept is the
 * caller's business (an open-addressing table in C++, a per-CPU LRU hash map
 * in BPF). A backend with no stored state is closed with no history; the
 * functions below take a stored state, and SLUICE_CIRCUIT_EV_RELEASE tells
 * the caller when that state has gone back to the default and may be
 * forgotten.
 *
 * What a spoofer can do to it, and why it cannot eject a healthy backend
 * cheaply (README "Signals an attacker cannot forge cheaply"):
 *  - A failure counts only if its source prefix (the client's IPv4 /24 or
 *    IPv6 /48 under the keyed hash, circuit_source.h) is none of the last
 *    SLUICE_CIRCUIT_SOURCES prefixes counted, and only within
 *    failure_window_ms of the first failure counted: one prefix adds at most
 *    one failure per window, so the threshold needs that many prefixes.
 *  - A backend whose active checks pass (health HEALTHY) is never ejected by
 *    passive signals: reaching the threshold marks it *suspected* (visible
 *    for one window) and sluiced probes it at once (control/health/); only a
 *    failing probe takes it out, as UNHEALTHY. Its circuit does not gate
 *    admission either, and a half-open one closes only on a success while
 *    the checks pass (a spoofer cannot answer a probe).
 *  - Without checks (UNKNOWN) ejection stays passive, with the prefix rule;
 *    a half-open circuit closes on successes from two distinct prefixes.
 *    Someone spoofing from that many prefixes can still eject such a
 *    backend, bounded by max_ejected_percent.
 *
 * Compiled as C++ (g++), C, and BPF C (clang -target bpf): <stdint.h> and
 * the plain-C signal_list.h only,
 * `static inline`, no loops.
 *
 * Times are wrapping 32-bit milliseconds from one core's monotonic clock, so
 * "has d ms passed since t" is (now - t) >= d in unsigned arithmetic: right
 * across the wrap, and unlike a signed difference it does not call a state
 * older than 24.8 days recent again (see flow_expired in flow_table.h).
 */
#pragma once

#include <stdint.h>

#include "dataplane/engine/signal_list.h" /* SLUICE_HEALTH_* */

#ifdef __cplusplus
extern "C" {
#endif

/* Always inlined: BPF functions take at most five arguments, and these are
 * a handful of instructions each. */
#define SLUICE_CIRCUIT_INLINE static inline __attribute__((always_inline))

enum sluice_circuit_phase {
	SLUICE_CIRCUIT_FREE = 0,      /* no state stored (a zeroed value reads so) */
	SLUICE_CIRCUIT_CLOSED = 1,
	SLUICE_CIRCUIT_OPEN = 2,      /* ejected: no new flows until the time passes */
	SLUICE_CIRCUIT_HALF_OPEN = 3, /* on trial: up to half_open_trials new flows */
	/* Reported by sluice_circuit_state only, never stored: closed, but the
	 * failure threshold was reached while active checks passed (HEALTHY),
	 * within the last failure window. */
	SLUICE_CIRCUIT_SUSPECTED = 4,
};

/* Source prefixes remembered per circuit: a failure from one of them does
 * not count again within the window. */
#define SLUICE_CIRCUIT_SOURCES 4

/* What a call changed, OR-ed into *events (for statistics and logs). */
#define SLUICE_CIRCUIT_EV_HALF_OPENED 0x01u /* open -> half-open */
#define SLUICE_CIRCUIT_EV_OPENED 0x02u      /* closed -> open */
#define SLUICE_CIRCUIT_EV_REOPENED 0x04u    /* half-open -> open, doubled time */
#define SLUICE_CIRCUIT_EV_CLOSED 0x08u      /* half-open -> closed */
#define SLUICE_CIRCUIT_EV_REFUSED 0x10u     /* would have opened: pool at max_ejected_percent */
#define SLUICE_CIRCUIT_EV_RELEASE 0x20u     /* back to the default: may be forgotten */
#define SLUICE_CIRCUIT_EV_SUSPECTED 0x40u   /* threshold reached while HEALTHY: not opened */
#define SLUICE_CIRCUIT_EV_REPEAT_SOURCE 0x80u /* failure from a prefix counted already */

/* The parts of engine::CircuitPolicy the state machine reads. */
struct sluice_circuit_policy {
	uint32_t consecutive_failures;
	uint32_t base_ejection_ms;
	uint32_t max_ejection_ms;
	uint32_t half_open_trials;
	uint32_t max_ejected_percent;
	uint32_t failure_window_ms;
};

/* One backend's breaker: 72 bytes, no implicit padding. */
struct sluice_circuit {
	uint32_t consecutive_failures; /* failures counted in the window (distinct prefixes) */
	uint32_t ejections;    /* for doubling; 0 after max_ejection_ms closed */
	uint32_t opened_ms;    /* start of the current ejection */
	uint32_t ejection_ms;  /* length of the current (or last) ejection */
	uint32_t closed_ms;    /* when it last closed */
	uint32_t trials_ms;    /* when the current batch of trials was granted */
	uint32_t trials_left;
	uint32_t window_ms;    /* when the first failure of the window was counted */
	uint32_t suspected_ms; /* when it was last suspected */
	uint32_t suspected_for_ms; /* how long that suspicion shows; 0: never suspected */
	uint32_t success_source;   /* half-open: prefix of the first success; 0: none */
	uint32_t success_ms;       /* half-open: when that success came */
	uint32_t sources[SLUICE_CIRCUIT_SOURCES]; /* prefixes counted; 0: empty */
	uint8_t phase;         /* enum sluice_circuit_phase */
	uint8_t next_source;   /* where the next prefix is written in sources */
	uint8_t pad[2];
	/*
	 * Change counter for readers outside the writer's CPU: odd while a
	 * change is being written, even otherwise, +2 per change. The XDP
	 * program keeps it (ebpf/xdp/lib/circuit.h) and sluiced reads the
	 * map by it (dataplane/xdp/circuit_read.h); it is the last field so
	 * that the kernel's ascending copy of a map value reads it after the
	 * data. The engine ignores it (its CircuitTable has a table-wide
	 * sequence) and nothing here writes it: sluice_circuit_init runs inside
	 * a change and must leave it odd. Was pad[2..5] before: layout version
	 * 8 holds either (an old program leaves it 0: always "consistent").
	 */
	uint32_t seq;
};

SLUICE_CIRCUIT_INLINE int sluice_circuit_elapsed(uint32_t now_ms, uint32_t since_ms, uint32_t duration_ms)
{
	return now_ms - since_ms >= duration_ms;
}

/*
 * A policy of 0 failures or 0 trials would make no sense (open on nothing,
 * never let a trial through); validation rejects them, and they are read as
 * 1 here so the breaker never locks a backend out.
 */
SLUICE_CIRCUIT_INLINE uint32_t sluice_circuit_failure_threshold(const struct sluice_circuit_policy *p)
{
	return p->consecutive_failures > 1 ? p->consecutive_failures : 1;
}

SLUICE_CIRCUIT_INLINE uint32_t sluice_circuit_trial_count(const struct sluice_circuit_policy *p)
{
	return p->half_open_trials > 1 ? p->half_open_trials : 1;
}

/* base << (ejections - 1), capped; ejections >= 1. A cap below the base is
 * read as the base. */
SLUICE_CIRCUIT_INLINE uint32_t sluice_circuit_ejection_time(uint32_t ejections,
						    const struct sluice_circuit_policy *p)
{
	const uint64_t cap = p->max_ejection_ms > p->base_ejection_ms ? p->max_ejection_ms
								      : p->base_ejection_ms;
	const uint32_t shift = ejections - 1 < 32 ? ejections - 1 : 32;
	const uint64_t t = (uint64_t)p->base_ejection_ms << shift;

	return (uint32_t)(t < cap ? t : cap);
}

/* A fresh stored state: closed, no history. */
SLUICE_CIRCUIT_INLINE void sluice_circuit_init(struct sluice_circuit *c)
{
	c->consecutive_failures = 0;
	c->ejections = 0;
	c->opened_ms = 0;
	c->ejection_ms = 0;
	c->closed_ms = 0;
	c->trials_ms = 0;
	c->trials_left = 0;
	c->window_ms = 0;
	c->suspected_ms = 0;
	c->suspected_for_ms = 0;
	c->success_source = 0;
	c->success_ms = 0;
	c->sources[0] = c->sources[1] = c->sources[2] = c->sources[3] = 0;
	c->phase = SLUICE_CIRCUIT_CLOSED;
	c->next_source = 0;
	c->pad[0] = c->pad[1] = 0;
}

/* Forgets the failures counted and their prefixes (a new window). */
SLUICE_CIRCUIT_INLINE void sluice_circuit_clear_failures(struct sluice_circuit *c)
{
	c->consecutive_failures = 0;
	c->sources[0] = c->sources[1] = c->sources[2] = c->sources[3] = 0;
	c->next_source = 0;
}

/* A suspicion still showing at now_ms. */
SLUICE_CIRCUIT_INLINE int sluice_circuit_suspected(const struct sluice_circuit *c, uint32_t now_ms)
{
	return c->suspected_for_ms != 0 &&
	       !sluice_circuit_elapsed(now_ms, c->suspected_ms, c->suspected_for_ms);
}

/*
 * Counts a failure from source prefix `source` (nonzero) within the window:
 * returns 0 when the prefix was counted already in this window (nothing
 * changes), 1 when it was counted now. Unrolled: SLUICE_CIRCUIT_SOURCES is 4.
 */
SLUICE_CIRCUIT_INLINE int sluice_circuit_count_source(struct sluice_circuit *c, uint32_t now_ms,
					      const struct sluice_circuit_policy *p,
					      uint32_t source)
{
	if (c->consecutive_failures > 0 &&
	    sluice_circuit_elapsed(now_ms, c->window_ms, p->failure_window_ms))
		sluice_circuit_clear_failures(c); /* the window passed: start a new one */
	if (c->sources[0] == source || c->sources[1] == source || c->sources[2] == source ||
	    c->sources[3] == source)
		return 0;
	if (c->consecutive_failures == 0)
		c->window_ms = now_ms;
	c->sources[c->next_source & (SLUICE_CIRCUIT_SOURCES - 1)] = source;
	c->next_source = (uint8_t)((c->next_source + 1) & (SLUICE_CIRCUIT_SOURCES - 1));
	if (c->consecutive_failures < UINT32_MAX)
		c->consecutive_failures++;
	return 1;
}

/*
 * Closed, no failures, and closed long enough for its ejection count to
 * have reset: equivalent to no stored state at all.
 */
SLUICE_CIRCUIT_INLINE int sluice_circuit_forgettable(const struct sluice_circuit *c, uint32_t now_ms,
					     const struct sluice_circuit_policy *p)
{
	return c->phase == SLUICE_CIRCUIT_CLOSED && c->consecutive_failures == 0 &&
	       !sluice_circuit_suspected(c, now_ms) &&
	       (c->ejections == 0 || sluice_circuit_elapsed(now_ms, c->closed_ms, p->max_ejection_ms));
}

/* Moves open -> half-open once the ejection time has passed. */
SLUICE_CIRCUIT_INLINE void sluice_circuit_advance(struct sluice_circuit *c, uint32_t now_ms,
					  const struct sluice_circuit_policy *p, uint32_t *events)
{
	if (c->phase != SLUICE_CIRCUIT_OPEN ||
	    !sluice_circuit_elapsed(now_ms, c->opened_ms, c->ejection_ms))
		return;
	c->phase = SLUICE_CIRCUIT_HALF_OPEN;
	c->trials_left = sluice_circuit_trial_count(p);
	c->trials_ms = now_ms;
	*events |= SLUICE_CIRCUIT_EV_HALF_OPENED;
}

/* Ejects the backend for the next ejection time (the caller reports it as
 * opened or reopened). */
SLUICE_CIRCUIT_INLINE void sluice_circuit_open(struct sluice_circuit *c, uint32_t now_ms,
				       const struct sluice_circuit_policy *p)
{
	if (c->phase == SLUICE_CIRCUIT_CLOSED && c->ejections > 0 &&
	    sluice_circuit_elapsed(now_ms, c->closed_ms, p->max_ejection_ms))
		c->ejections = 0; /* it behaved long enough: start again from the base time */
	if (c->ejections < 64)
		c->ejections++; /* past 32 doublings the cap rules anyway */
	c->ejection_ms = sluice_circuit_ejection_time(c->ejections, p);
	c->opened_ms = now_ms;
	c->phase = SLUICE_CIRCUIT_OPEN;
	sluice_circuit_clear_failures(c);
	c->trials_left = 0;
	c->success_source = 0;
}

/* Half-open -> closed. */
SLUICE_CIRCUIT_INLINE void sluice_circuit_close(struct sluice_circuit *c, uint32_t now_ms,
					uint32_t *events)
{
	c->phase = SLUICE_CIRCUIT_CLOSED;
	c->closed_ms = now_ms;
	sluice_circuit_clear_failures(c);
	c->trials_left = 0;
	c->success_source = 0;
	*events |= SLUICE_CIRCUIT_EV_CLOSED;
}

/*
 * May a new flow go to this backend now? (CircuitTable::admit for a backend
 * with stored state and an enabled policy.) Closed: yes. Open: no until its
 * ejection time has passed, then it turns half-open. Half-open: yes while
 * trials remain, consuming one; with the trials spent and no verdict for a
 * whole ejection time (the trial flows died silently: client gave up, entry
 * evicted), a fresh batch is granted. A backend whose active checks pass
 * (health HEALTHY) is admitted whatever its circuit says, consuming
 * nothing: the checks are the better evidence, and an UNHEALTHY backend
 * never gets here (the caller skips it first).
 */
SLUICE_CIRCUIT_INLINE int sluice_circuit_admit(struct sluice_circuit *c, uint32_t now_ms,
				       const struct sluice_circuit_policy *p, uint8_t health,
				       uint32_t *events)
{
	if (health == SLUICE_HEALTH_HEALTHY)
		return 1;
	sluice_circuit_advance(c, now_ms, p, events);
	if (c->phase == SLUICE_CIRCUIT_OPEN)
		return 0;
	if (c->phase != SLUICE_CIRCUIT_HALF_OPEN)
		return 1;
	if (c->trials_left > 0) {
		c->trials_left--;
		return 1;
	}
	if (sluice_circuit_elapsed(now_ms, c->trials_ms, c->ejection_ms)) {
		c->trials_left = sluice_circuit_trial_count(p) - 1;
		c->trials_ms = now_ms;
		return 1;
	}
	return 0;
}

/*
 * Whether sluice_circuit_admit leaves c as it is: a HEALTHY backend, a
 * closed circuit, or an open one with ejection time left. Those are the
 * common cases (every new flow that probes an ejected backend), and they
 * need neither the engine's copy of the slot and sequenced store nor the
 * XDP program's sequence bump (which would make sluiced's reads of a
 * backend probed by a SYN flood retry for nothing).
 */
SLUICE_CIRCUIT_INLINE int sluice_circuit_admit_keeps(const struct sluice_circuit *c, uint32_t now_ms,
					     uint8_t health)
{
	return health == SLUICE_HEALTH_HEALTHY || c->phase == SLUICE_CIRCUIT_CLOSED ||
	       (c->phase == SLUICE_CIRCUIT_OPEN &&
		!sluice_circuit_elapsed(now_ms, c->opened_ms, c->ejection_ms));
}

/* The answer admit would give, changing nothing. */
SLUICE_CIRCUIT_INLINE int sluice_circuit_available(const struct sluice_circuit *c, uint32_t now_ms,
					   uint8_t health)
{
	if (health == SLUICE_HEALTH_HEALTHY)
		return 1;
	if (c->phase == SLUICE_CIRCUIT_OPEN)
		/* Once the time has passed admit turns it half-open with >= 1 trial. */
		return sluice_circuit_elapsed(now_ms, c->opened_ms, c->ejection_ms);
	if (c->phase == SLUICE_CIRCUIT_HALF_OPEN)
		return c->trials_left > 0 ||
		       sluice_circuit_elapsed(now_ms, c->trials_ms, c->ejection_ms);
	return 1;
}

/* The phase as of now: CLOSED, OPEN or HALF_OPEN (an open circuit whose time
 * has passed is half-open even before admit has moved it), or SUSPECTED for
 * a closed one whose suspicion still shows. */
SLUICE_CIRCUIT_INLINE uint8_t sluice_circuit_state(const struct sluice_circuit *c, uint32_t now_ms)
{
	if (c->phase == SLUICE_CIRCUIT_OPEN)
		return sluice_circuit_elapsed(now_ms, c->opened_ms, c->ejection_ms)
			       ? SLUICE_CIRCUIT_HALF_OPEN
			       : SLUICE_CIRCUIT_OPEN;
	if (c->phase == SLUICE_CIRCUIT_HALF_OPEN)
		return SLUICE_CIRCUIT_HALF_OPEN;
	return sluice_circuit_suspected(c, now_ms) ? SLUICE_CIRCUIT_SUSPECTED : SLUICE_CIRCUIT_CLOSED;
}

/* Ejected (what max_ejected_percent counts): open or half-open. */
SLUICE_CIRCUIT_INLINE int sluice_circuit_is_ejected(uint8_t state)
{
	return state == SLUICE_CIRCUIT_OPEN || state == SLUICE_CIRCUIT_HALF_OPEN;
}

/*
 * A handshake completed on a flow to this backend, from source prefix
 * `source` (nonzero). Resets the failure count of a closed circuit (RELEASE
 * when nothing else is left to remember) and is ignored while open: a flow
 * admitted before the ejection proves little about now. A half-open
 * circuit closes (whichever flow it came from: the balancer cannot tell
 * trial flows from older ones) only on a success a lone spoofer cannot
 * forge: with active checks passing (HEALTHY), the first success, since the
 * probe vouches for the backend; without, a success from a second prefix
 * (the first one's prefix is remembered), or from the first prefix again
 * once a whole ejection time has passed since its first success with no
 * failure in between (a failure reopens the circuit and forgets it): so a
 * service whose clients all sit in one prefix still recovers, and a
 * spoofer in one prefix cannot close a backend that real trial flows find
 * dead.
 */
SLUICE_CIRCUIT_INLINE void sluice_circuit_record_success(struct sluice_circuit *c, uint32_t now_ms,
						 const struct sluice_circuit_policy *p,
						 uint32_t source, uint8_t health,
						 uint32_t *events)
{
	sluice_circuit_advance(c, now_ms, p, events);
	if (c->phase == SLUICE_CIRCUIT_OPEN)
		return;
	if (c->phase == SLUICE_CIRCUIT_HALF_OPEN) {
		if (health != SLUICE_HEALTH_HEALTHY && c->success_source == 0) {
			c->success_source = source;
			c->success_ms = now_ms;
			return;
		}
		if (health != SLUICE_HEALTH_HEALTHY && c->success_source == source &&
		    !sluice_circuit_elapsed(now_ms, c->success_ms, c->ejection_ms))
			return;
		sluice_circuit_close(c, now_ms, events);
		return;
	}
	sluice_circuit_clear_failures(c);
	if (sluice_circuit_forgettable(c, now_ms, p))
		*events |= SLUICE_CIRCUIT_EV_RELEASE;
}

/*
 * A connect failure on a flow to this backend (stored state, enabled
 * policy), from source prefix `source` (nonzero), while the backend's
 * health is `health`. pool_size and pool_open_count describe its pool on
 * this core (active backends, and those of them that are open or
 * half-open).
 *  - Open: nothing changes (late failures of flows sent before the
 *    ejection).
 *  - Half-open without passing checks: reopens (the backend is already
 *    counted as ejected).
 *  - Otherwise the failure counts only if its prefix is new in the window
 *    (REPEAT_SOURCE if not). At the threshold, a HEALTHY backend is marked
 *    suspected for one window (SUSPECTED) and its count starts again;
 *    another opens, unless pool_open_count * 100 >= max_ejected_percent *
 *    pool_size (REFUSED: the count stays at the threshold, so the next new
 *    prefix tries again).
 */
SLUICE_CIRCUIT_INLINE void sluice_circuit_record_failure(struct sluice_circuit *c, uint32_t now_ms,
						 const struct sluice_circuit_policy *p,
						 uint32_t pool_size, uint32_t pool_open_count,
						 uint32_t source, uint8_t health,
						 uint32_t *events)
{
	const int healthy = health == SLUICE_HEALTH_HEALTHY;

	sluice_circuit_advance(c, now_ms, p, events);
	if (c->phase == SLUICE_CIRCUIT_OPEN)
		return;
	if (c->phase == SLUICE_CIRCUIT_HALF_OPEN && !healthy) {
		sluice_circuit_open(c, now_ms, p);
		*events |= SLUICE_CIRCUIT_EV_REOPENED;
		return;
	}
	if (!sluice_circuit_count_source(c, now_ms, p, source)) {
		*events |= SLUICE_CIRCUIT_EV_REPEAT_SOURCE;
		return;
	}
	if (c->consecutive_failures < sluice_circuit_failure_threshold(p))
		return;
	if (healthy) {
		c->suspected_ms = now_ms;
		c->suspected_for_ms = p->failure_window_ms > 0 ? p->failure_window_ms : 1;
		sluice_circuit_clear_failures(c);
		*events |= SLUICE_CIRCUIT_EV_SUSPECTED;
		return;
	}
	if ((uint64_t)pool_open_count * 100 >= (uint64_t)p->max_ejected_percent * pool_size) {
		*events |= SLUICE_CIRCUIT_EV_REFUSED;
		return;
	}
	sluice_circuit_open(c, now_ms, p);
	*events |= SLUICE_CIRCUIT_EV_OPENED;
}

#ifdef __cplusplus
}
#endif
