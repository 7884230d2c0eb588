// SPDX-License-Identifier: Apache-2.0
// Tests of dataplane/engine/flow_table.h: confirmed entries (FlowState)
// are never evicted for a new flow; unconfirmed ones go first, stalest
// first; a pair of buckets full of confirmed flows refuses the newcomer.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "dataplane/engine/flow_table.h"

namespace sluice::engine {
namespace {

constexpr uint32_t kPairWays = 2 * FlowTable::kWays;
constexpr uint64_t kHash = 0xABCDEF;  // every key below shares one bucket pair

sluice_flow_key key(uint8_t group, uint16_t sport) {
  sluice_flow_key k{};
  k.family = SLUICE_AF_INET;
  k.src[0] = 10;
  k.src[3] = group;
  k.dst[0] = 192;
  k.dst[3] = 1;
  k.sport = sport;
  k.dport = 0x5000;
  k.proto = 6;
  return k;
}

class FlowTableConfirmedTest : public ::testing::Test {
 protected:
  // Fills the pair with kPairWays entries, entry i last seen at seen[i] and
  // in state states[i].
  std::vector<FlowEntry*> fill(const uint32_t* seen, const FlowState* states) {
    std::vector<FlowEntry*> entries;
    for (uint32_t i = 0; i < kPairWays; ++i) {
      FlowEntry* e = table_.insert(key(1, static_cast<uint16_t>(i)), kHash, seen[i], timeouts_);
      EXPECT_NE(e, nullptr);
      table_.set_state(e, states[i]);
      entries.push_back(e);
    }
    return entries;
  }
  FlowEntry* find(uint16_t sport, uint32_t now) {
    return table_.lookup(key(1, sport), kHash, now, timeouts_);
  }

  FlowTable table_{64};
  FlowTimeouts timeouts_{.tcp_syn_ms = 100000,
                         .tcp_established_ms = 100000,
                         .tcp_closing_ms = 100000,
                         .udp_ms = 100000,
                         .probation_ms = 100000};
};

TEST_F(FlowTableConfirmedTest, ConfirmedFlagFollowsState) {
  EXPECT_FALSE(flow_confirmed(FlowState::kEmpty));
  EXPECT_FALSE(flow_confirmed(FlowState::kSynSent));
  EXPECT_FALSE(flow_confirmed(FlowState::kProbation));
  EXPECT_FALSE(flow_confirmed(FlowState::kClosing));
  EXPECT_TRUE(flow_confirmed(FlowState::kEstablished));
  EXPECT_TRUE(flow_confirmed(FlowState::kUdp));
}

// The oldest entries are confirmed; the stalest unconfirmed one goes.
TEST_F(FlowTableConfirmedTest, EvictsStalestUnconfirmedNotStalestOverall) {
  ASSERT_NE(table_.buckets_of(kHash).first, table_.buckets_of(kHash).second);
  uint32_t seen[kPairWays];
  FlowState states[kPairWays];
  for (uint32_t i = 0; i < kPairWays; ++i) {
    seen[i] = 100 + i;  // entry 0 is the stalest
    states[i] = FlowState::kEstablished;
  }
  states[9] = FlowState::kSynSent;     // seen at 109
  states[12] = FlowState::kProbation;  // seen at 112
  states[14] = FlowState::kClosing;    // seen at 114
  const std::vector<FlowEntry*> entries = fill(seen, states);
  FlowEntry* e = table_.insert(key(2, 1), kHash, 1000, timeouts_);
  EXPECT_EQ(e, entries[9]);
  EXPECT_EQ(table_.stats().evictions, 1u);
  EXPECT_EQ(find(9, 1000), nullptr);
  table_.set_state(e, FlowState::kEstablished);
  EXPECT_EQ(table_.insert(key(2, 2), kHash, 1001, timeouts_), entries[12]);
  EXPECT_EQ(table_.insert(key(2, 3), kHash, 1002, timeouts_), entries[14]);
  for (uint32_t i = 0; i < kPairWays; ++i) {
    if (i == 9 || i == 12 || i == 14) continue;
    EXPECT_NE(find(static_cast<uint16_t>(i), 1003), nullptr) << "confirmed entry " << i << " evicted";
  }
}

// Sixteen live confirmed flows: the newcomer is refused, nothing is evicted.
TEST_F(FlowTableConfirmedTest, PairFullOfConfirmedRefusesNewFlow) {
  uint32_t seen[kPairWays];
  FlowState states[kPairWays];
  for (uint32_t i = 0; i < kPairWays; ++i) {
    seen[i] = 100 + i;
    states[i] = i % 2 ? FlowState::kUdp : FlowState::kEstablished;
  }
  fill(seen, states);
  for (uint16_t n = 0; n < 100; ++n) {
    EXPECT_EQ(table_.insert(key(3, n), kHash, 5000 + n, timeouts_), nullptr);
  }
  EXPECT_EQ(table_.stats().full, 100u);
  EXPECT_EQ(table_.stats().evictions, 0u);
  for (uint32_t i = 0; i < kPairWays; ++i) {
    EXPECT_NE(find(static_cast<uint16_t>(i), 6000), nullptr) << i;
  }
  // An entry that closes becomes evictable again.
  FlowEntry* closing = find(5, 6000);
  table_.set_state(closing, FlowState::kClosing);
  EXPECT_EQ(table_.insert(key(3, 999), kHash, 6001, timeouts_), closing);
}

// Confirmed entries still expire: an expired confirmed entry is reclaimed.
TEST_F(FlowTableConfirmedTest, ExpiredConfirmedEntryIsReclaimed) {
  uint32_t seen[kPairWays];
  FlowState states[kPairWays];
  for (uint32_t i = 0; i < kPairWays; ++i) {
    seen[i] = 100 + i;
    states[i] = FlowState::kEstablished;
  }
  const std::vector<FlowEntry*> entries = fill(seen, states);
  FlowEntry* e = table_.insert(key(4, 1), kHash, 100 + timeouts_.tcp_established_ms, timeouts_);
  EXPECT_EQ(e, entries[0]);
  EXPECT_EQ(table_.stats().full, 0u);
}

// The confirmed mark lives in the signature: lookups, moves and set_state
// back to unconfirmed all keep finding the entry.
TEST_F(FlowTableConfirmedTest, ConfirmedEntryIsFoundAndStaysFoundAfterStateChanges) {
  FlowTable t(1u << 12);
  const sluice_hash_seed seed{1, 2};
  std::vector<FlowEntry*> entries;
  for (uint16_t i = 0; i < 3000; ++i) {
    const sluice_flow_key k = key(static_cast<uint8_t>(i >> 8), i);
    FlowEntry* e = t.insert(k, sluice_flow_hash(&k, &seed), 10, timeouts_);
    ASSERT_NE(e, nullptr);
    t.set_state(e, i % 3 ? FlowState::kEstablished : FlowState::kProbation);
  }
  for (uint16_t i = 0; i < 3000; ++i) {
    const sluice_flow_key k = key(static_cast<uint8_t>(i >> 8), i);
    FlowEntry* e = t.lookup(k, sluice_flow_hash(&k, &seed), 20, timeouts_);
    ASSERT_NE(e, nullptr) << i;
    EXPECT_EQ(e->state, i % 3 ? FlowState::kEstablished : FlowState::kProbation);
    t.set_state(e, FlowState::kClosing);
    EXPECT_EQ(t.lookup(k, sluice_flow_hash(&k, &seed), 21, timeouts_), e);
  }
  EXPECT_EQ(t.stats().evictions, 0u);
}

}  // namespace
}  // namespace sluice::engine
