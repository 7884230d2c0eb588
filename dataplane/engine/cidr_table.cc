// SPDX-License-Identifier: Apache-2.0
#include "dataplane/engine/cidr_table.h"

namespace sluice::engine {
namespace {

// Bit `i` of a big-endian address (bit 0 is the top bit of byte 0).
inline uint32_t address_bit(const uint8_t* addr, int i) {
  return (addr[i >> 3] >> (7 - (i & 7))) & 1u;
}

}  // namespace

CidrTable::CidrTable() : nodes_(2, Node{{0, 0}, 0, 0}) {}

bool CidrTable::insert(const Cidr& prefix, uint32_t value) {
  const uint8_t family = prefix.address.family;
  if (family != SLUICE_AF_INET && family != SLUICE_AF_INET6) return false;
  const int width = family == SLUICE_AF_INET ? 32 : 128;
  const int length = prefix.length;
  if (length > width) return false;
  const uint8_t* addr = prefix.address.bytes.data();
  for (int i = length; i < width; ++i) {
    if (address_bit(addr, i) != 0) return false;
  }

  // Check before creating nodes, so a rejected insert changes nothing.
  uint32_t node = family == SLUICE_AF_INET ? kRootV4 : kRootV6;
  int depth = 0;
  for (; depth < length; ++depth) {
    uint32_t next = nodes_[node].child[address_bit(addr, depth)];
    if (next == 0) break;
    node = next;
  }
  if (depth == length && nodes_[node].has_value) return false;

  for (; depth < length; ++depth) {
    uint32_t bit = address_bit(addr, depth);
    uint32_t fresh = static_cast<uint32_t>(nodes_.size());
    nodes_.push_back(Node{{0, 0}, 0, 0});
    nodes_[node].child[bit] = fresh;
    node = fresh;
  }
  nodes_[node].value = value;
  nodes_[node].has_value = 1;
  ++prefixes_;
  return true;
}

int64_t CidrTable::lookup(const uint8_t* addr, uint8_t family) const {
  int width;
  uint32_t node;
  if (family == SLUICE_AF_INET) {
    width = 32;
    node = kRootV4;
  } else if (family == SLUICE_AF_INET6) {
    width = 128;
    node = kRootV6;
  } else {
    return kNoMatch;
  }

  // Only a moved-from table has no roots.
  if (nodes_.empty()) return kNoMatch;
  const Node* nodes = nodes_.data();
  int64_t best = nodes[node].has_value ? int64_t{nodes[node].value} : kNoMatch;
  // One step per address bit at most; stops at the first missing child.
  for (int i = 0; i < width; ++i) {
    node = nodes[node].child[address_bit(addr, i)];
    if (node == 0) break;
    if (nodes[node].has_value) best = nodes[node].value;
  }
  return best;
}

}  // namespace sluice::engine
