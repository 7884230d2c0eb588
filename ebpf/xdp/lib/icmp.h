/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ICMP and ICMPv6 addressed to a VIP (engine Worker::handle_icmp): echo
 * requests are answered in place (engine make_echo_reply, with the
 * checksum arithmetic of encap_headers.h), and path-MTU errors (IPv4
 * fragmentation needed, ICMPv6 packet too big) are forwarded to the backend
 * that owns the quoted flow, which is where the oversized segments came
 * from; one quoting no service is dropped (icmp-no-flow). Everything else
 * toward a VIP (neighbour discovery, other errors, echo replies,
 * informational types) goes to the host, counted in icmp_to_host: why, in
 * the comment on engine Worker::handle_icmp. Malformed ICMP was dropped by
 * the parser with its reason.
 */
#pragma once

#include "dataplane/engine/encap_headers.h"
#include "ebpf/xdp/lib/common.h"
#include "ebpf/xdp/lib/counters.h"
#include "ebpf/xdp/lib/encap.h"
#include "ebpf/xdp/lib/flow.h"
#include "ebpf/xdp/lib/parse.h"
#include "ebpf/xdp/lib/schedule.h"
#include "ebpf/xdp/lib/service.h"

#define SLUICE_IPV4_MAX_HEADER_LEN 60

SLUICE_XDP_INLINE bool sluice_is_echo_request(const struct sluice_xdp_parsed *p)
{
	return p->icmp_type == (p->key.family == SLUICE_AF_INET ? SLUICE_ICMP_ECHO_REQUEST
								: SLUICE_ICMPV6_ECHO_REQUEST);
}

/* Path-MTU errors are the ICMP errors a VIP must pass on: the backend, not
 * the balancer, owns the connection whose segments were too big. */
SLUICE_XDP_INLINE bool sluice_is_pmtu_error(const struct sluice_xdp_parsed *p)
{
	if (p->key.family == SLUICE_AF_INET)
		return p->icmp_type == SLUICE_ICMP_DEST_UNREACH &&
		       p->icmp_code == SLUICE_ICMP_FRAG_NEEDED;
	return p->icmp_type == SLUICE_ICMPV6_PACKET_TOO_BIG;
}

SLUICE_XDP_INLINE void sluice_swap_bytes(uint8_t *a, uint8_t *b, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		const uint8_t x = a[i];

		a[i] = b[i];
		b[i] = x;
	}
}

/*
 * Turns the echo request into its reply in place (engine make_echo_reply):
 * MAC and IP addresses swapped, reply type, TTL / hop limit 64, checksums
 * fixed. Returns SLUICE_DROP_NONE or SLUICE_DROP_BAD_ICMP.
 */
SLUICE_XDP_FN int sluice_echo_reply(struct xdp_md *ctx, const struct sluice_xdp_parsed *p)
{
	uint8_t *data = (uint8_t *)(long)ctx->data;
	uint8_t *data_end = (uint8_t *)(long)ctx->data_end;
	uint8_t header[SLUICE_IPV4_MAX_HEADER_LEN] = {};
	uint32_t l3, l4, frame_len;
	uint8_t *ip, *icmp;
	uint16_t old_word, new_word;
	uint8_t reply;
	bool v6;

	if (!p || p->status != SLUICE_PARSE_OK)
		return SLUICE_DROP_BAD_ICMP;
	v6 = p->key.family == SLUICE_AF_INET6;
	if (p->key.proto != (v6 ? SLUICE_IPPROTO_ICMPV6 : SLUICE_IPPROTO_ICMP) ||
	    p->icmp_type != (v6 ? SLUICE_ICMPV6_ECHO_REQUEST : SLUICE_ICMP_ECHO_REQUEST))
		return SLUICE_DROP_BAD_ICMP;
	reply = v6 ? SLUICE_ICMPV6_ECHO_REPLY : SLUICE_ICMP_ECHO_REPLY;
	/* A fragment's checksum covers the whole reassembled message, and we do
	 * not reassemble. */
	if (p->is_fragment)
		return SLUICE_DROP_BAD_ICMP;
	l3 = p->l3_offset;
	l4 = p->l4_offset;
	frame_len = (uint32_t)(data_end - data);
	if (l4 + sizeof(struct sluice_icmp_hdr) > p->l3_end || p->l3_end > frame_len)
		return SLUICE_DROP_BAD_ICMP;
	if (l3 > SLUICE_ETH_HEADER_LEN + SLUICE_VLAN_TAG_LEN || l4 > SLUICE_XDP_MAX_OFFSET)
		return SLUICE_DROP_BAD_ICMP;

	if (data + 12 > data_end)
		return SLUICE_DROP_BAD_ICMP;
	sluice_swap_bytes(data, data + 6, 6);

	ip = data + l3;
	if (v6) {
		if (ip + SLUICE_IPV6_HEADER_LEN > data_end)
			return SLUICE_DROP_BAD_ICMP;
		/* Swapping source and destination leaves every checksum that covers
		 * them (the ICMPv6 pseudo-header) unchanged: the sum is commutative. */
		sluice_swap_bytes(ip + 8, ip + 24, 16);
		ip[7] = SLUICE_OUTER_TTL; /* hop limit: not in the pseudo-header */
	} else {
		const uint32_t header_len = l4 - l3;
		uint32_t i;

		if (header_len < SLUICE_IPV4_HEADER_LEN || header_len > SLUICE_IPV4_MAX_HEADER_LEN ||
		    ip + SLUICE_IPV4_HEADER_LEN > data_end)
			return SLUICE_DROP_BAD_ICMP;
		sluice_swap_bytes(ip + 12, ip + 16, 4);
		ip[8] = SLUICE_OUTER_TTL;
		/* Options (if any) travel back unchanged; the header is summed
		 * again in full because the TTL word changed. */
		if (bpf_xdp_load_bytes(ctx, l3, header, header_len) != 0)
			return SLUICE_DROP_BAD_ICMP;
		data = (uint8_t *)(long)ctx->data;
		data_end = (uint8_t *)(long)ctx->data_end;
		ip = data + l3;
		if (ip + SLUICE_IPV4_HEADER_LEN > data_end)
			return SLUICE_DROP_BAD_ICMP;
		i = sluice_ipv4_header_checksum(header, header_len);
		sluice_put_be16(ip + 10, (uint16_t)i);
	}

	/* Only the type byte changes in the ICMP message; code, identifier,
	 * sequence and data are echoed as received. */
	icmp = data + l4;
	if (icmp + sizeof(struct sluice_icmp_hdr) > data_end)
		return SLUICE_DROP_BAD_ICMP;
	old_word = sluice_get_be16(icmp);
	icmp[0] = reply;
	new_word = sluice_get_be16(icmp);
	sluice_put_be16(icmp + 2, sluice_csum_replace16(sluice_get_be16(icmp + 2), old_word, new_word));
	return SLUICE_DROP_NONE;
}

/*
 * An ICMP or ICMPv6 packet to a VIP. Sets the verdict in *d.
 */
SLUICE_XDP_FN int sluice_handle_icmp(struct xdp_md *ctx, const struct sluice_xdp_parsed *p,
				     struct sluice_xdp_decision *d,
				     const struct sluice_xdp_env *env)
{
	struct sluice_xdp_counters *cnt = sluice_counters();
	const struct sluice_xdp_service *svc;
	const struct sluice_xdp_globals *g;
	const struct sluice_xdp_flow *e;
	struct sluice_xdp_schedule s = {};
	struct sluice_xdp_target t = {};
	uint64_t flow_hash;
	uint32_t slot;
	int64_t service;
	int r;

	if (!p || !d || !env || !cnt)
		return 0;
	slot = env->slot & 1;
	if (sluice_is_echo_request(p)) {
		r = sluice_echo_reply(ctx, p);
		if (r != SLUICE_DROP_NONE) {
			sluice_decide_drop(d, (uint8_t)r);
			return 0;
		}
		cnt->replied++;
		d->action = SLUICE_ACTION_FORWARD;
		d->reason = SLUICE_DROP_NONE;
		d->counted = 0;
		return 0;
	}
	if (!sluice_is_pmtu_error(p)) {
		cnt->icmp_to_host++;
		sluice_decide_host(d);
		return 0;
	}
	/* The parser quotes every PMTU error it accepts; kept for safety. */
	if (!p->has_inner) {
		sluice_decide_drop(d, SLUICE_DROP_BAD_ICMP);
		return 0;
	}
	/* The quoted packet is the backend's reply (VIP -> client); `inner`
	 * reads it back as the client -> VIP flow, which is how it was scheduled. */
	sluice_decide_drop(d, SLUICE_DROP_NO_FLOW_FOR_ICMP);
	service = sluice_find_service(slot, &p->inner);
	if (service < 0)
		return 0;
	svc = sluice_service(slot, (uint32_t)service);
	g = sluice_globals(slot);
	if (!svc || !g)
		return 0;
	flow_hash = sluice_flow_hash(&p->inner, &g->seed);
	t.slot = slot;
	t.service = (uint32_t)service;
	t.backend = SLUICE_XDP_NO_BACKEND;
	e = sluice_flow_lookup(&p->inner, env->now_ms, svc);
	if (e) {
		const uint32_t index = sluice_find_backend(slot, (uint32_t)service,
							   e->backend_fingerprint);
		const struct sluice_xdp_backend *b = sluice_backend(slot, svc, index);

		if (b) {
			t.backend = (uint16_t)index;
			t.pool = b->pool;
		}
	}
	if (t.backend == SLUICE_XDP_NO_BACKEND) {
		/* Not tracked on this CPU: the stateless choice is what this CPU
		 * would pick for the flow, which is where it went unless weights
		 * moved. */
		s.flow_hash = flow_hash;
		s.service = (uint32_t)service;
		s.slot = slot;
		s.now_ms = env->now_ms;
		s.consume = 0;
		if (sluice_schedule(&s, &p->inner) != SLUICE_DROP_NONE)
			return 0;
		t.backend = s.backend;
		t.pool = s.pool;
	}
	sluice_forward(ctx, p, &t, d, flow_hash);
	if (d->action == SLUICE_ACTION_FORWARD)
		cnt->icmp_errors_forwarded++;
	return 0;
}
