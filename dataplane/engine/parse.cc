// SPDX-License-Identifier: Apache-2.0
// Frame parser. Policies are documented in parse.h; this file only says why
// the code is shaped the way it is.
//
// Shape: one pass, front to back, every read preceded by a bounds check
// against the frame (or, past the IP header, against the IP packet's end).
// Each step returns a DropReason (kNone = carry on) so that the first
// failure ends parsing with exactly one reason. The only loop is the IPv6
// extension-header walk, bounded by kMaxIpv6ExtensionHeaders.
//
// Offsets are kept as uint32_t and compared as "bytes left >= bytes needed"
// (end - off >= n with off <= end always holding), which cannot overflow.
//
// Nearly every packet a balancer sees is untagged IPv4/TCP or UDP without
// options, so that case has its own path (parse_ipv4_fast: one length check,
// a few compares, no loop) in front of the general one; it accepts only
// frames on which the general path would reach kOk, and writes the same
// fields, so which path ran never shows in the output.
#include "dataplane/engine/parse.h"

#include <cstddef>
#include <cstring>

#include "dataplane/engine/wire.h"

namespace sluice::engine {
namespace {

// Offsets in ParsedPacket are 16-bit. No Ethernet NIC hands the engine a
// single-segment frame this long; anything that claims to reach past it is
// treated as running past the frame.
constexpr uint32_t kMaxFrameLength = 0xffff;

constexpr uint32_t kEthHeaderLength = sizeof(sluice_eth_hdr);    // 14
constexpr uint32_t kVlanHeaderLength = sizeof(sluice_vlan_hdr);  // 4
constexpr uint32_t kIpv4MinHeaderLength = sizeof(sluice_ipv4_hdr);  // 20
constexpr uint32_t kIpv6HeaderLength = sizeof(sluice_ipv6_hdr);     // 40
constexpr uint32_t kIpv6FragHeaderLength = sizeof(sluice_ipv6_frag_hdr);  // 8
constexpr uint32_t kTcpMinHeaderLength = sizeof(sluice_tcp_hdr);  // 20
constexpr uint32_t kUdpHeaderLength = sizeof(sluice_udp_hdr);     // 8
constexpr uint32_t kIcmpHeaderLength = sizeof(sluice_icmp_hdr);   // 8
// An ICMP error quotes the offending IP header plus at least this much L4.
constexpr uint32_t kIcmpQuotedL4Length = 8;

// Field offsets inside the wire structs (byte arithmetic instead of struct
// dereferences: the frame carries no alignment guarantee).
constexpr uint32_t kEthTypeOffset = offsetof(sluice_eth_hdr, ethertype);
constexpr uint32_t kVlanTciOffset = offsetof(sluice_vlan_hdr, tci);
constexpr uint32_t kVlanTypeOffset = offsetof(sluice_vlan_hdr, ethertype);
constexpr uint32_t kIpv4TosOffset = offsetof(sluice_ipv4_hdr, tos);
constexpr uint32_t kIpv4TotalLenOffset = offsetof(sluice_ipv4_hdr, total_len);
constexpr uint32_t kIpv4FragOffset = offsetof(sluice_ipv4_hdr, frag_off);
constexpr uint32_t kIpv4IdOffset = offsetof(sluice_ipv4_hdr, id);
constexpr uint32_t kIpv4ProtoOffset = offsetof(sluice_ipv4_hdr, protocol);
constexpr uint32_t kIpv4SaddrOffset = offsetof(sluice_ipv4_hdr, saddr);
constexpr uint32_t kIpv4DaddrOffset = offsetof(sluice_ipv4_hdr, daddr);
constexpr uint32_t kIpv6PayloadLenOffset = offsetof(sluice_ipv6_hdr, payload_len);
constexpr uint32_t kIpv6NextHdrOffset = offsetof(sluice_ipv6_hdr, nexthdr);
constexpr uint32_t kIpv6SaddrOffset = offsetof(sluice_ipv6_hdr, saddr);
constexpr uint32_t kIpv6DaddrOffset = offsetof(sluice_ipv6_hdr, daddr);
constexpr uint32_t kIpv6FragOffOffset = offsetof(sluice_ipv6_frag_hdr, frag_off);
constexpr uint32_t kTcpDoffOffset = offsetof(sluice_tcp_hdr, doff_res);
constexpr uint32_t kTcpFlagsOffset = offsetof(sluice_tcp_hdr, flags);
constexpr uint32_t kUdpLenOffset = offsetof(sluice_udp_hdr, len);

inline uint16_t load_be16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

// Ports stay in network byte order, as the flow key wants them.
inline uint16_t load_wire16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline bool is_vlan_ethertype(uint16_t type) {
  return type == SLUICE_ETHERTYPE_VLAN || type == SLUICE_ETHERTYPE_QINQ;
}

inline bool has_ports(uint8_t proto) {
  return proto == SLUICE_IPPROTO_TCP || proto == SLUICE_IPPROTO_UDP;
}

// Where an IPv6 extension-header walk ended.
struct Ipv6Chain {
  uint32_t l4_offset;
  uint8_t proto;
  bool is_fragment;
  bool first_fragment;
};

// Skips hop-by-hop (first only), routing, destination-options and fragment
// headers in [off, end). Shared by the outer packet and by the packet an
// ICMPv6 error quotes; they differ only in the reason for a header that runs
// past `end` (the outer packet is broken; a quote was cut short).
inline DropReason walk_ipv6_extensions(const uint8_t* frame, uint32_t off,
                                       uint32_t end, uint8_t nexthdr,
                                       DropReason cut_short,
                                       Ipv6Chain* chain) {
  bool seen_fragment = false;
  chain->is_fragment = false;
  chain->first_fragment = false;
  for (int i = 0; i < kMaxIpv6ExtensionHeaders; ++i) {
    if (nexthdr == SLUICE_IPPROTO_HOPOPTS || nexthdr == SLUICE_IPPROTO_ROUTING ||
        nexthdr == SLUICE_IPPROTO_DSTOPTS) {
      // RFC 8200 4.1: hop-by-hop may only follow the IPv6 header itself.
      if (nexthdr == SLUICE_IPPROTO_HOPOPTS && i != 0) {
        return DropReason::kBadIpv6ExtensionHeader;
      }
      if (end - off < sizeof(sluice_ipv6_opt_hdr)) return cut_short;
      const uint32_t size = (frame[off + 1] + 1u) * 8u;
      if (end - off < size) return cut_short;
      nexthdr = frame[off];
      off += size;
    } else if (nexthdr == SLUICE_IPPROTO_FRAGMENT) {
      if (seen_fragment) return DropReason::kBadIpv6ExtensionHeader;
      seen_fragment = true;
      if (end - off < kIpv6FragHeaderLength) return cut_short;
      const uint16_t frag = load_be16(frame + off + kIpv6FragOffOffset);
      nexthdr = frame[off];
      off += kIpv6FragHeaderLength;
      const uint16_t frag_offset = frag >> 3;
      const bool more = (frag & 1) != 0;
      // Offset 0 without M is an atomic fragment (RFC 6946): a whole packet.
      if (frag_offset != 0 || more) {
        chain->is_fragment = true;
        chain->first_fragment = frag_offset == 0;
        if (frag_offset != 0) break;  // no L4 header, nothing more to skip
      }
    } else {
      break;
    }
  }
  const bool fragment_payload = chain->is_fragment && !chain->first_fragment;
  if (!fragment_payload &&
      (nexthdr == SLUICE_IPPROTO_HOPOPTS || nexthdr == SLUICE_IPPROTO_ROUTING ||
       nexthdr == SLUICE_IPPROTO_DSTOPTS || nexthdr == SLUICE_IPPROTO_FRAGMENT)) {
    return DropReason::kBadIpv6ExtensionHeader;  // more than the limit
  }
  chain->l4_offset = off;
  chain->proto = nexthdr;
  return DropReason::kNone;
}

// Reads the ports of a quoted packet's L4 header at `l4` into `inner`,
// swapped: the quoted packet went VIP -> client, `inner` reads client -> VIP.
inline void set_inner_ports(const uint8_t* l4, sluice_flow_key* inner) {
  if (!has_ports(inner->proto)) return;
  inner->sport = load_wire16(l4 + 2);  // quoted destination port
  inner->dport = load_wire16(l4);      // quoted source port
}

// The IPv4 packet quoted by an ICMP error, in [off, end).
inline DropReason parse_quoted_ipv4(const uint8_t* frame, uint32_t off,
                                    uint32_t end, sluice_flow_key* inner) {
  if (end - off < kIpv4MinHeaderLength) return DropReason::kTruncatedIcmpInner;
  const uint8_t* ip = frame + off;
  if ((ip[0] >> 4) != 4) return DropReason::kBadIpVersion;
  const uint32_t header_len = (ip[0] & 0x0fu) * 4u;
  if (header_len < kIpv4MinHeaderLength) return DropReason::kBadIpHeaderLength;
  if (end - off < header_len + kIcmpQuotedL4Length) {
    return DropReason::kTruncatedIcmpInner;
  }
  inner->family = SLUICE_AF_INET;
  inner->proto = ip[kIpv4ProtoOffset];
  std::memcpy(inner->src, ip + kIpv4DaddrOffset, 4);
  std::memcpy(inner->dst, ip + kIpv4SaddrOffset, 4);
  // A quoted non-first fragment carries data, not an L4 header.
  if ((load_be16(ip + kIpv4FragOffset) & SLUICE_IPV4_OFFSET_MASK) == 0) {
    set_inner_ports(ip + header_len, inner);
  }
  return DropReason::kNone;
}

// The IPv6 packet quoted by an ICMPv6 error, in [off, end).
inline DropReason parse_quoted_ipv6(const uint8_t* frame, uint32_t off,
                                    uint32_t end, sluice_flow_key* inner) {
  if (end - off < kIpv6HeaderLength) return DropReason::kTruncatedIcmpInner;
  const uint8_t* ip = frame + off;
  if ((ip[0] >> 4) != 6) return DropReason::kBadIpVersion;
  Ipv6Chain chain;
  const DropReason r =
      walk_ipv6_extensions(frame, off + kIpv6HeaderLength, end,
                           ip[kIpv6NextHdrOffset],
                           DropReason::kTruncatedIcmpInner, &chain);
  if (r != DropReason::kNone) return r;
  if (end - chain.l4_offset < kIcmpQuotedL4Length) {
    return DropReason::kTruncatedIcmpInner;
  }
  inner->family = SLUICE_AF_INET6;
  inner->proto = chain.proto;
  std::memcpy(inner->src, ip + kIpv6DaddrOffset, 16);
  std::memcpy(inner->dst, ip + kIpv6SaddrOffset, 16);
  if (!chain.is_fragment || chain.first_fragment) {
    set_inner_ports(frame + chain.l4_offset, inner);
  }
  return DropReason::kNone;
}

inline bool is_icmp_error(uint8_t type) {
  return type == SLUICE_ICMP_DEST_UNREACH || type == SLUICE_ICMP_TIME_EXCEEDED;
}

inline bool is_icmpv6_error(uint8_t type) {
  // Destination unreachable (1), packet too big (2), time exceeded (3).
  return type >= SLUICE_ICMPV6_DEST_UNREACH && type <= 3;
}

// The L4 header at out->l4_offset, inside the IP packet ending at `end`.
// `fragment` is set for a first fragment: its UDP length describes the whole
// datagram, which continues in later fragments.
inline DropReason parse_l4(const uint8_t* frame, uint32_t end, bool fragment,
                           ParsedPacket* out) {
  const uint32_t off = out->l4_offset;
  const uint32_t avail = end - off;
  const uint8_t* l4 = frame + off;
  const uint8_t proto = out->key.proto;
  if (proto == SLUICE_IPPROTO_TCP) {
    if (avail < kTcpMinHeaderLength) return DropReason::kTruncatedL4;
    const uint32_t header_len = (l4[kTcpDoffOffset] >> 4) * 4u;
    if (header_len < kTcpMinHeaderLength || header_len > avail) {
      return DropReason::kBadTcpDataOffset;
    }
    out->key.sport = load_wire16(l4);
    out->key.dport = load_wire16(l4 + 2);
    out->tcp_flags = l4[kTcpFlagsOffset];
    return DropReason::kNone;
  }
  if (proto == SLUICE_IPPROTO_UDP) {
    if (avail < kUdpHeaderLength) return DropReason::kTruncatedL4;
    const uint32_t udp_len = load_be16(l4 + kUdpLenOffset);
    if (udp_len < kUdpHeaderLength || (udp_len > avail && !fragment)) {
      return DropReason::kBadUdpLength;
    }
    out->key.sport = load_wire16(l4);
    out->key.dport = load_wire16(l4 + 2);
    return DropReason::kNone;
  }
  const bool v4 = out->key.family == SLUICE_AF_INET;
  if ((v4 && proto == SLUICE_IPPROTO_ICMP) ||
      (!v4 && proto == SLUICE_IPPROTO_ICMPV6)) {
    if (avail < kIcmpHeaderLength) return DropReason::kTruncatedL4;
    const uint8_t type = l4[0];
    out->icmp_type = type;
    out->icmp_code = l4[1];
    const uint32_t quote = off + kIcmpHeaderLength;
    DropReason r = DropReason::kNone;
    if (v4 && is_icmp_error(type)) {
      r = parse_quoted_ipv4(frame, quote, end, &out->inner);
    } else if (!v4 && is_icmpv6_error(type)) {
      r = parse_quoted_ipv6(frame, quote, end, &out->inner);
    } else {
      return DropReason::kNone;  // echo and informational types: no quote
    }
    if (r != DropReason::kNone) return r;
    out->has_inner = true;
    return DropReason::kNone;
  }
  return DropReason::kNone;  // other protocols: no ports
}

inline DropReason parse_ipv4(const uint8_t* frame, uint32_t len,
                             ParsedPacket* out) {
  const uint32_t l3 = out->l3_offset;
  if (len - l3 < kIpv4MinHeaderLength) return DropReason::kTruncatedIp;
  const uint8_t* ip = frame + l3;
  if ((ip[0] >> 4) != 4) return DropReason::kBadIpVersion;
  const uint32_t header_len = (ip[0] & 0x0fu) * 4u;
  if (header_len < kIpv4MinHeaderLength || header_len > len - l3) {
    return DropReason::kBadIpHeaderLength;
  }
  const uint32_t total_len = load_be16(ip + kIpv4TotalLenOffset);
  if (total_len < header_len || total_len > len - l3) {
    return DropReason::kBadIpTotalLength;
  }
  const uint16_t frag = load_be16(ip + kIpv4FragOffset);
  const uint16_t frag_offset = frag & SLUICE_IPV4_OFFSET_MASK;
  const bool fragment = frag_offset != 0 || (frag & SLUICE_IPV4_MF) != 0;

  const uint32_t end = l3 + total_len;
  out->l4_offset = static_cast<uint16_t>(l3 + header_len);
  out->l3_end = static_cast<uint16_t>(end);
  out->tos = ip[kIpv4TosOffset];
  out->dont_fragment = (frag & SLUICE_IPV4_DF) != 0;
  out->ip_id = load_be16(ip + kIpv4IdOffset);
  out->is_fragment = fragment;
  out->first_fragment = fragment && frag_offset == 0;
  out->key.family = SLUICE_AF_INET;
  out->key.proto = ip[kIpv4ProtoOffset];
  std::memcpy(out->key.src, ip + kIpv4SaddrOffset, 4);
  std::memcpy(out->key.dst, ip + kIpv4DaddrOffset, 4);
  if (frag_offset != 0) return DropReason::kNone;  // data only, no L4 header
  return parse_l4(frame, end, fragment, out);
}

inline DropReason parse_ipv6(const uint8_t* frame, uint32_t len,
                             ParsedPacket* out) {
  const uint32_t l3 = out->l3_offset;
  if (len - l3 < kIpv6HeaderLength) return DropReason::kTruncatedIp;
  const uint8_t* ip = frame + l3;
  if ((ip[0] >> 4) != 6) return DropReason::kBadIpVersion;
  const uint32_t payload_len = load_be16(ip + kIpv6PayloadLenOffset);
  if (payload_len > len - l3 - kIpv6HeaderLength) {
    return DropReason::kBadIpTotalLength;
  }
  const uint32_t end = l3 + kIpv6HeaderLength + payload_len;
  Ipv6Chain chain;
  const DropReason r = walk_ipv6_extensions(
      frame, l3 + kIpv6HeaderLength, end, ip[kIpv6NextHdrOffset],
      DropReason::kBadIpv6ExtensionHeader, &chain);
  if (r != DropReason::kNone) return r;

  out->l4_offset = static_cast<uint16_t>(chain.l4_offset);
  out->l3_end = static_cast<uint16_t>(end);
  // Traffic class: the 8 bits after the 4-bit version.
  out->tos = static_cast<uint8_t>((ip[0] << 4) | (ip[1] >> 4));
  out->dont_fragment = true;  // IPv6 routers never fragment
  out->is_fragment = chain.is_fragment;
  out->first_fragment = chain.first_fragment;
  out->key.family = SLUICE_AF_INET6;
  out->key.proto = chain.proto;
  std::memcpy(out->key.src, ip + kIpv6SaddrOffset, 16);
  std::memcpy(out->key.dst, ip + kIpv6DaddrOffset, 16);
  if (chain.is_fragment && !chain.first_fragment) return DropReason::kNone;
  return parse_l4(frame, end, chain.is_fragment, out);
}

// The common case, decided with one length check and a handful of byte
// compares: untagged Ethernet, IPv4 without options, not a fragment, TCP or
// UDP whose header lies inside the IP packet. Returns false, having written
// nothing, for anything else; parse_packet then takes the general path, which
// reaches the same result for every frame this accepts (the conditions below
// are the general path's checks, specialised to l3 = 14 and IHL = 5), so the
// fast path changes instruction count, never output.
inline bool parse_ipv4_fast(const uint8_t* frame, uint32_t len, ParsedPacket* out) {
  constexpr uint32_t kL3 = kEthHeaderLength;
  constexpr uint32_t kL4 = kL3 + kIpv4MinHeaderLength;
  // Enough for a TCP header, so every read below is in bounds; a shorter
  // frame (a bare UDP datagram) still parses on the general path.
  if (len < kL4 + kTcpMinHeaderLength) return false;
  if (load_be16(frame + kEthTypeOffset) != SLUICE_ETHERTYPE_IPV4) return false;
  const uint8_t* ip = frame + kL3;
  if (ip[0] != 0x45) return false;  // version 4, IHL 5
  const uint32_t total_len = load_be16(ip + kIpv4TotalLenOffset);
  // At least 20 bytes of L4 (either header fits) and no more than the frame.
  if (total_len < kIpv4MinHeaderLength + kTcpMinHeaderLength || total_len > len - kL3) {
    return false;
  }
  const uint16_t frag = load_be16(ip + kIpv4FragOffset);
  if ((frag & (SLUICE_IPV4_MF | SLUICE_IPV4_OFFSET_MASK)) != 0) return false;
  const uint8_t proto = ip[kIpv4ProtoOffset];
  const uint8_t* l4 = frame + kL4;
  const uint32_t avail = total_len - kIpv4MinHeaderLength;
  uint8_t tcp_flags = 0;
  if (proto == SLUICE_IPPROTO_TCP) {
    // Data offset in the high nibble: at least 5 words, header_len = nibble
    // * 4 taken straight from the byte (two fewer shifts than nibble first).
    const uint8_t doff = l4[kTcpDoffOffset];
    if (doff < (kTcpMinHeaderLength / 4) << 4) return false;
    if (((doff >> 2) & 0x3cu) > avail) return false;
    tcp_flags = l4[kTcpFlagsOffset];
  } else if (proto == SLUICE_IPPROTO_UDP) {
    const uint32_t udp_len = load_be16(l4 + kUdpLenOffset);
    if (udp_len < kUdpHeaderLength || udp_len > avail) return false;
  } else {
    return false;
  }

  // `out` holds kReset: only fields that differ from it are written.
  out->status = ParseStatus::kOk;
  out->ethertype = SLUICE_ETHERTYPE_IPV4;
  out->l3_offset = kL3;
  out->l4_offset = kL4;
  out->l3_end = static_cast<uint16_t>(kL3 + total_len);
  out->tos = ip[kIpv4TosOffset];
  out->dont_fragment = (frag & SLUICE_IPV4_DF) != 0;
  out->ip_id = load_be16(ip + kIpv4IdOffset);
  out->key.family = SLUICE_AF_INET;
  out->key.proto = proto;
  std::memcpy(out->key.src, ip + kIpv4SaddrOffset, 4);
  std::memcpy(out->key.dst, ip + kIpv4DaddrOffset, 4);
  // Source and destination port are adjacent on the wire and in the key:
  // one 4-byte copy into the key's bytes.
  static_assert(offsetof(sluice_flow_key, dport) == offsetof(sluice_flow_key, sport) + 2);
  std::memcpy(reinterpret_cast<uint8_t*>(&out->key) + offsetof(sluice_flow_key, sport), l4, 4);
  out->tcp_flags = tcp_flags;
  return true;
}

// Every frame the fast path declines: any L2, L3 and L4 this parser knows.
// Kept out of line so that its register pressure (callee-saved registers
// pushed and popped) is not paid by the fast path.
[[gnu::noinline]] void parse_general(const uint8_t* frame, uint32_t len, ParsedPacket* out) {
  if (len < kEthHeaderLength) {
    out->drop_reason = DropReason::kTruncatedEthernet;
    return;
  }
  uint16_t ethertype = load_be16(frame + kEthTypeOffset);
  uint32_t l3 = kEthHeaderLength;
  if (is_vlan_ethertype(ethertype)) {
    if (len < kEthHeaderLength + kVlanHeaderLength) {
      out->drop_reason = DropReason::kTruncatedEthernet;
      return;
    }
    const uint8_t* tag = frame + kEthHeaderLength;
    ethertype = load_be16(tag + kVlanTypeOffset);
    if (is_vlan_ethertype(ethertype)) {
      out->drop_reason = DropReason::kNestedVlan;
      return;
    }
    out->has_vlan = true;
    out->vlan_tci = load_be16(tag + kVlanTciOffset);
    l3 += kVlanHeaderLength;
  }
  out->ethertype = ethertype;
  out->l3_offset = static_cast<uint16_t>(l3);

  DropReason r;
  if (ethertype == SLUICE_ETHERTYPE_IPV4) {
    r = parse_ipv4(frame, len, out);
  } else if (ethertype == SLUICE_ETHERTYPE_IPV6) {
    r = parse_ipv6(frame, len, out);
  } else {
    out->status = ParseStatus::kNotIp;
    return;
  }
  if (r != DropReason::kNone) {
    out->drop_reason = r;
    return;
  }
  out->status = ParseStatus::kOk;
}

}  // namespace

void parse_packet(const uint8_t* frame, uint32_t len, ParsedPacket* out) {
  // A copy of a constant, not `*out = ParsedPacket{}`: gcc lowers the latter
  // to `rep stos`, whose start-up cost alone was half the parse time of an
  // ARP frame; this becomes seven vector stores.
  static constexpr ParsedPacket kReset{};
  std::memcpy(static_cast<void*>(out), &kReset, sizeof(kReset));
  if (len > kMaxFrameLength) len = kMaxFrameLength;
  if (parse_ipv4_fast(frame, len, out)) return;
  parse_general(frame, len, out);
}

}  // namespace sluice::engine
