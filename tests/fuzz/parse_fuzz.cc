// libFuzzer target for sluice::engine::parse_packet.
//
// Beyond "no crash, no out-of-bounds read" (ASan sees the input as a heap
// block of exactly `size` bytes), it checks the promises parse.h makes:
// offsets ordered and inside the frame, a drop reason exactly when the
// frame is malformed, ports cleared where the header says so, bytes past the
// IP packet ignored, and no dependence on what the output held before.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "dataplane/engine/flow_hash.h"
#include "dataplane/engine/parse.h"
#include "dataplane/engine/verdict.h"

namespace {

using sluice::engine::DropReason;
using sluice::engine::ParsedPacket;
using sluice::engine::ParseStatus;

constexpr uint16_t kEthertypeIpv4 = 0x0800;
constexpr uint16_t kEthertypeIpv6 = 0x86dd;
constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoIcmpv6 = 58;

#define FUZZ_CHECK(cond)                                                          \
  do {                                                                            \
    if (!(cond)) {                                                                \
      fprintf(stderr, "parse_fuzz: invariant failed at %s:%d: %s\n", __FILE__,    \
              __LINE__, #cond);                                                   \
      abort();                                                                    \
    }                                                                             \
  } while (0)

bool same_key(const sluice_flow_key& a, const sluice_flow_key& b) {
  return memcmp(&a, &b, sizeof(a)) == 0;  // the key has no implicit padding
}

// The fields parse.h says are valid for the packet's status.
bool same_result(const ParsedPacket& a, const ParsedPacket& b) {
  if (a.status != b.status || a.drop_reason != b.drop_reason) return false;
  if (a.status == ParseStatus::kMalformed) return true;
  if (a.ethertype != b.ethertype || a.has_vlan != b.has_vlan || a.vlan_tci != b.vlan_tci ||
      a.l3_offset != b.l3_offset) {
    return false;
  }
  if (a.status == ParseStatus::kNotIp) return true;
  if (a.l4_offset != b.l4_offset || a.l3_end != b.l3_end || a.tos != b.tos ||
      a.dont_fragment != b.dont_fragment || a.ip_id != b.ip_id || a.is_fragment != b.is_fragment ||
      a.first_fragment != b.first_fragment || !same_key(a.key, b.key) ||
      a.tcp_flags != b.tcp_flags || a.icmp_type != b.icmp_type || a.icmp_code != b.icmp_code ||
      a.has_inner != b.has_inner) {
    return false;
  }
  return !a.has_inner || same_key(a.inner, b.inner);
}

void check_key(const sluice_flow_key& key) {
  FUZZ_CHECK(key.family == SLUICE_AF_INET || key.family == SLUICE_AF_INET6);
  FUZZ_CHECK(key.pad[0] == 0 && key.pad[1] == 0);
  if (key.family == SLUICE_AF_INET) {
    // IPv4 addresses use the first 4 bytes; the other 12 are zero.
    for (int i = 4; i < 16; ++i) FUZZ_CHECK(key.src[i] == 0 && key.dst[i] == 0);
  }
}

void check_invariants(const ParsedPacket& p, uint32_t len) {
  switch (p.status) {
    case ParseStatus::kMalformed:
      FUZZ_CHECK(p.drop_reason != DropReason::kNone);
      return;
    case ParseStatus::kNotIp:
      FUZZ_CHECK(p.drop_reason == DropReason::kNone);
      FUZZ_CHECK(p.ethertype != kEthertypeIpv4 && p.ethertype != kEthertypeIpv6);
      FUZZ_CHECK(p.l3_offset <= len);
      return;
    case ParseStatus::kOk:
      break;
    default:
      FUZZ_CHECK(!"status outside ParseStatus");
  }
  FUZZ_CHECK(p.drop_reason == DropReason::kNone);
  // Ethernet plus at most one VLAN tag.
  FUZZ_CHECK(p.l3_offset == (p.has_vlan ? 18 : 14));
  FUZZ_CHECK(p.l3_offset <= p.l4_offset);
  FUZZ_CHECK(p.l4_offset <= p.l3_end);
  FUZZ_CHECK(p.l3_end <= len);
  check_key(p.key);
  if (p.key.family == SLUICE_AF_INET) {
    FUZZ_CHECK(p.ethertype == kEthertypeIpv4);
    FUZZ_CHECK(p.l4_offset - p.l3_offset >= 20);
  } else {
    FUZZ_CHECK(p.ethertype == kEthertypeIpv6);
    FUZZ_CHECK(p.l4_offset - p.l3_offset >= 40);
    FUZZ_CHECK(p.dont_fragment);  // always true for IPv6
  }
  if (p.first_fragment) FUZZ_CHECK(p.is_fragment);
  // Ports are zero for ICMP and for fragments that do not carry L4.
  if (p.is_fragment && !p.first_fragment) FUZZ_CHECK(p.key.sport == 0 && p.key.dport == 0);
  if (p.key.proto == kProtoIcmp || p.key.proto == kProtoIcmpv6) {
    FUZZ_CHECK(p.key.sport == 0 && p.key.dport == 0);
  }
  if (p.has_inner) {
    // Only ICMP errors quote a packet, and they quote their own family.
    FUZZ_CHECK(p.key.proto == kProtoIcmp || p.key.proto == kProtoIcmpv6);
    check_key(p.inner);
    FUZZ_CHECK(p.inner.family == p.key.family);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 0xffff) return -1;  // frames are at most 64 KiB; offsets are 16-bit
  const auto len = static_cast<uint32_t>(size);

  ParsedPacket first;
  sluice::engine::parse_packet(data, len, &first);
  check_invariants(first, len);

  // The result must not depend on what the output held before (the engine
  // reuses one ParsedPacket per packet of a burst).
  ParsedPacket poisoned;
  // 0x01 bytes: unlike the defaults in every byte, yet valid bools and enums.
  memset(static_cast<void*>(&poisoned), 0x01, sizeof(poisoned));
  sluice::engine::parse_packet(data, len, &poisoned);
  FUZZ_CHECK(same_result(first, poisoned));

  // Bytes past the IP packet (Ethernet padding) are ignored: cutting them
  // off changes nothing.
  if (first.status == ParseStatus::kOk && first.l3_end < len) {
    ParsedPacket cut;
    sluice::engine::parse_packet(data, first.l3_end, &cut);
    FUZZ_CHECK(same_result(first, cut));
  }
  return 0;
}
