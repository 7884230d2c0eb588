/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Runs the shared decision headers as BPF code for shared_header_test.cc.
 *
 * The packet is a struct sluice_probe_record: the probe copies the inputs to
 * the stack (so the headers see ordinary pointers, as in the real XDP
 * program), computes every output and writes it back into the packet, then
 * returns XDP_TX. If this file stops compiling or stops passing the
 * verifier, flow_hash.h or pool_split.h has left the subset BPF accepts.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "tests/ebpf/shared_header_probe.h"

SEC("xdp")
int shared_header_probe(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct sluice_probe_record *rec = data;
	struct sluice_probe_in in;
	struct sluice_probe_out out;
	struct sluice_flow_key akey;
	int i;

	if ((void *)(rec + 1) > data_end)
		return XDP_ABORTED;
	__builtin_memcpy(&in, &rec->in, sizeof(in));

	out.flow_hash = sluice_flow_hash(&in.key, &in.seed);
	sluice_affinity_key(&in.key, in.affinity, in.prefix_len, &akey);
	out.affinity_hash = sluice_flow_hash(&akey, &in.seed);
	out.pool = sluice_pick_pool(out.affinity_hash, &in.split);
	out.neg_log2_q20 = sluice_neg_log2_q20(in.x);
	out.mix64 = sluice_mix64(in.x);
	for (i = 0; i < SLUICE_MAX_POOLS; i++)
		out.inv_weight[i] = sluice_inv_weight(in.weight[i]);
	out.range = sluice_hash_to_range(in.range_hash, in.n);

	__builtin_memcpy(&rec->out, &out, sizeof(out));
	return XDP_TX;
}

/* Uses no GPL-only helper; the string only has to be present. */
char LICENSE[] SEC("license") = "Apache-2.0";
