/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Forwarding to a backend: IPIP or GUE encapsulation (4in4, 6in6, 4in6),
 * engine forward() and encapsulate() (encap.h lists the formats). The outer
 * headers are written by the engine's own dataplane/engine/encap_headers.h;
 * this file only finds room for them: bpf_xdp_adjust_tail drops Ethernet
 * padding past the IP packet, bpf_xdp_adjust_head makes room in front.
 */
#pragma once

#include "dataplane/engine/encap_headers.h"
#include "ebpf/xdp/lib/common.h"
#include "ebpf/xdp/lib/parse.h"
#include "ebpf/xdp/lib/service.h"
#include "ebpf/xdp/lib/too_big.h"

#define SLUICE_ETH_HEADER_LEN 14
#define SLUICE_VLAN_TAG_LEN 4
#define SLUICE_IPV4_HEADER_LEN 20
#define SLUICE_IPV6_HEADER_LEN 40
#define SLUICE_UDP_HEADER_LEN 8

/* Where a packet goes: backend `backend` of service `service`. */
struct sluice_xdp_target {
	uint32_t slot;
	uint32_t service;
	uint16_t backend;
	uint8_t pool;
	uint8_t pad;
};

/*
 * Encapsulates the parsed packet toward the target's backend and sets the
 * verdict in *d: forward (traffic counted against the target's service,
 * pool and backend), or a drop with the engine's reason.
 */
SLUICE_XDP_FN int sluice_forward(struct xdp_md *ctx, const struct sluice_xdp_parsed *p,
				 const struct sluice_xdp_target *t, struct sluice_xdp_decision *d,
				 uint64_t flow_hash)
{
	const struct sluice_xdp_service *svc;
	const struct sluice_xdp_globals *g;
	const struct sluice_xdp_backend *b;
	uint32_t l2_len, outer_ip_len, outer_len, front, l3_offset, inner_len, new_len;
	uint32_t ip_payload_len, length_field, frame_len, limit, device_mtu;
	uint8_t *data, *data_end, *h;
	uint8_t tpid[2] = {0, 0};
	bool outer_v6, gue;
	uint32_t pool;

	if (!p || !t || !d)
		return 0;
	sluice_decide_drop(d, SLUICE_DROP_UNSUPPORTED_PROTOCOL);
	svc = sluice_service(t->slot, t->service);
	g = sluice_globals(t->slot);
	pool = t->pool;
	if (!svc || !g || pool >= SLUICE_MAX_POOLS)
		return 0;
	b = sluice_backend(t->slot, svc, t->backend);
	if (!b)
		return 0;
	if (p->status != SLUICE_PARSE_OK)
		return 0;
	outer_v6 = b->family == SLUICE_AF_INET6;
	gue = svc->encapsulation == SLUICE_ENCAP_GUE;
	/* IPv6 inside IPv4 would need the backend to accept IPv6 from an IPv4
	 * tunnel endpoint (6in4); no backend of ours is set up for that. */
	if (!outer_v6 && p->key.family == SLUICE_AF_INET6)
		return 0;

	l2_len = SLUICE_ETH_HEADER_LEN + (p->has_vlan ? SLUICE_VLAN_TAG_LEN : 0);
	outer_ip_len = outer_v6 ? SLUICE_IPV6_HEADER_LEN : SLUICE_IPV4_HEADER_LEN;
	outer_len = outer_ip_len + (gue ? SLUICE_UDP_HEADER_LEN : 0);
	front = l2_len + outer_len;
	l3_offset = p->l3_offset;
	if (l3_offset > SLUICE_ETH_HEADER_LEN + SLUICE_VLAN_TAG_LEN || p->l3_end < l3_offset)
		return 0; /* not what the parser produces */
	/* Only the IP packet travels: Ethernet padding past l3_end is dropped. */
	inner_len = (uint32_t)p->l3_end - l3_offset;
	new_len = front + inner_len;
	/* The largest outer IP packet the egress takes. */
	limit = g->max_frame_size > l3_offset ? g->max_frame_size - l3_offset : 0;
	if (new_len > g->max_frame_size) {
		sluice_too_big(ctx, p, d, g, sluice_too_big_limits(limit, outer_len));
		return 0;
	}
	ip_payload_len = inner_len + (gue ? SLUICE_UDP_HEADER_LEN : 0);
	/* 16-bit length fields: IPv4 total length covers its own header, IPv6
	 * payload length and UDP length do not (UDP's is ip_payload_len itself). */
	length_field = outer_v6 ? ip_payload_len : SLUICE_IPV4_HEADER_LEN + ip_payload_len;
	if (length_field > 0xffff) {
		d->reason = SLUICE_DROP_TOO_BIG;
		return 0;
	}
	device_mtu = sluice_device_too_big(ctx, g->tx_ifindex, outer_len + inner_len);
	if (device_mtu != 0) {
		sluice_too_big(ctx, p, d, g,
			       sluice_too_big_limits(device_mtu < limit ? device_mtu : limit, outer_len));
		return 0;
	}

	data = (uint8_t *)(long)ctx->data;
	data_end = (uint8_t *)(long)ctx->data_end;
	/* A kept tag (802.1Q or 802.1ad) keeps its TPID. */
	if (p->has_vlan) {
		if (data + 14 > data_end)
			return 0;
		tpid[0] = data[12];
		tpid[1] = data[13];
	}
	frame_len = (uint32_t)(data_end - data);
	if (frame_len > p->l3_end &&
	    bpf_xdp_adjust_tail(ctx, -(int)(frame_len - p->l3_end)) != 0)
		return 0;
	if (bpf_xdp_adjust_head(ctx, (int)l3_offset - (int)front) != 0) {
		d->reason = SLUICE_DROP_NO_HEADROOM;
		return 0;
	}

	data = (uint8_t *)(long)ctx->data;
	data_end = (uint8_t *)(long)ctx->data_end;
	h = data;
	if (h + 12 > data_end)
		return 0;
	sluice_store32(h, sluice_load32(g->next_hop_mac));
	sluice_store16(h + 4, *(const uint16_t *)(g->next_hop_mac + 4));
	sluice_store32(h + 6, sluice_load32(g->local_mac));
	sluice_store16(h + 10, *(const uint16_t *)(g->local_mac + 4));
	h += 12;
	if (p->has_vlan) {
		if (h + 4 > data_end)
			return 0;
		h[0] = tpid[0];
		h[1] = tpid[1];
		sluice_store16(h + 2, sluice_be16(p->vlan_tci));
		h += SLUICE_VLAN_TAG_LEN;
	}
	if (outer_v6) {
		const uint8_t next_header = gue ? SLUICE_IPPROTO_UDP
					  : p->key.family == SLUICE_AF_INET6 ? SLUICE_IPPROTO_IPV6
									     : SLUICE_IPPROTO_IPIP;

		if (h + 2 + SLUICE_IPV6_HEADER_LEN > data_end)
			return 0;
		sluice_store16(h, sluice_be16(SLUICE_ETHERTYPE_IPV6));
		sluice_write_outer_ipv6(h + 2, p->tos, flow_hash, next_header, length_field,
					g->source_v6, b->addr);
		h += 2 + SLUICE_IPV6_HEADER_LEN;
	} else {
		/* IPv6 inside IPv4 was refused above: IPIP is protocol 4. */
		if (h + 2 + SLUICE_IPV4_HEADER_LEN > data_end)
			return 0;
		sluice_write_ethertype_and_outer_ipv4(h, p->tos, p->dont_fragment,
						      sluice_outer_ipv4_id(p->dont_fragment, p->ip_id,
									   flow_hash),
						      gue ? SLUICE_IPPROTO_UDP : SLUICE_IPPROTO_IPIP,
						      length_field, g->source_v4, b->addr);
		h += 2 + SLUICE_IPV4_HEADER_LEN;
	}
	if (gue) {
		if (h + SLUICE_UDP_HEADER_LEN > data_end)
			return 0;
		sluice_write_gue_udp(h, flow_hash, svc->gue_port, ip_payload_len);
	}

	d->action = SLUICE_ACTION_FORWARD;
	d->reason = SLUICE_DROP_NONE;
	d->counted = 1;
	d->service_slot = svc->counter_slot;
	d->pool_slot = svc->pools[pool & (SLUICE_MAX_POOLS - 1)].counter_slot;
	d->backend_slot = b->counter_slot;
	return 0;
}
