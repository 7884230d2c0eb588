/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The bytes sluice puts in front of a forwarded packet (outer IPv4/IPv6 and
 * GUE's UDP header) and the checksum arithmetic of echo replies, shared by
 * the DPDK engine (encap.cc) and the XDP program (ebpf/xdp/lib/encap.h,
 * icmp.h), so that both dataplanes emit the same frames by construction.
 * The formats are described in encap.h.
 *
 * Compiled as C++ (g++), C, and BPF C (clang -target bpf): <stdint.h> only,
 * `static inline`, loops of fixed trip count. Frames have no alignment
 * guarantee: outside BPF, words go through __builtin_memcpy (one unaligned
 * load or store on x86-64 and arm64); in BPF through plain word accesses,
 * which the verifier allows at any offset of a packet on those
 * architectures and which the JIT emits as single instructions (a memcpy
 * of unknown alignment would become byte stores there).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Always inlined: BPF functions take at most five arguments, and these are
 * a handful of instructions each. */
#define SLUICE_ENCAP_INLINE static inline __attribute__((always_inline))

#define SLUICE_OUTER_TTL 64
/* GUE source ports: the dynamic range 49152..65535, 16384 values. */
#define SLUICE_GUE_SOURCE_PORT_BASE 49152u
#define SLUICE_GUE_SOURCE_PORT_COUNT 16384u

#if defined(__bpf__)
SLUICE_ENCAP_INLINE void sluice_store32(uint8_t *p, uint32_t v) { *(uint32_t *)(void *)p = v; }
SLUICE_ENCAP_INLINE void sluice_store16(uint8_t *p, uint16_t v) { *(uint16_t *)(void *)p = v; }
SLUICE_ENCAP_INLINE uint32_t sluice_load32(const uint8_t *p) { return *(const uint32_t *)(const void *)p; }
SLUICE_ENCAP_INLINE void sluice_copy16(uint8_t *to, const uint8_t *from)
{
	sluice_store32(to, sluice_load32(from));
	sluice_store32(to + 4, sluice_load32(from + 4));
	sluice_store32(to + 8, sluice_load32(from + 8));
	sluice_store32(to + 12, sluice_load32(from + 12));
}
#else
SLUICE_ENCAP_INLINE void sluice_store32(uint8_t *p, uint32_t v) { __builtin_memcpy(p, &v, 4); }
SLUICE_ENCAP_INLINE void sluice_store16(uint8_t *p, uint16_t v) { __builtin_memcpy(p, &v, 2); }
SLUICE_ENCAP_INLINE uint32_t sluice_load32(const uint8_t *p)
{
	uint32_t v;

	__builtin_memcpy(&v, p, 4);
	return v;
}
SLUICE_ENCAP_INLINE void sluice_copy16(uint8_t *to, const uint8_t *from) { __builtin_memcpy(to, from, 16); }
#endif

/* Host <-> network order (a no-op on big-endian hosts). */
SLUICE_ENCAP_INLINE uint32_t sluice_be32(uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return __builtin_bswap32(v);
#else
	return v;
#endif
}

SLUICE_ENCAP_INLINE uint16_t sluice_be16(uint16_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return __builtin_bswap16(v);
#else
	return v;
#endif
}

SLUICE_ENCAP_INLINE uint16_t sluice_get_be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

SLUICE_ENCAP_INLINE void sluice_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Folds a 32-bit one's-complement accumulator to 16 bits. Two folds are
 * enough for any sum of fewer than 65536 16-bit words. */
SLUICE_ENCAP_INLINE uint16_t sluice_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/*
 * Folds a 64-bit accumulator of 32-bit words to 16 bits: the same result as
 * sluice_csum_fold on the sum of their 16-bit halves. 2^32 = 1 (mod 0xffff),
 * so the halves add with an end-around carry; then, for the 32-bit result x,
 * the high half of x + rotr(x, 16) is hi + lo plus the carry out of lo + hi,
 * which is the fold of x in three instructions.
 */
SLUICE_ENCAP_INLINE uint16_t sluice_csum_fold64(uint64_t sum)
{
	const uint32_t hi = (uint32_t)(sum >> 32);
	uint32_t x = (uint32_t)sum + hi;

	x += x < hi ? 1 : 0; /* end-around carry */
	return (uint16_t)((x + ((x >> 16) | (x << 16))) >> 16);
}

/*
 * The Internet checksum of an IPv4 header of `len` bytes (even, 20..60)
 * whose checksum field is zero or is to be ignored: the field is skipped.
 * Reads only [h, h + len).
 */
SLUICE_ENCAP_INLINE uint16_t sluice_ipv4_header_checksum(const uint8_t *h, uint32_t len)
{
	uint32_t sum = 0;
	uint32_t i;

	for (i = 0; i < 60; i += 2) {
		if (i >= len)
			break;
		if (i == 10)
			continue; /* the checksum field itself */
		sum += sluice_get_be16(h + i);
	}
	return (uint16_t)~sluice_csum_fold(sum);
}

/*
 * RFC 1624 eqn. 3: the checksum after one 16-bit word of the covered data
 * changed from `old_word` to `new_word`, without touching the rest.
 * HC' = ~(~HC + ~m + m'), in one's-complement arithmetic.
 */
SLUICE_ENCAP_INLINE uint16_t sluice_csum_replace16(uint16_t check, uint16_t old_word, uint16_t new_word)
{
	uint32_t sum = (uint16_t)~check;

	sum += (uint16_t)~old_word;
	sum += new_word;
	return (uint16_t)~sluice_csum_fold(sum);
}

/*
 * The outer IPv4 header's ID (RFC 6864). With DF set the datagram is atomic:
 * its ID is never used for reassembly, and 0 keeps the output a pure
 * function of the input. With DF clear the outer datagram may be fragmented
 * on its way to the backend, and its ID must not repeat among the
 * tunnel's datagrams in flight: the inner ID (which the client varies
 * per datagram) mixed with the flow's hash (so that clients whose ID
 * counters happen to agree do not collide on the balancer's single
 * source-to-backend pair). A pure function of the packet, so both
 * dataplanes write the same bytes.
 */
SLUICE_ENCAP_INLINE uint16_t sluice_outer_ipv4_id(bool dont_fragment, uint16_t inner_id,
						  uint64_t flow_hash)
{
	return dont_fragment ? 0 : (uint16_t)(inner_id ^ (uint16_t)(flow_hash >> 16));
}

/*
 * Writes the Ethertype (IPv4) at `p` and the 20-byte outer IPv4 header after
 * it: 22 bytes in three 4-byte stores, one 2-byte store (the checksum) and
 * the two addresses. `total_len` includes the header; `source` and
 * `destination` point at the addresses' 4 bytes.
 *
 * Version 4, IHL 5 (no options on the outer header); TOS copied; DF copied
 * from the inner packet; TTL 64; ID `id` (sluice_outer_ipv4_id).
 *
 * The checksum is the one's-complement sum of the header's 16-bit words.
 * It is summed as the same 4-byte groups that are stored, read as host
 * integers, in a 64-bit accumulator: 2^16 = 1 (mod 0xffff), so the 32-bit
 * groups fold to the same sum as their 16-bit halves, and a one's-complement
 * sum of byte-swapped words is the byte-swapped sum, so the folded result,
 * stored as a host integer, lands in network order on either endianness.
 * The first group also holds the Ethertype, which the checksum does not
 * cover: adding its one's complement takes it out again. The sum is never
 * zero, so the result is never the other representation of zero: the bytes
 * equal those of a word-by-word sum.
 */
SLUICE_ENCAP_INLINE void sluice_write_ethertype_and_outer_ipv4(uint8_t *p, uint8_t tos,
							 bool dont_fragment, uint16_t id,
							 uint8_t protocol,
							 uint32_t total_len, const uint8_t *source,
							 const uint8_t *destination)
{
	/* Ethertype 0x0800; version 4 and IHL 5, TOS. */
	const uint32_t group0 = sluice_be32((0x0800u << 16) | 0x4500u | tos);
	/* Total length; ID. */
	const uint32_t group1 = sluice_be32((total_len << 16) | id);
	/* Flags (DF is bit 14 of the flags/offset word) and offset 0; TTL; protocol. */
	const uint32_t group2 = sluice_be32(((uint32_t)dont_fragment << 30) |
					    ((uint32_t)SLUICE_OUTER_TTL << 8) | protocol);
	const uint32_t not_ethertype = 0xffffu - sluice_be16(0x0800);
	const uint32_t saddr = sluice_load32(source);
	const uint32_t daddr = sluice_load32(destination);
	const uint64_t sum = (uint64_t)group0 + group1 + group2 + saddr + daddr + not_ethertype;
	const uint16_t checksum = (uint16_t)~sluice_csum_fold64(sum);

	sluice_store32(p, group0);
	sluice_store32(p + 4, group1);
	sluice_store32(p + 8, group2);
	sluice_store16(p + 12, checksum);
	sluice_store32(p + 14, saddr);
	sluice_store32(p + 18, daddr);
}

/*
 * Writes the 40-byte outer IPv6 header: traffic class copied, flow label
 * the low 20 bits of the flow hash (it lets routers between us and the
 * backend hash the flow without looking past the outer header, RFC 6438),
 * hop limit 64.
 */
SLUICE_ENCAP_INLINE void sluice_write_outer_ipv6(uint8_t *h, uint8_t tos, uint64_t flow_hash,
					   uint8_t next_header, uint32_t payload_len,
					   const uint8_t *source, const uint8_t *destination)
{
	const uint32_t flow_label = (uint32_t)flow_hash & 0xfffff;

	sluice_store32(h, sluice_be32((6u << 28) | ((uint32_t)tos << 20) | flow_label));
	sluice_store32(h + 4, sluice_be32((payload_len << 16) | ((uint32_t)next_header << 8) |
					  SLUICE_OUTER_TTL));
	sluice_copy16(h + 8, source);
	sluice_copy16(h + 24, destination);
}

/*
 * Writes GUE variant 1's UDP header (the IP packet follows it directly; the
 * decapsulator tells IPv4 from IPv6 by the version nibble). The source port
 * spreads flows over ECMP paths and backend RSS queues. Checksum 0: none
 * (RFC 6935 for IPv6). `udp_len` includes the 8-byte header.
 */
SLUICE_ENCAP_INLINE void sluice_write_gue_udp(uint8_t *p, uint64_t flow_hash, uint16_t gue_port,
					uint32_t udp_len)
{
	const uint32_t source_port =
		SLUICE_GUE_SOURCE_PORT_BASE + (uint32_t)(flow_hash % SLUICE_GUE_SOURCE_PORT_COUNT);

	sluice_store32(p, sluice_be32((source_port << 16) | gue_port));
	sluice_store32(p + 4, sluice_be32(udp_len << 16));
}

#ifdef __cplusplus
}
#endif
