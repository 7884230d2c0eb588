/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Backend health from sluiced's active checks: the "backend_health" map, one
 * byte per backend counter slot (xdp_layout.h), as the engine reads its
 * BackendHealthTable. SLUICE_HEALTH_UNHEALTHY: the backend takes no new
 * flow (schedule.h skips it like an open circuit), and its established
 * flows move when the service asks for it (flow.h). Unknown and healthy
 * backends are served alike; only the circuit tells them apart (passive
 * signals suspect a HEALTHY backend rather than eject it,
 * circuit_logic.h), so a slot the map cannot hold, or a map sluiced has
 * just cleared, reads UNKNOWN: the passive rules of before.
 */
#pragma once

#include "ebpf/xdp/lib/common.h"

/* BackendHealthTable::get. */
SLUICE_XDP_INLINE uint8_t sluice_backend_health(const struct sluice_xdp_backend *b)
{
	const uint32_t slot = b->counter_slot;
	const uint8_t *health = bpf_map_lookup_elem(&backend_health, &slot);

	return health ? *health : SLUICE_HEALTH_UNKNOWN;
}

SLUICE_XDP_INLINE bool sluice_backend_unhealthy(const struct sluice_xdp_backend *b)
{
	return sluice_backend_health(b) == SLUICE_HEALTH_UNHEALTHY;
}
