// SPDX-License-Identifier: Apache-2.0
// Test helper: builds Ethernet frames (or bare IP packets) byte by byte.
//
//   std::vector<uint8_t> f = FrameBuilder()
//       .eth().vlan(100)
//       .ipv4("10.0.0.1", "10.1.1.1")
//       .tcp(1234, 80, SLUICE_TCP_SYN)
//       .payload(10)
//       .build();
//
// By default every length field and checksum is correct. The set_*()
// overrides, pad(), truncate() and shorten() then break the frame in one
// chosen way, so a malformed-input test states exactly what is wrong.
// Without eth() the result is a bare IP packet: that is how the packet quoted
// by an ICMP error is built (a nested builder), and how an IPIP inner packet
// is built.
//
// Checksums are returned in host order (the value to store big-endian).
// The *_checksum(...) functions over a header or segment that already holds
// its checksum return 0 when that checksum is correct.
//
// Header-only and test-only: it allocates and throws freely.
#pragma once

#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/engine/config.h"
#include "dataplane/engine/wire.h"

namespace sluice::engine::test {

// ---------------------------------------------------------------------------
// Byte helpers.

inline void store_be16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

inline void store_be32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

inline uint16_t load_be16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

inline uint32_t load_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | p[3];
}

// Network-order 16-bit value as it sits in a sluice_flow_key (ports).
inline uint16_t wire16(uint16_t host) { return htons(host); }

// Parses "10.0.0.1" or "2001:db8::1" with inet_pton. Kept local so the test
// helpers do not depend on config.cc; throws on anything else.
inline IpAddress parse_test_address(std::string_view text) {
  const std::string s(text);
  IpAddress a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
    a.family = SLUICE_AF_INET;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
    a.family = SLUICE_AF_INET6;
    return a;
  }
  throw std::invalid_argument("not an IP address: " + s);
}

// ---------------------------------------------------------------------------
// Internet checksum (RFC 1071).

// Adds `len` bytes, as big-endian 16-bit words, to a running 32-bit sum.
inline uint32_t checksum_add(uint32_t sum, const uint8_t* data, size_t len) {
  for (size_t i = 0; i + 1 < len; i += 2) sum += load_be16(data + i);
  if (len & 1) sum += uint32_t{data[len - 1]} << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}

// The one's complement of the folded sum: the checksum field's value.
inline uint16_t checksum_fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// Checksum over an IPv4 header of IHL*4 bytes at `ip`, including the value in
// its check field: store it with check zeroed; verify by expecting 0.
inline uint16_t ipv4_header_checksum(const uint8_t* ip) {
  return checksum_fold(checksum_add(0, ip, (ip[0] & 0x0fu) * 4u));
}

inline bool ipv4_header_checksum_ok(const uint8_t* ip) {
  return ipv4_header_checksum(ip) == 0;
}

// TCP/UDP checksum over the IPv4 pseudo-header (addresses and protocol taken
// from the IPv4 header at `ip`) and the `l4_len` bytes at `l4`.
inline uint16_t ipv4_transport_checksum(const uint8_t* ip, const uint8_t* l4,
                                        size_t l4_len) {
  uint32_t sum = checksum_add(0, ip + offsetof(sluice_ipv4_hdr, saddr), 8);
  sum += ip[offsetof(sluice_ipv4_hdr, protocol)];
  sum += static_cast<uint32_t>(l4_len);
  return checksum_fold(checksum_add(sum, l4, l4_len));
}

// Checksum over the IPv6 pseudo-header (addresses from the IPv6 header at
// `ip6`, the given upper-layer protocol) and the `l4_len` bytes at `l4`.
inline uint16_t ipv6_transport_checksum(const uint8_t* ip6, uint8_t next_header,
                                        const uint8_t* l4, size_t l4_len) {
  uint32_t sum = checksum_add(0, ip6 + offsetof(sluice_ipv6_hdr, saddr), 32);
  sum += static_cast<uint32_t>(l4_len >> 16);
  sum += static_cast<uint32_t>(l4_len & 0xffff);
  sum += next_header;
  return checksum_fold(checksum_add(sum, l4, l4_len));
}

// ICMP (IPv4) checksum: no pseudo-header.
inline uint16_t icmp_checksum(const uint8_t* icmp, size_t len) {
  return checksum_fold(checksum_add(0, icmp, len));
}

// ICMPv6 checksum: the IPv6 pseudo-header with next header 58.
inline uint16_t icmpv6_checksum(const uint8_t* ip6, const uint8_t* icmp,
                                size_t len) {
  return ipv6_transport_checksum(ip6, SLUICE_IPPROTO_ICMPV6, icmp, len);
}

// ---------------------------------------------------------------------------
// The builder.

inline constexpr MacAddress kTestDstMac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
inline constexpr MacAddress kTestSrcMac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};

// Where the layers landed in a built frame (before truncate()/shorten()).
struct FrameLayout {
  size_t l3_offset = 0;       // first byte of the IP header (or L2 payload)
  size_t l4_offset = 0;       // after IPv4 options / IPv6 extension headers
  size_t payload_offset = 0;  // after the L4 header (and an ICMP quote)
  size_t ip_end = 0;          // just past the IP packet
  size_t frame_len = 0;       // including Ethernet padding
};

class FrameBuilder {
 public:
  // --- Layer 2 -------------------------------------------------------------

  FrameBuilder& eth(MacAddress dst = kTestDstMac, MacAddress src = kTestSrcMac) {
    eth_ = true;
    eth_dst_ = dst;
    eth_src_ = src;
    return *this;
  }

  // Adds a tag; calling it twice builds a (nested) double tag.
  FrameBuilder& vlan(uint16_t tci, uint16_t tpid = SLUICE_ETHERTYPE_VLAN) {
    vlans_.push_back({tpid, tci});
    return *this;
  }

  // Overrides the ethertype after the tags (lie about L3, or a non-IP type).
  FrameBuilder& ethertype(uint16_t type) {
    ethertype_ = type;
    return *this;
  }

  // An ARP request (who-has 10.0.0.1) as the L2 payload.
  FrameBuilder& arp() {
    ethertype_ = SLUICE_ETHERTYPE_ARP;
    const uint8_t body[28] = {0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01,
                              0x02, 0, 0, 0, 0, 0x02, 10, 0, 0, 2,
                              0, 0, 0, 0, 0, 0, 10, 0, 0, 1};
    payload_.insert(payload_.end(), body, body + sizeof(body));
    return *this;
  }

  // --- Layer 3 -------------------------------------------------------------

  FrameBuilder& ipv4(std::string_view src, std::string_view dst) {
    return ip(parse_test_address(src), parse_test_address(dst), SLUICE_AF_INET);
  }

  FrameBuilder& ipv6(std::string_view src, std::string_view dst) {
    return ip(parse_test_address(src), parse_test_address(dst), SLUICE_AF_INET6);
  }

  // IPv4 or IPv6, whichever family the addresses have.
  FrameBuilder& ip(const IpAddress& src, const IpAddress& dst) {
    return ip(src, dst, src.family);
  }

  FrameBuilder& tos(uint8_t v) {  // IPv4 TOS or IPv6 traffic class
    tos_ = v;
    return *this;
  }

  FrameBuilder& ttl(uint8_t v) {  // IPv4 TTL or IPv6 hop limit
    ttl_ = v;
    return *this;
  }

  FrameBuilder& flow_label(uint32_t v) {
    flow_label_ = v & 0xfffff;
    return *this;
  }

  FrameBuilder& ipv4_id(uint16_t v) {
    ipv4_id_ = v;
    return *this;
  }

  FrameBuilder& dont_fragment(bool df = true) {
    dont_fragment_ = df;
    return *this;
  }

  // Raw IPv4 options, padded with zeros (End of Options) to 4-byte words.
  FrameBuilder& ipv4_options(std::vector<uint8_t> options) {
    require_family(SLUICE_AF_INET, "ipv4_options");
    while (options.size() % 4 != 0) options.push_back(0);
    ipv4_options_ = std::move(options);
    return *this;
  }

  // IPv4: sets MF and the offset in the header. IPv6: appends a fragment
  // extension header here in the chain. `offset_bytes` must be a multiple
  // of 8.
  FrameBuilder& fragment(uint16_t offset_bytes, bool more_fragments,
                         uint32_t id = 0x1234) {
    if (offset_bytes % 8 != 0) throw std::invalid_argument("fragment offset");
    if (family_ == SLUICE_AF_INET) {
      frag_offset_words_ = offset_bytes / 8;
      more_fragments_ = more_fragments;
      ipv4_id_ = static_cast<uint16_t>(id);
      return *this;
    }
    require_family(SLUICE_AF_INET6, "fragment");
    std::vector<uint8_t> h(8, 0);
    store_be16(&h[2], static_cast<uint16_t>(offset_bytes | (more_fragments ? 1 : 0)));
    store_be32(&h[4], id);
    ext_.push_back({SLUICE_IPPROTO_FRAGMENT, std::move(h)});
    return *this;
  }

  // IPv6 extension headers of `length` bytes (a multiple of 8, at least 8),
  // appended to the chain in call order. Options are one PadN.
  FrameBuilder& hop_by_hop(size_t length = 8) {
    return options_header(SLUICE_IPPROTO_HOPOPTS, length);
  }
  FrameBuilder& dest_opts(size_t length = 8) {
    return options_header(SLUICE_IPPROTO_DSTOPTS, length);
  }
  // Routing type 253 (experimental) with Segments Left 0: every node skips it.
  FrameBuilder& routing(size_t length = 8) {
    std::vector<uint8_t> h = sized_ext(length);
    h[2] = 253;
    h[3] = 0;
    ext_.push_back({SLUICE_IPPROTO_ROUTING, std::move(h)});
    return *this;
  }
  // Any extension header, bytes as given except byte 0 (next header), which
  // build() fills in. Use it for a header whose length byte lies.
  FrameBuilder& ext_header(uint8_t type, std::vector<uint8_t> bytes) {
    require_family(SLUICE_AF_INET6, "ext_header");
    if (bytes.empty()) bytes.push_back(0);
    ext_.push_back({type, std::move(bytes)});
    return *this;
  }

  // The protocol number in the IP header (or the last extension header's
  // next header) instead of the one implied by the L4 call: for fragments
  // without an L4 header, IPIP, or unknown protocols.
  FrameBuilder& ip_proto(uint8_t proto) {
    ip_proto_ = proto;
    return *this;
  }

  // --- Layer 4 -------------------------------------------------------------

  FrameBuilder& tcp(uint16_t sport, uint16_t dport,
                    uint8_t flags = SLUICE_TCP_ACK, uint32_t seq = 1,
                    uint32_t ack = 0) {
    l4_ = L4::kTcp;
    sport_ = sport;
    dport_ = dport;
    tcp_flags_ = flags;
    tcp_seq_ = seq;
    tcp_ack_ = ack;
    return *this;
  }

  // Raw TCP options, padded with zeros (End of Option List) to 4-byte words.
  FrameBuilder& tcp_options(std::vector<uint8_t> options) {
    while (options.size() % 4 != 0) options.push_back(0);
    tcp_options_ = std::move(options);
    return *this;
  }

  FrameBuilder& udp(uint16_t sport, uint16_t dport) {
    l4_ = L4::kUdp;
    sport_ = sport;
    dport_ = dport;
    return *this;
  }

  // ICMP for IPv4, ICMPv6 for IPv6. `rest` is the 4 bytes after the checksum
  // (echo id/sequence, next-hop MTU, ...); `quoted` follows the 8-byte header.
  FrameBuilder& icmp(uint8_t type, uint8_t code, uint32_t rest = 0,
                     std::vector<uint8_t> quoted = {}) {
    l4_ = L4::kIcmp;
    icmp_type_ = type;
    icmp_code_ = code;
    icmp_rest_ = rest;
    icmp_quote_ = std::move(quoted);
    return *this;
  }

  FrameBuilder& icmp_echo(uint16_t id, uint16_t seq, bool request = true) {
    const bool v6 = family_ == SLUICE_AF_INET6;
    const uint8_t type = v6 ? (request ? SLUICE_ICMPV6_ECHO_REQUEST
                                       : SLUICE_ICMPV6_ECHO_REPLY)
                            : (request ? SLUICE_ICMP_ECHO_REQUEST
                                       : SLUICE_ICMP_ECHO_REPLY);
    return icmp(type, 0, (uint32_t{id} << 16) | seq);
  }

  // IPv4 destination unreachable, fragmentation needed, next-hop MTU.
  FrameBuilder& icmp_frag_needed(uint16_t mtu, std::vector<uint8_t> quoted) {
    require_family(SLUICE_AF_INET, "icmp_frag_needed");
    return icmp(SLUICE_ICMP_DEST_UNREACH, SLUICE_ICMP_FRAG_NEEDED, mtu,
                std::move(quoted));
  }

  // IPv4 time exceeded in transit.
  FrameBuilder& icmp_time_exceeded(std::vector<uint8_t> quoted) {
    require_family(SLUICE_AF_INET, "icmp_time_exceeded");
    return icmp(SLUICE_ICMP_TIME_EXCEEDED, 0, 0, std::move(quoted));
  }

  FrameBuilder& icmpv6_packet_too_big(uint32_t mtu, std::vector<uint8_t> quoted) {
    require_family(SLUICE_AF_INET6, "icmpv6_packet_too_big");
    return icmp(SLUICE_ICMPV6_PACKET_TOO_BIG, 0, mtu, std::move(quoted));
  }

  // ICMPv6 neighbour discovery (RFC 4861), hop limit 255 as ND requires:
  // router solicitation (133) / advertisement (134) with a source
  // link-layer option, neighbour solicitation (135) / advertisement (136)
  // for `target` with a link-layer option, redirect (137) of `target`.
  FrameBuilder& icmpv6_nd(uint8_t type, const IpAddress& target = {}) {
    require_family(SLUICE_AF_INET6, "icmpv6_nd");
    ttl(255);
    std::vector<uint8_t> body;
    uint32_t rest = 0;
    if (type == 134) {
      rest = (64u << 24) | 1800;                // cur hop limit, router lifetime
      body.insert(body.end(), 8, 0);            // reachable time, retrans timer
    } else if (type == 135 || type == 136 || type == 137) {
      if (type == 136) rest = 0x60000000;       // solicited, override
      body.insert(body.end(), target.bytes.begin(), target.bytes.end());
      if (type == 137) body.insert(body.end(), target.bytes.begin(), target.bytes.end());
    }
    if (type != 137) {
      // Source (1) or target (2) link-layer address option, 8 bytes.
      body.push_back(type == 136 ? 2 : 1);
      body.push_back(1);
      body.insert(body.end(), kTestSrcMac.begin(), kTestSrcMac.end());
    }
    return icmp(type, 0, rest, std::move(body));
  }

  // Appends `n` payload bytes of value `fill` after the L4 header.
  FrameBuilder& payload(size_t n, uint8_t fill = 0xab) {
    payload_.insert(payload_.end(), n, fill);
    return *this;
  }

  FrameBuilder& payload(const std::vector<uint8_t>& bytes) {
    payload_.insert(payload_.end(), bytes.begin(), bytes.end());
    return *this;
  }

  // --- Overrides, applied after lengths and checksums ------------------------

  FrameBuilder& set_version(uint8_t v) {
    version_ = v;
    return *this;
  }
  FrameBuilder& set_ihl(uint8_t words) {
    ihl_ = words;
    return *this;
  }
  FrameBuilder& set_total_length(uint16_t v) {  // IPv4
    total_length_ = v;
    return *this;
  }
  FrameBuilder& set_payload_length(uint16_t v) {  // IPv6
    payload_length_ = v;
    return *this;
  }
  FrameBuilder& set_tcp_data_offset(uint8_t words) {
    data_offset_ = words;
    return *this;
  }
  FrameBuilder& set_udp_length(uint16_t v) {
    udp_length_ = v;
    return *this;
  }
  // `n` zero bytes after the IP packet, outside every IP length.
  FrameBuilder& pad(size_t n) {
    pad_ = n;
    return *this;
  }
  // Pads the frame to at least `frame_len` bytes (60: the Ethernet minimum
  // without FCS).
  FrameBuilder& pad_to(size_t frame_len) {
    pad_to_ = frame_len;
    return *this;
  }
  // Cuts the finished frame to `len` bytes; the length fields still describe
  // the whole packet.
  FrameBuilder& truncate(size_t len) {
    truncate_ = len;
    return *this;
  }
  // Cuts the finished frame to `len` bytes and rewrites the IPv4 total length
  // / IPv6 payload length (and the IPv4 header checksum) to match, where
  // those fields survive the cut: a consistent IP packet whose inner layers
  // are short. L4 length fields (UDP) are left alone.
  FrameBuilder& shorten(size_t len) {
    shorten_ = len;
    return *this;
  }

  // --- Output --------------------------------------------------------------

  std::vector<uint8_t> build(FrameLayout* layout = nullptr) const {
    std::vector<uint8_t> f;
    FrameLayout lay;
    if (eth_) {
      f.insert(f.end(), eth_dst_.begin(), eth_dst_.end());
      f.insert(f.end(), eth_src_.begin(), eth_src_.end());
      for (const Tag& t : vlans_) {
        put16(f, t.tpid);
        put16(f, t.tci);
      }
      put16(f, l3_ethertype());
    }
    lay.l3_offset = f.size();
    const uint8_t proto = l4_proto();
    if (family_ == SLUICE_AF_INET) {
      f.push_back(static_cast<uint8_t>(0x40 | (5 + ipv4_options_.size() / 4)));
      f.push_back(tos_);
      put16(f, 0);  // total length, below
      put16(f, ipv4_id_);
      put16(f, static_cast<uint16_t>((dont_fragment_ ? SLUICE_IPV4_DF : 0) |
                                     (more_fragments_ ? SLUICE_IPV4_MF : 0) |
                                     frag_offset_words_));
      f.push_back(ttl_);
      f.push_back(proto);
      put16(f, 0);  // checksum, below
      f.insert(f.end(), src_.bytes.begin(), src_.bytes.begin() + 4);
      f.insert(f.end(), dst_.bytes.begin(), dst_.bytes.begin() + 4);
      f.insert(f.end(), ipv4_options_.begin(), ipv4_options_.end());
    } else if (family_ == SLUICE_AF_INET6) {
      put32(f, (6u << 28) | (uint32_t{tos_} << 20) | flow_label_);
      put16(f, 0);  // payload length, below
      f.push_back(ext_.empty() ? proto : ext_.front().type);
      f.push_back(ttl_);
      f.insert(f.end(), src_.bytes.begin(), src_.bytes.end());
      f.insert(f.end(), dst_.bytes.begin(), dst_.bytes.end());
      for (size_t i = 0; i < ext_.size(); ++i) {
        const size_t at = f.size();
        f.insert(f.end(), ext_[i].bytes.begin(), ext_[i].bytes.end());
        f[at] = i + 1 < ext_.size() ? ext_[i + 1].type : proto;
      }
    }
    lay.l4_offset = f.size();
    switch (l4_) {
      case L4::kNone:
        break;
      case L4::kTcp:
        put16(f, sport_);
        put16(f, dport_);
        put32(f, tcp_seq_);
        put32(f, tcp_ack_);
        f.push_back(static_cast<uint8_t>((5 + tcp_options_.size() / 4) << 4));
        f.push_back(tcp_flags_);
        put16(f, 65535);  // window
        put16(f, 0);      // checksum, below
        put16(f, 0);      // urgent pointer
        f.insert(f.end(), tcp_options_.begin(), tcp_options_.end());
        break;
      case L4::kUdp:
        put16(f, sport_);
        put16(f, dport_);
        put16(f, 0);  // length, below
        put16(f, 0);  // checksum, below
        break;
      case L4::kIcmp:
        f.push_back(icmp_type_);
        f.push_back(icmp_code_);
        put16(f, 0);  // checksum, below
        put32(f, icmp_rest_);
        f.insert(f.end(), icmp_quote_.begin(), icmp_quote_.end());
        break;
    }
    lay.payload_offset = f.size();
    f.insert(f.end(), payload_.begin(), payload_.end());
    lay.ip_end = f.size();

    fill_lengths_and_checksums(f, lay);
    apply_overrides(f, lay);

    f.insert(f.end(), pad_, 0);
    if (f.size() < pad_to_) f.resize(pad_to_, 0);
    lay.frame_len = f.size();
    if (shorten_ && *shorten_ < f.size()) {
      f.resize(*shorten_);
      rewrite_ip_length(f, lay.l3_offset);
    }
    if (truncate_ && *truncate_ < f.size()) f.resize(*truncate_);
    if (layout) *layout = lay;
    return f;
  }

 private:
  enum class L4 : uint8_t { kNone, kTcp, kUdp, kIcmp };
  struct Tag {
    uint16_t tpid;
    uint16_t tci;
  };
  struct Ext {
    uint8_t type;
    std::vector<uint8_t> bytes;
  };

  static void put16(std::vector<uint8_t>& f, uint16_t v) {
    f.push_back(static_cast<uint8_t>(v >> 8));
    f.push_back(static_cast<uint8_t>(v));
  }
  static void put32(std::vector<uint8_t>& f, uint32_t v) {
    put16(f, static_cast<uint16_t>(v >> 16));
    put16(f, static_cast<uint16_t>(v));
  }

  FrameBuilder& ip(const IpAddress& src, const IpAddress& dst, uint8_t family) {
    if (src.family != family || dst.family != family) {
      throw std::invalid_argument("address family mismatch");
    }
    family_ = family;
    src_ = src;
    dst_ = dst;
    return *this;
  }

  void require_family(uint8_t family, const char* what) const {
    if (family_ != family) {
      throw std::logic_error(std::string(what) + ": wrong or missing IP layer");
    }
  }

  static std::vector<uint8_t> sized_ext(size_t length) {
    if (length < 8 || length % 8 != 0 || length > 8 * 256) {
      throw std::invalid_argument("extension header length");
    }
    std::vector<uint8_t> h(length, 0);
    h[1] = static_cast<uint8_t>(length / 8 - 1);
    return h;
  }

  FrameBuilder& options_header(uint8_t type, size_t length) {
    require_family(SLUICE_AF_INET6, "extension header");
    std::vector<uint8_t> h = sized_ext(length);
    h[2] = 1;  // PadN covering the rest of the header
    h[3] = static_cast<uint8_t>(length - 4);
    ext_.push_back({type, std::move(h)});
    return *this;
  }

  uint16_t l3_ethertype() const {
    if (ethertype_) return *ethertype_;
    if (family_ == SLUICE_AF_INET) return SLUICE_ETHERTYPE_IPV4;
    if (family_ == SLUICE_AF_INET6) return SLUICE_ETHERTYPE_IPV6;
    return 0x88b5;  // IEEE local experimental: no L3 was asked for
  }

  uint8_t l4_proto() const {
    if (ip_proto_) return *ip_proto_;
    switch (l4_) {
      case L4::kTcp:
        return SLUICE_IPPROTO_TCP;
      case L4::kUdp:
        return SLUICE_IPPROTO_UDP;
      case L4::kIcmp:
        return family_ == SLUICE_AF_INET6 ? SLUICE_IPPROTO_ICMPV6
                                          : SLUICE_IPPROTO_ICMP;
      case L4::kNone:
        break;
    }
    // Nothing after the IP header: IPv6 says so; IPv4 uses 253 (RFC 3692).
    return family_ == SLUICE_AF_INET6 ? SLUICE_IPPROTO_NONE : 253;
  }

  void fill_lengths_and_checksums(std::vector<uint8_t>& f,
                                  const FrameLayout& lay) const {
    if (family_ == 0) return;
    uint8_t* ip = f.data() + lay.l3_offset;
    uint8_t* l4 = f.data() + lay.l4_offset;
    const size_t l4_len = lay.ip_end - lay.l4_offset;
    const bool v4 = family_ == SLUICE_AF_INET;
    if (v4) {
      store_be16(ip + 2, static_cast<uint16_t>(lay.ip_end - lay.l3_offset));
    } else {
      store_be16(ip + 4, static_cast<uint16_t>(lay.ip_end - lay.l3_offset - 40));
    }
    const uint8_t proto = l4_proto();
    switch (l4_) {
      case L4::kNone:
        break;
      case L4::kTcp:
        store_be16(l4 + 16, v4 ? ipv4_transport_checksum(ip, l4, l4_len)
                               : ipv6_transport_checksum(ip, proto, l4, l4_len));
        break;
      case L4::kUdp: {
        store_be16(l4 + 4, static_cast<uint16_t>(l4_len));
        uint16_t sum = v4 ? ipv4_transport_checksum(ip, l4, l4_len)
                          : ipv6_transport_checksum(ip, proto, l4, l4_len);
        store_be16(l4 + 6, sum == 0 ? 0xffff : sum);  // 0 means "none"
        break;
      }
      case L4::kIcmp:
        store_be16(l4 + 2, v4 ? icmp_checksum(l4, l4_len)
                              : icmpv6_checksum(ip, l4, l4_len));
        break;
    }
    if (v4) store_be16(ip + 10, ipv4_header_checksum(ip));
  }

  void apply_overrides(std::vector<uint8_t>& f, const FrameLayout& lay) const {
    if (family_ == 0) return;
    uint8_t* ip = f.data() + lay.l3_offset;
    uint8_t* l4 = f.data() + lay.l4_offset;
    if (version_) ip[0] = static_cast<uint8_t>((*version_ << 4) | (ip[0] & 0x0f));
    if (ihl_) ip[0] = static_cast<uint8_t>((ip[0] & 0xf0) | (*ihl_ & 0x0f));
    if (total_length_) store_be16(ip + 2, *total_length_);
    if (payload_length_) store_be16(ip + 4, *payload_length_);
    if (data_offset_ && l4_ == L4::kTcp) {
      l4[12] = static_cast<uint8_t>((*data_offset_ << 4) | (l4[12] & 0x0f));
    }
    if (udp_length_ && l4_ == L4::kUdp) store_be16(l4 + 4, *udp_length_);
  }

  void rewrite_ip_length(std::vector<uint8_t>& f, size_t l3) const {
    const size_t n = f.size();
    if (family_ == SLUICE_AF_INET && n >= l3 + 20) {
      store_be16(&f[l3 + 2], static_cast<uint16_t>(n - l3));
      const size_t ihl = (f[l3] & 0x0fu) * 4u;
      if (n >= l3 + ihl) {
        store_be16(&f[l3 + 10], 0);
        store_be16(&f[l3 + 10], ipv4_header_checksum(&f[l3]));
      }
    } else if (family_ == SLUICE_AF_INET6 && n >= l3 + 40) {
      store_be16(&f[l3 + 4], static_cast<uint16_t>(n - l3 - 40));
    }
  }

  // Layer 2.
  bool eth_ = false;
  MacAddress eth_dst_ = kTestDstMac;
  MacAddress eth_src_ = kTestSrcMac;
  std::vector<Tag> vlans_;
  std::optional<uint16_t> ethertype_;
  // Layer 3.
  uint8_t family_ = 0;  // 0: no IP layer
  IpAddress src_;
  IpAddress dst_;
  uint8_t tos_ = 0;
  uint8_t ttl_ = 64;
  uint32_t flow_label_ = 0;
  uint16_t ipv4_id_ = 0;
  bool dont_fragment_ = false;
  bool more_fragments_ = false;
  uint16_t frag_offset_words_ = 0;
  std::vector<uint8_t> ipv4_options_;
  std::vector<Ext> ext_;
  std::optional<uint8_t> ip_proto_;
  // Layer 4.
  L4 l4_ = L4::kNone;
  uint16_t sport_ = 0;
  uint16_t dport_ = 0;
  uint8_t tcp_flags_ = 0;
  uint32_t tcp_seq_ = 0;
  uint32_t tcp_ack_ = 0;
  std::vector<uint8_t> tcp_options_;
  uint8_t icmp_type_ = 0;
  uint8_t icmp_code_ = 0;
  uint32_t icmp_rest_ = 0;
  std::vector<uint8_t> icmp_quote_;
  std::vector<uint8_t> payload_;
  // Overrides.
  std::optional<uint8_t> version_;
  std::optional<uint8_t> ihl_;
  std::optional<uint16_t> total_length_;
  std::optional<uint16_t> payload_length_;
  std::optional<uint8_t> data_offset_;
  std::optional<uint16_t> udp_length_;
  size_t pad_ = 0;
  size_t pad_to_ = 0;
  std::optional<size_t> truncate_;
  std::optional<size_t> shorten_;
};

}  // namespace sluice::engine::test
