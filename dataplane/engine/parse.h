// SPDX-License-Identifier: Apache-2.0
// Frame parsing: Ethernet (at most one 802.1Q/802.1ad tag), IPv4, IPv6,
// TCP, UDP, ICMP, ICMPv6. Every read is bounds-checked against the frame
// length; a malformed frame yields a DropReason, never an out-of-bounds read.
//
// Policies (also in README "Packet policies"):
// - Non-IP ethertypes (ARP, LLDP, ...) are ParseStatus::kNotIp: the engine
//   hands them to the host.
// - IPv4 options are allowed: L4 starts at IHL*4 and the options travel
//   unchanged inside the tunnel. IHL < 5 or beyond the frame is dropped.
//   Bytes past IP total length (Ethernet padding) are ignored.
// - IPv6 extension headers: hop-by-hop (first only), routing and destination
//   options are skipped, at most kMaxIpv6ExtensionHeaders of them; a fragment
//   header marks the packet as a fragment (unless it is an atomic fragment:
//   offset 0 and M clear, a whole packet per RFC 6946); a second fragment
//   header is malformed; anything else (ESP, AH, No Next Header, unknown)
//   ends parsing with that protocol as key.proto and no ports.
// - Fragments: is_fragment is set for any fragment (MF set or offset != 0).
//   First fragments still carry their ports in `key`; later ones have none.
//   A first fragment's UDP length covers the whole datagram, so it is not
//   checked against the packet (only against the 8-byte minimum).
//   The engine drops fragments addressed to a VIP (kFragment).
// - ICMP/ICMPv6 errors (dest-unreachable incl. frag-needed, packet-too-big,
//   time-exceeded) quote the packet that caused them; its addresses and ports
//   are parsed into `inner`, reversed so that it reads as the client-to-VIP
//   flow the balancer originally forwarded. A quote too short for its IP
//   header plus 8 bytes of L4 is kTruncatedIcmpInner; a quote of the wrong
//   IP version is kBadIpVersion, a quoted IHL < 5 kBadIpHeaderLength, too
//   many quoted extension headers kBadIpv6ExtensionHeader.
// - Checksums are not verified: the backend's stack does that, and a
//   balancer that forwards unchanged bytes must not spend cycles on it.
// - Offsets are 16-bit: a frame is read as at most 65535 bytes, so a packet
//   claiming to end beyond that is kBadIpTotalLength.
// - When status is kMalformed only drop_reason is meaningful; other fields
//   may hold what was parsed before the error.
#pragma once

#include <cstdint>

#include "dataplane/engine/flow_hash.h"
#include "dataplane/engine/verdict.h"

namespace sluice::engine {

inline constexpr int kMaxIpv6ExtensionHeaders = 4;

enum class ParseStatus : uint8_t {
  kOk,          // an IP packet; fields below are valid
  kNotIp,       // not IPv4/IPv6 (ARP, ...): only l2 fields are valid
  kMalformed,   // drop; `drop_reason` says why
};

struct ParsedPacket {
  ParseStatus status = ParseStatus::kMalformed;
  DropReason drop_reason = DropReason::kNone;

  // Layer 2.
  uint16_t ethertype = 0;   // of the L3 payload, host byte order
  bool has_vlan = false;
  uint16_t vlan_tci = 0;    // host byte order
  uint16_t l3_offset = 0;   // first byte of the IP header

  // Layer 3. key.family/src/dst/proto are always set when status == kOk.
  uint16_t l4_offset = 0;   // first byte after IPv4 options / IPv6 ext headers
  uint16_t l3_end = 0;      // offset just past the IP packet (total length)
  uint8_t tos = 0;          // IPv4 TOS or IPv6 traffic class
  bool dont_fragment = false;  // IPv4 DF; always true for IPv6
  uint16_t ip_id = 0;          // IPv4 identification (host order); 0 for IPv6
  bool is_fragment = false;
  bool first_fragment = false;  // fragment with offset 0 (carries L4 header)

  // Layer 4. key.sport/dport are zero for ICMP and non-first fragments.
  sluice_flow_key key{};    // addresses, ports (network order), proto, family
  uint8_t tcp_flags = 0;    // SLUICE_TCP_* for TCP
  uint8_t icmp_type = 0;    // ICMP or ICMPv6
  uint8_t icmp_code = 0;

  // ICMP errors only: the quoted flow, reversed to client -> VIP direction.
  bool has_inner = false;
  sluice_flow_key inner{};
};

// Parses `len` bytes at `frame`. Never reads outside [frame, frame + len).
void parse_packet(const uint8_t* frame, uint32_t len, ParsedPacket* out);

}  // namespace sluice::engine
