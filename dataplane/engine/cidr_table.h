// SPDX-License-Identifier: Apache-2.0
// Longest-prefix match of client source addresses: the source rules of a
// service (SourceRule in config.h) that send some clients to a chosen pool
// ahead of the weighted split.
//
// Built once by the control plane, then only read: lookup() runs per new
// flow on the hot path, so it is const, allocation-free, lock-free (the
// table is immutable once published) and bounded to one step per address
// bit plus one (33 for IPv4, 129 for IPv6).
//
// Why a binary trie in one std::vector of nodes (child indices, not
// pointers) rather than one hash set per prefix length:
//  - The work of a lookup is bounded by the address width alone, and it
//    stops early at the first missing child, so a service with a few short
//    prefixes pays a few steps. Per-length hash sets cost one hash and probe
//    per distinct length present (up to 33 / 129 hashes), with no early exit
//    unless a second structure tracks which lengths can still match.
//  - Longest match falls out of the walk: remember the last node that holds
//    a value. No ordering of lengths, no hash function to keep collision-
//    resistant against chosen source addresses.
//  - One contiguous vector copies and frees as a unit and has no per-node
//    allocations; nodes are 16 bytes.
// Rule counts are small (kMaxRulesPerService = 4096), so the trie's memory
// (at most one node per prefix bit) stays in the low megabytes even in the
// worst case of 4096 unrelated /128s.
#pragma once

#include <cstdint>
#include <vector>

#include "dataplane/engine/config.h"
#include "dataplane/engine/flow_hash.h"

namespace sluice::engine {

class CidrTable {
 public:
  // lookup() result when no prefix of the address's family matches.
  static constexpr int64_t kNoMatch = -1;

  CidrTable();

  // Adds a prefix with its value. Returns false, changing nothing, when the
  // exact prefix (same family, bits and length) is already present, or when
  // the prefix is malformed: family neither SLUICE_AF_INET nor
  // SLUICE_AF_INET6, length beyond the family's width, or host bits set
  // beyond the length (validation rejects all of these earlier).
  bool insert(const Cidr& prefix, uint32_t value);

  // The value of the longest inserted prefix of `family` that contains the
  // address, or kNoMatch. `addr` points to 16 bytes in network byte order as
  // in sluice_flow_key::src (IPv4 in the first 4, the rest ignored);
  // `family` is SLUICE_AF_INET or SLUICE_AF_INET6, anything else matches
  // nothing. IPv4 prefixes never match IPv6 addresses and vice versa (an
  // IPv4-mapped IPv6 address is an IPv6 address here).
  int64_t lookup(const uint8_t* addr, uint8_t family) const;

  // Convenience for the control plane and tests.
  int64_t lookup(const IpAddress& address) const {
    return lookup(address.bytes.data(), address.family);
  }

  // Number of prefixes inserted.
  size_t size() const { return prefixes_; }
  bool empty() const { return prefixes_ == 0; }

 private:
  struct Node {
    uint32_t child[2];  // index into nodes_; 0 = none (node 0 is a root)
    uint32_t value;
    uint32_t has_value;  // 0 or 1; a whole word keeps the node 16 bytes
  };
  static constexpr uint32_t kRootV4 = 0;
  static constexpr uint32_t kRootV6 = 1;

  std::vector<Node> nodes_;
  size_t prefixes_ = 0;
};

}  // namespace sluice::engine
