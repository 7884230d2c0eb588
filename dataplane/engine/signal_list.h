/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The L4 golden signals both dataplanes keep per service, pool and backend
 * counter slot, declared once: the engine's TrafficCounter (counters.h), the
 * XDP program's per-CPU slot counters (struct sluice_xdp_traffic,
 * ebpf/xdp/xdp_layout.h), the names GetStats and /metrics print, all expand
 * these lists, so they cannot drift apart. Plain C, compiled by g++ and by
 * clang -target bpf.
 *
 * What each event is, identically on both dataplanes (the parity test holds
 * them to it frame by frame):
 *  - packets, bytes: frames forwarded to the backend, with their length as
 *    received (client -> service: all a direct-server-return balancer sees).
 *  - new_flows: flows scheduled to a backend (a flow-table entry created),
 *    counted where the worker-wide new_flows is.
 *  - handshakes_completed: a tracked TCP flow's first non-SYN packet from
 *    the client (SYN_SENT -> ESTABLISHED). Its handshake time, now minus the
 *    flow's first SYN (flow entry first_seen_ms), goes into the pool's and
 *    the backend's histogram.
 *  - connect_failures: retransmitted SYNs as the circuit logic counts them
 *    (a SYN on a SYN_SENT entry at least syn_retry_min_ms after the flow's
 *    previous packet), on the backend that failed to answer.
 *  - client_resets: a flow ended by an RST from the client: a tracked flow
 *    entering CLOSING on a packet with RST (a FIN earlier already made it
 *    CLOSING: not counted), or an unknown flow whose first packet is an RST.
 *  - handshakes_expired: a SYN_SENT entry found idle past tcp_syn_ms,
 *    counted once, when it is removed: by a packet of the same 5-tuple that
 *    finds it expired (both dataplanes, in the packet path), by the engine's
 *    sweep or insert reusing the slot, or by the XDP flow census in
 *    userspace (the LRU map has no sweep). An entry the LRU evicts before
 *    anyone sees it expired is not counted (only under table pressure).
 *  - ejections: the backend's circuit opened on a worker (backend slots
 *    only; 0 for services and pools).
 */
#pragma once

/* X(name, "what it counts") */
#define SLUICE_SLOT_SIGNALS(X)                                                       \
  X(packets, "frames forwarded to the backend (client to service)")                  \
  X(bytes, "bytes of those frames as received, before encapsulation")                \
  X(new_flows, "flows scheduled to a backend")                                       \
  X(handshakes_completed, "TCP handshakes completed (client's first non-SYN)")       \
  X(connect_failures, "retransmitted SYNs counted as connect failures")              \
  X(client_resets, "flows ended by an RST from the client")                          \
  X(handshakes_expired, "TCP flows that expired without completing the handshake")   \
  X(ejections, "circuit openings of the backend")

/*
 * Handshake time: a fixed-bucket histogram per pool and per backend slot,
 * per core (per CPU in XDP). Upper bounds in milliseconds; a time t (whole
 * milliseconds of the dataplane's clock) falls in the first bucket whose
 * bound is >= t, else in the last (+Inf) bucket. Buckets are not cumulative
 * in the dataplane; the exporters make them so.
 * Resolution: the DPDK engine's clock is the TSC (sub-millisecond, shown
 * truncated to whole ms); XDP's is the coarse monotonic clock, one kernel
 * tick (1 to 10 ms).
 */
#define SLUICE_HANDSHAKE_BOUNDS_MS(X) \
  X(1) X(2) X(5) X(10) X(20) X(50) X(100) X(200) X(500) X(1000) X(2000) X(5000)
#define SLUICE_HANDSHAKE_BUCKETS 13 /* the 12 bounds above, then +Inf */

/* The bucket of a handshake time: bounded (12 compares, no loop the BPF
 * verifier must unroll). */
static inline unsigned sluice_handshake_bucket(unsigned ms)
{
	unsigned b = 0;
#define SLUICE_HS_STEP(bound) b += ms > (bound);
	SLUICE_HANDSHAKE_BOUNDS_MS(SLUICE_HS_STEP)
#undef SLUICE_HS_STEP
	return b;
}

/* One histogram: counts per bucket and the sum of the times in ms (the
 * count is the sum of the buckets). Same layout in C++ and BPF. */
struct sluice_handshake_histogram {
	unsigned long long buckets[SLUICE_HANDSHAKE_BUCKETS];
	unsigned long long sum_ms;
};

/*
 * Active health checks mark backends, by backend counter slot, in a table
 * the workers read when they pick a backend for a new flow (engine
 * BackendHealthTable, XDP map "backend_health"). Health is the daemon's
 * state, not the configuration's: it changes no revision and no generation.
 * Only UNHEALTHY takes a backend out of new-flow selection (skipped like an
 * open circuit: Maglev probing, then the fallback pool); UNKNOWN (no check,
 * or none finished yet since sluiced started) and HEALTHY are served.
 */
#define SLUICE_HEALTH_UNKNOWN 0
#define SLUICE_HEALTH_HEALTHY 1
#define SLUICE_HEALTH_UNHEALTHY 2
