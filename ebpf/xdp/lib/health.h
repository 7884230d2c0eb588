/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Backend health from sluiced's active checks: the "backend_health" map, one
 * byte per backend counter slot (xdp_layout.h), as the engine reads its
 * BackendHealthTable. Only SLUICE_HEALTH_UNHEALTHY matters here: such a
 * backend takes no new flow (schedule.h skips it like an open circuit), and
 * its established flows move when the service asks for it (flow.h). Unknown
 * and healthy backends are served alike, so a slot the map cannot hold, or
 * a map sluiced has just cleared, changes nothing.
 */
#pragma once

#include "ebpf/xdp/lib/common.h"

SLUICE_XDP_INLINE bool sluice_backend_unhealthy(const struct sluice_xdp_backend *b)
{
	const uint32_t slot = b->counter_slot;
	const uint8_t *health = bpf_map_lookup_elem(&backend_health, &slot);

	return health && *health == SLUICE_HEALTH_UNHEALTHY;
}
