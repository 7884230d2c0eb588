// SPDX-License-Identifier: Apache-2.0
// Rewriting frames on their way out: IPIP/GUE encapsulation toward a backend
// (direct server return: the backend answers the client itself) and ICMP echo
// replies for a VIP. Output bytes are fully determined by the input frame and
// the parameters, so the DPDK and XDP dataplanes emit identical frames.
//
// Encapsulation formats (README "Packet policies"):
// - IPIP: outer IPv4 (protocol 4 for IPv4 inside, 41 for IPv6 inside) or
//   outer IPv6 (next header 4 or 41). Supported pairs: IPv4 in IPv4, IPv6 in
//   IPv6, IPv4 in IPv6; the outer family is the backend's.
// - GUE variant 1 (direct IP in UDP, no GUE header): outer IP + UDP to
//   gue_port, UDP source port 49152 + (flow hash % 16384) so ECMP and RSS on
//   the backend side spread flows; UDP checksum 0 (RFC 6935 allows a zero
//   checksum for tunnels over IPv6; our decapsulator does not check it).
// - Outer IPv4: TOS copied from the inner packet, DF copied from the inner
//   IPv4 packet (always set for IPv6 inside), ID 0, TTL 64, checksum computed.
// - Outer IPv6: traffic class copied, flow label = low 20 bits of the flow
//   hash, hop limit 64.
// - Ethernet: next-hop MAC as destination, local MAC as source; a VLAN tag on
//   the received frame is kept (same TCI) on the sent one.
// - Ethernet padding after the inner IP packet is dropped.
#pragma once

#include <cstdint>

#include "dataplane/engine/config.h"
#include "dataplane/engine/packet.h"
#include "dataplane/engine/parse.h"
#include "dataplane/engine/verdict.h"

namespace sluice::engine {

struct EncapParams {
  Encapsulation kind = Encapsulation::kIpip;
  uint16_t gue_port = 6080;        // host byte order
  const IpAddress* outer_source;   // of the backend's family
  const IpAddress* backend;        // outer destination
  uint64_t flow_hash = 0;          // sluice_flow_hash of the flow
  const MacAddress* local_mac;
  const MacAddress* next_hop_mac;
  uint32_t max_frame_size = 1554;  // whole output frame, Ethernet header included
};

// Bytes the outer headers add for this kind and backend family (no L2).
uint32_t encap_overhead(Encapsulation kind, uint8_t backend_family);

// Prepends the outer headers to the IP packet described by `parsed` (which
// must be the parse of pkt's current bytes) and rewrites Ethernet. On success
// returns DropReason::kNone and pkt.data/len/headroom describe the new frame.
// Fails, leaving pkt unchanged, with kNoHeadroom (the new headers would start
// before pkt.data - pkt.headroom) or kTooBig (the frame would exceed
// max_frame_size, or an outer 16-bit length field would overflow), or with
// kUnsupportedProtocol for IPv6 inside IPv4 (not a supported pair) and for a
// parse whose status is not kOk.
DropReason encapsulate(Packet& pkt, const ParsedPacket& parsed, const EncapParams& params);

// Turns an ICMP/ICMPv6 echo request (as parsed) into the echo reply in place:
// swaps MAC and IP addresses, sets the reply type, TTL/hop limit 64, fixes
// checksums incrementally. The code, identifier, sequence and data are echoed
// as received. Returns kNone, or kBadIcmp if it is not an echo request (also
// for fragments, whose checksum covers bytes not in this frame, and for a
// parse that is not kOk).
DropReason make_echo_reply(Packet& pkt, const ParsedPacket& parsed);

}  // namespace sluice::engine
