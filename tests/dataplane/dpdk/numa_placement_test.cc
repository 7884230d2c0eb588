// SPDX-License-Identifier: Apache-2.0
// The NUMA placement rules on fake topologies (no DPDK): which worker lcores
// are away from the NIC's node, what the warning says, when numa.strict
// refuses, and which node's mbuf pool the port takes.
#include "dataplane/dpdk/numa_placement.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sluice::dpdk {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

// Two nodes, the NIC on node 1 (CPUs 8-15), workers on the given (lcore, node)s.
NumaTopology two_nodes(std::vector<std::pair<unsigned, int>> lcores, int port_node = 1) {
  NumaTopology t;
  t.node_count = 2;
  t.port = "0000:af:00.0";
  t.port_node = port_node;
  t.port_node_cpus = port_node == 1 ? "8-15" : "";
  for (unsigned w = 0; w < lcores.size(); ++w) t.workers.push_back({w, lcores[w].first, lcores[w].second});
  return t;
}

// One node: nothing can be remote, whatever the port or lcores report.
TEST(NumaPlacementTest, OneNodeHasNothingToCheck) {
  NumaTopology t = two_nodes({{1, 0}, {2, kAnyNode}}, kAnyNode);
  t.node_count = 1;
  for (bool strict : {false, true}) {
    const NumaVerdict v = check_numa_placement(t, strict);
    EXPECT_THAT(v.warnings, IsEmpty());
    EXPECT_EQ(v.error, "");
  }
}

// Every worker on the NIC's node: no warning, and strict starts.
TEST(NumaPlacementTest, AllWorkersOnTheNicsNode) {
  for (bool strict : {false, true}) {
    const NumaVerdict v = check_numa_placement(two_nodes({{8, 1}, {9, 1}, {10, 1}}), strict);
    EXPECT_THAT(v.warnings, IsEmpty());
    EXPECT_EQ(v.error, "");
  }
}

// Workers split over the nodes: one warning naming each worker away from the
// NIC (lcore, queue, node), the port and its node, and the fix with the
// node's CPUs; the worker on node 1 is not named.
TEST(NumaPlacementTest, SplitWorkersWarn) {
  const NumaVerdict v = check_numa_placement(two_nodes({{2, 0}, {9, 1}, {3, 0}}), false);
  EXPECT_EQ(v.error, "");
  EXPECT_THAT(v.warnings,
              ElementsAre("NUMA: port 0000:af:00.0 is on NUMA node 1 but worker lcore 2 (queue 0) "
                          "is on node 0, lcore 3 (queue 2) is on node 0: every frame they receive "
                          "was written into node 1's memory and crosses the interconnect; set "
                          "eal.worker_lcores (and eal.main_lcore) to CPUs of node 1 (8-15) "
                          "(lscpu, or /sys/devices/system/node/node1/cpulist)"));
  EXPECT_THAT(v.warnings[0], Not(HasSubstr("lcore 9")));
}

// The same placement under numa.strict: refused, with the same reasons, and
// nothing left as a mere warning.
TEST(NumaPlacementTest, SplitWorkersRefusedWhenStrict) {
  const NumaVerdict v = check_numa_placement(two_nodes({{2, 0}, {9, 1}}), true);
  EXPECT_THAT(v.warnings, IsEmpty());
  EXPECT_THAT(v.error, AllOf(HasSubstr("numa.strict is on"), HasSubstr("sluiced does not start"),
                             HasSubstr("port 0000:af:00.0 is on NUMA node 1"),
                             HasSubstr("worker lcore 2 (queue 0) is on node 0"),
                             Not(HasSubstr("lcore 9"))));
}

// The NIC on node 0 and every worker on node 1: all named, no CPU list
// (unknown), the fix still names the node.
TEST(NumaPlacementTest, AllWorkersOnTheOtherNode) {
  const NumaVerdict v = check_numa_placement(two_nodes({{8, 1}, {9, 1}}, 0), false);
  ASSERT_THAT(v.warnings, SizeIs(1));
  EXPECT_THAT(v.warnings[0],
              AllOf(HasSubstr("is on NUMA node 0 but worker lcore 8 (queue 0) is on node 1, "
                              "lcore 9 (queue 1) is on node 1"),
                    HasSubstr("CPUs of node 0 (lscpu, or /sys/devices/system/node/node0/cpulist)")));
}

// A port that reports no node (SOCKET_ID_ANY, -1: a vdev, or no firmware
// information) cannot be checked: a warning that says where to look, and
// no claim about the workers; strict refuses.
TEST(NumaPlacementTest, PortWithoutNode) {
  const NumaTopology t = two_nodes({{2, 0}, {9, 1}}, kAnyNode);
  const NumaVerdict v = check_numa_placement(t, false);
  ASSERT_THAT(v.warnings, SizeIs(1));
  EXPECT_THAT(v.warnings[0],
              AllOf(HasSubstr("port 0000:af:00.0 does not report its NUMA node"),
                    HasSubstr("/sys/class/net/IFACE/device/numa_node"),
                    Not(HasSubstr("lcore 2")), Not(HasSubstr("lcore 9"))));
  EXPECT_THAT(check_numa_placement(t, true).error,
              AllOf(HasSubstr("numa.strict is on"), HasSubstr("does not report its NUMA node")));
}

// A worker lcore floating over CPUs of both nodes (SOCKET_ID_ANY) is named
// apart from those on the wrong node; both problems are reported.
TEST(NumaPlacementTest, FloatingLcore) {
  const NumaVerdict v = check_numa_placement(two_nodes({{2, kAnyNode}, {3, 0}, {9, 1}}), false);
  ASSERT_THAT(v.warnings, SizeIs(2));
  EXPECT_THAT(v.warnings[0], HasSubstr("worker lcore 3 (queue 1) is on node 0"));
  EXPECT_THAT(v.warnings[0], Not(HasSubstr("lcore 2")));
  EXPECT_THAT(v.warnings[1], AllOf(HasSubstr("worker lcore(s) 2 (queue 0) may run on CPUs of "
                                             "several NUMA nodes"),
                                   HasSubstr("pin each to CPUs of node 1, the port's (8-15)")));
  const NumaVerdict strict = check_numa_placement(two_nodes({{2, kAnyNode}, {3, 0}}), true);
  EXPECT_THAT(strict.error, AllOf(HasSubstr("lcore 3 (queue 1) is on node 0"),
                                  HasSubstr("; also worker lcore(s) 2 (queue 0) may run")));
}

// Four nodes, the NIC on node 3: only node 3 is local.
TEST(NumaPlacementTest, FourNodes) {
  NumaTopology t = two_nodes({{30, 3}, {31, 3}}, 3);
  t.node_count = 4;
  EXPECT_THAT(check_numa_placement(t, true).error, "");
  t.workers[1].node = 2;
  const NumaVerdict v = check_numa_placement(t, false);
  ASSERT_THAT(v.warnings, SizeIs(1));
  EXPECT_THAT(v.warnings[0], HasSubstr("NUMA node 3 but worker lcore 31 (queue 1) is on node 2"));
}

// The RX pool's node: the port's; the main lcore's where the port reports
// none; any where neither is known. Pools are named by node.
TEST(NumaPlacementTest, PoolNodeAndName) {
  EXPECT_EQ(mbuf_pool_node(1, 0), 1);
  EXPECT_EQ(mbuf_pool_node(0, 1), 0);
  EXPECT_EQ(mbuf_pool_node(kAnyNode, 1), 1);
  EXPECT_EQ(mbuf_pool_node(kAnyNode, kAnyNode), kAnyNode);
  EXPECT_EQ(mbuf_pool_name(0), "sluice_mbufs_n0");
  EXPECT_EQ(mbuf_pool_name(7), "sluice_mbufs_n7");
  EXPECT_EQ(mbuf_pool_name(kAnyNode), "sluice_mbufs_any");
}

}  // namespace
}  // namespace sluice::dpdk
