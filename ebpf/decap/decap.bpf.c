/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Backend-side decapsulator: a tc ingress (clsact, direct-action) program
 * that strips what the balancer put in front of a client's packet, so that
 * the backend's own stack sees the client -> VIP packet and answers the
 * client directly (direct server return). Kernels without the ipip/fou
 * modules (the project's lab and CI machines) need it; it also spares a
 * backend the tunnel devices.
 *
 * Removed (dataplane/engine/encap.h writes exactly these):
 * - IPIP: outer IPv4 with protocol 4 (IPv4 inside) or 41 (IPv6 inside), or
 *   outer IPv6 with next header 4 or 41 directly after the fixed header.
 * - GUE variant 1: outer IPv4/IPv6 + UDP to the configured port (default
 *   6080, decap_config map), the UDP payload being the inner IP packet; its
 *   version nibble (4 or 6) says which. The UDP checksum is not checked.
 *
 * Left untouched (TC_ACT_OK, the stack decides): everything else, and also
 * - outer packets that are fragments (the tunnel header cannot be removed
 *   before reassembly; the stack reassembles, finds no ipip/fou handler and
 *   drops them). The balancer sets DF and sizes for a 1600-byte MTU path;
 *   a fragment here means a misconfigured MTU.
 * - outer IPv6 with extension headers before the tunnel (the balancer never
 *   sends them).
 * - tunnel packets whose inner header is cut short or whose inner version
 *   does not match the outer protocol (counted as SLUICE_DECAP_BAD).
 *
 * Deliberate simplifications:
 * - The outer destination is not compared with this host's addresses: the
 *   program sits on a backend's ingress, where every IPIP/GUE packet is meant
 *   for this host. Do not attach it to a router or a balancer.
 * - A VLAN tag is never in the packet data here: the kernel moves it to
 *   skb->vlan_tci before tc ingress runs. A frame still carrying one (only
 *   BPF_PROG_TEST_RUN can produce that) is passed untouched.
 * - Removing an IPv6 header in front of IPv4 (or the reverse) needs the
 *   BPF_F_ADJ_ROOM_DECAP_L3_* flags of bpf_skb_adjust_room (Linux 6.3+),
 *   which also switch skb->protocol; the Ethernet type is rewritten here.
 *   On older kernels those packets count as SLUICE_DECAP_FAILED.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "ebpf/decap/decap.h"

/* Own names: <linux/in.h> drags in libc headers, and the uapi headers of
 * this toolchain (6.1) predate the decap flags (they are enum constants in
 * newer ones, so a same-named #define would break those). */
#define DECAP_IPPROTO_IPIP 4
#define DECAP_IPPROTO_UDP 17
#define DECAP_IPPROTO_IPV6 41
#define DECAP_IPV4_FRAGMENT_BITS 0x3fff /* MF + fragment offset */
#define DECAP_ADJ_ROOM_DECAP_L3_IPV4 (1ULL << 7)
#define DECAP_ADJ_ROOM_DECAP_L3_IPV6 (1ULL << 8)

/*
 * The most linear bytes ever read: Ethernet (14) + IPv4 with the longest
 * options (60) + UDP (8) + an inner IPv6 header (40).
 */
#define DECAP_PULL_LEN 122

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sluice_decap_config);
} decap_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_DECAP_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} decap_stats SEC(".maps");

/* Counts the outcome and lets the packet continue, changed or not. */
static __always_inline int count(__u32 counter)
{
	__u64 *value = bpf_map_lookup_elem(&decap_stats, &counter);

	if (value)
		*value += 1;
	return TC_ACT_OK;
}

static __always_inline __u16 configured_gue_port(void)
{
	__u32 zero = 0;
	const struct sluice_decap_config *cfg = bpf_map_lookup_elem(&decap_config, &zero);

	if (cfg && cfg->gue_port != 0 && cfg->gue_port <= 0xffff)
		return (__u16)cfg->gue_port;
	return SLUICE_DECAP_DEFAULT_GUE_PORT;
}

SEC("tc")
int sluice_decap(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth;
	void *l3;
	void *inner;
	__u32 outer_len; /* bytes to remove after Ethernet: outer IP (+ UDP) */
	__u32 inner_min;
	__u8 proto;
	__u8 inner_version;
	int outer_v6;
	int fragment = 0;
	int gue = 0;
	__u64 flags = BPF_F_ADJ_ROOM_FIXED_GSO; /* the inner MSS is unchanged */

	/* Headers of a non-linear skb may lie partly in fragments, where direct
	 * access cannot see them. Rare on veth; pulling is cheap when needed. */
	if (data + DECAP_PULL_LEN > end && skb->len > (__u32)(end - data)) {
		bpf_skb_pull_data(skb, skb->len < DECAP_PULL_LEN ? skb->len : DECAP_PULL_LEN);
		data = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
	}

	eth = data;
	if ((void *)(eth + 1) > end)
		return count(SLUICE_DECAP_PASSED);
	l3 = eth + 1;

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > end || ip->version != 4 || ip->ihl < 5)
			return count(SLUICE_DECAP_PASSED);
		outer_len = ip->ihl * 4;
		proto = ip->protocol;
		fragment = (ip->frag_off & bpf_htons(DECAP_IPV4_FRAGMENT_BITS)) != 0;
		outer_v6 = 0;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > end || ip6->version != 6)
			return count(SLUICE_DECAP_PASSED);
		outer_len = sizeof(*ip6);
		proto = ip6->nexthdr;
		outer_v6 = 1;
	} else {
		return count(SLUICE_DECAP_PASSED);
	}

	if (proto == DECAP_IPPROTO_UDP) {
		struct udphdr *udp = l3 + outer_len;

		/* A later fragment has no UDP header to look at: not ours to judge. */
		if (fragment || (void *)(udp + 1) > end)
			return count(SLUICE_DECAP_PASSED);
		if (udp->dest != bpf_htons(configured_gue_port()))
			return count(SLUICE_DECAP_PASSED);
		outer_len += sizeof(*udp);
		gue = 1;
	} else if (proto == DECAP_IPPROTO_IPIP || proto == DECAP_IPPROTO_IPV6) {
		if (fragment)
			return count(SLUICE_DECAP_BAD);
	} else {
		return count(SLUICE_DECAP_PASSED);
	}

	inner = l3 + outer_len;
	if (inner + 1 > end)
		return count(SLUICE_DECAP_BAD);
	inner_version = *(__u8 *)inner >> 4;
	if (inner_version == 4) {
		if (!gue && proto != DECAP_IPPROTO_IPIP)
			return count(SLUICE_DECAP_BAD);
		inner_min = sizeof(struct iphdr);
	} else if (inner_version == 6) {
		if (!gue && proto != DECAP_IPPROTO_IPV6)
			return count(SLUICE_DECAP_BAD);
		inner_min = sizeof(struct ipv6hdr);
	} else {
		return count(SLUICE_DECAP_BAD); /* GUE variant 0, or garbage */
	}
	if (inner + inner_min > end)
		return count(SLUICE_DECAP_BAD);

	if ((inner_version == 6) != outer_v6)
		flags |= inner_version == 6 ? DECAP_ADJ_ROOM_DECAP_L3_IPV6 : DECAP_ADJ_ROOM_DECAP_L3_IPV4;

	/* BPF_ADJ_ROOM_MAC removes the bytes right after the Ethernet header,
	 * which stays in place; checksum-complete state is fixed by the kernel. */
	if (bpf_skb_adjust_room(skb, -(__s32)outer_len, BPF_ADJ_ROOM_MAC, flags))
		return count(SLUICE_DECAP_FAILED);

	if (flags & (DECAP_ADJ_ROOM_DECAP_L3_IPV4 | DECAP_ADJ_ROOM_DECAP_L3_IPV6)) {
		/* skb->protocol, which steers delivery, was switched by the helper;
		 * the Ethernet type is for whoever reads the frame later (packet
		 * sockets). No checksum flag: the L2 header is outside skb->csum. */
		__be16 type = inner_version == 6 ? bpf_htons(ETH_P_IPV6) : bpf_htons(ETH_P_IP);

		if (bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_proto), &type, sizeof(type), 0))
			return count(SLUICE_DECAP_FAILED);
	}
	return count(gue ? SLUICE_DECAP_GUE : SLUICE_DECAP_IPIP);
}

/* Uses no GPL-only helper; the string only has to be present. */
char LICENSE[] SEC("license") = "Apache-2.0";
