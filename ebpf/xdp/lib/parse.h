/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Frame parsing, the BPF port of dataplane/engine/parse.cc: the same
 * layers, the same policies (parse.h there lists them) and the same drop
 * reason for every malformed frame, which the parity test checks frame by
 * frame. The engine's fast path for plain IPv4 TCP/UDP only saves
 * instructions there (it writes what the general path writes), so only the
 * general path is ported.
 *
 * Reads: the engine compares offsets as "bytes left >= bytes needed"
 * against the frame or the IP packet's end; those checks are kept as they
 * are, so each failure gives the engine's reason. Every access is then
 * also checked against data_end for the verifier; those checks cannot fail
 * once the engine's have passed (the IP packet ends inside the frame), and
 * return the same reason if they ever did.
 *
 * Split into global functions (common.h): the IPv6 extension-header walk is
 * one, verified once, rather than once per path through the outer headers
 * and again inside an ICMPv6 quote.
 */
#pragma once

#include "dataplane/engine/encap_headers.h"
#include "ebpf/xdp/lib/common.h"

/* engine::ParseStatus. */
enum sluice_parse_status {
	SLUICE_PARSE_OK = 0,
	SLUICE_PARSE_NOT_IP = 1,
	SLUICE_PARSE_MALFORMED = 2,
};

#define SLUICE_MAX_IPV6_EXTENSION_HEADERS 4 /* engine kMaxIpv6ExtensionHeaders */

/* engine::ParsedPacket. Eight-byte aligned (its members alone would make it
 * two): clearing it then takes 14 word stores instead of 53 halfword ones. */
struct __attribute__((aligned(8))) sluice_xdp_parsed {
	struct sluice_flow_key key;   /* addresses, ports (network order), proto, family */
	struct sluice_flow_key inner; /* ICMP errors: the quoted flow, client -> VIP */
	uint16_t ethertype;
	uint16_t vlan_tci;
	uint16_t l3_offset;
	uint16_t l4_offset;
	uint16_t l3_end;
	uint16_t ip_id;        /* IPv4 identification (host order); 0 for IPv6 */
	uint16_t pad_id;
	uint8_t status;        /* enum sluice_parse_status */
	uint8_t drop_reason;   /* when MALFORMED */
	uint8_t has_vlan;
	uint8_t tos;
	uint8_t dont_fragment;
	uint8_t is_fragment;
	uint8_t first_fragment;
	uint8_t tcp_flags;
	uint8_t icmp_type;
	uint8_t icmp_code;
	uint8_t has_inner;
	uint8_t pad[5];
};

/* Where an IPv6 extension-header walk starts (in) and ended (out). */
struct sluice_ipv6_chain {
	uint32_t offset;    /* in: first header; out: the L4 header */
	uint32_t end;       /* in: end of the IP packet */
	uint8_t nexthdr;    /* in: first header's type; out: the L4 protocol */
	uint8_t cut_short;  /* in: the reason for a header running past `end` */
	uint8_t is_fragment;
	uint8_t first_fragment;
};

/* n bytes at data + off, or NULL when they are not all in the frame. */
SLUICE_XDP_INLINE const uint8_t *sluice_pkt(const uint8_t *data, const uint8_t *data_end,
					    uint32_t off, uint32_t n)
{
	const uint8_t *p;

	if (off > SLUICE_XDP_MAX_OFFSET)
		return NULL;
	p = data + off;
	if (p + n > data_end)
		return NULL;
	return p;
}

SLUICE_XDP_INLINE uint16_t sluice_load_be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

/* Ports stay in network byte order, as the flow key wants them. */
SLUICE_XDP_INLINE uint16_t sluice_load_wire16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

SLUICE_XDP_INLINE bool sluice_is_vlan_ethertype(uint16_t type)
{
	return type == SLUICE_ETHERTYPE_VLAN || type == SLUICE_ETHERTYPE_QINQ;
}

SLUICE_XDP_INLINE bool sluice_has_ports(uint8_t proto)
{
	return proto == SLUICE_IPPROTO_TCP || proto == SLUICE_IPPROTO_UDP;
}

/* Addresses are copied as 32-bit words (sluice_load32 and sluice_store32
 * in encap_headers.h: single unaligned accesses), not byte by byte. */
SLUICE_XDP_INLINE void sluice_copy_addr4(uint8_t *to, const uint8_t *from)
{
	sluice_store32(to, sluice_load32(from));
}

SLUICE_XDP_INLINE void sluice_copy_addr16(uint8_t *to, const uint8_t *from)
{
	sluice_copy16(to, from);
}

SLUICE_XDP_INLINE bool sluice_is_ipv6_option_header(uint8_t nexthdr)
{
	return nexthdr == SLUICE_IPPROTO_HOPOPTS || nexthdr == SLUICE_IPPROTO_ROUTING ||
	       nexthdr == SLUICE_IPPROTO_DSTOPTS;
}

/*
 * Skips hop-by-hop (first only), routing, destination-options and fragment
 * headers in [offset, end); engine walk_ipv6_extensions. Returns a drop
 * reason (SLUICE_DROP_NONE: carry on).
 */
SLUICE_XDP_FN int sluice_walk_ipv6_extensions(struct xdp_md *ctx, struct sluice_ipv6_chain *chain)
{
	const uint8_t *data = (const uint8_t *)(long)ctx->data;
	const uint8_t *data_end = (const uint8_t *)(long)ctx->data_end;
	uint32_t off, end;
	uint8_t nexthdr, cut_short;
	bool seen_fragment = false;
	int i;

	if (!chain)
		return SLUICE_DROP_BAD_IPV6_EXTENSION_HEADER;
	off = chain->offset;
	end = chain->end;
	nexthdr = chain->nexthdr;
	cut_short = chain->cut_short;
	chain->is_fragment = 0;
	chain->first_fragment = 0;
	if (end > SLUICE_XDP_MAX_OFFSET || off > end)
		return cut_short; /* callers never pass this */

	for (i = 0; i < SLUICE_MAX_IPV6_EXTENSION_HEADERS; i++) {
		const uint8_t *h;

		if (sluice_is_ipv6_option_header(nexthdr)) {
			uint32_t size;

			/* RFC 8200 4.1: hop-by-hop may only follow the IPv6 header itself. */
			if (nexthdr == SLUICE_IPPROTO_HOPOPTS && i != 0)
				return SLUICE_DROP_BAD_IPV6_EXTENSION_HEADER;
			if (end - off < sizeof(struct sluice_ipv6_opt_hdr))
				return cut_short;
			h = sluice_pkt(data, data_end, off, 2);
			if (!h)
				return cut_short;
			size = (h[1] + 1u) * 8u;
			if (end - off < size)
				return cut_short;
			nexthdr = h[0];
			off += size;
		} else if (nexthdr == SLUICE_IPPROTO_FRAGMENT) {
			uint16_t frag, frag_offset;

			if (seen_fragment)
				return SLUICE_DROP_BAD_IPV6_EXTENSION_HEADER;
			seen_fragment = true;
			if (end - off < sizeof(struct sluice_ipv6_frag_hdr))
				return cut_short;
			h = sluice_pkt(data, data_end, off, sizeof(struct sluice_ipv6_frag_hdr));
			if (!h)
				return cut_short;
			frag = sluice_load_be16(h + 2);
			nexthdr = h[0];
			off += sizeof(struct sluice_ipv6_frag_hdr);
			frag_offset = frag >> 3;
			/* Offset 0 without M is an atomic fragment (RFC 6946): a whole packet. */
			if (frag_offset != 0 || (frag & 1) != 0) {
				chain->is_fragment = 1;
				chain->first_fragment = frag_offset == 0;
				if (frag_offset != 0)
					break; /* no L4 header, nothing more to skip */
			}
		} else {
			break;
		}
	}
	if (!(chain->is_fragment && !chain->first_fragment) &&
	    (sluice_is_ipv6_option_header(nexthdr) || nexthdr == SLUICE_IPPROTO_FRAGMENT))
		return SLUICE_DROP_BAD_IPV6_EXTENSION_HEADER; /* more than the limit */
	chain->offset = off;
	chain->nexthdr = nexthdr;
	return SLUICE_DROP_NONE;
}

/* The ports of a quoted packet's L4 header at l4, swapped: the quoted packet
 * went VIP -> client, `inner` reads client -> VIP. */
SLUICE_XDP_INLINE void sluice_set_inner_ports(const uint8_t *l4, struct sluice_flow_key *inner)
{
	if (!sluice_has_ports(inner->proto))
		return;
	inner->sport = sluice_load_wire16(l4 + 2);
	inner->dport = sluice_load_wire16(l4);
}

/* The IPv4 packet quoted by an ICMP error, in [off, end). */
SLUICE_XDP_INLINE int sluice_parse_quoted_ipv4(const uint8_t *data, const uint8_t *data_end,
					       uint32_t off, uint32_t end,
					       struct sluice_flow_key *inner)
{
	const uint8_t *ip;
	const uint8_t *l4;
	uint32_t header_len;

	if (end - off < sizeof(struct sluice_ipv4_hdr))
		return SLUICE_DROP_TRUNCATED_ICMP_INNER;
	ip = sluice_pkt(data, data_end, off, sizeof(struct sluice_ipv4_hdr));
	if (!ip)
		return SLUICE_DROP_TRUNCATED_ICMP_INNER;
	if ((ip[0] >> 4) != 4)
		return SLUICE_DROP_BAD_IP_VERSION;
	header_len = (ip[0] & 0x0fu) * 4u;
	if (header_len < sizeof(struct sluice_ipv4_hdr))
		return SLUICE_DROP_BAD_IP_HEADER_LENGTH;
	if (end - off < header_len + 8)
		return SLUICE_DROP_TRUNCATED_ICMP_INNER;
	l4 = sluice_pkt(data, data_end, off + header_len, 8);
	if (!l4)
		return SLUICE_DROP_TRUNCATED_ICMP_INNER;
	inner->family = SLUICE_AF_INET;
	inner->proto = ip[offsetof(struct sluice_ipv4_hdr, protocol)];
	sluice_copy_addr4(inner->src, ip + offsetof(struct sluice_ipv4_hdr, daddr));
	sluice_copy_addr4(inner->dst, ip + offsetof(struct sluice_ipv4_hdr, saddr));
	/* A quoted non-first fragment carries data, not an L4 header. */
	if ((sluice_load_be16(ip + offsetof(struct sluice_ipv4_hdr, frag_off)) &
	     SLUICE_IPV4_OFFSET_MASK) == 0)
		sluice_set_inner_ports(l4, inner);
	return SLUICE_DROP_NONE;
}

/* The IPv6 packet quoted by an ICMPv6 error, in [off, end). */
SLUICE_XDP_INLINE int sluice_parse_quoted_ipv6(struct xdp_md *ctx, const uint8_t *data,
					       const uint8_t *data_end, uint32_t off,
					       uint32_t end, struct sluice_flow_key *inner)
{
	struct sluice_ipv6_chain chain = {};
	const uint8_t *ip;
	const uint8_t *l4;
	int r;

	if (end - off < sizeof(struct sluice_ipv6_hdr))
		return SLUICE_DROP_TRUNCATED_ICMP_INNER;
	ip = sluice_pkt(data, data_end, off, sizeof(struct sluice_ipv6_hdr));
	if (!ip)
		return SLUICE_DROP_TRUNCATED_ICMP_INNER;
	if ((ip[0] >> 4) != 6)
		return SLUICE_DROP_BAD_IP_VERSION;
	chain.offset = off + sizeof(struct sluice_ipv6_hdr);
	chain.end = end;
	chain.nexthdr = ip[offsetof(struct sluice_ipv6_hdr, nexthdr)];
	chain.cut_short = SLUICE_DROP_TRUNCATED_ICMP_INNER;
	r = sluice_walk_ipv6_extensions(ctx, &chain);
	if (r != SLUICE_DROP_NONE)
		return r;
	if (chain.offset > end || end - chain.offset < 8)
		return SLUICE_DROP_TRUNCATED_ICMP_INNER;
	/* The walk took the context's pointers apart; read them again. */
	data = (const uint8_t *)(long)ctx->data;
	data_end = (const uint8_t *)(long)ctx->data_end;
	ip = sluice_pkt(data, data_end, off, sizeof(struct sluice_ipv6_hdr));
	l4 = sluice_pkt(data, data_end, chain.offset, 8);
	if (!ip || !l4)
		return SLUICE_DROP_TRUNCATED_ICMP_INNER;
	inner->family = SLUICE_AF_INET6;
	inner->proto = chain.nexthdr;
	sluice_copy_addr16(inner->src, ip + offsetof(struct sluice_ipv6_hdr, daddr));
	sluice_copy_addr16(inner->dst, ip + offsetof(struct sluice_ipv6_hdr, saddr));
	if (!chain.is_fragment || chain.first_fragment)
		sluice_set_inner_ports(l4, inner);
	return SLUICE_DROP_NONE;
}

SLUICE_XDP_INLINE bool sluice_is_icmp_error(uint8_t type)
{
	return type == SLUICE_ICMP_DEST_UNREACH || type == SLUICE_ICMP_TIME_EXCEEDED;
}

SLUICE_XDP_INLINE bool sluice_is_icmpv6_error(uint8_t type)
{
	/* Destination unreachable (1), packet too big (2), time exceeded (3). */
	return type >= SLUICE_ICMPV6_DEST_UNREACH && type <= 3;
}

/*
 * The L4 header at out->l4_offset, inside the IP packet ending at `end`;
 * engine parse_l4. `fragment` is set for a first fragment: its UDP length
 * describes the whole datagram, which continues in later fragments.
 */
SLUICE_XDP_FN int sluice_parse_l4(struct xdp_md *ctx, struct sluice_xdp_parsed *out, uint32_t end,
				  uint32_t fragment)
{
	const uint8_t *data = (const uint8_t *)(long)ctx->data;
	const uint8_t *data_end = (const uint8_t *)(long)ctx->data_end;
	const uint8_t *l4;
	uint32_t off, avail;
	uint8_t proto;
	bool v4;
	int r;

	if (!out)
		return SLUICE_DROP_TRUNCATED_L4;
	off = out->l4_offset;
	if (off > end)
		return SLUICE_DROP_TRUNCATED_L4; /* callers never pass this */
	avail = end - off;
	proto = out->key.proto;
	if (proto == SLUICE_IPPROTO_TCP) {
		uint32_t header_len;

		if (avail < sizeof(struct sluice_tcp_hdr))
			return SLUICE_DROP_TRUNCATED_L4;
		l4 = sluice_pkt(data, data_end, off, sizeof(struct sluice_tcp_hdr));
		if (!l4)
			return SLUICE_DROP_TRUNCATED_L4;
		header_len = (l4[offsetof(struct sluice_tcp_hdr, doff_res)] >> 4) * 4u;
		if (header_len < sizeof(struct sluice_tcp_hdr) || header_len > avail)
			return SLUICE_DROP_BAD_TCP_DATA_OFFSET;
		out->key.sport = sluice_load_wire16(l4);
		out->key.dport = sluice_load_wire16(l4 + 2);
		out->tcp_flags = l4[offsetof(struct sluice_tcp_hdr, flags)];
		return SLUICE_DROP_NONE;
	}
	if (proto == SLUICE_IPPROTO_UDP) {
		uint32_t udp_len;

		if (avail < sizeof(struct sluice_udp_hdr))
			return SLUICE_DROP_TRUNCATED_L4;
		l4 = sluice_pkt(data, data_end, off, sizeof(struct sluice_udp_hdr));
		if (!l4)
			return SLUICE_DROP_TRUNCATED_L4;
		udp_len = sluice_load_be16(l4 + offsetof(struct sluice_udp_hdr, len));
		if (udp_len < sizeof(struct sluice_udp_hdr) || (udp_len > avail && !fragment))
			return SLUICE_DROP_BAD_UDP_LENGTH;
		out->key.sport = sluice_load_wire16(l4);
		out->key.dport = sluice_load_wire16(l4 + 2);
		return SLUICE_DROP_NONE;
	}
	v4 = out->key.family == SLUICE_AF_INET;
	if ((v4 && proto == SLUICE_IPPROTO_ICMP) || (!v4 && proto == SLUICE_IPPROTO_ICMPV6)) {
		uint8_t type;

		if (avail < sizeof(struct sluice_icmp_hdr))
			return SLUICE_DROP_TRUNCATED_L4;
		l4 = sluice_pkt(data, data_end, off, sizeof(struct sluice_icmp_hdr));
		if (!l4)
			return SLUICE_DROP_TRUNCATED_L4;
		type = l4[0];
		out->icmp_type = type;
		out->icmp_code = l4[1];
		off += sizeof(struct sluice_icmp_hdr);
		if (v4 && sluice_is_icmp_error(type))
			r = sluice_parse_quoted_ipv4(data, data_end, off, end, &out->inner);
		else if (!v4 && sluice_is_icmpv6_error(type))
			r = sluice_parse_quoted_ipv6(ctx, data, data_end, off, end, &out->inner);
		else
			return SLUICE_DROP_NONE; /* echo and informational types: no quote */
		if (r != SLUICE_DROP_NONE)
			return r;
		out->has_inner = 1;
		return SLUICE_DROP_NONE;
	}
	return SLUICE_DROP_NONE; /* other protocols: no ports */
}

SLUICE_XDP_INLINE int sluice_parse_ipv4(struct xdp_md *ctx, const uint8_t *data,
					const uint8_t *data_end, uint32_t len,
					struct sluice_xdp_parsed *out)
{
	const uint32_t l3 = out->l3_offset;
	const uint8_t *ip;
	uint32_t header_len, total_len, end;
	uint16_t frag, frag_offset;
	bool fragment;

	if (len - l3 < sizeof(struct sluice_ipv4_hdr))
		return SLUICE_DROP_TRUNCATED_IP;
	ip = sluice_pkt(data, data_end, l3, sizeof(struct sluice_ipv4_hdr));
	if (!ip)
		return SLUICE_DROP_TRUNCATED_IP;
	if ((ip[0] >> 4) != 4)
		return SLUICE_DROP_BAD_IP_VERSION;
	header_len = (ip[0] & 0x0fu) * 4u;
	if (header_len < sizeof(struct sluice_ipv4_hdr) || header_len > len - l3)
		return SLUICE_DROP_BAD_IP_HEADER_LENGTH;
	total_len = sluice_load_be16(ip + offsetof(struct sluice_ipv4_hdr, total_len));
	if (total_len < header_len || total_len > len - l3)
		return SLUICE_DROP_BAD_IP_TOTAL_LENGTH;
	frag = sluice_load_be16(ip + offsetof(struct sluice_ipv4_hdr, frag_off));
	frag_offset = frag & SLUICE_IPV4_OFFSET_MASK;
	fragment = frag_offset != 0 || (frag & SLUICE_IPV4_MF) != 0;

	end = l3 + total_len;
	out->l4_offset = (uint16_t)(l3 + header_len);
	out->l3_end = (uint16_t)end;
	out->tos = ip[offsetof(struct sluice_ipv4_hdr, tos)];
	out->dont_fragment = (frag & SLUICE_IPV4_DF) != 0;
	out->ip_id = sluice_load_be16(ip + offsetof(struct sluice_ipv4_hdr, id));
	out->is_fragment = fragment;
	out->first_fragment = fragment && frag_offset == 0;
	out->key.family = SLUICE_AF_INET;
	out->key.proto = ip[offsetof(struct sluice_ipv4_hdr, protocol)];
	sluice_copy_addr4(out->key.src, ip + offsetof(struct sluice_ipv4_hdr, saddr));
	sluice_copy_addr4(out->key.dst, ip + offsetof(struct sluice_ipv4_hdr, daddr));
	if (frag_offset != 0)
		return SLUICE_DROP_NONE; /* data only, no L4 header */
	return sluice_parse_l4(ctx, out, end, fragment);
}

SLUICE_XDP_INLINE int sluice_parse_ipv6(struct xdp_md *ctx, const uint8_t *data,
					const uint8_t *data_end, uint32_t len,
					struct sluice_xdp_parsed *out)
{
	const uint32_t l3 = out->l3_offset;
	struct sluice_ipv6_chain chain = {};
	const uint8_t *ip;
	uint32_t payload_len, end;
	int r;

	if (len - l3 < sizeof(struct sluice_ipv6_hdr))
		return SLUICE_DROP_TRUNCATED_IP;
	ip = sluice_pkt(data, data_end, l3, sizeof(struct sluice_ipv6_hdr));
	if (!ip)
		return SLUICE_DROP_TRUNCATED_IP;
	if ((ip[0] >> 4) != 6)
		return SLUICE_DROP_BAD_IP_VERSION;
	payload_len = sluice_load_be16(ip + offsetof(struct sluice_ipv6_hdr, payload_len));
	if (payload_len > len - l3 - sizeof(struct sluice_ipv6_hdr))
		return SLUICE_DROP_BAD_IP_TOTAL_LENGTH;
	end = l3 + sizeof(struct sluice_ipv6_hdr) + payload_len;

	/* Everything the walk does not need is taken from the fixed header first:
	 * the walk is a call, after which the packet pointers must be re-read. */
	out->l3_end = (uint16_t)end;
	/* Traffic class: the 8 bits after the 4-bit version. */
	out->tos = (uint8_t)((ip[0] << 4) | (ip[1] >> 4));
	out->dont_fragment = 1; /* IPv6 routers never fragment */
	out->key.family = SLUICE_AF_INET6;
	sluice_copy_addr16(out->key.src, ip + offsetof(struct sluice_ipv6_hdr, saddr));
	sluice_copy_addr16(out->key.dst, ip + offsetof(struct sluice_ipv6_hdr, daddr));

	chain.offset = l3 + sizeof(struct sluice_ipv6_hdr);
	chain.end = end;
	chain.nexthdr = ip[offsetof(struct sluice_ipv6_hdr, nexthdr)];
	chain.cut_short = SLUICE_DROP_BAD_IPV6_EXTENSION_HEADER;
	r = sluice_walk_ipv6_extensions(ctx, &chain);
	if (r != SLUICE_DROP_NONE)
		return r;
	out->l4_offset = (uint16_t)chain.offset;
	out->is_fragment = chain.is_fragment;
	out->first_fragment = chain.first_fragment;
	out->key.proto = chain.nexthdr;
	if (chain.is_fragment && !chain.first_fragment)
		return SLUICE_DROP_NONE;
	return sluice_parse_l4(ctx, out, end, chain.is_fragment);
}

/*
 * Parses the frame into *out; engine parse_packet. Sets out->status, and
 * out->drop_reason when it is MALFORMED.
 */
SLUICE_XDP_FN int sluice_parse(struct xdp_md *ctx, struct sluice_xdp_parsed *out)
{
	const uint8_t *data = (const uint8_t *)(long)ctx->data;
	const uint8_t *data_end = (const uint8_t *)(long)ctx->data_end;
	const uint8_t *eth;
	uint32_t len, l3 = sizeof(struct sluice_eth_hdr);
	uint16_t ethertype;
	int r;

	if (!out)
		return 0;
	__builtin_memset(out, 0, sizeof(*out));
	out->status = SLUICE_PARSE_MALFORMED;
	/* The engine reads at most 65535 bytes of a frame (parse.h). */
	len = (uint32_t)(data_end - data);
	if (len > 0xffff)
		len = 0xffff;
	eth = sluice_pkt(data, data_end, 0, sizeof(struct sluice_eth_hdr));
	if (!eth) {
		out->drop_reason = SLUICE_DROP_TRUNCATED_ETHERNET;
		return 0;
	}
	ethertype = sluice_load_be16(eth + offsetof(struct sluice_eth_hdr, ethertype));
	if (sluice_is_vlan_ethertype(ethertype)) {
		const uint8_t *tag = sluice_pkt(data, data_end, sizeof(struct sluice_eth_hdr),
						sizeof(struct sluice_vlan_hdr));

		if (!tag) {
			out->drop_reason = SLUICE_DROP_TRUNCATED_ETHERNET;
			return 0;
		}
		ethertype = sluice_load_be16(tag + offsetof(struct sluice_vlan_hdr, ethertype));
		if (sluice_is_vlan_ethertype(ethertype)) {
			out->drop_reason = SLUICE_DROP_NESTED_VLAN;
			return 0;
		}
		out->has_vlan = 1;
		out->vlan_tci = sluice_load_be16(tag + offsetof(struct sluice_vlan_hdr, tci));
		l3 += sizeof(struct sluice_vlan_hdr);
	}
	out->ethertype = ethertype;
	out->l3_offset = (uint16_t)l3;

	if (ethertype == SLUICE_ETHERTYPE_IPV4) {
		r = sluice_parse_ipv4(ctx, data, data_end, len, out);
	} else if (ethertype == SLUICE_ETHERTYPE_IPV6) {
		r = sluice_parse_ipv6(ctx, data, data_end, len, out);
	} else {
		out->status = SLUICE_PARSE_NOT_IP;
		return 0;
	}
	if (r != SLUICE_DROP_NONE) {
		out->drop_reason = (uint8_t)r;
		return 0;
	}
	out->status = SLUICE_PARSE_OK;
	return 0;
}
