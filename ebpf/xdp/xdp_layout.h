/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The XDP dataplane's maps: what the program (ebpf/xdp/sluice_xdp.bpf.c)
 * reads and what the loader and publisher (dataplane/xdp/) write. Plain C,
 * compiled by clang -target bpf and by g++; every struct has explicit padding
 * so both compilers lay it out the same way.
 *
 * Configuration is double-buffered in two slots (0 and 1). Everything a
 * packet reads about services, pools, backends, rules and Maglev tables is
 * keyed or indexed by slot. The publisher writes a new snapshot into the
 * slot no packet reads, then switches `root` with one 8-byte map update, so
 * a packet sees either the whole old configuration or the whole new one.
 * Before the slot it left may be written again, the publisher waits for an
 * RCU grace period (an update of the map-in-map `rcu_sync` makes the kernel
 * wait for every running BPF program): from then on no packet can still be
 * reading it, and every CPU forwards with the new generation.
 *
 * Bump SLUICE_XDP_LAYOUT_VERSION on any change to a struct or map here: a
 * loader adopts pinned maps only when their layout version matches.
 */
#pragma once

#include "dataplane/engine/circuit_logic.h"
#include "dataplane/engine/counter_list.h"
#include "dataplane/engine/drop_reasons.h"
#include "dataplane/engine/flow_hash.h"
#include "dataplane/engine/token_bucket.h"
#include "dataplane/engine/pool_split.h"
#include "dataplane/engine/signal_list.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 5: "flows" became one LRU_HASH entry per flow shared by every CPU (was
 * LRU_PERCPU_HASH, one value per possible CPU), with handshake_claimed;
 * the counter icmp_to_host was added. */
/* 6: "flows_new" (unconfirmed flows) and "new_flow_buckets"; the state
 * PROBATION; probation_ms in a service; new_flow_rate/burst in globals; per-CPU per-pool ejected counts
 * (bounded work per packet). */
/* 7: "too_big_buckets"; icmp_too_big_rate/burst in globals; the counters
 * too_big_icmp_sent, too_big_rate_limited, too_big_no_df. */
/* 8: struct sluice_circuit grew to 72 bytes (failure window, source
 * prefixes, suspicion); failure_window_ms in a service; the counters
 * circuit_repeat_sources and circuit_suspected. */
/* Not a bump: two pads of globals became generation_lo/_hi. Same bytes at
 * the same offsets, the program never reads them, and 0 (what older builds
 * wrote) reads as "not recorded"; a bump would only make the upgrade
 * replace the maps, losing every flow. */
#define SLUICE_XDP_LAYOUT_VERSION 8u
#define SLUICE_XDP_SLOTS 2u

/* Default capacities (per slot where it applies); the loader may resize the
 * maps before loading (options in dataplane/xdp/). */
#define SLUICE_XDP_MAX_SERVICES 4096u
#define SLUICE_XDP_MAX_BACKENDS 65536u          /* all services together */
#define SLUICE_XDP_MAGLEV_ENTRIES (1u << 21)    /* all tables together */
#define SLUICE_XDP_MAX_RULES 65536u             /* all services together */
#define SLUICE_XDP_FLOWS (1u << 20)            /* confirmed flows, map "flows" */
#define SLUICE_XDP_FLOWS_NEW (1u << 18)        /* unconfirmed flows, map "flows_new" */
#define SLUICE_XDP_CIRCUITS (1u << 16)
#define SLUICE_XDP_COUNTER_SLOTS 65536u         /* per kind: service, pool, backend */

/* The program reads the per-slot capacities of "service_config",
 * "backends" and "maglev" from its read-only data (sluice_max_services,
 * sluice_max_backends, sluice_maglev_entries; defaults: the values above).
 * A loader that resizes one of these maps sets the matching value before
 * loading, or slot 1 would be read at the wrong offset. */

/* map "root", ARRAY[1]: the active configuration. word = generation << 1 |
 * slot; 0 means nothing configured yet (every frame goes to the kernel,
 * malformed ones are dropped, as the DPDK engine does without a snapshot). */
struct sluice_xdp_root {
	uint64_t word;
};

static inline uint32_t sluice_xdp_root_slot(uint64_t word) { return (uint32_t)(word & 1); }
static inline uint64_t sluice_xdp_root_generation(uint64_t word) { return word >> 1; }

/* map "globals", ARRAY[SLUICE_XDP_SLOTS]: fleet-wide settings of one slot
 * (engine ForwardingConfig plus the seed). */
struct sluice_xdp_globals {
	struct sluice_hash_seed seed;
	uint8_t source_v4[4];
	/* The snapshot generation this slot was compiled as, low and high
	 * halves (two former pads: same layout). In control-plane mode it is
	 * the state revision; the root's generation can be higher (see
	 * dataplane/xdp/snapshot_writer.h). Userspace bookkeeping: a sluiced
	 * adopting the maps compares it with its saved state
	 * (control/state/state_integrity.h). The program never reads it. */
	uint32_t generation_lo;
	uint8_t source_v6[16];
	uint8_t local_mac[6];
	uint8_t next_hop_mac[6];
	uint32_t max_frame_size;
	uint32_t min_flow_timeout_ms;
	uint32_t tx_ifindex;     /* 0: XDP_TX out of the receiving interface */
	uint32_t service_count;
	uint32_t new_flow_rate;  /* engine ForwardingConfig; per CPU, 0: no limit */
	uint32_t new_flow_burst;
	uint32_t icmp_too_big_rate;  /* engine ForwardingConfig; per CPU, 0: no limit */
	uint32_t icmp_too_big_burst;
	uint32_t generation_hi;
};

/* map "services", HASH: (slot, VIP, port, protocol) -> service index. */
struct sluice_xdp_service_key {
	uint8_t slot;
	uint8_t family;   /* SLUICE_AF_INET / SLUICE_AF_INET6 */
	uint8_t proto;    /* SLUICE_IPPROTO_TCP / _UDP */
	uint8_t pad;
	uint16_t port;    /* network byte order, as in sluice_flow_key.dport */
	uint16_t pad2;
	uint8_t addr[16]; /* IPv4 in the first 4 bytes, the rest zero */
};

/* map "vips", HASH: (slot, family, address) -> 1, for "is this a VIP". */
struct sluice_xdp_vip_key {
	uint8_t slot;
	uint8_t family;
	uint8_t pad[2];
	uint8_t addr[16];
};

/* One pool of a service. */
struct sluice_xdp_pool {
	uint32_t maglev_offset;  /* first entry in "maglev" (slot-relative) */
	uint32_t maglev_size;    /* 0: no active backend */
	uint32_t first_backend;  /* service-relative backend index */
	uint32_t backend_count;
	uint32_t counter_slot;
	uint32_t active_count;   /* backends of state active (engine CompiledPool) */
	/* The root generation since which this pool's position (service index
	 * * SLUICE_MAX_POOLS + pool) has had these same active backends
	 * (engine CompiledPool::members_since, as the snapshot writer's
	 * PoolMembership counts root generations). */
	uint64_t members_since;
};

/* map "service_config", ARRAY[SLOTS * max_services], at
 * slot * max_services + service index: a CompiledService. */
struct sluice_xdp_service {
	struct sluice_pool_split split;
	struct sluice_xdp_pool pools[SLUICE_MAX_POOLS];
	uint32_t backend_base;   /* slot-relative index of backend 0 in "backends" */
	uint32_t backend_count;
	uint32_t counter_slot;
	uint32_t rule_count;     /* 0: no source-CIDR rules (skip the trie) */
	uint8_t pool_count;
	uint8_t fallback_pool;
	uint8_t affinity;            /* SLUICE_AFFINITY_* */
	uint8_t affinity_prefix_len; /* of the VIP's family */
	uint8_t encapsulation;       /* 0 IPIP, 1 GUE (engine::Encapsulation) */
	uint8_t circuit_enabled;
	uint16_t gue_port;           /* host byte order */
	/* engine::CircuitPolicy */
	uint32_t consecutive_failures;
	uint32_t syn_retry_min_ms;
	uint32_t base_ejection_ms;
	uint32_t max_ejection_ms;
	uint32_t half_open_trials;
	uint32_t max_ejected_percent;
	uint32_t failure_window_ms;
	/* engine::FlowTimeouts */
	uint32_t tcp_syn_ms;
	uint32_t tcp_established_ms;
	uint32_t tcp_closing_ms;
	uint32_t udp_ms;
	uint32_t probation_ms;
	/* engine::HealthCheckConfig::unhealthy_flows of the service: 1 =
	 * kReschedule (a flow whose backend turned unhealthy moves on its next
	 * packet), 0 = kKeep. */
	uint8_t unhealthy_reschedule;
	uint8_t pad_health[3];
};

/* map "backends", ARRAY[SLOTS * max_backends], at
 * slot * max_backends + service.backend_base + index. */
struct sluice_xdp_backend {
	uint8_t addr[16];
	uint64_t fingerprint;
	uint32_t counter_slot;
	uint8_t family;
	uint8_t state;  /* engine::BackendState: 0 active, 1 draining, 2 disabled */
	uint8_t pool;   /* pool index in its service */
	uint8_t pad;
	uint32_t service;      /* index of its service */
	/* The next backend with the same fingerprint (engine CompiledBackend
	 * shared_service/shared_backend), as an index into this slot of
	 * "backends" (backend_base of its service + its index); this backend's
	 * own when no other service lists the address. */
	uint32_t shared_next;
};

/* map "backend_index", HASH: (slot, service, fingerprint) -> service-relative
 * backend index: CompiledService::find_backend. */
struct sluice_xdp_backend_key {
	uint32_t slot_service;  /* slot << 24 | service index */
	uint32_t pad;
	uint64_t fingerprint;
};

/* map "maglev", ARRAY[SLOTS * maglev_entries / 4]: Maglev entries (service-
 * relative backend indices), four to a value. Entry e of a slot is
 * value[slot * (maglev_entries / 4) + e / 4].index[e % 4]. */
#define SLUICE_XDP_MAGLEV_PER_VALUE 4u
struct sluice_xdp_maglev {
	uint16_t index[SLUICE_XDP_MAGLEV_PER_VALUE];
};

/* map "rules", LPM_TRIE: (slot, service, client prefix) -> pool index. The
 * first 32 bits of data (slot_service, big-endian) are always part of the
 * prefix: prefixlen = 32 + the rule's prefix length. */
struct sluice_xdp_rule_key {
	uint32_t prefixlen;
	uint8_t slot_service[4];  /* big-endian slot << 24 | service index */
	uint8_t addr[16];
};

/*
 * map "flows", LRU_HASH: sluice_flow_key -> the flow's entry (an engine
 * FlowEntry without the key, plus the service it was scheduled by), one per
 * flow, shared by every CPU: a flow whose packets move to another CPU (RSS
 * rebalanced; on veth and generic XDP the program runs on the sending CPU)
 * finds its entry there. State 0 (empty) = absent.
 *
 * Why one shared entry rather than one per CPU: an LRU_PERCPU_HASH holds a
 * value for every possible CPU in every key (1M flows: 2.1 GiB at 64 CPUs,
 * 4.2 GiB at 128, nearly all zeros), and a flow that moved had to be looked
 * for on every CPU. Here memory is entries x (key + value + the kernel's
 * element header and bucket), whatever the CPU count: README.md (XDP).
 *
 * Writes from two CPUs at once (one flow's packets running on two CPUs in
 * the same instant, which only a moving flow does) are plain stores of
 * last_seen_ms, state and, on a generation change or a steered SYN, of
 * fields both CPUs compute alike from the same configuration: the last
 * store wins, and a lost one at worst delays a state change by a packet.
 * What must happen once per flow, counting its handshake's outcome
 * (completed or expired), is claimed with an atomic exchange of
 * handshake_claimed (sluice_flow_claim_handshake, ebpf/xdp/lib/flow.h).
 *
 * 40 bytes: with the 40-byte key and the kernel's 48-byte element header,
 * an element is 128 bytes, two whole cache lines.
 */
struct sluice_xdp_flow {
	uint64_t backend_fingerprint;
	uint32_t last_seen_ms;
	uint32_t first_seen_ms;  /* the flow's first packet (first SYN); never changes */
	uint32_t generation;     /* low 32 bits of the generation backend_index and service are valid for */
	uint16_t backend_index;
	uint8_t pool;
	uint8_t state;           /* engine::FlowState */
	/* The key's service index under `generation`: while that generation is
	 * current, the service lookup would return it again, and an established
	 * packet skips that lookup. */
	uint32_t service;
	/* The CPU that carried the flow's latest packet (its scheduler at
	 * first): where the flow census counts it, as each CPU's copy used to
	 * be counted. Stored only when it changes, so a flow that stays on its
	 * CPU never writes it again. */
	uint32_t cpu;
	/* 0 until a CPU claims the handshake's outcome (completed or expired)
	 * with an atomic exchange to 1: a 64-bit word, since BPF_XCHG is 64-bit
	 * below clang's -mcpu=v3 (which this program does not use). A new
	 * entry (a new connection on the tuple) starts at 0 again. */
	uint64_t handshake_claimed;
};

/* engine::FlowState, the values of sluice_xdp_flow.state. */
#define SLUICE_XDP_FLOW_EMPTY 0
#define SLUICE_XDP_FLOW_SYN_SENT 1
#define SLUICE_XDP_FLOW_ESTABLISHED 2
#define SLUICE_XDP_FLOW_CLOSING 3
#define SLUICE_XDP_FLOW_UDP 4
#define SLUICE_XDP_FLOW_PROBATION 5

/*
 * map "flows_new", LRU_HASH: sluice_flow_key -> struct sluice_xdp_flow, the
 * unconfirmed flows (states SYN_SENT, PROBATION, and CLOSING when the flow
 * closed before it was confirmed; engine flow_table.h FlowState). An entry
 * moves to "flows" when a second packet from the client confirms it
 * (ESTABLISHED, UDP), so that a flood of spoofed packets, each the first
 * and only packet of its flow, churns this map and never evicts a
 * confirmed flow: the engine's table gets the same effect by evicting only
 * unconfirmed entries. A flow in "flows" that closes stays there (its
 * closing timeout is short). A key is in one of the two maps at a time.
 *
 * map "new_flow_buckets", PERCPU_ARRAY[1]: this CPU's token bucket of new
 * flows (struct sluice_token_bucket, dataplane/engine/token_bucket.h).
 */

/* map "circuits", LRU_PERCPU_HASH: backend fingerprint (uint64_t) -> this
 * CPU's circuit (struct sluice_circuit, dataplane/engine/circuit_logic.h).
 * Phase SLUICE_CIRCUIT_FREE (a zeroed value, as other CPUs see an entry one
 * CPU created) = no state: closed, no history. */

/* map "pool_ejected", PERCPU_ARRAY[max_services * SLUICE_MAX_POOLS], at
 * service index * SLUICE_MAX_POOLS + pool: this CPU's count of the pool's
 * active backends whose circuit is open or half-open (engine
 * Worker::pool_ejected_), what max_ejected_percent is judged on. It holds
 * while `generation` (when it was last brought up to date) is at least the
 * pool's members_since and at most the root's generation; otherwise it is
 * counted afresh, on the pool's next connect failure. Not double-buffered
 * and never written by userspace. */
struct sluice_xdp_pool_ejected {
	uint64_t generation;
	uint32_t ejected;
	uint32_t valid;  /* 1: counted once */
};

/* map "counters", PERCPU_ARRAY[1]: engine WorkerCounters' scalar counters in
 * declaration order (SLUICE_WORKER_COUNTERS), then the drop reasons indexed
 * by enum sluice_drop_reason (engine DropReason). */
struct sluice_xdp_counters {
#define SLUICE_X(name, help) uint64_t name;
	SLUICE_WORKER_COUNTERS(SLUICE_X)
#undef SLUICE_X
	uint64_t drops[SLUICE_DROP_REASON_COUNT];
};

/* maps "service_traffic", "pool_traffic", "backend_traffic",
 * PERCPU_ARRAY[SLUICE_XDP_COUNTER_SLOTS], indexed by counter slot: the
 * golden signals of each slot (SLUICE_SLOT_SIGNALS, signal_list.h), in the
 * order of engine::TrafficCounter. */
struct sluice_xdp_traffic {
#define SLUICE_X(name, help) uint64_t name;
	SLUICE_SLOT_SIGNALS(SLUICE_X)
#undef SLUICE_X
};

/* maps "pool_handshakes", "backend_handshakes",
 * PERCPU_ARRAY[SLUICE_XDP_COUNTER_SLOTS] of struct
 * sluice_handshake_histogram (signal_list.h), indexed by pool and backend
 * counter slot: handshake times in ms of the program's clock. */

/* map "backend_health", ARRAY[SLUICE_XDP_COUNTER_SLOTS] of uint8_t, indexed
 * by backend counter slot: SLUICE_HEALTH_UNKNOWN, _HEALTHY or _UNHEALTHY
 * (signal_list.h), written by sluiced's health checker. One byte is all a
 * state needs and is written atomically (the kernel still spaces array
 * elements 8 bytes apart: 512 KiB for the default 65536 slots).
 * Not double-buffered: health is the daemon's state, not the
 * configuration's (no generation changes with it). The loader
 * zeroes it (UNKNOWN: served) whenever sluiced starts, also when it adopts
 * pinned maps, so a restart never keeps a stale verdict. A new flow is not
 * sent to an UNHEALTHY backend (like an open circuit); an established one
 * moves off it only when its service's unhealthy_reschedule is set. Slots
 * beyond the map's size read as UNKNOWN. */

/* map "seen_generation", PERCPU_ARRAY[1] of uint64_t: the generation each CPU
 * last forwarded with (observability; wait_applied relies on the grace
 * period, since an idle CPU runs no program to acknowledge anything). */

/* map "layout", ARRAY[1] of uint32_t: SLUICE_XDP_LAYOUT_VERSION, written by
 * the loader, checked before adopting pinned maps. */

#ifdef __cplusplus
}
#endif
