// Tests of dataplane/engine/pool_split.h: the weighted, monotone pool split.
// Every property is checked over 1M synthetic client keys hashed exactly as
// the dataplane hashes them.
#include "dataplane/engine/pool_split.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

constexpr int kKeys = 1000000;
constexpr double kTolerancePoints = 0.3;  // percentage points

sluice_pool_split make_split(const std::vector<uint32_t>& weights) {
  sluice_pool_split s{};
  s.n_pools = static_cast<uint32_t>(weights.size());
  for (size_t i = 0; i < weights.size(); ++i) {
    const std::string name = "pool-" + std::to_string(i);
    s.pool_id[i] = sluice_pool_id(name.data(), static_cast<uint32_t>(name.size()));
    s.inv_weight[i] = sluice_inv_weight(weights[i]);
  }
  return s;
}

class PoolSplitTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Client keys: random IPv4 clients to one VIP, hashed by client address.
    std::mt19937_64 rng(7);
    const sluice_hash_seed seed{0x5eed5eed5eed5eedULL, 0x0123456789abcdefULL};
    hashes_ = new std::vector<uint64_t>(kKeys);
    for (int i = 0; i < kKeys; ++i) {
      sluice_flow_key k{};
      k.family = SLUICE_AF_INET;
      const uint32_t client = static_cast<uint32_t>(rng());
      std::memcpy(k.src, &client, 4);
      (*hashes_)[i] = sluice_flow_hash(&k, &seed);
    }
  }
  static void TearDownTestSuite() { delete hashes_; }

  static std::vector<uint8_t> assign(const std::vector<uint32_t>& weights) {
    const sluice_pool_split s = make_split(weights);
    std::vector<uint8_t> pools(kKeys);
    for (int i = 0; i < kKeys; ++i) pools[i] = static_cast<uint8_t>(sluice_pick_pool((*hashes_)[i], &s));
    return pools;
  }

  static void expect_shares(const std::vector<uint32_t>& weights, const std::vector<uint8_t>& pools) {
    double total = 0;
    for (uint32_t w : weights) total += w;
    std::vector<int> counts(weights.size());
    for (uint8_t p : pools) {
      ASSERT_LT(p, weights.size());
      counts[p]++;
    }
    for (size_t i = 0; i < weights.size(); ++i) {
      const double want = 100.0 * weights[i] / total;
      const double got = 100.0 * counts[i] / kKeys;
      EXPECT_NEAR(got, want, kTolerancePoints) << "pool " << i;
    }
  }

  static inline std::vector<uint64_t>* hashes_ = nullptr;
};

// -log2 in fixed point agrees with the math library to 1e-5.
TEST_F(PoolSplitTest, NegLog2MatchesLibm) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 100000; ++i) {
    const uint64_t x = rng() >> (rng() % 64);
    if (x == 0) continue;
    const double exact = -std::log2(static_cast<double>(x) / 18446744073709551616.0);
    EXPECT_NEAR(sluice_neg_log2_q20(x) / 1048576.0, exact, 1e-5) << x;
  }
  EXPECT_EQ(sluice_neg_log2_q20(0), sluice_neg_log2_q20(1));
  EXPECT_EQ(sluice_neg_log2_q20(1ULL << 63), 1u << 20);  // -log2(1/2) = 1
  EXPECT_EQ(sluice_neg_log2_q20(1), 64u << 20);          // -log2(2^-64) = 64
}

// (a) Shares match the weights within 0.3 points, for typical rollouts.
TEST_F(PoolSplitTest, SharesMatchWeights) {
  const std::vector<std::vector<uint32_t>> cases = {
      {90, 10}, {99, 1}, {1, 1}, {50, 30, 20}, {1000000, 1},
      {5, 10, 15, 20, 25, 10, 10, 5}, {1, 2, 3, 4, 5, 6, 7, 8}, {7}};
  for (const auto& w : cases) expect_shares(w, assign(w));
}

// (b) Canary ramp 0 -> 100 against a fixed stable: no key leaves the canary,
// and the share that moves equals the weight change.
TEST_F(PoolSplitTest, MonotoneRampTwoPools) {
  std::vector<uint8_t> before = assign({100, 0});
  for (uint32_t canary = 5; canary <= 100; canary += 5) {
    const std::vector<uint8_t> after = assign({100 - canary, canary});
    int moved = 0;
    for (int i = 0; i < kKeys; ++i) {
      if (before[i] == 1) {
        ASSERT_EQ(after[i], 1) << "key " << i << " left the rising pool";
      }
      moved += before[i] != after[i];
    }
    EXPECT_NEAR(100.0 * moved / kKeys, 5.0, kTolerancePoints) << "canary " << canary;
    before = after;
  }
}

// (b) With three pools, raising one while the others keep their ratio moves
// only keys into the rising pool, and exactly its share change.
TEST_F(PoolSplitTest, MonotoneRampThreePools) {
  const std::vector<uint8_t> before = assign({60, 30, 10});
  const std::vector<uint8_t> after = assign({60, 30, 40});  // pool 2: 10% -> 30.77%
  int moved = 0;
  for (int i = 0; i < kKeys; ++i) {
    if (before[i] == 2) {
      ASSERT_EQ(after[i], 2) << "key " << i << " left the rising pool";
    }
    if (before[i] != after[i]) {
      ASSERT_EQ(after[i], 2) << "a key moved between the falling pools";
      ++moved;
    }
  }
  EXPECT_NEAR(100.0 * moved / kKeys, 100.0 * 40 / 130 - 10.0, kTolerancePoints);
}

// (b) Monotone even when the falling pools fall unevenly: no key leaves the
// rising pool (minimal movement is then impossible for any memoryless rule).
TEST_F(PoolSplitTest, NoKeyLeavesRisingPoolUnderUnevenFall) {
  const std::vector<uint8_t> before = assign({50, 30, 20});
  const std::vector<uint8_t> after = assign({40, 29, 31});
  for (int i = 0; i < kKeys; ++i) {
    if (before[i] == 2) {
      ASSERT_EQ(after[i], 2) << "key " << i << " left the rising pool";
    }
  }
}

// (c) Returning to earlier weights returns every key to its earlier pool.
TEST_F(PoolSplitTest, ReturnRestoresEveryKey) {
  const std::vector<uint8_t> start = assign({90, 10});
  (void)assign({50, 50});
  (void)assign({0, 100});
  EXPECT_EQ(assign({90, 10}), start);
  const std::vector<uint8_t> three = assign({20, 30, 50});
  (void)assign({20, 80, 0});
  EXPECT_EQ(assign({20, 30, 50}), three);
}

// (d) A pool of weight 0 gets no key; all-zero weights pick no pool.
TEST_F(PoolSplitTest, ZeroWeightGetsNothing) {
  for (uint8_t p : assign({0, 10, 0, 5})) ASSERT_TRUE(p == 1 || p == 3);
  const sluice_pool_split none = make_split({0, 0});
  EXPECT_EQ(sluice_pick_pool(12345, &none), SLUICE_NO_POOL);
  const sluice_pool_split empty = make_split({});
  EXPECT_EQ(sluice_pick_pool(12345, &empty), SLUICE_NO_POOL);
}

// Pools are identified by name: reordering the pools moves no key.
TEST_F(PoolSplitTest, PoolOrderDoesNotMatter) {
  sluice_pool_split a{}, b{};
  a.n_pools = b.n_pools = 2;
  a.pool_id[0] = b.pool_id[1] = sluice_pool_id("stable", 6);
  a.pool_id[1] = b.pool_id[0] = sluice_pool_id("canary", 6);
  a.inv_weight[0] = b.inv_weight[1] = sluice_inv_weight(80);
  a.inv_weight[1] = b.inv_weight[0] = sluice_inv_weight(20);
  for (int i = 0; i < kKeys; i += 7) {
    const uint64_t h = (*hashes_)[i];
    ASSERT_EQ(sluice_pick_pool(h, &a), 1 - sluice_pick_pool(h, &b));
  }
}

// Reciprocal weights: monotone in the weight, 0 for weight 0.
TEST_F(PoolSplitTest, InverseWeight) {
  EXPECT_EQ(sluice_inv_weight(0), 0u);
  EXPECT_EQ(sluice_inv_weight(1), 1ULL << 36);
  EXPECT_EQ(sluice_inv_weight(SLUICE_MAX_POOL_WEIGHT), (1ULL << 36) / 1000000);
  for (uint32_t w = 1; w < 5000; ++w) ASSERT_GE(sluice_inv_weight(w), sluice_inv_weight(w + 1));
}

}  // namespace
