/* SPDX-License-Identifier: Apache-2.0 */
/*
 * XDP_PASS for every frame. Its only job is to exist: a veth delivers frames
 * sent by its peer with XDP_TX or XDP_REDIRECT only when this end has an XDP
 * program attached (native mode); otherwise they are counted as transmitted
 * and dropped. tools/lab attaches it to the bridge side of the balancer's
 * veth so that an XDP dataplane on the balancer can transmit.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int sluice_xdp_pass(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

/* Uses no GPL-only helper; the string only has to be present. */
char LICENSE[] SEC("license") = "Apache-2.0";
