// SPDX-License-Identifier: Apache-2.0
#include "dataplane/xdp/backend_health.h"

#include <numeric>
#include <vector>

#include "dataplane/xdp/map_io.h"
#include "ebpf/xdp/xdp_layout.h"

namespace sluice::xdp {

void set_backend_health(const XdpMaps& maps, uint32_t slot, uint8_t health) {
  if (slot >= map_max_entries(maps.backend_health, "backend_health")) return;
  update_elements(maps.backend_health, "backend_health", &slot, sizeof(slot), &health,
                  sizeof(health), 1);
}

void clear_backend_health(const XdpMaps& maps) {
  const uint32_t size = map_max_entries(maps.backend_health, "backend_health");
  std::vector<uint32_t> slots(size);
  std::iota(slots.begin(), slots.end(), 0u);
  const std::vector<uint8_t> unknown(size, SLUICE_HEALTH_UNKNOWN);
  update_elements(maps.backend_health, "backend_health", slots.data(), sizeof(uint32_t),
                  unknown.data(), sizeof(uint8_t), size);
}

uint8_t backend_health(const XdpMaps& maps, uint32_t slot) {
  uint8_t health = SLUICE_HEALTH_UNKNOWN;
  if (slot < map_max_entries(maps.backend_health, "backend_health")) {
    lookup_element(maps.backend_health, "backend_health", &slot, &health);
  }
  return health;
}

}  // namespace sluice::xdp
