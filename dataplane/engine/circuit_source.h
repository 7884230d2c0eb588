/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The source prefix a circuit's evidence is counted by (circuit_logic.h):
 * the client's IPv4 /24 or IPv6 /48, under the fleet's keyed hash, folded
 * to 32 bits and never 0 (0 marks an empty place in struct sluice_circuit).
 *
 * Why these prefix lengths: one customer, NAT pool or cloud region usually
 * sits in one /24 or /48, and a spoofer who can source from a whole /24 is
 * still one source; the longer the prefix, the cheaper a spoofer's many
 * "sources" (every address of a /24 would count alone with /32). Why keyed:
 * nobody outside can predict which prefixes share a tag, so no one can aim
 * two prefixes at one place to push a third out of the remembered few.
 *
 * Plain C for g++ and clang -target bpf, as flow_hash.h.
 */
#pragma once

#include "dataplane/engine/flow_hash.h"

#define SLUICE_SOURCE_PREFIX_V4 24
#define SLUICE_SOURCE_PREFIX_V6 48

static inline uint32_t sluice_source_tag(const struct sluice_flow_key *key,
					 const struct sluice_hash_seed *seed)
{
	struct sluice_flow_key prefix;
	const uint8_t len = key->family == SLUICE_AF_INET ? SLUICE_SOURCE_PREFIX_V4
							   : SLUICE_SOURCE_PREFIX_V6;
	uint64_t h;

	sluice_affinity_key(key, SLUICE_AFFINITY_CLIENT_PREFIX, len, &prefix);
	h = sluice_flow_hash(&prefix, seed);
	return (uint32_t)(h >> 32) | 1u;
}
