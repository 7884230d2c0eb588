// Tests of dataplane/engine/maglev.h: the weighted Maglev table builder.
#include "dataplane/engine/maglev.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <vector>

namespace sluice::engine {
namespace {

using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::Ne;

constexpr uint32_t kM = 65537;

class MaglevTest : public ::testing::Test {
 protected:
  // Valid random permutations (offset < M, 1 <= skip < M) with the given
  // weights, for tests of maglev_populate alone.
  std::vector<MaglevPermutation> random_perms(const std::vector<uint32_t>& weights,
                                              uint32_t table_size) {
    std::vector<MaglevPermutation> perms;
    for (uint32_t w : weights) {
      uint32_t offset = static_cast<uint32_t>(rng_() % table_size);
      uint32_t skip = static_cast<uint32_t>(rng_() % (table_size - 1)) + 1;
      perms.push_back({offset, skip, w});
    }
    return perms;
  }

  // n distinct IPv4 backends 10.a.b.c, all with weight `weight`.
  static std::vector<MaglevBackend> v4_backends(uint32_t n, uint32_t weight = 1) {
    std::vector<MaglevBackend> out;
    for (uint32_t i = 0; i < n; ++i) {
      out.push_back({IpAddress::v4(10, static_cast<uint8_t>(i >> 16),
                                   static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)),
                     weight});
    }
    return out;
  }

  // Slot count per index; also checks that every entry is a valid index.
  static std::vector<uint32_t> counts(const std::vector<uint32_t>& table, size_t n) {
    std::vector<uint32_t> c(n, 0);
    for (uint32_t e : table) {
      EXPECT_LT(e, n);
      if (e < n) ++c[e];
    }
    return c;
  }

  // The table as the addresses it points to, so tables built from
  // differently ordered or sized backend lists can be compared.
  static std::vector<IpAddress> by_address(const std::vector<uint32_t>& table,
                                           const std::vector<MaglevBackend>& backends) {
    std::vector<IpAddress> out;
    out.reserve(table.size());
    for (uint32_t e : table) out.push_back(backends.at(e).address);
    return out;
  }

  static size_t changed(const std::vector<IpAddress>& a, const std::vector<IpAddress>& b) {
    size_t n = 0;
    for (size_t i = 0; i < a.size(); ++i) n += a[i] != b[i];
    return n;
  }

  std::mt19937_64 rng_{7};
  sluice_hash_seed seed_{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
};

// Table 1 of the Maglev paper, from its (offset, skip) pairs, equal weights.
TEST_F(MaglevTest, ReproducesPaperTable1) {
  const MaglevPermutation perms[] = {{3, 4, 1}, {0, 2, 1}, {3, 1, 1}};
  EXPECT_THAT(maglev_populate(perms, 7), ElementsAre(1, 0, 1, 0, 2, 2, 0));
}

// Table 1 after B1 is removed: only B1's slots and slot 6 change.
TEST_F(MaglevTest, ReproducesPaperTable1AfterRemoval) {
  // Indices are now 0 = B0 and 1 = B2.
  const MaglevPermutation perms[] = {{3, 4, 1}, {3, 1, 1}};
  EXPECT_THAT(maglev_populate(perms, 7), ElementsAre(0, 0, 0, 0, 1, 1, 1));
}

// The algorithm as maglev.h states it, written the slow obvious way (O(M*N)):
// largest-remainder quotas, then each turn to the backend with the smallest
// filled / quota, ties to the lower index.
std::vector<uint32_t> reference_populate(const std::vector<MaglevPermutation>& perms,
                                         uint32_t m) {
  const size_t n = perms.size();
  uint64_t total = 0;
  for (const auto& p : perms) total += p.weight;
  std::vector<uint32_t> table(m, kMaglevEmpty);
  if (total == 0) return table;
  std::vector<uint64_t> quota(n), rem(n);
  uint64_t sum = 0;
  for (size_t i = 0; i < n; ++i) {
    quota[i] = uint64_t{m} * perms[i].weight / total;
    rem[i] = uint64_t{m} * perms[i].weight % total;
    sum += quota[i];
  }
  for (; sum < m; ++sum) {
    size_t best = n;
    for (size_t i = 0; i < n; ++i) {
      if (perms[i].weight == 0 || rem[i] == UINT64_MAX) continue;
      if (best == n || rem[i] > rem[best]) best = i;
    }
    ++quota[best];
    rem[best] = UINT64_MAX;  // at most one extra each
  }
  std::vector<uint64_t> filled(n, 0), next(n);
  for (size_t i = 0; i < n; ++i) next[i] = perms[i].offset;
  for (uint32_t placed = 0; placed < m; ++placed) {
    size_t best = n;
    for (size_t i = 0; i < n; ++i) {
      if (filled[i] == quota[i]) continue;
      if (best == n || filled[i] * quota[best] < filled[best] * quota[i]) best = i;
    }
    while (table[next[best]] != kMaglevEmpty) next[best] = (next[best] + perms[best].skip) % m;
    table[next[best]] = static_cast<uint32_t>(best);
    ++filled[best];
  }
  return table;
}

// The fast builder gives exactly the reference's table for many weight
// patterns: equal, narrow, wide, with zeros, and a dominant backend.
TEST_F(MaglevTest, MatchesReferenceImplementation) {
  int cases = 0;
  for (uint32_t m : {7u, 13u, 251u, 4099u, 65537u}) {
    for (int pattern = 0; pattern < 5; ++pattern) {
      for (uint32_t n : {1u, 2u, 3u, 17u, 60u}) {
        std::vector<uint32_t> weights(n);
        for (uint32_t i = 0; i < n; ++i) {
          switch (pattern) {
            case 0: weights[i] = 1; break;
            case 1: weights[i] = 1 + static_cast<uint32_t>(rng_() % 4); break;
            case 2: weights[i] = 1 + static_cast<uint32_t>(rng_() % 1000000); break;
            case 3: weights[i] = static_cast<uint32_t>(rng_() % 3); break;
            default: weights[i] = i == 0 ? 1000000 : 1; break;
          }
        }
        auto perms = random_perms(weights, m);
        ASSERT_EQ(maglev_populate(perms, m), reference_populate(perms, m))
            << "M=" << m << " pattern " << pattern << " N=" << n;
        ++cases;
      }
    }
  }
  EXPECT_EQ(cases, 125);
}

// Equal weights: the first M mod N backends get one extra slot, as in the
// paper's round robin.
TEST_F(MaglevTest, EqualWeightsSplitEvenly) {
  auto perms = random_perms(std::vector<uint32_t>(10, 1), 251);
  EXPECT_THAT(counts(maglev_populate(perms, 251), 10),
              ElementsAre(26, 25, 25, 25, 25, 25, 25, 25, 25, 25));
}

// Quotas use largest-remainder rounding, so every count is floor or ceil of
// M * w / W (within one slot of the exact share) and they sum to M. Here
// W = 91: 65537 / 91 = 720.19 (remainder 17) and 655370 / 91 = 7201.87
// (remainder 79); the 8 leftover slots go to the first 8 weight-10 backends.
TEST_F(MaglevTest, WeightOneAmongTensGetsATenth) {
  std::vector<uint32_t> weights = {1, 10, 10, 10, 10, 10, 10, 10, 10, 10};
  auto c = counts(maglev_populate(random_perms(weights, kM), kM), weights.size());
  EXPECT_THAT(c, ElementsAre(720, 7202, 7202, 7202, 7202, 7202, 7202, 7202, 7202, 7201));
  for (size_t i = 0; i < weights.size(); ++i) {
    double exact = double{kM} * weights[i] / 91.0;
    EXPECT_LT(std::abs(c[i] - exact), 1.0) << "backend " << i;
  }
}

// 1:2:3 -> 10922.83, 21845.67, 32768.5: the two leftover slots go to the
// largest remainders (5 and 4 of 6), not to the largest weight.
TEST_F(MaglevTest, WeightsOneTwoThree) {
  auto c = counts(maglev_populate(random_perms({1, 2, 3}, kM), kM), 3);
  EXPECT_THAT(c, ElementsAre(10923, 21846, 32768));
}

// 1:1000000: the small backend's share is 0.066 of a slot at M = 65537
// (rounded down to none) and 0.655 at M = 655373 (rounded up to one).
TEST_F(MaglevTest, ExtremeWeightRatio) {
  EXPECT_THAT(counts(maglev_populate(random_perms({1, 1000000}, kM), kM), 2),
              ElementsAre(0, 65537));
  EXPECT_THAT(counts(maglev_populate(random_perms({1, 1000000}, 655373), 655373), 2),
              ElementsAre(1, 655372));
}

// Weight 0 never appears; the others still fill every slot.
TEST_F(MaglevTest, ZeroWeightGetsNothing) {
  auto c = counts(maglev_populate(random_perms({0, 5, 0, 2}, 7), 7), 4);
  EXPECT_THAT(c, ElementsAre(0, 5, 0, 2));
}

// All weights 0, or no backends at all: M slots, all kMaglevEmpty.
TEST_F(MaglevTest, AllZeroWeightsGiveEmptySlots) {
  auto zero = maglev_populate(random_perms({0, 0, 0}, 251), 251);
  EXPECT_EQ(zero.size(), 251u);
  EXPECT_THAT(zero, Each(kMaglevEmpty));

  auto none = maglev_populate({}, 251);
  EXPECT_EQ(none.size(), 251u);
  EXPECT_THAT(none, Each(kMaglevEmpty));

  auto built = build_maglev_table(v4_backends(4, 0), 7, seed_);
  EXPECT_THAT(built, ElementsAre(kMaglevEmpty, kMaglevEmpty, kMaglevEmpty, kMaglevEmpty,
                                 kMaglevEmpty, kMaglevEmpty, kMaglevEmpty));
}

// A table size of 0 gives an empty table rather than a crash.
TEST_F(MaglevTest, ZeroTableSizeGivesEmptyTable) {
  EXPECT_TRUE(maglev_populate(random_perms({1, 1}, 7), 0).empty());
  EXPECT_TRUE(build_maglev_table(v4_backends(2), 0, seed_).empty());
}

// Broken preconditions (M not prime, skip sharing a factor with M, offset
// and skip out of range) still terminate; unreachable slots stay empty.
TEST_F(MaglevTest, BrokenPermutationsTerminate) {
  // M = 8: skip 2 from offset 0 reaches only even slots, skip 0 one slot.
  const MaglevPermutation perms[] = {{0, 2, 1}, {13, 0, 1}};
  auto table = maglev_populate(perms, 8);
  ASSERT_EQ(table.size(), 8u);
  // Backend 0 (quota 4) takes 0, 2, 4, 6; backend 1 (offset 13 % 8 = 5,
  // skip 0) takes slot 5 and then has nowhere to go.
  EXPECT_THAT(table, ElementsAre(0, kMaglevEmpty, 0, kMaglevEmpty, 0, 1, 0, kMaglevEmpty));
}

// Every supported size fills every slot, each backend exactly its quota.
TEST_F(MaglevTest, TableSizesFillCompletely) {
  const std::vector<uint32_t> weights = {1, 3, 5, 7, 11};
  for (uint32_t m : {7u, 251u, 65537u, 655373u}) {
    auto backends = v4_backends(5);
    for (size_t i = 0; i < backends.size(); ++i) backends[i].weight = weights[i];
    auto table = build_maglev_table(backends, m, seed_);
    ASSERT_EQ(table.size(), m);
    auto c = counts(table, backends.size());
    for (size_t i = 0; i < c.size(); ++i) {
      double exact = static_cast<double>(m) * weights[i] / 27.0;
      EXPECT_LT(std::abs(c[i] - exact), 1.0) << "M=" << m << " backend " << i;
    }
  }
}

// The table depends on the set of backends, not on their input order, and
// entries index the caller's list.
TEST_F(MaglevTest, InputOrderDoesNotMatter) {
  auto backends = v4_backends(50);
  for (size_t i = 0; i < backends.size(); ++i) backends[i].weight = 1 + i % 4;
  backends.push_back({*IpAddress::parse("2001:db8::1"), 3});
  backends.push_back({*IpAddress::parse("2001:db8::2"), 2});
  const auto reference = by_address(build_maglev_table(backends, kM, seed_), backends);

  for (int round = 0; round < 5; ++round) {
    auto shuffled = backends;
    std::shuffle(shuffled.begin(), shuffled.end(), rng_);
    auto table = build_maglev_table(shuffled, kM, seed_);
    EXPECT_EQ(by_address(table, shuffled), reference) << "round " << round;
  }
}

// Counts map back to the caller's indices, not the canonical (sorted) ones.
TEST_F(MaglevTest, EntriesIndexCallersList) {
  // Given in descending address order, so canonical order is reversed.
  std::vector<MaglevBackend> backends = {{IpAddress::v4(10, 0, 0, 3), 3},
                                         {IpAddress::v4(10, 0, 0, 2), 2},
                                         {IpAddress::v4(10, 0, 0, 1), 1}};
  EXPECT_THAT(counts(build_maglev_table(backends, kM, seed_), 3),
              ElementsAre(32768, 21846, 10923));
}

// The permutation derivation is the documented one: seeded flow hash of the
// address with proto 0xfe (offset) and 0xff (skip), in address order.
TEST_F(MaglevTest, PermutationsComeFromDocumentedHash) {
  std::vector<MaglevBackend> backends = {{*IpAddress::parse("2001:db8::7"), 2},
                                         {IpAddress::v4(192, 168, 1, 9), 1},
                                         {IpAddress::v4(10, 1, 2, 3), 4}};
  // Canonical order: 10.1.2.3, 192.168.1.9, then the IPv6 address.
  const size_t canonical[] = {2, 1, 0};
  const uint32_t m = 251;
  std::vector<MaglevPermutation> perms;
  for (size_t idx : canonical) {
    sluice_flow_key key{};
    for (int i = 0; i < 16; ++i) key.src[i] = backends[idx].address.bytes[i];
    key.family = backends[idx].address.family;
    key.proto = 0xfe;
    uint64_t h1 = sluice_flow_hash(&key, &seed_);
    key.proto = 0xff;
    uint64_t h2 = sluice_flow_hash(&key, &seed_);
    perms.push_back({static_cast<uint32_t>(h1 % m), static_cast<uint32_t>(h2 % (m - 1)) + 1,
                     backends[idx].weight});
  }
  auto expected = maglev_populate(perms, m);
  for (uint32_t& e : expected) e = static_cast<uint32_t>(canonical[e]);
  EXPECT_EQ(build_maglev_table(backends, m, seed_), expected);
}

// Golden table for a fixed seed: a change here reshuffles every pool of a
// fleet on upgrade, so it must be deliberate.
TEST_F(MaglevTest, GoldenTableForFixedSeed) {
  std::vector<MaglevBackend> backends = {{IpAddress::v4(10, 0, 0, 1), 1},
                                         {IpAddress::v4(10, 0, 0, 2), 1},
                                         {IpAddress::v4(10, 0, 0, 3), 2}};
  const sluice_hash_seed seed{1, 2};
  EXPECT_THAT(build_maglev_table(backends, 13, seed),
              ElementsAre(2, 1, 2, 2, 2, 2, 0, 1, 2, 2, 1, 0, 0));
}

// A different seed gives a different table (the seed is really used).
TEST_F(MaglevTest, SeedChangesTable) {
  auto backends = v4_backends(20);
  sluice_hash_seed other = seed_;
  other.k1 ^= 1;
  EXPECT_NE(build_maglev_table(backends, kM, seed_), build_maglev_table(backends, kM, other));
}

// Removing or adding one backend moves little beyond its own share: at most
// M * (1/N + 1%) entries change (the paper measures ~0.6% extra at N=1000).
TEST_F(MaglevTest, OneBackendChangeIsMinimallyDisruptive) {
  for (uint32_t n : {10u, 100u, 1000u}) {
    auto backends = v4_backends(n);
    const auto before = by_address(build_maglev_table(backends, kM, seed_), backends);
    const size_t limit = static_cast<size_t>(kM * (1.0 / n + 0.01));

    auto removed = backends;
    removed.erase(removed.begin() + n / 2);
    const auto after_remove = by_address(build_maglev_table(removed, kM, seed_), removed);
    size_t moved = changed(before, after_remove);
    EXPECT_LE(moved, limit) << "remove, N=" << n;
    // At least the removed backend's own slots change.
    EXPECT_GE(moved, kM / n) << "remove, N=" << n;

    auto added = backends;
    added.push_back({IpAddress::v4(172, 16, 0, 1), 1});
    const auto after_add = by_address(build_maglev_table(added, kM, seed_), added);
    moved = changed(before, after_add);
    EXPECT_LE(moved, static_cast<size_t>(kM * (1.0 / (n + 1) + 0.01))) << "add, N=" << n;
    EXPECT_GE(moved, kM / (n + 1)) << "add, N=" << n;
    std::printf("N=%u: remove moves %.3f%% (own share %.3f%%), add moves %.3f%%\n", n,
                100.0 * changed(before, after_remove) / kM, 100.0 / n, 100.0 * moved / kM);
  }
}

// Changing one backend's weight moves about the change in its share, plus a
// bounded extra (the same 1% slack as adding or removing a backend).
TEST_F(MaglevTest, WeightChangeIsMinimallyDisruptive) {
  for (uint32_t new_weight : {0u, 2u, 5u}) {
    auto backends = v4_backends(100, 4);
    const auto before = by_address(build_maglev_table(backends, kM, seed_), backends);
    backends[37].weight = new_weight;
    const auto after = by_address(build_maglev_table(backends, kM, seed_), backends);
    const double old_share = 4.0 / 400.0;
    const double new_share = double(new_weight) / (396.0 + new_weight);
    const double delta = std::abs(new_share - old_share);
    size_t moved = changed(before, after);
    EXPECT_LE(moved, static_cast<size_t>(kM * (delta + 0.01))) << "weight " << new_weight;
    EXPECT_GE(moved, static_cast<size_t>(kM * delta) - 1) << "weight " << new_weight;
    std::printf("weight 4 -> %u of 100: moves %.3f%% (share change %.3f%%)\n", new_weight,
                100.0 * moved / kM, 100.0 * delta);
  }
}

// Build time for N = 1000 at M = 65537 (the paper reports 1.8 ms). Printed
// for information; the loose bound only catches an accidental O(N * M).
TEST_F(MaglevTest, BuildTimeForThousandBackends) {
  auto backends = v4_backends(1000);
  for (size_t i = 0; i < backends.size(); ++i) backends[i].weight = 1 + i % 7;
  for (uint32_t m : {kM, 655373u}) {
    std::vector<uint32_t> table;
    const int rounds = m == kM ? 50 : 5;
    auto start = std::chrono::steady_clock::now();
    for (int r = 0; r < rounds; ++r) table = build_maglev_table(backends, m, seed_);
    double ms = std::chrono::duration<double, std::milli>(
                    std::chrono::steady_clock::now() - start).count() / rounds;
    std::printf("N=1000, M=%u: %.3f ms per build\n", m, ms);
    EXPECT_THAT(table, Each(Ne(kMaglevEmpty)));
    EXPECT_LT(ms, m == kM ? 100.0 : 1000.0);
  }
}

// is_prime on small values, the supported table sizes and 32-bit extremes.
TEST_F(MaglevTest, IsPrime) {
  for (uint32_t p : {2u, 3u, 5u, 7u, 11u, 13u, 251u, 65521u, 65537u, 655373u,
                     2147483647u, 4294967291u}) {
    EXPECT_TRUE(is_prime(p)) << p;
  }
  // 561 is a Carmichael number; 4293001441 = 65521^2; 4294967295 = 2^32 - 1.
  for (uint32_t c : {0u, 1u, 4u, 6u, 9u, 25u, 49u, 91u, 561u, 65535u, 65536u, 655371u,
                     4293001441u, 4294967295u}) {
    EXPECT_FALSE(is_prime(c)) << c;
  }
  // Cross-check against a sieve below 10000.
  std::vector<bool> composite(10000, false);
  for (uint32_t i = 2; i < 10000; ++i) {
    if (!composite[i]) {
      for (uint32_t j = i * i; j < 10000; j += i) composite[j] = true;
    }
    EXPECT_EQ(is_prime(i), !composite[i]) << i;
  }
}

}  // namespace
}  // namespace sluice::engine
