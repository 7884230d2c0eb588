/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The record of the packet being decided: its parse, the configuration it
 * is decided under, and the verdict. It lives in a one-entry per-CPU map
 * rather than on the stack: BPF gives the whole chain of calls 512 bytes of
 * stack, and the deepest chain (entry -> decide -> flow -> schedule ->
 * backend pick -> pool scan) needs what the record would take. One record
 * per CPU is enough: XDP runs to completion on a CPU and does not re-enter
 * itself there.
 *
 * Private to the program: no loader or publisher reads it.
 */
#pragma once

#include "ebpf/xdp/lib/common.h"
#include "ebpf/xdp/lib/parse.h"

struct sluice_xdp_packet {
	struct sluice_xdp_parsed parsed;
	struct sluice_xdp_decision decision;
	struct sluice_xdp_env env;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, uint32_t);
	__type(value, struct sluice_xdp_packet);
} scratch SEC(".maps");

SLUICE_XDP_INLINE struct sluice_xdp_packet *sluice_packet_record(void)
{
	const uint32_t zero = 0;

	return bpf_map_lookup_elem(&scratch, &zero);
}
