// SPDX-License-Identifier: Apache-2.0
// Answering a client whose packet would be too big once encapsulated
// (icmp_too_big.h builds the bytes; the XDP program uses the same header).
#pragma once

#include <cstdint>

#include "dataplane/engine/packet.h"
#include "dataplane/engine/parse.h"
#include "dataplane/engine/verdict.h"

namespace sluice::engine {

// Turns the client packet described by `parsed` into the ICMP
// fragmentation-needed / ICMPv6 packet-too-big answer to its sender, in
// place, reporting `mtu`. The caller has checked with sluice_too_big_answer
// that it is to be answered. Returns kNone, or leaves pkt unchanged and
// returns kNoHeadroom (the headers need 28 or 48 bytes in front of the
// frame) or kTooBig (the frame is shorter than the parse says, or the
// packet shorter than the quote).
DropReason make_too_big_reply(Packet& pkt, const ParsedPacket& parsed, uint16_t mtu);

}  // namespace sluice::engine
