/* SPDX-License-Identifier: Apache-2.0 */
/* PLACEHOLDER while the pipeline is written: passes every frame. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "ebpf/xdp/xdp_maps.bpf.h"

SEC("xdp")
int sluice_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
