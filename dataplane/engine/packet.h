// SPDX-License-Identifier: Apache-2.0
// A view of one frame in a buffer: how the engine sees a packet without
// knowing about rte_mbuf or xdp_md. The DPDK runtime fills these from mbufs
// and copies data/len back after the burst.
#pragma once

#include <cstdint>

namespace sluice::engine {

struct Packet {
  uint8_t* data;      // first byte of the Ethernet header
  uint32_t len;       // bytes of frame from data
  uint32_t headroom;  // writable bytes before data; encapsulation prepends here
};

}  // namespace sluice::engine
