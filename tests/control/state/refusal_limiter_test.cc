// SPDX-License-Identifier: Apache-2.0
// control/state/refusal_limiter.h on a clock the test moves: the burst
// passes, the rest is counted and summarised once per interval, the table
// keeps its size, and peers pushed out keep their count.
#include "control/state/refusal_limiter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sluice::control {
namespace {

// 1 line/s and 5 at once per peer, 100/s and 1000 for all, 4 peers, 10 s.
RefusalLimits limits() { return {1, 5, 100, 1000, 4, 10000}; }

int admitted(RefusalLimiter& limiter, const std::string& peer, int calls, uint32_t now) {
  int n = 0;
  for (int i = 0; i < calls; ++i) n += limiter.admit(peer, now);
  return n;
}

// 10,000 refusals at once: the burst is written, the rest summarised in
// one line after the interval, and nothing before it.
TEST(RefusalLimiterTest, BurstThenSummary) {
  RefusalLimiter limiter(limits());
  EXPECT_EQ(admitted(limiter, "tls:CN=viewer", 10000, 1000), 5);
  EXPECT_TRUE(limiter.due(1000 + 9999).empty());
  const auto due = limiter.due(1000 + 10000);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].peer, "tls:CN=viewer");
  EXPECT_EQ(due[0].suppressed, 9995u);
  EXPECT_EQ(due[0].over_ms, 10000u);
  EXPECT_TRUE(limiter.due(1000 + 20000).empty());  // taken once
}

// The bucket refills at the peer's rate: one line per second passes.
TEST(RefusalLimiterTest, RefillsAtTheRate) {
  RefusalLimiter limiter(limits());
  EXPECT_EQ(admitted(limiter, "p", 100, 0), 5);
  EXPECT_EQ(admitted(limiter, "p", 100, 999), 0);
  EXPECT_EQ(admitted(limiter, "p", 100, 1000), 1);
  EXPECT_EQ(admitted(limiter, "p", 100, 4000), 3);
}

// One peer's flood does not silence another.
TEST(RefusalLimiterTest, PeersAreApart) {
  RefusalLimiter limiter(limits());
  EXPECT_EQ(admitted(limiter, "flood", 1000, 0), 5);
  EXPECT_EQ(admitted(limiter, "quiet", 3, 0), 3);
}

// All peers together are held to all_rate: many identities at once cannot
// multiply the lines.
TEST(RefusalLimiterTest, SharedBucketBoundsAllPeers) {
  RefusalLimits l = limits();
  l.all_burst = 12;
  l.max_peers = 100;
  RefusalLimiter limiter(l);
  int n = 0;
  for (int p = 0; p < 50; ++p) n += admitted(limiter, "peer" + std::to_string(p), 5, 0);
  EXPECT_EQ(n, 12);
}

// The table never holds more than max_peers; a peer pushed out hands its
// count to the shared "other peers" summary.
TEST(RefusalLimiterTest, TableIsBoundedAndCountsSurvive) {
  RefusalLimiter limiter(limits());
  uint64_t suppressed = 0;
  for (int p = 0; p < 1000; ++p) {
    suppressed += 10 - admitted(limiter, "peer" + std::to_string(p), 10, 0);
    EXPECT_LE(limiter.peers(), 4u);
  }
  const auto all = limiter.all(1);
  uint64_t summed = 0;
  for (const auto& s : all) summed += s.suppressed;
  EXPECT_EQ(summed, suppressed);
  EXPECT_LE(all.size(), 5u);  // the 4 tracked peers and the others
  EXPECT_EQ(all.back().peer, RefusalLimiter::kOtherPeers);
}

// A peer refused again moves to the front: the least recent one goes.
TEST(RefusalLimiterTest, LeastRecentlyRefusedGoesFirst) {
  RefusalLimiter limiter(limits());
  for (const char* p : {"a", "b", "c", "d"}) admitted(limiter, p, 6, 0);  // 1 suppressed each
  admitted(limiter, "a", 1, 0);  // a is recent again: 2 suppressed
  admitted(limiter, "e", 1, 0);  // pushes b out
  const auto all = limiter.all(0);
  std::vector<std::string> peers;
  for (const auto& s : all) peers.push_back(s.peer + "=" + std::to_string(s.suppressed));
  EXPECT_THAT(peers, ::testing::UnorderedElementsAre("a=2", "c=1", "d=1",
                                                     std::string(RefusalLimiter::kOtherPeers) + "=1"));
}

}  // namespace
}  // namespace sluice::control
