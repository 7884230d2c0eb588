// SPDX-License-Identifier: Apache-2.0
// What a compiled engine Snapshot becomes in one configuration slot of the
// XDP maps (ebpf/xdp/xdp_layout.h): every key and value, built in memory
// with no syscall, so the writer can compare it with what the slot already
// holds and write only the difference.
//
// Layout of a slot, in service order: service i is service_config entry i;
// its backends follow those of the services before it in "backends"; its
// pools' Maglev tables follow the tables before them in "maglev", each
// starting on a value boundary (a multiple of SLUICE_XDP_MAGLEV_PER_VALUE
// entries), so a table that did not change occupies the very same values.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/engine/snapshot.h"
#include "dataplane/xdp/xdp_maps.h"
#include "ebpf/xdp/xdp_layout.h"

namespace sluice::xdp {

// Hash-map contents: (key, value) sorted by the key's bytes.
template <typename Key>
using HashImage = std::vector<std::pair<Key, uint32_t>>;

template <typename Key>
bool key_less(const Key& a, const Key& b) {
  return std::memcmp(&a, &b, sizeof(Key)) < 0;
}

// Sorts by key; of equal keys the first added stays (stable sort), as the
// engine keeps the first of equal listeners, fingerprints and prefixes.
template <typename Key>
void sort_by_key(HashImage<Key>& image) {
  auto less = [](const auto& a, const auto& b) { return key_less(a.first, b.first); };
  auto equal = [](const auto& a, const auto& b) {
    return std::memcmp(&a.first, &b.first, sizeof(Key)) == 0;
  };
  std::stable_sort(image.begin(), image.end(), less);
  image.erase(std::unique(image.begin(), image.end(), equal), image.end());
}

struct SlotImage {
  sluice_xdp_globals globals{};
  HashImage<sluice_xdp_service_key> services;
  HashImage<sluice_xdp_vip_key> vips;
  std::vector<sluice_xdp_service> service_config;  // index: service
  std::vector<sluice_xdp_backend> backends;        // index: slot-relative backend
  HashImage<sluice_xdp_backend_key> backend_index;
  std::vector<sluice_xdp_maglev> maglev;  // index: slot-relative value
  HashImage<sluice_xdp_rule_key> rules;
};

// Why `snapshot` does not fit maps of this capacity (empty when it fits),
// one message per exceeded limit, naming the map and the numbers.
std::vector<std::string> capacity_errors(const engine::Snapshot& snapshot,
                                         const XdpCapacity& capacity);

// The contents of `slot` for `snapshot`. `tx_ifindex` is the interface
// forwarded frames leave by (0: XDP_TX out of the receiving one). The
// snapshot must fit (capacity_errors empty).
SlotImage build_slot_image(const engine::Snapshot& snapshot, uint32_t slot,
                           uint32_t tx_ifindex);

// Keys as the program builds them (exposed for tests and readers).
sluice_xdp_service_key service_key(uint32_t slot, const engine::ServiceConfig& service);
sluice_xdp_vip_key vip_key(uint32_t slot, const engine::IpAddress& vip);
sluice_xdp_backend_key backend_key(uint32_t slot, uint32_t service, uint64_t fingerprint);
sluice_xdp_rule_key rule_key(uint32_t slot, uint32_t service, const engine::Cidr& source);

// Which slot a key of each map belongs to.
inline uint32_t slot_of(const sluice_xdp_service_key& k) { return k.slot; }
inline uint32_t slot_of(const sluice_xdp_vip_key& k) { return k.slot; }
inline uint32_t slot_of(const sluice_xdp_backend_key& k) { return k.slot_service >> 24; }
inline uint32_t slot_of(const sluice_xdp_rule_key& k) { return k.slot_service[0]; }

}  // namespace sluice::xdp
