/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The answer to a client packet that would be too big once encapsulated:
 * ICMP "fragmentation needed" (type 3 code 4, RFC 792 / RFC 1191) for IPv4,
 * ICMPv6 "packet too big" (type 2, RFC 4443 3.2) for IPv6, sent back to the
 * client from the VIP. Shared by the DPDK engine (too_big.cc) and the XDP
 * program (ebpf/xdp/lib/too_big.h), so that both send the same bytes.
 *
 * The answer is built in place: the start of the client's IP packet stays
 * where it is and becomes the quote; the new IP and ICMP headers (front
 * bytes) go in front of it, the Ethernet header (MACs swapped, a VLAN tag
 * kept) in front of those, and the frame ends after the quote.
 *
 * How much is quoted: RFC 1812 4.3.2.3 lets an IPv4 error be up to 576
 * bytes (RFC 792's minimum, header + 8 bytes, is far less); RFC 4443 2.4(c)
 * fills an ICMPv6 error up to 1280 bytes. Quoting the most either allows
 * gives the sender's stack all it can use. The quote is a fixed length per
 * family (548 and 1232 bytes, multiples of 4), so that the XDP program sums
 * it with constant-size helper calls; a packet shorter than that is not
 * answered (it can only be too big under an MTU below the minimum that
 * configuration checks allow: mtu_check.h).
 *
 * Compiled as C++ (g++), C, and BPF C (clang -target bpf), like
 * encap_headers.h, whose store and checksum helpers it uses.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "dataplane/engine/encap_headers.h"
#include "dataplane/engine/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SLUICE_IPV6_MIN_MTU 1280u
#define SLUICE_TOO_BIG_QUOTE_V4 548u    /* 576 - 20 (IPv4) - 8 (ICMP) */
#define SLUICE_TOO_BIG_QUOTE_V6 1232u   /* 1280 - 40 (IPv6) - 8 (ICMPv6) */
#define SLUICE_TOO_BIG_FRONT_V4 28u     /* IPv4 header + ICMP header */
#define SLUICE_TOO_BIG_FRONT_V6 48u     /* IPv6 header + ICMPv6 header */
#define SLUICE_ICMP_TYPE_DEST_UNREACH 3u
#define SLUICE_ICMP_CODE_FRAG_NEEDED 4u
#define SLUICE_ICMPV6_TYPE_PACKET_TOO_BIG 2u

/* What to do with a packet too big to encapsulate. */
enum sluice_too_big_answer {
	SLUICE_TOO_BIG_ANSWER = 0, /* answer with ICMP (rate permitting) */
	SLUICE_TOO_BIG_NO_DF,	   /* IPv4 without DF: dropped, counted (too_big_no_df) */
	SLUICE_TOO_BIG_SILENT,	   /* dropped without an answer (too-big) */
};

/*
 * Whether a too-big packet gets an ICMP answer. `src` is the client's
 * address (4 or 16 bytes), `inner_len` the length of its IP packet.
 *
 * IPv4 without DF: the sender allows fragmentation, so an ICMP error would
 * be wrong (RFC 1191 sends one only with DF set), and the balancer does not
 * fragment (that would need buffers per packet, and the backends'
 * decapsulator drops fragments): dropped and counted apart, so that an
 * operator sees clients that need an MSS clamp or a larger fabric MTU.
 *
 * Never answered: an ICMP error (RFC 1122 3.2.2, RFC 4443 2.4(e)); a
 * source that is not one host (unspecified, loopback, multicast, IPv4
 * class E and broadcast: RFC 1812 4.3.2.7, RFC 4443 2.4(e)), whose answer
 * could only be reflected or amplified; a fragment (only the first carries
 * the ports the sender needs; the engine never forwards fragments anyway);
 * a packet shorter than the fixed quote (see above).
 */
SLUICE_ENCAP_INLINE int sluice_too_big_answer(bool v6, bool dont_fragment, bool is_fragment,
					       uint8_t proto, uint8_t icmp_type, const uint8_t *src,
					       uint32_t inner_len)
{
	if (is_fragment)
		return SLUICE_TOO_BIG_SILENT;
	if (v6) {
		/* ICMPv6 types below 128 are errors; the address checks:
		 * ff00::/8, ::, ::1. */
		uint32_t i, rest = 0;

		if (proto == SLUICE_IPPROTO_ICMPV6 && icmp_type < 128)
			return SLUICE_TOO_BIG_SILENT;
		if (src[0] == 0xff)
			return SLUICE_TOO_BIG_SILENT;
		for (i = 0; i < 15; i++)
			rest |= src[i];
		if (rest == 0 && src[15] <= 1)
			return SLUICE_TOO_BIG_SILENT;
		return inner_len < SLUICE_TOO_BIG_QUOTE_V6 ? SLUICE_TOO_BIG_SILENT
							   : SLUICE_TOO_BIG_ANSWER;
	}
	/* ICMP errors: destination unreachable, source quench, redirect,
	 * time exceeded, parameter problem. */
	if (proto == SLUICE_IPPROTO_ICMP &&
	    (icmp_type == 3 || icmp_type == 4 || icmp_type == 5 || icmp_type == 11 ||
	     icmp_type == 12))
		return SLUICE_TOO_BIG_SILENT;
	/* 0/8, 127/8, 224/4 (multicast), 240/4 (class E and 255.255.255.255). */
	if (src[0] == 0 || src[0] == 127 || src[0] >= 224)
		return SLUICE_TOO_BIG_SILENT;
	if (!dont_fragment)
		return SLUICE_TOO_BIG_NO_DF;
	return inner_len < SLUICE_TOO_BIG_QUOTE_V4 ? SLUICE_TOO_BIG_SILENT : SLUICE_TOO_BIG_ANSWER;
}

/*
 * The MTU the answer reports: the largest client packet that fits, given
 * `limit` (the largest outer IP packet: the egress MTU) and the outer
 * headers' `overhead`. IPv6 links carry at least 1280 bytes (RFC 8200 5),
 * and a smaller value would make the client fragment every packet
 * (RFC 8201 4): reported as 1280 (configuration checks refuse a service
 * whose tunnel cannot carry that; mtu_check.h). 16 bits on the wire.
 */
SLUICE_ENCAP_INLINE uint16_t sluice_too_big_mtu(bool v6, uint32_t limit, uint32_t overhead)
{
	uint32_t mtu = limit > overhead ? limit - overhead : 0;

	if (v6 && mtu < SLUICE_IPV6_MIN_MTU)
		mtu = SLUICE_IPV6_MIN_MTU;
	return (uint16_t)(mtu > 0xffff ? 0xffff : mtu);
}

/*
 * The 64-bit accumulator of `len` bytes (a multiple of 4) read as host
 * 32-bit words: what sluice_csum_fold64 folds (see encap_headers.h). The
 * XDP program gets the same sum from bpf_csum_diff.
 */
SLUICE_ENCAP_INLINE uint64_t sluice_csum_words(const uint8_t *p, uint32_t len)
{
	uint64_t sum = 0;
	uint32_t i;

	for (i = 0; i + 4 <= len; i += 4)
		sum += sluice_load32(p + i);
	return sum;
}

/*
 * The Ethernet header of the answer at `to`, from the client frame's at
 * `from` (they do not overlap: the answer starts front bytes earlier):
 * destination = the client's source MAC, source = the MAC it sent to, the
 * VLAN tag (TPID and TCI) and Ethertype as received.
 */
SLUICE_ENCAP_INLINE void sluice_write_too_big_l2(uint8_t *to, const uint8_t *from, bool vlan)
{
	uint32_t i;

	for (i = 0; i < 6; i++) {
		to[i] = from[6 + i];
		to[6 + i] = from[i];
	}
	for (i = 12; i < 18; i++) {
		if (i >= 14 && !vlan)
			break;
		to[i] = from[i];
	}
}

/*
 * The IPv4 and ICMP headers at `ip` (SLUICE_TOO_BIG_FRONT_V4 bytes), in
 * front of the quote, which holds the client's packet: source = the
 * address it was sent to (the VIP: the client's stack matches the error
 * to its socket by the quoted header, and a VIP is what it talks to),
 * destination = the client. DF set and ID 0: an atomic datagram
 * (RFC 6864 4.1), as sluice_outer_ipv4_id. TOS 0, TTL 64. `quote_sum` is
 * sluice_csum_words of the quote (SLUICE_TOO_BIG_QUOTE_V4 bytes).
 */
SLUICE_ENCAP_INLINE void sluice_write_too_big_v4(uint8_t *ip, uint16_t mtu, uint64_t quote_sum)
{
	const uint8_t *quote = ip + SLUICE_TOO_BIG_FRONT_V4;
	const uint32_t total_len = SLUICE_TOO_BIG_FRONT_V4 + SLUICE_TOO_BIG_QUOTE_V4;
	const uint32_t group0 = sluice_be32((0x4500u << 16) | total_len);
	const uint32_t group1 = sluice_be32(1u << 14); /* ID 0; DF */
	const uint32_t group2 = sluice_be32(((uint32_t)SLUICE_OUTER_TTL << 24) |
					    ((uint32_t)SLUICE_IPPROTO_ICMP << 16));
	const uint32_t saddr = sluice_load32(quote + 16);
	const uint32_t daddr = sluice_load32(quote + 12);
	const uint32_t icmp0 = sluice_be32((SLUICE_ICMP_TYPE_DEST_UNREACH << 24) |
					   (SLUICE_ICMP_CODE_FRAG_NEEDED << 16));
	const uint32_t icmp1 = sluice_be32(mtu); /* 16 bits unused, next-hop MTU */

	sluice_store32(ip, group0);
	sluice_store32(ip + 4, group1);
	sluice_store32(ip + 8, group2);
	sluice_store16(ip + 10, (uint16_t)~sluice_csum_fold64((uint64_t)group0 + group1 + group2 +
							      saddr + daddr));
	sluice_store32(ip + 12, saddr);
	sluice_store32(ip + 16, daddr);
	sluice_store32(ip + 20, icmp0);
	sluice_store32(ip + 24, icmp1);
	sluice_store16(ip + 22, (uint16_t)~sluice_csum_fold64((uint64_t)icmp0 + icmp1 + quote_sum));
}

/*
 * The IPv6 and ICMPv6 headers at `ip` (SLUICE_TOO_BIG_FRONT_V6 bytes), as
 * sluice_write_too_big_v4: source the VIP, destination the client, traffic
 * class and flow label 0, hop limit 64; the checksum covers the
 * pseudo-header (RFC 8200 8.1).
 */
SLUICE_ENCAP_INLINE void sluice_write_too_big_v6(uint8_t *ip, uint16_t mtu, uint64_t quote_sum)
{
	const uint8_t *quote = ip + SLUICE_TOO_BIG_FRONT_V6;
	const uint32_t payload_len = 8u + SLUICE_TOO_BIG_QUOTE_V6;
	const uint32_t icmp0 = sluice_be32(SLUICE_ICMPV6_TYPE_PACKET_TOO_BIG << 24);
	const uint32_t icmp1 = sluice_be32(mtu);
	uint64_t sum = (uint64_t)icmp0 + icmp1 + quote_sum + sluice_be32(payload_len) +
		       sluice_be32(SLUICE_IPPROTO_ICMPV6);

	sum += sluice_csum_words(quote + 8, 32); /* both addresses */
	sluice_store32(ip, sluice_be32(6u << 28));
	sluice_store32(ip + 4, sluice_be32((payload_len << 16) |
					   ((uint32_t)SLUICE_IPPROTO_ICMPV6 << 8) | SLUICE_OUTER_TTL));
	sluice_copy16(ip + 8, quote + 24);  /* source: the VIP */
	sluice_copy16(ip + 24, quote + 8);  /* destination: the client */
	sluice_store32(ip + 40, icmp0);
	sluice_store32(ip + 44, icmp1);
	sluice_store16(ip + 42, (uint16_t)~sluice_csum_fold64(sum));
}

#ifdef __cplusplus
}
#endif
