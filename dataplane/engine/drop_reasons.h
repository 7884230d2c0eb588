/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Why a packet is dropped: the one list of drop reasons, shared by the DPDK
 * engine (DropReason in verdict.h) and the XDP program (its drop counters
 * and return paths), so that both count the same reasons in the same order.
 * Plain C, no includes: compiled by g++, gcc and clang -target bpf.
 */
#pragma once

/* X(Name, C_NAME, "printed-name", "what it means"): Name is the C++
 * enumerator (DropReason::Name), SLUICE_DROP_<C_NAME> the C one. */
#define SLUICE_DROP_REASONS(X)                                                                   \
  X(kNone, NONE, "none", "not dropped")                                                          \
  X(kTruncatedEthernet, TRUNCATED_ETHERNET, "truncated-ethernet", "frame shorter than its Ethernet/VLAN header") \
  X(kNestedVlan, NESTED_VLAN, "nested-vlan", "more than one 802.1Q/802.1ad tag")                 \
  X(kTruncatedIp, TRUNCATED_IP, "truncated-ip", "frame ends inside the IPv4/IPv6 header")         \
  X(kBadIpVersion, BAD_IP_VERSION, "bad-ip-version", "IP version field disagrees with the ethertype") \
  X(kBadIpHeaderLength, BAD_IP_HEADER_LENGTH, "bad-ip-header-length", "IPv4 IHL below 5 or beyond the frame") \
  X(kBadIpTotalLength, BAD_IP_TOTAL_LENGTH, "bad-ip-total-length", "IP total/payload length beyond the frame or below the header") \
  X(kBadIpv6ExtensionHeader, BAD_IPV6_EXTENSION_HEADER, "bad-ipv6-extension", "IPv6 extension header truncated, too many, or misplaced") \
  X(kTruncatedL4, TRUNCATED_L4, "truncated-l4", "packet ends inside the TCP/UDP/ICMP header")     \
  X(kBadTcpDataOffset, BAD_TCP_DATA_OFFSET, "bad-tcp-data-offset", "TCP data offset below 5 or beyond the packet") \
  X(kBadUdpLength, BAD_UDP_LENGTH, "bad-udp-length", "UDP length below 8 or beyond the packet")   \
  X(kTruncatedIcmpInner, TRUNCATED_ICMP_INNER, "truncated-icmp-inner", "ICMP error whose quoted header is cut short") \
  X(kFragment, FRAGMENT, "fragment", "IP fragment addressed to a VIP (policy: not balanced)")      \
  X(kUnsupportedProtocol, UNSUPPORTED_PROTOCOL, "unsupported-protocol", "protocol a VIP does not serve") \
  X(kNoService, NO_SERVICE, "no-service", "addressed to a VIP but no service on that port/protocol") \
  X(kNoPool, NO_POOL, "no-pool", "every pool of the service has weight 0")                        \
  X(kNoBackend, NO_BACKEND, "no-backend", "the chosen pool and the fallback have no usable backend") \
  X(kNoHeadroom, NO_HEADROOM, "no-headroom", "buffer lacks headroom for the encapsulation header") \
  X(kTooBig, TOO_BIG, "too-big", "encapsulated frame would exceed the maximum frame size")         \
  X(kNoFlowForIcmp, NO_FLOW_FOR_ICMP, "icmp-no-flow", "ICMP error toward a VIP whose inner flow has no backend") \
  X(kBadIcmp, BAD_ICMP, "bad-icmp", "ICMP echo request or PMTU error toward a VIP that cannot be handled as one")

enum sluice_drop_reason {
#define SLUICE_X(name, c_name, str, help) SLUICE_DROP_##c_name,
	SLUICE_DROP_REASONS(SLUICE_X)
#undef SLUICE_X
	SLUICE_DROP_REASON_COUNT
};
