// SPDX-License-Identifier: Apache-2.0
// Runs only for packets too big to forward, at most the ICMP rate limit's
// worth per second (Worker::too_big): shaped for clarity, not speed.
#include "dataplane/engine/too_big.h"

#include "dataplane/engine/icmp_too_big.h"

namespace sluice::engine {

DropReason make_too_big_reply(Packet& pkt, const ParsedPacket& parsed, uint16_t mtu) {
  const bool v6 = parsed.key.family == SLUICE_AF_INET6;
  const uint32_t front = v6 ? SLUICE_TOO_BIG_FRONT_V6 : SLUICE_TOO_BIG_FRONT_V4;
  const uint32_t quote_len = v6 ? SLUICE_TOO_BIG_QUOTE_V6 : SLUICE_TOO_BIG_QUOTE_V4;
  const uint32_t l2_len = parsed.l3_offset;
  if (parsed.status != ParseStatus::kOk || parsed.l3_end > pkt.len ||
      uint32_t{parsed.l3_end} < l2_len + quote_len) {
    return DropReason::kTooBig;
  }
  if (pkt.headroom < front) return DropReason::kNoHeadroom;

  // The quote stays where the client's packet starts; everything else
  // moves `front` bytes toward the headroom.
  uint8_t* const old_start = pkt.data;
  uint8_t* const start = old_start - front;
  sluice_write_too_big_l2(start, old_start, parsed.has_vlan);
  uint8_t* const ip = start + l2_len;
  const uint64_t quote_sum = sluice_csum_words(ip + front, quote_len);
  if (v6) {
    sluice_write_too_big_v6(ip, mtu, quote_sum);
  } else {
    sluice_write_too_big_v4(ip, mtu, quote_sum);
  }
  pkt.data = start;
  pkt.headroom -= front;
  pkt.len = l2_len + front + quote_len;
  return DropReason::kNone;
}

}  // namespace sluice::engine
