// SPDX-License-Identifier: Apache-2.0
// Encapsulation and echo replies. Both run once per forwarded packet, so:
// no allocation, no branches on anything but the packet and the parameters,
// every multi-byte field written byte by byte in network order (frames sit
// at arbitrary alignment in mbufs, so no casts to wider pointer types).
#include "dataplane/engine/encap.h"

#include <cstring>

#include "dataplane/engine/wire.h"

namespace sluice::engine {
namespace {

constexpr uint32_t kEthHeaderLen = 14;
constexpr uint32_t kVlanTagLen = 4;
constexpr uint32_t kIpv4HeaderLen = 20;
constexpr uint32_t kIpv6HeaderLen = 40;
constexpr uint32_t kUdpHeaderLen = 8;
constexpr uint32_t kIcmpHeaderLen = 8;
constexpr uint8_t kOuterTtl = 64;
// GUE source ports: the dynamic range 49152..65535, 16384 values.
constexpr uint16_t kGueSourcePortBase = 49152;
constexpr uint64_t kGueSourcePortCount = 16384;

inline void put_be16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

inline void put_be32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

inline uint16_t get_be16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

// Folds a 32-bit one's-complement accumulator to 16 bits. Two folds are
// enough for any sum of fewer than 65536 16-bit words.
inline uint16_t fold(uint32_t sum) {
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// The Internet checksum of an IPv4 header of `len` bytes (even, at most 60)
// whose checksum field is zero or is to be ignored: the field is skipped.
uint16_t ipv4_header_checksum(const uint8_t* h, uint32_t len) {
  uint32_t sum = 0;
  for (uint32_t i = 0; i < len; i += 2) {
    if (i == 10) continue;  // the checksum field itself
    sum += get_be16(h + i);
  }
  return static_cast<uint16_t>(~fold(sum));
}

// RFC 1624 eqn. 3: the checksum after one 16-bit word of the covered data
// changed from `old_word` to `new_word`, without touching the rest.
// HC' = ~(~HC + ~m + m'), in one's-complement arithmetic.
inline uint16_t checksum_replace16(uint16_t check, uint16_t old_word, uint16_t new_word) {
  uint32_t sum = static_cast<uint16_t>(~check);
  sum += static_cast<uint16_t>(~old_word);
  sum += new_word;
  return static_cast<uint16_t>(~fold(sum));
}

inline uint32_t outer_ip_len(uint8_t backend_family) {
  return backend_family == SLUICE_AF_INET6 ? kIpv6HeaderLen : kIpv4HeaderLen;
}

// Writes the 20-byte outer IPv4 header. `payload_len` is what follows it
// (UDP header included for GUE).
void write_outer_ipv4(uint8_t* h, const ParsedPacket& parsed, const EncapParams& params,
                      uint8_t protocol, uint32_t payload_len) {
  h[0] = 0x45;  // version 4, IHL 5: no options on the outer header
  h[1] = parsed.tos;
  put_be16(h + 2, static_cast<uint16_t>(kIpv4HeaderLen + payload_len));
  // ID 0: with DF set the ID is never used for reassembly (RFC 6864), and
  // a constant keeps the output a pure function of the input.
  put_be16(h + 4, 0);
  put_be16(h + 6, parsed.dont_fragment ? SLUICE_IPV4_DF : 0);
  h[8] = kOuterTtl;
  h[9] = protocol;
  put_be16(h + 10, 0);
  std::memcpy(h + 12, params.outer_source->bytes.data(), 4);
  std::memcpy(h + 16, params.backend->bytes.data(), 4);
  put_be16(h + 10, ipv4_header_checksum(h, kIpv4HeaderLen));
}

// Writes the 40-byte outer IPv6 header.
void write_outer_ipv6(uint8_t* h, const ParsedPacket& parsed, const EncapParams& params,
                      uint8_t next_header, uint32_t payload_len) {
  // The flow label lets routers between us and the backend hash the flow
  // without looking past the outer header (RFC 6438).
  const uint32_t flow_label = static_cast<uint32_t>(params.flow_hash) & 0xfffff;
  put_be32(h, (uint32_t{6} << 28) | (uint32_t{parsed.tos} << 20) | flow_label);
  put_be16(h + 4, static_cast<uint16_t>(payload_len));
  h[6] = next_header;
  h[7] = kOuterTtl;
  std::memcpy(h + 8, params.outer_source->bytes.data(), 16);
  std::memcpy(h + 24, params.backend->bytes.data(), 16);
}

}  // namespace

uint32_t encap_overhead(Encapsulation kind, uint8_t backend_family) {
  return outer_ip_len(backend_family) + (kind == Encapsulation::kGue ? kUdpHeaderLen : 0);
}

DropReason encapsulate(Packet& pkt, const ParsedPacket& parsed, const EncapParams& params) {
  if (parsed.status != ParseStatus::kOk) return DropReason::kUnsupportedProtocol;
  const bool inner_v6 = parsed.key.family == SLUICE_AF_INET6;
  const bool outer_v6 = params.backend->family == SLUICE_AF_INET6;
  // IPv6 inside IPv4 would need the backend to accept IPv6 from an IPv4
  // tunnel endpoint (6in4); no backend of ours is set up for that.
  if (inner_v6 && !outer_v6) return DropReason::kUnsupportedProtocol;

  const bool gue = params.kind == Encapsulation::kGue;
  const uint32_t l2_len = kEthHeaderLen + (parsed.has_vlan ? kVlanTagLen : 0);
  const uint32_t outer_len = encap_overhead(params.kind, params.backend->family);
  // Only the IP packet travels: Ethernet padding past l3_end is dropped.
  const uint32_t inner_len = uint32_t{parsed.l3_end} - parsed.l3_offset;
  const uint32_t ip_payload_len = inner_len + (gue ? kUdpHeaderLen : 0);

  // The new headers end where the inner packet begins; they need
  // l2_len + outer_len bytes, of which l3_offset are the old L2 header.
  const uint32_t front = l2_len + outer_len;
  if (front > parsed.l3_offset + pkt.headroom) return DropReason::kNoHeadroom;
  const uint32_t new_len = front + inner_len;
  if (new_len > params.max_frame_size) return DropReason::kTooBig;
  // 16-bit length fields: IPv4 total length covers its own header, IPv6
  // payload length and UDP length do not (UDP's is ip_payload_len itself).
  const uint32_t length_field = outer_v6 ? ip_payload_len : kIpv4HeaderLen + ip_payload_len;
  if (length_field > 0xffff) return DropReason::kTooBig;

  // The TPID of a kept tag (802.1Q or 802.1ad) is read before the new
  // headers overwrite the old L2 header.
  uint8_t tpid[2] = {0, 0};
  if (parsed.has_vlan) {
    tpid[0] = pkt.data[12];
    tpid[1] = pkt.data[13];
  }

  uint8_t* inner = pkt.data + parsed.l3_offset;
  uint8_t* start = inner - front;

  uint8_t* p = start;
  std::memcpy(p, params.next_hop_mac->data(), 6);
  std::memcpy(p + 6, params.local_mac->data(), 6);
  p += 12;
  if (parsed.has_vlan) {
    p[0] = tpid[0];
    p[1] = tpid[1];
    put_be16(p + 2, parsed.vlan_tci);
    p += kVlanTagLen;
  }
  put_be16(p, outer_v6 ? SLUICE_ETHERTYPE_IPV6 : SLUICE_ETHERTYPE_IPV4);
  p += 2;

  const uint8_t inner_proto = inner_v6 ? SLUICE_IPPROTO_IPV6 : SLUICE_IPPROTO_IPIP;
  const uint8_t outer_proto = gue ? SLUICE_IPPROTO_UDP : inner_proto;
  if (outer_v6) {
    write_outer_ipv6(p, parsed, params, outer_proto, ip_payload_len);
    p += kIpv6HeaderLen;
  } else {
    write_outer_ipv4(p, parsed, params, outer_proto, ip_payload_len);
    p += kIpv4HeaderLen;
  }

  if (gue) {
    // Variant 1 GUE carries the IP packet right after UDP; the decapsulator
    // tells IPv4 from IPv6 by the version nibble. The source port spreads
    // flows over ECMP paths and backend RSS queues.
    put_be16(p, static_cast<uint16_t>(kGueSourcePortBase +
                                      params.flow_hash % kGueSourcePortCount));
    put_be16(p + 2, params.gue_port);
    put_be16(p + 4, static_cast<uint16_t>(ip_payload_len));
    put_be16(p + 6, 0);  // no checksum (RFC 6935 for IPv6)
  }

  pkt.headroom -= static_cast<uint32_t>(pkt.data - start);
  pkt.data = start;
  pkt.len = new_len;
  return DropReason::kNone;
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
    put_be16(ip + 10, ipv4_header_checksum(ip, ihl_len));
  }

  // Only the type byte changes in the ICMP message; code, identifier,
  // sequence and data are echoed as received.
  uint8_t* icmp = frame + parsed.l4_offset;
  const uint16_t old_word = get_be16(icmp);
  icmp[0] = reply;
  const uint16_t new_word = get_be16(icmp);
  put_be16(icmp + 2, checksum_replace16(get_be16(icmp + 2), old_word, new_word));
  return DropReason::kNone;
}

}  // namespace sluice::engine
