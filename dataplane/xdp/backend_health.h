// SPDX-License-Identifier: Apache-2.0
// The XDP program's health table: the "backend_health" map, one byte per
// backend counter slot (SLUICE_HEALTH_UNKNOWN, _HEALTHY, _UNHEALTHY;
// ebpf/xdp/xdp_layout.h), which the program reads when it picks a backend
// for a new flow. Health is sluiced's state, not the configuration's: the
// map is written in place (not double-buffered, no generation), and it is
// cleared whenever sluiced starts, so a restart begins with every backend
// unknown, that is served, whatever an earlier sluiced had marked.
#pragma once

#include <cstdint>

#include "dataplane/xdp/xdp_maps.h"

namespace sluice::xdp {

// Marks backend counter slot `slot`. Slots beyond the map's size are
// ignored (the program reads them as unknown). Throws XdpError when the
// kernel refuses the update.
void set_backend_health(const XdpMaps& maps, uint32_t slot, uint8_t health);

// Sets every slot to SLUICE_HEALTH_UNKNOWN (one batched write).
void clear_backend_health(const XdpMaps& maps);

// The health of one slot (SLUICE_HEALTH_UNKNOWN beyond the map's size).
uint8_t backend_health(const XdpMaps& maps, uint32_t slot);

}  // namespace sluice::xdp
