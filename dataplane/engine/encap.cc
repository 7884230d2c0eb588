// SPDX-License-Identifier: Apache-2.0
// Encapsulation and echo replies. Both run once per forwarded packet, so:
// no allocation, no branches on anything but the packet and the parameters.
// Frames sit at arbitrary alignment in mbufs, so multi-byte fields go
// through memcpy (one unaligned load or store on x86) or byte writes, never
// casts to wider pointer types.
//
// Encapsulation runs for every forwarded packet, echo replies rarely, so
// only encapsulation is shaped for instruction count: one specialised path
// per outer family, kind and VLAN, headers written as whole 32-bit words
// computed in registers, and the outer IPv4 checksum summed from those words
// rather than re-read from the frame.
//
// The outer headers and checksums themselves are written by
// encap_headers.h, which the XDP program uses too: this file decides where
// they go and what goes in them.
#include "dataplane/engine/encap.h"

#include <cstring>

#include "dataplane/engine/encap_headers.h"
#include "dataplane/engine/wire.h"

namespace sluice::engine {
namespace {

constexpr uint32_t kEthHeaderLen = 14;
constexpr uint32_t kVlanTagLen = 4;
constexpr uint32_t kIpv4HeaderLen = 20;
constexpr uint32_t kIpv6HeaderLen = 40;
constexpr uint32_t kUdpHeaderLen = 8;
constexpr uint32_t kIcmpHeaderLen = 8;
constexpr uint8_t kOuterTtl = SLUICE_OUTER_TTL;

inline uint32_t outer_ip_len(uint8_t backend_family) {
  return backend_family == SLUICE_AF_INET6 ? kIpv6HeaderLen : kIpv4HeaderLen;
}

// encapsulate() for one outer family, kind and L2 shape, so that header
// lengths, offsets and the choice of writers are constants: the common
// case (untagged, IPv4 in IPv4, IPIP) runs with no branch but the checks.
//
// The order is chosen for the compiler: every byte store into the frame may
// alias any object, so what is needed after the first one (the inputs of the
// outer headers) is read just before it is written, and the Packet is
// updated before the frame, so that nothing but the frame is live by then.
template <bool kOuterV6, bool kGue, bool kVlan>
inline DropReason encapsulate_as(Packet& pkt, const ParsedPacket& parsed,
                                 const EncapParams& params) {
  constexpr uint32_t kL2Len = kEthHeaderLen + (kVlan ? kVlanTagLen : 0);
  constexpr uint32_t kOuterIpLen = kOuterV6 ? kIpv6HeaderLen : kIpv4HeaderLen;
  constexpr uint32_t kOuterLen = kOuterIpLen + (kGue ? kUdpHeaderLen : 0);
  // The new headers end where the inner packet begins; they need
  // kFront bytes, of which l3_offset are the old L2 header.
  constexpr uint32_t kFront = kL2Len + kOuterLen;

  const uint32_t l3_offset = parsed.l3_offset;
  // Only the IP packet travels: Ethernet padding past l3_end is dropped.
  const uint32_t inner_len = uint32_t{parsed.l3_end} - l3_offset;
  const uint32_t room = l3_offset + pkt.headroom;
  if (kFront > room) return DropReason::kNoHeadroom;
  const uint32_t new_len = kFront + inner_len;
  if (new_len > params.max_frame_size) return DropReason::kTooBig;
  const uint32_t ip_payload_len = inner_len + (kGue ? kUdpHeaderLen : 0);
  // 16-bit length fields: IPv4 total length covers its own header, IPv6
  // payload length and UDP length do not (UDP's is ip_payload_len itself).
  const uint32_t length_field = kOuterV6 ? ip_payload_len : kIpv4HeaderLen + ip_payload_len;
  if (length_field > 0xffff) return DropReason::kTooBig;

  uint8_t* const data = pkt.data;
  uint8_t* const start = data + l3_offset - kFront;
  // A kept tag (802.1Q or 802.1ad) keeps its TPID, read before the new
  // headers overwrite the old L2 header (they may overlap it).
  uint8_t tpid[2] = {0, 0};
  if constexpr (kVlan) std::memcpy(tpid, data + 12, 2);
  // The new headers took kFront - l3_offset bytes of headroom.
  pkt.headroom = room - kFront;
  pkt.data = start;
  pkt.len = new_len;

  uint8_t* p = start;
  std::memcpy(p, params.next_hop_mac->data(), 6);
  std::memcpy(p + 6, params.local_mac->data(), 6);
  p += 12;
  if constexpr (kVlan) {
    std::memcpy(p, tpid, 2);
    sluice_store16(p + 2, sluice_be16(parsed.vlan_tci));
    p += kVlanTagLen;
  }
  const uint8_t* source = params.outer_source->bytes.data();
  const uint8_t* destination = params.backend->bytes.data();
  if constexpr (kOuterV6) {
    sluice_store16(p, sluice_be16(SLUICE_ETHERTYPE_IPV6));
    const uint8_t next_header = kGue                                 ? SLUICE_IPPROTO_UDP
                                : parsed.key.family == SLUICE_AF_INET6 ? SLUICE_IPPROTO_IPV6
                                                                       : SLUICE_IPPROTO_IPIP;
    sluice_write_outer_ipv6(p + 2, parsed.tos, params.flow_hash, next_header, length_field,
                            source, destination);
  } else {
    // IPv6 inside IPv4 was refused before this point: IPIP is protocol 4.
    const uint8_t protocol = kGue ? SLUICE_IPPROTO_UDP : SLUICE_IPPROTO_IPIP;
    sluice_write_ethertype_and_outer_ipv4(
        p, parsed.tos, parsed.dont_fragment,
        sluice_outer_ipv4_id(parsed.dont_fragment, parsed.ip_id, params.flow_hash), protocol,
        length_field, source, destination);
  }
  p += 2 + kOuterIpLen;

  if constexpr (kGue) {
    sluice_write_gue_udp(p, params.flow_hash, params.gue_port, ip_payload_len);
  }
  return DropReason::kNone;
}

// The variants other than the common one, out of line: each gets its own
// register allocation, so the common path does not save and restore the
// registers that, say, the IPv6 path needs.
template <bool kOuterV6, bool kGue, bool kVlan>
[[gnu::noinline]] DropReason encapsulate_cold(Packet& pkt, const ParsedPacket& parsed,
                                              const EncapParams& params) {
  return encapsulate_as<kOuterV6, kGue, kVlan>(pkt, parsed, params);
}

template <bool kOuterV6, bool kGue>
DropReason encapsulate_cold_l2(Packet& pkt, const ParsedPacket& parsed,
                               const EncapParams& params) {
  return parsed.has_vlan ? encapsulate_cold<kOuterV6, kGue, true>(pkt, parsed, params)
                         : encapsulate_cold<kOuterV6, kGue, false>(pkt, parsed, params);
}

// Every case but the common one.
[[gnu::noinline]] DropReason encapsulate_other(Packet& pkt, const ParsedPacket& parsed,
                                               const EncapParams& params) {
  if (parsed.status != ParseStatus::kOk) return DropReason::kUnsupportedProtocol;
  const bool gue = params.kind == Encapsulation::kGue;
  if (params.backend->family == SLUICE_AF_INET6) {
    return gue ? encapsulate_cold_l2<true, true>(pkt, parsed, params)
               : encapsulate_cold_l2<true, false>(pkt, parsed, params);
  }
  // IPv6 inside IPv4 would need the backend to accept IPv6 from an IPv4
  // tunnel endpoint (6in4); no backend of ours is set up for that.
  if (parsed.key.family == SLUICE_AF_INET6) return DropReason::kUnsupportedProtocol;
  return gue ? encapsulate_cold_l2<false, true>(pkt, parsed, params)
             : encapsulate_cold_l2<false, false>(pkt, parsed, params);
}

}  // namespace

uint32_t encap_overhead(Encapsulation kind, uint8_t backend_family) {
  return outer_ip_len(backend_family) + (kind == Encapsulation::kGue ? kUdpHeaderLen : 0);
}

DropReason encapsulate(Packet& pkt, const ParsedPacket& parsed, const EncapParams& params) {
  // The common case first, inline: untagged IPv4 in IPv4, IPIP.
  if (parsed.status == ParseStatus::kOk && params.kind == Encapsulation::kIpip &&
      !parsed.has_vlan && params.backend->family != SLUICE_AF_INET6 &&
      parsed.key.family != SLUICE_AF_INET6) {
    return encapsulate_as<false, false, false>(pkt, parsed, params);
  }
  return encapsulate_other(pkt, parsed, params);
}

DropReason make_echo_reply(Packet& pkt, const ParsedPacket& parsed) {
  if (parsed.status != ParseStatus::kOk) return DropReason::kBadIcmp;
  const bool v6 = parsed.key.family == SLUICE_AF_INET6;
  const uint8_t icmp_proto = v6 ? SLUICE_IPPROTO_ICMPV6 : SLUICE_IPPROTO_ICMP;
  const uint8_t request = v6 ? SLUICE_ICMPV6_ECHO_REQUEST : SLUICE_ICMP_ECHO_REQUEST;
  const uint8_t reply = v6 ? SLUICE_ICMPV6_ECHO_REPLY : SLUICE_ICMP_ECHO_REPLY;
  if (parsed.key.proto != icmp_proto || parsed.icmp_type != request) return DropReason::kBadIcmp;
  // A fragment's checksum covers the whole reassembled message, and we do
  // not reassemble; the parser also bounds the header, but check it here so
  // this function is safe on its own.
  if (parsed.is_fragment) return DropReason::kBadIcmp;
  if (uint32_t{parsed.l4_offset} + kIcmpHeaderLen > parsed.l3_end ||
      parsed.l3_end > pkt.len) {
    return DropReason::kBadIcmp;
  }

  uint8_t* frame = pkt.data;
  uint8_t mac[6];
  std::memcpy(mac, frame, 6);
  std::memmove(frame, frame + 6, 6);
  std::memcpy(frame + 6, mac, 6);

  uint8_t* ip = frame + parsed.l3_offset;
  // Swapping source and destination leaves every checksum that covers them
  // (IPv4 header, ICMPv6 pseudo-header) unchanged: the sum is commutative.
  if (v6) {
    uint8_t addr[16];
    std::memcpy(addr, ip + 8, 16);
    std::memmove(ip + 8, ip + 24, 16);
    std::memcpy(ip + 24, addr, 16);
    ip[7] = kOuterTtl;  // hop limit: not in the pseudo-header
  } else {
    uint8_t addr[4];
    std::memcpy(addr, ip + 12, 4);
    std::memmove(ip + 12, ip + 16, 4);
    std::memcpy(ip + 16, addr, 4);
    ip[8] = kOuterTtl;
    // Options (if any) travel back unchanged; the header is recomputed in
    // full because it is at most 60 bytes and the TTL word changed.
    const uint32_t ihl_len = uint32_t{parsed.l4_offset} - parsed.l3_offset;
    sluice_put_be16(ip + 10, sluice_ipv4_header_checksum(ip, ihl_len));
  }

  // Only the type byte changes in the ICMP message; code, identifier,
  // sequence and data are echoed as received.
  uint8_t* icmp = frame + parsed.l4_offset;
  const uint16_t old_word = sluice_get_be16(icmp);
  icmp[0] = reply;
  const uint16_t new_word = sluice_get_be16(icmp);
  sluice_put_be16(icmp + 2,
                  sluice_csum_replace16(sluice_get_be16(icmp + 2), old_word, new_word));
  return DropReason::kNone;
}

}  // namespace sluice::engine
