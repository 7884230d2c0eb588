/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The XDP dataplane: the DPDK engine's per-packet pipeline (engine.h) as
 * one XDP program, so that a host without DPDK sends every flow to the same
 * backend, with the same bytes, as a DPDK appliance would.
 *
 *   parse -> flow entry (names its service while its generation is
 *   current) or service -> flow table -> (new flow: rule | split ->
 *   Maglev + circuit state) -> encapsulate -> XDP_TX / redirect
 *
 * Verdicts: forward is XDP_TX (or a redirect to globals.tx_ifindex when it
 * is set), hand to the host is XDP_PASS, drop is XDP_DROP; each is counted
 * in the per-CPU "counters" map exactly as the engine counts it.
 *
 * Configuration is read from the slot that "root" names (xdp_layout.h);
 * each CPU notes in "seen_generation" the generation it last decided with.
 * The pieces live in lib/: parse.h, service.h, flow.h, schedule.h,
 * circuit.h, health.h, encap.h, icmp.h, counters.h, clock.h.
 */
#include "ebpf/xdp/lib/clock.h"
#include "ebpf/xdp/lib/common.h"
#include "ebpf/xdp/lib/counters.h"
#include "ebpf/xdp/lib/flow.h"
#include "ebpf/xdp/lib/icmp.h"
#include "ebpf/xdp/lib/packet.h"
#include "ebpf/xdp/lib/parse.h"
#include "ebpf/xdp/lib/service.h"

/*
 * The verdict for a parsed packet under the configuration of env->slot
 * (engine Worker::classify and decide). Inlined into the entry: every call
 * level costs stack, and the whole chain of calls has 512 bytes.
 */
SLUICE_XDP_INLINE void sluice_decide(struct xdp_md *ctx, const struct sluice_xdp_parsed *p,
				     struct sluice_xdp_decision *d, struct sluice_xdp_env *env,
				     const struct sluice_xdp_globals *g)
{
	const uint8_t proto = p->key.proto;
	struct sluice_xdp_flow *e = NULL;
	int64_t service = -1;

	if (p->status == SLUICE_PARSE_MALFORMED) {
		sluice_decide_drop(d, p->drop_reason);
		return;
	}
	sluice_decide_host(d);
	if (p->status == SLUICE_PARSE_NOT_IP)
		return;
	if (!p->is_fragment && (proto == SLUICE_IPPROTO_TCP || proto == SLUICE_IPPROTO_UDP)) {
		/* The flow entry first: one written or revalidated under the
		 * current generation names the service the lookup below would
		 * find, so an established packet skips that lookup. TCP/UDP for
		 * the host pays a missed flow lookup for it. (The key is in the
		 * scratch map value, which any verifier takes as a key; the entry
		 * goes to sluice_handle_flow only when not NULL.) Confirmed
		 * flows first, the established packets' map; then the
		 * unconfirmed ones (xdp_layout.h "flows_new"). */
		env->entry_map = SLUICE_XDP_IN_NONE;
		e = bpf_map_lookup_elem(&flows, &p->key);
		if (e) {
			env->entry_map = SLUICE_XDP_IN_FLOWS;
		} else {
			e = bpf_map_lookup_elem(&flows_new, &p->key);
			if (e)
				env->entry_map = SLUICE_XDP_IN_FLOWS_NEW;
		}
		if (e && e->state != SLUICE_XDP_FLOW_EMPTY &&
		    e->generation == (uint32_t)env->generation)
			service = e->service;
		else
			service = sluice_find_service(env->slot, &p->key);
	}
	if (service >= 0) {
		env->service = (uint32_t)service;
		env->flow_hash = sluice_flow_hash(&p->key, &g->seed);
		if (!e || sluice_handle_flow(ctx, p, d, env, e))
			sluice_new_flow(ctx, p, d, env, (uint32_t)service);
		return;
	}
	/* Anything else not addressed to a VIP belongs to the host's kernel. */
	if (!sluice_is_vip(env->slot, &p->key))
		return;
	if (p->is_fragment) {
		sluice_decide_drop(d, SLUICE_DROP_FRAGMENT);
		return;
	}
	if (proto == (p->key.family == SLUICE_AF_INET ? SLUICE_IPPROTO_ICMP : SLUICE_IPPROTO_ICMPV6)) {
		sluice_handle_icmp(ctx, p, d, env);
		return;
	}
	sluice_decide_drop(d, proto == SLUICE_IPPROTO_TCP || proto == SLUICE_IPPROTO_UDP
				      ? SLUICE_DROP_NO_SERVICE
				      : SLUICE_DROP_UNSUPPORTED_PROTOCOL);
}

/* The verdict without a configuration. */
SLUICE_XDP_INLINE void sluice_decide_unconfigured(const struct sluice_xdp_parsed *p,
						  struct sluice_xdp_decision *d)
{
	if (p->status == SLUICE_PARSE_MALFORMED)
		sluice_decide_drop(d, p->drop_reason);
	else
		sluice_decide_host(d);
}

/* Notes the generation this CPU decides with (engine Worker::adopt). */
SLUICE_XDP_INLINE void sluice_adopt(struct sluice_xdp_counters *cnt, uint64_t generation)
{
	const uint32_t zero = 0;
	uint64_t *seen = bpf_map_lookup_elem(&seen_generation, &zero);

	if (seen && *seen != generation) {
		*seen = generation;
		cnt->snapshot_switches++;
	}
}

SLUICE_XDP_INLINE int sluice_xdp_action(const struct sluice_xdp_decision *d,
					 const struct sluice_xdp_globals *g)
{
	if (d->action == SLUICE_ACTION_HOST)
		return XDP_PASS;
	if (d->action != SLUICE_ACTION_FORWARD)
		return XDP_DROP;
	if (g && g->tx_ifindex != 0 && !d->to_sender)
		return (int)bpf_redirect(g->tx_ifindex, 0);
	return XDP_TX;
}

SEC("xdp")
int sluice_xdp(struct xdp_md *ctx)
{
	struct sluice_xdp_counters *cnt = sluice_counters();
	struct sluice_xdp_packet *pkt = sluice_packet_record();
	const uint32_t rx_len = (uint32_t)((long)ctx->data_end - (long)ctx->data);
	const struct sluice_xdp_globals *g = NULL;
	uint64_t word;

	if (!cnt || !pkt)
		return XDP_PASS; /* cannot happen: one-entry arrays */
	cnt->rx_packets++;
	sluice_parse(ctx, &pkt->parsed);
	word = sluice_root_word();
	if (word == 0) {
		/* Nothing configured yet: all traffic goes to the host, as the
		 * engine does without a snapshot; malformed frames are dropped. */
		sluice_decide_unconfigured(&pkt->parsed, &pkt->decision);
	} else {
		pkt->env.generation = sluice_xdp_root_generation(word);
		pkt->env.slot = sluice_xdp_root_slot(word);
		pkt->env.now_ms = sluice_now_ms();
		pkt->env.flow_hash = 0;
		pkt->env.service = 0;
		sluice_adopt(cnt, pkt->env.generation);
		g = sluice_globals(pkt->env.slot);
		if (g)
			sluice_decide(ctx, &pkt->parsed, &pkt->decision, &pkt->env, g);
		else
			sluice_decide_unconfigured(&pkt->parsed, &pkt->decision);
	}
	sluice_count(cnt, &pkt->decision, rx_len);
	return sluice_xdp_action(&pkt->decision, g);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
