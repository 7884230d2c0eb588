// SPDX-License-Identifier: Apache-2.0
// What the engine decides for each packet, and why it drops one.
//
// Drop reasons are declared once, as an X-macro, so the enum, the names that
// counters and logs print, and the count of reasons can never disagree.
#pragma once

#include <cstdint>
#include <string_view>

namespace sluice::engine {

// X(Name, "printed-name", "what it means")
#define SLUICE_DROP_REASONS(X)                                                             \
  X(kNone, "none", "not dropped")                                                          \
  X(kTruncatedEthernet, "truncated-ethernet", "frame shorter than its Ethernet/VLAN header") \
  X(kNestedVlan, "nested-vlan", "more than one 802.1Q/802.1ad tag")                        \
  X(kTruncatedIp, "truncated-ip", "frame ends inside the IPv4/IPv6 header")                 \
  X(kBadIpVersion, "bad-ip-version", "IP version field disagrees with the ethertype")      \
  X(kBadIpHeaderLength, "bad-ip-header-length", "IPv4 IHL below 5 or beyond the frame")     \
  X(kBadIpTotalLength, "bad-ip-total-length", "IP total/payload length beyond the frame or below the header") \
  X(kBadIpv6ExtensionHeader, "bad-ipv6-extension", "IPv6 extension header truncated, too many, or misplaced") \
  X(kTruncatedL4, "truncated-l4", "packet ends inside the TCP/UDP/ICMP header")            \
  X(kBadTcpDataOffset, "bad-tcp-data-offset", "TCP data offset below 5 or beyond the packet") \
  X(kBadUdpLength, "bad-udp-length", "UDP length below 8 or beyond the packet")           \
  X(kTruncatedIcmpInner, "truncated-icmp-inner", "ICMP error whose quoted header is cut short") \
  X(kFragment, "fragment", "IP fragment addressed to a VIP (policy: not balanced)")        \
  X(kUnsupportedProtocol, "unsupported-protocol", "protocol a VIP does not serve")        \
  X(kNoService, "no-service", "addressed to a VIP but no service on that port/protocol")   \
  X(kNoPool, "no-pool", "every pool of the service has weight 0")                          \
  X(kNoBackend, "no-backend", "the chosen pool and the fallback have no usable backend")   \
  X(kNoHeadroom, "no-headroom", "buffer lacks headroom for the encapsulation header")      \
  X(kTooBig, "too-big", "encapsulated frame would exceed the maximum frame size")          \
  X(kNoFlowForIcmp, "icmp-no-flow", "ICMP error toward a VIP whose inner flow has no backend") \
  X(kBadIcmp, "bad-icmp", "ICMP type toward a VIP that is neither echo nor a PMTU error")

enum class DropReason : uint8_t {
#define SLUICE_X(name, str, help) name,
  SLUICE_DROP_REASONS(SLUICE_X)
#undef SLUICE_X
};

inline constexpr int kDropReasonCount = 0
#define SLUICE_X(name, str, help) +1
    SLUICE_DROP_REASONS(SLUICE_X)
#undef SLUICE_X
    ;

// The printed name of a reason ("truncated-ip").
inline constexpr std::string_view drop_reason_name(DropReason r) {
  switch (r) {
#define SLUICE_X(name, str, help) \
  case DropReason::name:          \
    return str;
    SLUICE_DROP_REASONS(SLUICE_X)
#undef SLUICE_X
  }
  return "unknown";
}

enum class Action : uint8_t {
  kForward,  // transmit the (rewritten) frame on the port it came from
  kHost,     // not for the load balancer: hand to the kernel (ARP, own address)
  kDrop,     // discard; the reason says why
};

struct Verdict {
  Action action = Action::kDrop;
  DropReason reason = DropReason::kNone;
};

}  // namespace sluice::engine
