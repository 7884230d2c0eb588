/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The XDP dataplane's map definitions (BPF side). Layout, value types and the
 * meaning of each map: ebpf/xdp/xdp_layout.h. Map names are what the
 * generated skeleton and the bpffs pins are called; sizes here are defaults
 * that the loader (dataplane/xdp/) may change before loading.
 */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "ebpf/xdp/xdp_layout.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, uint32_t);
	__type(value, struct sluice_xdp_root);
} root SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, uint32_t);
	__type(value, uint32_t);
} layout SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_XDP_SLOTS);
	__type(key, uint32_t);
	__type(value, struct sluice_xdp_globals);
} globals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLUICE_XDP_SLOTS * SLUICE_XDP_MAX_SERVICES);
	__type(key, struct sluice_xdp_service_key);
	__type(value, uint32_t);
} services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLUICE_XDP_SLOTS * SLUICE_XDP_MAX_SERVICES);
	__type(key, struct sluice_xdp_vip_key);
	__type(value, uint32_t);
} vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_XDP_SLOTS * SLUICE_XDP_MAX_SERVICES);
	__type(key, uint32_t);
	__type(value, struct sluice_xdp_service);
} service_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_XDP_SLOTS * SLUICE_XDP_MAX_BACKENDS);
	__type(key, uint32_t);
	__type(value, struct sluice_xdp_backend);
} backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLUICE_XDP_SLOTS * SLUICE_XDP_MAX_BACKENDS);
	__type(key, struct sluice_xdp_backend_key);
	__type(value, uint32_t);
} backend_index SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_XDP_SLOTS * SLUICE_XDP_MAGLEV_ENTRIES / SLUICE_XDP_MAGLEV_PER_VALUE);
	__type(key, uint32_t);
	__type(value, struct sluice_xdp_maglev);
} maglev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SLUICE_XDP_SLOTS * SLUICE_XDP_MAX_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_xdp_rule_key);
	__type(value, uint32_t);
} rules SEC(".maps");

/*
 * One entry per flow, shared by every CPU (why: xdp_layout.h). The common
 * LRU, not BPF_F_NO_COMMON_LRU: with per-CPU LRU lists the kernel splits
 * the preallocated entries evenly over the *possible* CPUs, and a CPU can
 * only hold the flows it created in its share. A VM with 128 possible and
 * 2 online CPUs would keep 1/64 of the table usable, and RSS skew (or a
 * flood on one queue) would evict a busy CPU's flows while other shares sit
 * idle. The common LRU's cost is a lock taken on inserts only, and even
 * then only when a CPU's local free list (128 entries) runs dry; lookups
 * just set a reference bit.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SLUICE_XDP_FLOWS);
	__type(key, struct sluice_flow_key);
	__type(value, struct sluice_xdp_flow);
} flows SEC(".maps");

/* Unconfirmed flows (xdp_layout.h): their own LRU, so that what a flood
 * creates is all the LRU can evict. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SLUICE_XDP_FLOWS_NEW);
	__type(key, struct sluice_flow_key);
	__type(value, struct sluice_xdp_flow);
} flows_new SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, uint32_t);
	__type(value, struct sluice_token_bucket);
} new_flow_buckets SEC(".maps");

/* ICMP answers to too-big packets (lib/too_big.h), one bucket per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, uint32_t);
	__type(value, struct sluice_token_bucket);
} too_big_buckets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, SLUICE_XDP_CIRCUITS);
	__type(key, uint64_t);
	__type(value, struct sluice_circuit);
} circuits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_XDP_MAX_SERVICES * SLUICE_MAX_POOLS);
	__type(key, uint32_t);
	__type(value, struct sluice_xdp_pool_ejected);
} pool_ejected SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, uint32_t);
	__type(value, struct sluice_xdp_counters);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, uint32_t);
	__type(value, uint64_t);
} seen_generation SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_XDP_COUNTER_SLOTS);
	__type(key, uint32_t);
	__type(value, struct sluice_xdp_traffic);
} service_traffic SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_XDP_COUNTER_SLOTS);
	__type(key, uint32_t);
	__type(value, struct sluice_xdp_traffic);
} pool_traffic SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_XDP_COUNTER_SLOTS);
	__type(key, uint32_t);
	__type(value, struct sluice_xdp_traffic);
} backend_traffic SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_XDP_COUNTER_SLOTS);
	__type(key, uint32_t);
	__type(value, struct sluice_handshake_histogram);
} pool_handshakes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_XDP_COUNTER_SLOTS);
	__type(key, uint32_t);
	__type(value, struct sluice_handshake_histogram);
} backend_handshakes SEC(".maps");

/* Shared by every CPU (not per CPU): sluiced writes one byte per backend. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_XDP_COUNTER_SLOTS);
	__type(key, uint32_t);
	__type(value, uint8_t);
} backend_health SEC(".maps");

/* The RCU barrier: updating rcu_sync[0] (always to rcu_sync_inner) makes the
 * kernel wait for every running BPF program before the update returns
 * (maybe_wait_bpf_programs in kernel/bpf/syscall.c, for map-in-map types).
 * No program reads it. */
struct rcu_sync_inner_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, uint32_t);
	__type(value, uint32_t);
} rcu_sync_inner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, uint32_t);
	__array(values, struct rcu_sync_inner_map);
} rcu_sync SEC(".maps") = {
	.values = { &rcu_sync_inner },
};
