// SPDX-License-Identifier: Apache-2.0
// NUMA placement of the DPDK runtime: where the mbuf pool goes and whether
// the workers share a node with the NIC. Pure functions over node numbers
// (no DPDK call, no DPDK header), so that fake topologies can be tested on
// a one-node machine; DpdkRuntime feeds them what EAL reports.
//
// The design (README.md, "sluiced on DPDK"):
//   - Each worker's engine state (flow table, circuit table, counters) and
//     its WorkerContext are constructed on the worker's own lcore, so the
//     flow table's zeroing memset, the first touch of every page, happens on
//     that lcore's node under Linux's default first-touch policy.
//   - Mbufs come from one pool per NUMA node in use, named by node
//     (mbuf_pool_name). The NIC's RX queues take the pool of the NIC's node:
//     the NIC DMA-writes every frame into its mbuf, and on Intel (DDIO) only
//     the NIC's own socket's cache catches those writes. Frames from the TAP
//     leave through the NIC, which DMA-reads them, so they use that pool too.
//   - At start, every worker lcore's node is compared with the NIC's
//     (check_numa_placement): a worker on another node is a warning naming
//     lcore, nodes, port and the fix, or a refusal with numa.strict = on.
#pragma once

#include <string>
#include <vector>

namespace sluice::dpdk {

inline constexpr int kAnyNode = -1;  // SOCKET_ID_ANY: unknown, or several nodes

struct WorkerPlacement {
  unsigned worker = 0;  // worker i polls queue i
  unsigned lcore = 0;
  int node = kAnyNode;  // rte_lcore_to_socket_id(); kAnyNode: its CPU set spans nodes
};

struct NumaTopology {
  unsigned node_count = 1;  // rte_socket_count(): NUMA nodes with CPUs
  std::string port;         // port.device, for messages
  int port_node = kAnyNode;  // rte_eth_dev_socket_id(); kAnyNode: not reported (vdev, VM)
  std::vector<WorkerPlacement> workers;
  // CPUs of the port's node (/sys/devices/system/node/nodeN/cpulist), shown
  // in the fix; empty: not known.
  std::string port_node_cpus;
};

struct NumaVerdict {
  std::vector<std::string> warnings;  // for the log; empty on a good placement
  std::string error;                  // set only under numa.strict: refuse to start
};

// Compares each worker's node with the port's. On a one-node machine there
// is nothing to compare. With several nodes: a port that reports no node or
// a worker lcore that floats over several nodes cannot be checked, and a
// worker on a node other than the port's crosses the interconnect for every
// frame; each is a warning, or, when strict, the error (all of them).
NumaVerdict check_numa_placement(const NumaTopology& topology, bool strict);

// The node whose pool the port's RX queues take: the port's node, or the
// main lcore's where the port reports none (main_node may itself be
// kAnyNode: then the pool may sit on any node).
int mbuf_pool_node(int port_node, int main_node);

// "sluice_mbufs_n0", ..., "sluice_mbufs_any" (short of RTE_MEMPOOL_NAMESIZE).
std::string mbuf_pool_name(int node);

}  // namespace sluice::dpdk
