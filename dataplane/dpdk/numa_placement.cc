// SPDX-License-Identifier: Apache-2.0
#include "dataplane/dpdk/numa_placement.h"

namespace sluice::dpdk {
namespace {

std::string node_cpus_hint(int node, const std::string& cpus) {
  const std::string n = std::to_string(node);
  return (cpus.empty() ? "" : " (" + cpus + ")") + " (lscpu, or /sys/devices/system/node/node" +
         n + "/cpulist)";
}

std::string misplaced_message(const NumaTopology& t, const std::vector<WorkerPlacement>& away) {
  std::string list;
  for (const WorkerPlacement& w : away) {
    list += (list.empty() ? "worker lcore " : ", lcore ") + std::to_string(w.lcore) + " (queue " +
            std::to_string(w.worker) + ") is on node " + std::to_string(w.node);
  }
  const std::string node = std::to_string(t.port_node);
  return "port " + t.port + " is on NUMA node " + node + " but " + list +
         ": every frame they receive was written into node " + node +
         "'s memory and crosses the interconnect; set eal.worker_lcores (and eal.main_lcore) to "
         "CPUs of node " +
         node + node_cpus_hint(t.port_node, t.port_node_cpus);
}

std::string floating_message(const NumaTopology& t, const std::vector<WorkerPlacement>& floating) {
  std::string list;
  for (const WorkerPlacement& w : floating) {
    list += (list.empty() ? "" : ", ") + std::to_string(w.lcore) + " (queue " +
            std::to_string(w.worker) + ")";
  }
  std::string where = "one node";
  if (t.port_node >= 0) {
    where = "node " + std::to_string(t.port_node) + ", the port's" +
            node_cpus_hint(t.port_node, t.port_node_cpus);
  }
  return "worker lcore(s) " + list +
         " may run on CPUs of several NUMA nodes (their CPU sets span nodes), so their flow "
         "tables and frames may sit on another node than the CPU using them; pin each to CPUs "
         "of " + where;
}

std::string unknown_port_message(const NumaTopology& t) {
  return "port " + t.port +
         " does not report its NUMA node (a vdev, or firmware without proximity information), so "
         "its workers' placement cannot be checked and its mbufs come from the main lcore's "
         "node; find the NIC's node in /sys/class/net/IFACE/device/numa_node or "
         "/sys/bus/pci/devices/ADDR/numa_node and put every lcore on it";
}

}  // namespace

NumaVerdict check_numa_placement(const NumaTopology& t, bool strict) {
  NumaVerdict verdict;
  if (t.node_count <= 1) return verdict;  // one node: all memory is local
  std::vector<std::string> problems;
  if (t.port_node < 0) problems.push_back(unknown_port_message(t));
  std::vector<WorkerPlacement> floating, away;
  for (const WorkerPlacement& w : t.workers) {
    if (w.node < 0) {
      floating.push_back(w);
    } else if (t.port_node >= 0 && w.node != t.port_node) {
      away.push_back(w);
    }
  }
  if (!away.empty()) problems.push_back(misplaced_message(t, away));
  if (!floating.empty()) problems.push_back(floating_message(t, floating));
  if (problems.empty()) return verdict;
  if (!strict) {
    for (const std::string& p : problems) verdict.warnings.push_back("NUMA: " + p);
    return verdict;
  }
  verdict.error = "numa.strict is on and the placement is not local, so sluiced does not start: ";
  for (size_t i = 0; i < problems.size(); ++i) verdict.error += (i ? "; also " : "") + problems[i];
  return verdict;
}

int mbuf_pool_node(int port_node, int main_node) {
  return port_node >= 0 ? port_node : main_node;
}

std::string mbuf_pool_name(int node) {
  return node < 0 ? "sluice_mbufs_any" : "sluice_mbufs_n" + std::to_string(node);
}

}  // namespace sluice::dpdk
