/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Wire formats sluice reads and writes, defined here instead of taken from
 * the netinet or linux uapi headers: the engine must not depend on kernel headers,
 * and <linux/icmp.h> does not even compile with clang -target bpf. Plain C,
 * multi-byte fields in network byte order, no bitfields (their layout is
 * compiler-defined).
 */
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SLUICE_ETH_ALEN 6
#define SLUICE_ETHERTYPE_IPV4 0x0800
#define SLUICE_ETHERTYPE_IPV6 0x86dd
#define SLUICE_ETHERTYPE_ARP 0x0806
#define SLUICE_ETHERTYPE_VLAN 0x8100
#define SLUICE_ETHERTYPE_QINQ 0x88a8

#define SLUICE_IPPROTO_HOPOPTS 0
#define SLUICE_IPPROTO_ICMP 1
#define SLUICE_IPPROTO_IPIP 4
#define SLUICE_IPPROTO_TCP 6
#define SLUICE_IPPROTO_UDP 17
#define SLUICE_IPPROTO_IPV6 41
#define SLUICE_IPPROTO_ROUTING 43
#define SLUICE_IPPROTO_FRAGMENT 44
#define SLUICE_IPPROTO_ICMPV6 58
#define SLUICE_IPPROTO_NONE 59
#define SLUICE_IPPROTO_DSTOPTS 60

#define SLUICE_TCP_FIN 0x01
#define SLUICE_TCP_SYN 0x02
#define SLUICE_TCP_RST 0x04
#define SLUICE_TCP_PSH 0x08
#define SLUICE_TCP_ACK 0x10

#define SLUICE_ICMP_ECHO_REPLY 0
#define SLUICE_ICMP_DEST_UNREACH 3
#define SLUICE_ICMP_FRAG_NEEDED 4 /* code of DEST_UNREACH */
#define SLUICE_ICMP_ECHO_REQUEST 8
#define SLUICE_ICMP_TIME_EXCEEDED 11
#define SLUICE_ICMPV6_DEST_UNREACH 1
#define SLUICE_ICMPV6_PACKET_TOO_BIG 2
#define SLUICE_ICMPV6_ECHO_REQUEST 128
#define SLUICE_ICMPV6_ECHO_REPLY 129

struct sluice_eth_hdr {
	uint8_t dst[SLUICE_ETH_ALEN];
	uint8_t src[SLUICE_ETH_ALEN];
	uint16_t ethertype;
} __attribute__((packed));

struct sluice_vlan_hdr {
	uint16_t tci;
	uint16_t ethertype; /* of what follows the tag */
} __attribute__((packed));

struct sluice_ipv4_hdr {
	uint8_t version_ihl; /* version in the high nibble, IHL in 32-bit words */
	uint8_t tos;
	uint16_t total_len;
	uint16_t id;
	uint16_t frag_off; /* flags in the top 3 bits, offset in 8-byte units */
	uint8_t ttl;
	uint8_t protocol;
	uint16_t check;
	uint8_t saddr[4];
	uint8_t daddr[4];
} __attribute__((packed));

#define SLUICE_IPV4_DF 0x4000
#define SLUICE_IPV4_MF 0x2000
#define SLUICE_IPV4_OFFSET_MASK 0x1fff

struct sluice_ipv6_hdr {
	uint32_t ver_tc_flow; /* version 4 bits, traffic class 8, flow label 20 */
	uint16_t payload_len;
	uint8_t nexthdr;
	uint8_t hop_limit;
	uint8_t saddr[16];
	uint8_t daddr[16];
} __attribute__((packed));

/* Hop-by-hop, routing and destination options share this prefix. */
struct sluice_ipv6_opt_hdr {
	uint8_t nexthdr;
	uint8_t hdrlen; /* in 8-byte units, not counting the first 8 bytes */
} __attribute__((packed));

struct sluice_ipv6_frag_hdr {
	uint8_t nexthdr;
	uint8_t reserved;
	uint16_t frag_off; /* offset in the top 13 bits, M flag in bit 0 */
	uint32_t identification;
} __attribute__((packed));

struct sluice_tcp_hdr {
	uint16_t source;
	uint16_t dest;
	uint32_t seq;
	uint32_t ack_seq;
	uint8_t doff_res; /* data offset in the high nibble, 32-bit words */
	uint8_t flags;
	uint16_t window;
	uint16_t check;
	uint16_t urg_ptr;
} __attribute__((packed));

struct sluice_udp_hdr {
	uint16_t source;
	uint16_t dest;
	uint16_t len;
	uint16_t check;
} __attribute__((packed));

/* ICMP and ICMPv6 share the first 8 bytes' layout. */
struct sluice_icmp_hdr {
	uint8_t type;
	uint8_t code;
	uint16_t checksum;
	uint16_t id;       /* echo: identifier; frag-needed: unused */
	uint16_t sequence; /* echo: sequence; frag-needed: next-hop MTU */
} __attribute__((packed));

#ifdef __cplusplus
}
#endif
