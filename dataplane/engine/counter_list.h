/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The worker-wide counters of one engine worker, declared once: the DPDK
 * engine's WorkerCounters (counters.h), the names tools and the stats export
 * print, and the XDP program's per-CPU counter block (struct
 * sluice_xdp_counters, ebpf/xdp/xdp_layout.h) all expand this list, so they
 * cannot drift apart. Plain C, no includes.
 */
#pragma once

/* X(name, "what it counts") */
#define SLUICE_WORKER_COUNTERS(X)                                                    \
  X(rx_packets, "frames given to the engine")                                        \
  X(forwarded, "frames encapsulated toward a backend")                               \
  X(replied, "ICMP echo replies sent for a VIP")                                     \
  X(to_host, "frames handed to the kernel (not for a VIP, or icmp_to_host)")         \
  X(dropped, "frames dropped; see drop reasons")                                     \
  X(new_flows, "flows scheduled to a backend for the first time")                    \
  X(flow_hits, "packets of flows found in the flow table")                           \
  X(flows_rescheduled, "tracked flows whose backend was removed or disabled")        \
  X(untracked_tcp, "new flows whose first TCP packet was not a SYN (probation)")     \
  X(flows_confirmed, "probation flows confirmed by their second packet")             \
  X(flows_stateless_rate, "new-flow packets not entered: per-core new-flow rate")    \
  X(flows_stateless_full, "new-flow packets not entered: buckets full of confirmed") \
  X(rule_matches, "new flows pinned to a pool by a source-CIDR rule")                \
  X(handshakes_completed, "tracked TCP handshakes completed (circuit successes)")    \
  X(connect_failures, "retransmitted SYNs counted as connect failures")              \
  X(syn_retry_steered, "retransmitted SYNs steered to another backend")              \
  X(circuit_repeat_sources, "connect failures not counted: source prefix counted already") \
  X(circuit_suspected, "failure thresholds reached on a HEALTHY backend (not ejected)") \
  X(circuit_skips, "new flows moved off a backend whose circuit is open")            \
  X(health_skips, "new flows moved off a backend failing its health checks")         \
  X(unhealthy_rescheduled, "flows moved off an unhealthy backend (unhealthy_flows)") \
  X(fallback_used, "new flows sent to the fallback pool (whole pool open)")          \
  X(icmp_errors_forwarded, "ICMP PMTU errors forwarded to the flow's backend")       \
  X(icmp_to_host, "ICMP to a VIP handed to the kernel (ND and others; in to_host)")  \
  X(too_big_icmp_sent, "ICMP frag-needed / packet-too-big sent for too-big packets")  \
  X(too_big_rate_limited, "too-big packets left unanswered: per-core ICMP rate")      \
  X(too_big_no_df, "too-big IPv4 packets without DF, dropped (in too-big)")          \
  X(snapshot_switches, "configuration generations adopted")
