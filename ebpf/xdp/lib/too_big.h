/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A packet too big to encapsulate (engine Worker::too_big): answered with
 * ICMP fragmentation-needed / ICMPv6 packet-too-big back out of the
 * receiving interface, rate permitting, or dropped. The bytes come from the
 * engine's own dataplane/engine/icmp_too_big.h; this file finds room for
 * them and sums the quote with bpf_csum_diff (constant sizes of at most
 * 512 bytes each, the helper's limit).
 *
 * The egress MTU: the configured max_frame_size (what the engine uses,
 * fixed at start from the port's MTU by sluiced) and, at run time,
 * bpf_check_mtu against the egress device (tx_ifindex, or the receiving
 * one): a link MTU lowered after start is honoured from the next packet,
 * without a republish. The helper costs a few ns per forwarded packet and
 * needs no map or userspace watcher; under BPF_PROG_TEST_RUN the device is
 * the loopback (MTU 65536), so tests see only the configured limit, as
 * the engine does.
 */
#pragma once

#include "dataplane/engine/icmp_too_big.h"
#include "ebpf/xdp/lib/clock.h"
#include "ebpf/xdp/lib/common.h"
#include "ebpf/xdp/lib/counters.h"
#include "ebpf/xdp/lib/parse.h"

/*
 * The device MTU when an outer packet of `outer_ip_len` bytes would exceed
 * it, else 0. mtu_len given on input is the L3 length to check (the
 * helper's XDP form), so the Ethernet header and a VLAN tag do not count.
 */
SLUICE_XDP_INLINE uint32_t sluice_device_too_big(struct xdp_md *ctx, uint32_t ifindex,
						 uint32_t outer_ip_len)
{
	uint32_t mtu_len = outer_ip_len;

	if (bpf_check_mtu(ctx, ifindex, &mtu_len, 0, 0) == BPF_MTU_CHK_RET_FRAG_NEEDED)
		return mtu_len;
	return 0;
}

/* Adds the bpf_csum_diff sum of `len` bytes at q (range-checked by the
 * caller) to *sum; false on a helper error. */
SLUICE_XDP_INLINE bool sluice_sum_chunk(uint8_t *q, uint32_t len, uint64_t *sum)
{
	const long r = bpf_csum_diff(NULL, 0, (void *)q, len, 0);

	if (r < 0)
		return false;
	*sum += (uint32_t)r;
	return true;
}

/*
 * Rewrites the frame into the answer (engine make_too_big_reply): the
 * quote stays, the tail past it goes, `front` bytes of IP and ICMP headers
 * and the Ethernet header go in front. `v6` and `vlan` are constants at
 * each call site, so every offset is one the verifier can check.
 */
SLUICE_XDP_INLINE bool sluice_too_big_frame(struct xdp_md *ctx, bool v6, bool vlan, uint16_t mtu)
{
	const uint32_t l2 = vlan ? 18u : 14u; /* Ethernet header, and a tag */
	const uint32_t front = v6 ? SLUICE_TOO_BIG_FRONT_V6 : SLUICE_TOO_BIG_FRONT_V4;
	const uint32_t quote = v6 ? SLUICE_TOO_BIG_QUOTE_V6 : SLUICE_TOO_BIG_QUOTE_V4;
	uint8_t *data = (uint8_t *)(long)ctx->data;
	uint8_t *data_end = (uint8_t *)(long)ctx->data_end;
	const uint32_t frame_len = (uint32_t)(data_end - data);
	uint64_t sum = 0;
	uint8_t *q;

	if (frame_len < l2 + quote)
		return false;
	if (frame_len > l2 + quote && bpf_xdp_adjust_tail(ctx, -(int)(frame_len - l2 - quote)) != 0)
		return false;
	if (bpf_xdp_adjust_head(ctx, -(int)front) != 0)
		return false;
	data = (uint8_t *)(long)ctx->data;
	data_end = (uint8_t *)(long)ctx->data_end;
	if (data + l2 + front + quote > data_end)
		return false;
	sluice_write_too_big_l2(data, data + front, vlan);
	q = data + l2 + front;
	if (!sluice_sum_chunk(q, 512, &sum))
		return false;
	if (v6) {
		if (!sluice_sum_chunk(q + 512, 512, &sum) ||
		    !sluice_sum_chunk(q + 1024, SLUICE_TOO_BIG_QUOTE_V6 - 1024, &sum))
			return false;
		sluice_write_too_big_v6(data + l2, mtu, sum);
	} else {
		if (!sluice_sum_chunk(q + 512, SLUICE_TOO_BIG_QUOTE_V4 - 512, &sum))
			return false;
		sluice_write_too_big_v4(data + l2, mtu, sum);
	}
	return true;
}

/* The two numbers sluice_too_big needs beyond its pointers, in one
 * argument (a BPF function takes at most five). */
SLUICE_XDP_INLINE uint64_t sluice_too_big_limits(uint32_t limit, uint32_t overhead)
{
	return ((uint64_t)limit << 32) | overhead;
}

/*
 * The packet is too big: its outer packet (inner_len + overhead bytes)
 * exceeds `limit`, the largest the egress takes (both packed by
 * sluice_too_big_limits). Sets *d: forward to the sender (the answer;
 * counted in too_big_icmp_sent, not as traffic) or a drop with too-big
 * (too_big_no_df, too_big_rate_limited, or silent). Not inlined: it runs
 * rarely, and its code (four variants of the frame) stays out of the
 * forwarding path's instruction cache.
 */
SLUICE_XDP_FN int sluice_too_big(struct xdp_md *ctx, const struct sluice_xdp_parsed *p,
				 struct sluice_xdp_decision *d, const struct sluice_xdp_globals *g,
				 uint64_t limits)
{
	struct sluice_xdp_counters *cnt = sluice_counters();
	const uint32_t zero = 0;
	struct sluice_token_bucket *bucket = bpf_map_lookup_elem(&too_big_buckets, &zero);
	const uint32_t limit = (uint32_t)(limits >> 32);
	const uint32_t overhead = (uint32_t)limits;
	uint32_t inner_len;
	bool built, v6;
	uint16_t mtu;
	int answer;

	if (!p || !d || !g)
		return 0;
	sluice_decide_drop(d, SLUICE_DROP_TOO_BIG);
	if (!cnt || !bucket)
		return 0;
	v6 = p->key.family == SLUICE_AF_INET6;
	inner_len = (uint32_t)p->l3_end - p->l3_offset;
	answer = sluice_too_big_answer(v6, p->dont_fragment, p->is_fragment, p->key.proto,
				       p->icmp_type, p->key.src, inner_len);
	if (answer == SLUICE_TOO_BIG_NO_DF)
		cnt->too_big_no_df++;
	if (answer != SLUICE_TOO_BIG_ANSWER)
		return 0;
	if (!sluice_token_bucket_take(bucket, sluice_now_ms(), g->icmp_too_big_rate,
				      g->icmp_too_big_burst)) {
		cnt->too_big_rate_limited++;
		return 0;
	}
	mtu = sluice_too_big_mtu(v6, limit, overhead);
	if (v6)
		built = p->has_vlan ? sluice_too_big_frame(ctx, true, true, mtu)
				    : sluice_too_big_frame(ctx, true, false, mtu);
	else
		built = p->has_vlan ? sluice_too_big_frame(ctx, false, true, mtu)
				    : sluice_too_big_frame(ctx, false, false, mtu);
	if (!built)
		return 0;
	cnt->too_big_icmp_sent++;
	d->action = SLUICE_ACTION_FORWARD;
	d->reason = SLUICE_DROP_NONE;
	d->to_sender = 1;
	return 0;
}
