/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The XDP dataplane: the DPDK engine's per-packet pipeline (engine.h) as
 * one XDP program, so that a host without DPDK sends every flow to the same
 * backend, with the same bytes, as a DPDK appliance would.
 *
 *   parse -> VIP? -> service -> flow table -> (new flow: rule | split ->
 *   Maglev + circuit state) -> encapsulate -> XDP_TX / redirect
 *
 * Verdicts: forward is XDP_TX (or a redirect to globals.tx_ifindex when it
 * is set), hand to the host is XDP_PASS, drop is XDP_DROP; each is counted
 * in the per-CPU "counters" map exactly as the engine counts it.
 *
 * Configuration is read from the slot that "root" names (xdp_layout.h);
 * each CPU notes in "seen_generation" the generation it last decided with.
 * The pieces live in lib/: parse.h, service.h, flow.h, schedule.h,
 * circuit.h, encap.h, icmp.h, counters.h, clock.h.
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
 * (engine Worker::decide).
 */
SLUICE_XDP_FN int sluice_decide(struct xdp_md *ctx, const struct sluice_xdp_parsed *p,
				struct sluice_xdp_decision *d, const struct sluice_xdp_env *env)
{
	uint32_t slot;
	uint8_t proto;
	int64_t service = -1;

	if (!p || !d || !env)
		return 0;
	slot = env->slot & 1;
	if (p->status == SLUICE_PARSE_MALFORMED) {
		sluice_decide_drop(d, p->drop_reason);
		return 0;
	}
	sluice_decide_host(d);
	if (p->status == SLUICE_PARSE_NOT_IP)
		return 0;
	proto = p->key.proto;
	if (!p->is_fragment && (proto == SLUICE_IPPROTO_TCP || proto == SLUICE_IPPROTO_UDP))
		service = sluice_find_service(slot, &p->key);
	if (service >= 0)
		return sluice_handle_flow(ctx, p, d, env, (uint32_t)service);
	/* Anything else not addressed to a VIP belongs to the host's kernel. */
	if (!sluice_is_vip(slot, &p->key))
		return 0;
	if (p->is_fragment) {
		sluice_decide_drop(d, SLUICE_DROP_FRAGMENT);
		return 0;
	}
	if (proto == (p->key.family == SLUICE_AF_INET ? SLUICE_IPPROTO_ICMP : SLUICE_IPPROTO_ICMPV6))
		return sluice_handle_icmp(ctx, p, d, env);
	sluice_decide_drop(d, proto == SLUICE_IPPROTO_TCP || proto == SLUICE_IPPROTO_UDP
				      ? SLUICE_DROP_NO_SERVICE
				      : SLUICE_DROP_UNSUPPORTED_PROTOCOL);
	return 0;
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

SLUICE_XDP_INLINE int sluice_xdp_action(const struct sluice_xdp_decision *d, uint64_t word)
{
	const struct sluice_xdp_globals *g;

	if (d->action == SLUICE_ACTION_HOST)
		return XDP_PASS;
	if (d->action != SLUICE_ACTION_FORWARD)
		return XDP_DROP;
	g = sluice_globals(sluice_xdp_root_slot(word));
	if (g && g->tx_ifindex != 0)
		return (int)bpf_redirect(g->tx_ifindex, 0);
	return XDP_TX;
}

SEC("xdp")
int sluice_xdp(struct xdp_md *ctx)
{
	struct sluice_xdp_counters *cnt = sluice_counters();
	struct sluice_xdp_packet *pkt = sluice_packet_record();
	const uint32_t rx_len = (uint32_t)((long)ctx->data_end - (long)ctx->data);
	uint64_t word;

	if (!cnt || !pkt)
		return XDP_PASS; /* cannot happen: one-entry arrays */
	cnt->rx_packets++;
	sluice_parse(ctx, &pkt->parsed);
	word = sluice_root_word();
	if (word == 0) {
		/* Nothing configured yet: all traffic goes to the host, as the
		 * engine does without a snapshot; malformed frames are dropped. */
		if (pkt->parsed.status == SLUICE_PARSE_MALFORMED)
			sluice_decide_drop(&pkt->decision, pkt->parsed.drop_reason);
		else
			sluice_decide_host(&pkt->decision);
	} else {
		pkt->env.generation = sluice_xdp_root_generation(word);
		pkt->env.slot = sluice_xdp_root_slot(word);
		pkt->env.now_ms = sluice_now_ms();
		sluice_adopt(cnt, pkt->env.generation);
		sluice_decide(ctx, &pkt->parsed, &pkt->decision, &pkt->env);
	}
	sluice_count(cnt, &pkt->decision, rx_len);
	return sluice_xdp_action(&pkt->decision, word);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
