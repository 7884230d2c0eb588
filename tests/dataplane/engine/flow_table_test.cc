// Tests of dataplane/engine/flow_table.h: the per-core flow table.
#include "dataplane/engine/flow_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

namespace sluice::engine {
namespace {

constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;
constexpr uint32_t kPairWays = 2 * FlowTable::kWays;  // ways of a key's two buckets

sluice_flow_key v4_key(uint8_t last_octet, uint16_t sport, uint8_t proto = kTcp) {
  sluice_flow_key k{};
  k.family = SLUICE_AF_INET;
  k.src[0] = 10;
  k.src[3] = last_octet;
  k.dst[0] = 192;
  k.dst[1] = 0;
  k.dst[2] = 2;
  k.dst[3] = 1;
  k.sport = sport;
  k.dport = 0x5000;  // port 80 in network byte order
  k.proto = proto;
  return k;
}

std::string key_bytes(const sluice_flow_key& k) {
  return std::string(reinterpret_cast<const char*>(&k), sizeof(k));
}

// `n` distinct random keys, IPv4 and IPv6, TCP and UDP.
std::vector<sluice_flow_key> random_keys(uint32_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<sluice_flow_key> keys;
  keys.reserve(n);
  std::unordered_set<std::string> distinct;
  distinct.reserve(n);
  while (keys.size() < n) {
    sluice_flow_key k{};
    k.family = (rng() & 1) ? SLUICE_AF_INET : SLUICE_AF_INET6;
    const int len = k.family == SLUICE_AF_INET ? 4 : 16;
    for (int i = 0; i < len; ++i) {
      k.src[i] = static_cast<uint8_t>(rng());
      k.dst[i] = static_cast<uint8_t>(rng());
    }
    k.sport = static_cast<uint16_t>(rng());
    k.dport = static_cast<uint16_t>(rng());
    k.proto = (rng() & 1) ? kTcp : kUdp;
    if (distinct.insert(key_bytes(k)).second) keys.push_back(k);
  }
  return keys;
}

// A hash whose buckets in `t` are `first` and `second` (searched over the
// signature half; `first` must be a bucket of t).
uint64_t hash_with_buckets(const FlowTable& t, uint32_t first, uint32_t second) {
  for (uint64_t sig = 1; sig < (uint64_t{1} << 32); ++sig) {
    const uint64_t h = (sig << 32) | first;
    const FlowTable::Buckets b = t.buckets_of(h);
    if (b.first == first && b.second == second) return h;
  }
  ADD_FAILURE() << "no hash with buckets " << first << ", " << second;
  return 0;
}

class FlowTableTest : public ::testing::Test {
 protected:
  uint64_t hash_of(const sluice_flow_key& k) const { return sluice_flow_hash(&k, &seed_); }

  FlowEntry* insert(FlowTable& t, const sluice_flow_key& k, uint32_t now) {
    return t.insert(k, hash_of(k), now, timeouts_);
  }
  FlowEntry* lookup(FlowTable& t, const sluice_flow_key& k, uint32_t now) {
    return t.lookup(k, hash_of(k), now, timeouts_);
  }

  // Inserts every key with its real hash at time i, stores i in the entry,
  // and returns how many live entries were evicted on the way.
  uint64_t fill(FlowTable& t, const std::vector<sluice_flow_key>& keys, uint32_t from,
                uint32_t to) {
    const uint64_t before = t.stats().evictions;
    for (uint32_t i = from; i < to; ++i) {
      FlowEntry* e = t.insert(keys[i], hash_of(keys[i]), i, never_);
      e->generation = i;
      e->backend_index = static_cast<uint16_t>(i);
      e->backend_fingerprint = ~uint64_t{i};
      e->state = keys[i].proto == kTcp ? FlowState::kEstablished : FlowState::kUdp;
    }
    return t.stats().evictions - before;
  }

  // How many of keys[0, n) are found with their own payload.
  uint32_t count_found(FlowTable& t, const std::vector<sluice_flow_key>& keys, uint32_t n) {
    uint32_t found = 0;
    for (uint32_t i = 0; i < n; ++i) {
      const FlowEntry* e = t.lookup(keys[i], hash_of(keys[i]), n, never_);
      if (e == nullptr) continue;
      EXPECT_EQ(key_bytes(e->key), key_bytes(keys[i]));
      EXPECT_EQ(e->generation, i);
      EXPECT_EQ(e->backend_fingerprint, ~uint64_t{i});
      if (e->generation == i) ++found;
    }
    return found;
  }

  // Fills both buckets of `h` with kPairWays established keys, key i last
  // seen at seen[i]; returns the entries in insertion order.
  std::vector<FlowEntry*> fill_pair(FlowTable& t, uint64_t h, const uint32_t* seen) {
    std::vector<FlowEntry*> entries;
    for (uint32_t i = 0; i < kPairWays; ++i) {
      FlowEntry* e = t.insert(v4_key(1, static_cast<uint16_t>(i)), h, seen[i], timeouts_);
      e->state = FlowState::kEstablished;
      entries.push_back(e);
    }
    return entries;
  }

  sluice_hash_seed seed_{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
  // Distinct per state so a test can tell which timeout was applied.
  FlowTimeouts timeouts_{.tcp_syn_ms = 1000,
                         .tcp_established_ms = 5000,
                         .tcp_closing_ms = 2000,
                         .udp_ms = 3000,
                         .probation_ms = 4000};
  FlowTimeouts never_{.tcp_syn_ms = UINT32_MAX,
                      .tcp_established_ms = UINT32_MAX,
                      .tcp_closing_ms = UINT32_MAX,
                      .udp_ms = UINT32_MAX,
                      .probation_ms = UINT32_MAX};
};

// The entry is one cache line, aligned to one, with the documented layout.
TEST_F(FlowTableTest, EntryIsOneCacheLine) {
  EXPECT_EQ(sizeof(FlowEntry), 64u);
  EXPECT_EQ(alignof(FlowEntry), 64u);
  EXPECT_EQ(offsetof(FlowEntry, key), 0u);
  EXPECT_EQ(offsetof(FlowEntry, backend_fingerprint), 40u);
  EXPECT_EQ(offsetof(FlowEntry, state), 63u);
  // 64 for the entry, 8 for its share of its bucket's signature line.
  EXPECT_EQ(FlowTable::bytes_per_entry(), 72u);
}

// Every entry handed out lies on a 64-byte boundary.
TEST_F(FlowTableTest, EntriesAreAligned) {
  FlowTable t(64);
  for (uint16_t i = 0; i < 64; ++i) {
    FlowEntry* e = insert(t, v4_key(1, i), 0);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(e) % 64, 0u);
  }
}

// Capacity rounds up to a power-of-two number of 8-entry buckets.
TEST_F(FlowTableTest, CapacityRounding) {
  EXPECT_EQ(FlowTable(0).capacity(), 8u);
  EXPECT_EQ(FlowTable(1).capacity(), 8u);
  EXPECT_EQ(FlowTable(8).capacity(), 8u);
  EXPECT_EQ(FlowTable(9).capacity(), 16u);
  EXPECT_EQ(FlowTable(17).capacity(), 32u);
  EXPECT_EQ(FlowTable(1000).capacity(), 1024u);
  EXPECT_EQ(FlowTable(65536).capacity(), 65536u);
  EXPECT_EQ(FlowTable(65537).capacity(), 131072u);
}

// The two buckets of a hash: the first from its low bits, both in range, and
// each one's other bucket is the first one again (what moves rely on).
TEST_F(FlowTableTest, BucketsOfHash) {
  FlowTable t(1024);  // 128 buckets
  std::mt19937_64 rng(7);
  uint32_t differ = 0;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t h = rng();
    const FlowTable::Buckets b = t.buckets_of(h);
    EXPECT_EQ(b.first, h & 127);
    EXPECT_LT(b.second, 128u);
    // Same signature half, started from the other bucket: back to the first.
    const FlowTable::Buckets back = t.buckets_of((h & ~uint64_t{127}) | b.second);
    EXPECT_EQ(back.second, b.first);
    if (b.first != b.second) ++differ;
  }
  EXPECT_GT(differ, 950u);  // they coincide for about 1 hash in 128
  // A one-bucket table has one bucket to offer.
  FlowTable one(8);
  EXPECT_EQ(one.buckets_of(~0ULL).first, 0u);
  EXPECT_EQ(one.buckets_of(~0ULL).second, 0u);
}

// An inserted flow is found again, with the fields the caller stored.
TEST_F(FlowTableTest, InsertThenLookupHits) {
  FlowTable t(1024);
  const sluice_flow_key k = v4_key(7, 0x1234);
  FlowEntry* e = insert(t, k, 100);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(key_bytes(e->key), key_bytes(k));
  EXPECT_EQ(e->state, FlowState::kSynSent);
  EXPECT_EQ(e->last_seen_ms, 100u);
  EXPECT_EQ(e->first_seen_ms, 100u);
  e->backend_fingerprint = 0xfeedfacecafebeefULL;
  e->generation = 42;
  e->backend_index = 513;
  e->pool = 3;
  e->state = FlowState::kEstablished;

  FlowEntry* found = lookup(t, k, 150);
  ASSERT_EQ(found, e);
  EXPECT_EQ(found->backend_fingerprint, 0xfeedfacecafebeefULL);
  EXPECT_EQ(found->generation, 42u);
  EXPECT_EQ(found->backend_index, 513u);
  EXPECT_EQ(found->pool, 3u);
  EXPECT_EQ(t.occupied(), 1u);
}

// A fresh table finds nothing.
TEST_F(FlowTableTest, EmptyTableMisses) {
  FlowTable t(16);
  EXPECT_EQ(lookup(t, v4_key(1, 1), 0), nullptr);
  // An all-zero key with an all-zero hash matches the zeroed memory of free
  // slots byte for byte; signature 0 is never used, so it must still miss.
  sluice_flow_key zero{};
  EXPECT_EQ(t.lookup(zero, 0, 0, timeouts_), nullptr);
  EXPECT_EQ(t.stats().hits, 0u);
  EXPECT_EQ(t.stats().lookups, 2u);
}

// A key with an all-zero hash (signature forced non-zero) is stored and found.
TEST_F(FlowTableTest, ZeroHashWorks) {
  FlowTable t(16);
  sluice_flow_key zero{};
  FlowEntry* e = t.insert(zero, 0, 5, timeouts_);
  EXPECT_EQ(t.lookup(zero, 0, 6, timeouts_), e);
  EXPECT_EQ(t.occupied(), 1u);
}

// Insert sets kProbation for non-TCP keys (unconfirmed until a second
// packet), kSynSent for TCP.
TEST_F(FlowTableTest, InsertInitialStateFollowsProtocol) {
  FlowTable t(16);
  EXPECT_EQ(insert(t, v4_key(1, 1, kUdp), 0)->state, FlowState::kProbation);
  EXPECT_EQ(insert(t, v4_key(1, 2, kTcp), 0)->state, FlowState::kSynSent);
}

// A key differing in any single field misses, even with the same hash (same
// buckets and signature).
TEST_F(FlowTableTest, MissForKeyDifferingInEachField) {
  const sluice_flow_key base = v4_key(9, 0x4000);
  std::vector<sluice_flow_key> variants;
  for (int i = 0; i < 16; ++i) {
    sluice_flow_key k = base;
    k.src[i] ^= 0x01;
    variants.push_back(k);
    k = base;
    k.dst[i] ^= 0x80;
    variants.push_back(k);
  }
  sluice_flow_key k = base;
  k.sport = 0x4001;
  variants.push_back(k);
  k = base;
  k.dport = 0x5001;
  variants.push_back(k);
  k = base;
  k.proto = kUdp;
  variants.push_back(k);
  k = base;
  k.family = SLUICE_AF_INET6;
  variants.push_back(k);
  k = base;
  k.pad[1] = 1;  // callers must zero the pad; a stray byte is a different key
  variants.push_back(k);

  for (const sluice_flow_key& v : variants) {
    FlowTable t(64);
    // Same hash on purpose: the key compare alone must tell them apart.
    const uint64_t h = 0x123456785555ULL;
    FlowEntry* e = t.insert(base, h, 0, timeouts_);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(t.lookup(v, h, 1, timeouts_), nullptr);
    EXPECT_EQ(t.lookup(base, h, 1, timeouts_), e);
    // Inserting the variant makes a second entry, not a reuse of base's.
    FlowEntry* ve = t.insert(v, h, 2, timeouts_);
    EXPECT_NE(ve, e);
    EXPECT_EQ(t.lookup(v, h, 3, timeouts_), ve);
    EXPECT_EQ(t.lookup(base, h, 3, timeouts_), e);
    EXPECT_EQ(t.occupied(), 2u);
  }
}

// Each state expires at exactly its own timeout: timeout-1 alive, timeout gone.
TEST_F(FlowTableTest, ExpiryBoundaryPerState) {
  struct Case {
    FlowState state;
    uint32_t timeout;
  };
  const Case cases[] = {{FlowState::kSynSent, 1000},
                        {FlowState::kEstablished, 5000},
                        {FlowState::kClosing, 2000},
                        {FlowState::kUdp, 3000},
                        {FlowState::kProbation, 4000}};
  for (const Case& c : cases) {
    FlowTable t(16);
    const sluice_flow_key k = v4_key(3, 77);
    const uint32_t t0 = 1000000;
    FlowEntry* e = insert(t, k, t0);
    e->state = c.state;
    EXPECT_EQ(lookup(t, k, t0 + c.timeout - 1), e) << static_cast<int>(c.state);
    // The hit above did not refresh last_seen_ms (the caller does).
    EXPECT_EQ(e->last_seen_ms, t0);
    EXPECT_EQ(lookup(t, k, t0 + c.timeout), nullptr) << static_cast<int>(c.state);
    EXPECT_TRUE(flow_expired(*e, t0 + c.timeout, timeouts_));
    EXPECT_FALSE(flow_expired(*e, t0 + c.timeout - 1, timeouts_));
  }
}

// The timeouts passed with the call are the ones applied (they are per service).
TEST_F(FlowTableTest, TimeoutsComeFromTheCall) {
  FlowTable t(16);
  const sluice_flow_key k = v4_key(3, 78, kUdp);
  FlowEntry* e = insert(t, k, 0);
  t.set_state(e, FlowState::kUdp);
  FlowTimeouts longer = timeouts_;
  longer.udp_ms = 60000;
  EXPECT_EQ(t.lookup(k, hash_of(k), 59999, longer), e);
  EXPECT_EQ(t.lookup(k, hash_of(k), 59999, timeouts_), nullptr);
}

// Idle time is measured across the 32-bit wrap of the millisecond clock.
TEST_F(FlowTableTest, ExpiryAcrossClockWrap) {
  FlowTable t(16);
  const sluice_flow_key k = v4_key(4, 4);
  const uint32_t t0 = 0xFFFFFF00u;  // 256 ms before the wrap
  FlowEntry* e = insert(t, k, t0);
  e->state = FlowState::kEstablished;  // 5000 ms
  EXPECT_EQ(lookup(t, k, 0xFFFFFFFFu), e);
  EXPECT_EQ(lookup(t, k, 0), e);
  EXPECT_EQ(lookup(t, k, 5000 - 256 - 1), e);  // t0 + 4999, wrapped
  EXPECT_EQ(lookup(t, k, 5000 - 256), nullptr);  // t0 + 5000, wrapped
}

// An entry idle for more than 2^31 ms stays expired (no signed-compare rebirth).
TEST_F(FlowTableTest, LongIdleEntryStaysExpired) {
  FlowTable t(16);
  const sluice_flow_key k = v4_key(4, 5);
  insert(t, k, 0)->state = FlowState::kEstablished;
  EXPECT_EQ(lookup(t, k, 0x80000000u), nullptr);
  EXPECT_EQ(lookup(t, k, 0xC0000000u), nullptr);
  EXPECT_EQ(lookup(t, k, 0xFFFFFFFFu), nullptr);
}

// Inserting an existing key returns its slot, re-initialised, with no duplicate.
TEST_F(FlowTableTest, InsertExistingKeyReusesSlot) {
  FlowTable t(16);
  const sluice_flow_key k = v4_key(5, 5);
  FlowEntry* e = insert(t, k, 10);
  e->backend_fingerprint = 99;
  e->backend_index = 7;
  e->state = FlowState::kEstablished;
  FlowEntry* again = insert(t, k, 20);
  EXPECT_EQ(again, e);
  EXPECT_EQ(again->backend_fingerprint, 0u);
  EXPECT_EQ(again->backend_index, 0u);
  EXPECT_EQ(again->last_seen_ms, 20u);
  EXPECT_EQ(again->first_seen_ms, 20u);
  EXPECT_EQ(again->state, FlowState::kSynSent);
  EXPECT_EQ(t.occupied(), 1u);
  EXPECT_EQ(t.stats().evictions, 0u);
}

// An existing key in its second bucket is found and reused by insert, even
// when its first bucket has room again.
TEST_F(FlowTableTest, InsertFindsKeyInSecondBucket) {
  FlowTable t(64);  // 8 buckets
  const uint64_t h = hash_with_buckets(t, 2, 5);
  const uint32_t seen[kPairWays] = {};
  std::vector<FlowEntry*> entries = fill_pair(t, h, seen);
  // The less loaded bucket takes each new key: they alternate, first bucket first.
  EXPECT_EQ(entries[1] - entries[0], (5 - 2) * 8);
  EXPECT_EQ(entries[2] - entries[0], 1);
  // Free a way of the first bucket, then re-insert a key living in the second.
  t.erase(entries[0]);
  EXPECT_EQ(t.insert(v4_key(1, 1), h, 10, timeouts_), entries[1]);
  EXPECT_EQ(t.occupied(), kPairWays - 1);
}

// An expired entry of the same key is reused (not duplicated) and counted.
TEST_F(FlowTableTest, InsertReusesExpiredSameKey) {
  FlowTable t(16);
  const sluice_flow_key k = v4_key(5, 6);
  FlowEntry* e = insert(t, k, 0);  // kSynSent, 1000 ms
  EXPECT_EQ(lookup(t, k, 1000), nullptr);
  EXPECT_EQ(insert(t, k, 1000), e);
  EXPECT_EQ(t.stats().expirations, 1u);
  EXPECT_EQ(t.occupied(), 1u);
  EXPECT_EQ(lookup(t, k, 1000), e);
}

// Both buckets full of live flows (equal hashes): the stalest of the 16 goes.
TEST_F(FlowTableTest, FullBucketsEvictStalest) {
  FlowTable t(64);
  const uint64_t h = 0xABCDEF;  // one bucket pair for all keys below
  ASSERT_NE(t.buckets_of(h).first, t.buckets_of(h).second);
  const uint32_t seen[kPairWays] = {500, 510, 520, 530, 540, 550, 560, 570,
                                    580, 590, 600, 200, 610, 620, 630, 640};
  std::vector<FlowEntry*> entries = fill_pair(t, h, seen);
  EXPECT_EQ(t.stats().evictions, 0u);
  const sluice_flow_key newcomer = v4_key(2, 100);
  FlowEntry* e = t.insert(newcomer, h, 700, timeouts_);
  EXPECT_EQ(e, entries[11]);  // last seen at 200
  EXPECT_EQ(t.stats().evictions, 1u);
  EXPECT_EQ(t.stats().displacements, 0u);  // every resident's other bucket is full too
  EXPECT_EQ(t.lookup(v4_key(1, 11), h, 700, timeouts_), nullptr);
  EXPECT_EQ(t.lookup(newcomer, h, 700, timeouts_), e);
  for (uint32_t i = 0; i < kPairWays; ++i) {
    if (i == 11) continue;
    EXPECT_EQ(t.lookup(v4_key(1, static_cast<uint16_t>(i)), h, 700, timeouts_), entries[i]) << i;
  }
  EXPECT_EQ(t.occupied(), kPairWays);
}

// A lookup hit counts as activity: the flow first inserted but recently hit
// is kept, the next stalest goes.
TEST_F(FlowTableTest, LookupHitDefersEviction) {
  FlowTable t(64);
  const uint64_t h = 0x1234;
  uint32_t seen[kPairWays];
  for (uint32_t i = 0; i < kPairWays; ++i) seen[i] = 100 + i;
  std::vector<FlowEntry*> entries = fill_pair(t, h, seen);
  ASSERT_EQ(t.lookup(v4_key(1, 0), h, 300, timeouts_), entries[0]);
  EXPECT_EQ(t.insert(v4_key(2, 0), h, 301, timeouts_), entries[1]);  // seen at 101
  EXPECT_EQ(t.lookup(v4_key(1, 0), h, 301, timeouts_), entries[0]);
}

// The stalest entry is judged by age, so last-seen times straddling the wrap
// are ordered right (0xFFFFFF00 is older than 0x10).
TEST_F(FlowTableTest, EvictionOrderAcrossClockWrap) {
  FlowTable t(64);
  const uint64_t h = 7;
  uint32_t seen[kPairWays];
  for (uint32_t i = 0; i < kPairWays; ++i) seen[i] = 0x10 + i;
  seen[5] = 0xFFFFFFF0u;
  seen[9] = 0xFFFFFF00u;
  std::vector<FlowEntry*> entries = fill_pair(t, h, seen);
  EXPECT_EQ(t.insert(v4_key(2, 1), h, 0x30, timeouts_), entries[9]);
}

// Full buckets reuse an expired entry before evicting a live one, even when
// a live entry is idler (its state has a longer timeout).
TEST_F(FlowTableTest, FullBucketsPreferExpired) {
  FlowTable t(64);
  const uint64_t h = 3;
  uint32_t seen[kPairWays];
  for (uint32_t i = 0; i < kPairWays; ++i) seen[i] = 900;  // fresher
  seen[0] = 0;   // stalest, but established: alive until 5000
  seen[13] = 100;
  std::vector<FlowEntry*> entries = fill_pair(t, h, seen);
  entries[13]->state = FlowState::kSynSent;  // 1000 ms: expired at 1100
  EXPECT_EQ(t.insert(v4_key(2, 1), h, 1100, timeouts_), entries[13]);
  EXPECT_EQ(t.stats().expirations, 1u);
  EXPECT_EQ(t.stats().evictions, 0u);
  EXPECT_EQ(t.lookup(v4_key(1, 0), h, 1100, timeouts_), entries[0]);
}

// The stalest entry is reclaimed as expired when it is (no eviction counted).
TEST_F(FlowTableTest, FullBucketsReclaimStalestExpired) {
  FlowTable t(64);
  const uint64_t h = 0x99;
  uint32_t seen[kPairWays];
  for (uint32_t i = 0; i < kPairWays; ++i) seen[i] = 10000 + i;
  seen[4] = 1000;  // established (5000 ms): expired at 10100, the only one
  std::vector<FlowEntry*> entries = fill_pair(t, h, seen);
  EXPECT_EQ(t.insert(v4_key(2, 2), h, 10100, timeouts_), entries[4]);
  EXPECT_EQ(t.stats().expirations, 1u);
  EXPECT_EQ(t.stats().evictions, 0u);
}

// A live resident of a full bucket moves to its other bucket to make room;
// it keeps every field and stays findable, and no flow is lost.
TEST_F(FlowTableTest, FullBucketsMoveAResident) {
  FlowTable t(32);  // 4 buckets
  const uint64_t at0 = hash_with_buckets(t, 0, 0);    // buckets coincide: 0
  const uint64_t at3 = hash_with_buckets(t, 3, 3);    // buckets coincide: 3
  const uint64_t via13 = hash_with_buckets(t, 1, 3);  // 1 or 3
  const uint64_t via01 = hash_with_buckets(t, 0, 1);  // the newcomer: 0 or 1
  // Bucket 3 full first, so that the via13 keys all land in bucket 1.
  std::vector<FlowEntry*> filler;
  for (uint16_t i = 0; i < FlowTable::kWays; ++i) {
    filler.push_back(t.insert(v4_key(3, i), at3, 0, timeouts_));
  }
  std::vector<FlowEntry*> movable;
  for (uint16_t i = 0; i < FlowTable::kWays; ++i) {
    FlowEntry* e = t.insert(v4_key(1, i), via13, 10 + i, timeouts_);
    e->state = FlowState::kEstablished;
    e->backend_fingerprint = 0xF00D0000u + i;
    e->backend_index = static_cast<uint16_t>(100 + i);
    e->generation = 7;
    e->pool = 1;
    movable.push_back(e);
  }
  for (FlowEntry* e : filler) t.erase(e);  // bucket 3 free again
  for (uint16_t i = 0; i < FlowTable::kWays; ++i) {
    t.insert(v4_key(0, i), at0, 20, timeouts_)->state = FlowState::kEstablished;
  }
  ASSERT_EQ(t.occupied(), 2 * FlowTable::kWays);

  FlowEntry* e = t.insert(v4_key(9, 9), via01, 30, timeouts_);
  EXPECT_EQ(t.stats().evictions, 0u);
  EXPECT_EQ(t.stats().displacements, 1u);
  EXPECT_EQ(e, movable[0]);  // the first resident of bucket 1 moved out
  EXPECT_EQ(t.occupied(), 2 * FlowTable::kWays + 1);
  EXPECT_EQ(t.lookup(v4_key(9, 9), via01, 31, timeouts_), e);
  for (uint16_t i = 0; i < FlowTable::kWays; ++i) {
    const FlowEntry* m = t.lookup(v4_key(1, i), via13, 31, timeouts_);
    ASSERT_NE(m, nullptr) << i;
    EXPECT_EQ(m->backend_fingerprint, 0xF00D0000u + i);
    EXPECT_EQ(m->backend_index, 100 + i);
    EXPECT_EQ(m->generation, 7u);
    EXPECT_EQ(m->pool, 1u);
    EXPECT_EQ(m->last_seen_ms, 10u + i);
    EXPECT_EQ(m->state, FlowState::kEstablished);
    if (i == 0) {
      EXPECT_EQ(m - movable[0], 2 * 8);  // now in bucket 3
    } else {
      EXPECT_EQ(m, movable[i]);
    }
    EXPECT_NE(t.lookup(v4_key(0, i), at0, 31, timeouts_), nullptr) << i;
  }
}

// A key whose two buckets coincide has 8 ways; when they are full of live
// flows that cannot move either, the stalest of the 8 goes.
TEST_F(FlowTableTest, CoincidingBuckets) {
  FlowTable t(64);  // 8 buckets
  const uint64_t h = hash_with_buckets(t, 6, 6);
  std::vector<FlowEntry*> entries;
  for (uint16_t i = 0; i < FlowTable::kWays; ++i) {
    FlowEntry* e = t.insert(v4_key(1, i), h, 1000 + i, timeouts_);
    e->state = FlowState::kEstablished;
    entries.push_back(e);
    EXPECT_EQ(e - entries[0], i);  // ways 0..7 of bucket 6, in order
  }
  EXPECT_EQ(t.occupied(), FlowTable::kWays);
  EXPECT_EQ(t.stats().evictions, 0u);
  for (uint16_t i = 0; i < FlowTable::kWays; ++i) {
    EXPECT_EQ(t.lookup(v4_key(1, i), h, 1050, timeouts_), entries[i]) << i;
  }
  // Re-inserting an existing key is a reuse, not a second copy.
  EXPECT_EQ(t.insert(v4_key(1, 3), h, 1060, timeouts_), entries[3]);
  EXPECT_EQ(t.occupied(), FlowTable::kWays);
  // A ninth key: nothing expired, no resident can move (theirs coincide too).
  FlowEntry* n = t.insert(v4_key(2, 2), h, 1100, timeouts_);
  EXPECT_EQ(t.stats().evictions, 1u);
  EXPECT_EQ(t.stats().displacements, 0u);
  EXPECT_EQ(t.occupied(), FlowTable::kWays);
  EXPECT_EQ(t.lookup(v4_key(2, 2), h, 1100, timeouts_), n);
  uint32_t kept = 0;
  for (uint16_t i = 0; i < FlowTable::kWays; ++i) {
    if (t.lookup(v4_key(1, i), h, 1100, timeouts_) != nullptr) ++kept;
  }
  EXPECT_EQ(kept, FlowTable::kWays - 1);
  EXPECT_EQ(t.lookup(v4_key(1, 3), h, 1100, timeouts_), entries[3]);  // refreshed by re-insert
  // Other buckets are untouched: a key of buckets 1 and 2 gets way 0 of bucket 1.
  FlowEntry* elsewhere = t.insert(v4_key(3, 3), hash_with_buckets(t, 1, 2), 1100, timeouts_);
  EXPECT_EQ(elsewhere - entries[0], 1 * 8 - 6 * 8);
}

// In a one-bucket table every key's buckets coincide: 8 keys fit, the 9th evicts.
TEST_F(FlowTableTest, OneBucketTable) {
  FlowTable t(1);
  ASSERT_EQ(t.capacity(), FlowTable::kWays);
  std::vector<sluice_flow_key> keys = random_keys(FlowTable::kWays + 1, 3);
  for (uint32_t i = 0; i < FlowTable::kWays; ++i) insert(t, keys[i], i);
  EXPECT_EQ(t.stats().evictions, 0u);
  EXPECT_EQ(t.occupied(), FlowTable::kWays);
  insert(t, keys[FlowTable::kWays], 100);
  EXPECT_EQ(t.stats().evictions, 1u);
  EXPECT_EQ(lookup(t, keys[0], 100), nullptr);  // inserted first: the stalest
  for (uint32_t i = 1; i <= FlowTable::kWays; ++i) EXPECT_NE(lookup(t, keys[i], 100), nullptr);
}

// Erase frees the slot: lookup misses and a new insert takes the free slot.
TEST_F(FlowTableTest, EraseFreesSlot) {
  FlowTable t(16);
  const sluice_flow_key k = v4_key(6, 6);
  FlowEntry* e = insert(t, k, 0);
  t.erase(e);
  EXPECT_EQ(e->state, FlowState::kEmpty);
  EXPECT_EQ(lookup(t, k, 0), nullptr);
  EXPECT_EQ(t.occupied(), 0u);
  t.erase(e);        // twice: no-op
  t.erase(nullptr);  // tolerated
  EXPECT_EQ(t.occupied(), 0u);
  EXPECT_EQ(t.stats().erases, 1u);
  EXPECT_EQ(insert(t, k, 1), e);  // the freed way is the first free one again
  EXPECT_EQ(lookup(t, k, 1), e);
  EXPECT_EQ(t.occupied(), 1u);
}

// Counters follow the documented meaning.
TEST_F(FlowTableTest, StatsCounters) {
  FlowTable t(8);  // one bucket
  const uint64_t h = 0;
  for (uint16_t i = 0; i < 10; ++i) t.insert(v4_key(1, i), h, i, timeouts_);
  EXPECT_NE(t.lookup(v4_key(1, 9), h, 10, timeouts_), nullptr);
  EXPECT_EQ(t.lookup(v4_key(1, 0), h, 10, timeouts_), nullptr);  // evicted
  EXPECT_EQ(t.lookup(v4_key(1, 1), h, 10, timeouts_), nullptr);  // evicted
  EXPECT_EQ(t.lookup(v4_key(1, 9), h, 2000, timeouts_), nullptr);  // expired (syn 1000)
  t.insert(v4_key(1, 20), h, 2000, timeouts_);  // all eight expired: reclaims one
  const FlowTableStats s = t.stats();
  EXPECT_EQ(s.inserts, 11u);
  EXPECT_EQ(s.evictions, 2u);
  EXPECT_EQ(s.expirations, 1u);
  EXPECT_EQ(s.lookups, 4u);
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.erases, 0u);
  EXPECT_EQ(s.displacements, 0u);
  EXPECT_EQ(t.occupied(), 8u);
}

// Both prefetch stages accept any hash, on empty, partly full and full
// tables, and change nothing.
TEST_F(FlowTableTest, PrefetchAnyHash) {
  for (uint32_t capacity : {1u, 16u}) {
    FlowTable t(capacity);
    const std::vector<sluice_flow_key> keys = random_keys(t.capacity(), capacity);
    for (uint32_t filled = 0; filled <= t.capacity(); filled += t.capacity() / 2) {
      for (uint32_t i = 0; i < filled; ++i) insert(t, keys[i], 7);
      const FlowTableStats before = t.stats();
      const uint64_t hashes[] = {0, 1, ~uint64_t{0}, uint64_t{1} << 63, hash_of(keys[0])};
      for (uint64_t h : hashes) {
        t.prefetch(h);
        t.prefetch_entry(h, 100);
      }
      EXPECT_EQ(t.stats().lookups, before.lookups);
      EXPECT_EQ(t.stats().inserts, before.inserts);
      EXPECT_EQ(t.occupied(), filled == 0 ? 0u : std::min(filled, t.capacity()));
      if (filled > 0) {
        EXPECT_NE(lookup(t, keys[0], 8), nullptr);
      }
    }
  }
}

// sweep frees expired entries only, each judged by its own flow's timeouts,
// and does not even read entries idle for less than min_idle_ms.
TEST_F(FlowTableTest, SweepFreesExpiredEntries) {
  FlowTable t(64);
  FlowTimeouts long_udp = timeouts_;
  long_udp.udp_ms = 60000;
  uint32_t calls = 0;
  // Port 53 flows belong to a service with a long UDP timeout.
  const auto timeouts_of = [&](const sluice_flow_key& k) {
    ++calls;
    return k.dport == 53 ? &long_udp : &timeouts_;
  };
  sluice_flow_key dns = v4_key(4, 4, kUdp);
  dns.dport = 53;
  FlowEntry* syn = insert(t, v4_key(1, 1), 0);        // 1000 ms
  FlowEntry* est = insert(t, v4_key(2, 2), 0);        // 5000 ms
  est->state = FlowState::kEstablished;
  FlowEntry* late_syn = insert(t, v4_key(3, 3), 900);  // alive until 1900
  t.set_state(insert(t, dns, 0), FlowState::kUdp);     // 60000 ms
  ASSERT_EQ(t.occupied(), 4u);

  EXPECT_EQ(t.sweep(1500, 8, 1000, timeouts_of), 1u);
  EXPECT_EQ(calls, 3u);  // late_syn, idle 600 ms, was skipped unread
  EXPECT_EQ(syn->state, FlowState::kEmpty);
  EXPECT_EQ(lookup(t, v4_key(1, 1), 1500), nullptr);
  EXPECT_EQ(lookup(t, v4_key(2, 2), 1500), est);
  EXPECT_EQ(t.occupied(), 3u);
  EXPECT_EQ(t.stats().swept, 1u);

  // est expired at 5000, but nobody idle for 7000 ms is looked at.
  calls = 0;
  EXPECT_EQ(t.sweep(6000, 8, 7000, timeouts_of), 0u);
  EXPECT_EQ(calls, 0u);
  // A callback that knows no timeouts leaves entries alone.
  EXPECT_EQ(t.sweep(6000, 8, 1000, [](const sluice_flow_key&) -> const FlowTimeouts* {
    return nullptr;
  }), 0u);
  // est (idle 6000 of 5000) and late_syn (5100 of 1000) go, dns stays.
  EXPECT_EQ(t.sweep(6000, 8, 1000, timeouts_of), 2u);
  EXPECT_EQ(late_syn->state, FlowState::kEmpty);
  EXPECT_NE(t.lookup(dns, hash_of(dns), 6000, long_udp), nullptr);
  EXPECT_EQ(t.occupied(), 1u);
  EXPECT_EQ(t.stats().swept, 3u);
  EXPECT_EQ(t.stats().evictions, 0u);
  // Freed ways are free: a new key takes one without evicting or reclaiming.
  insert(t, v4_key(5, 5), 6000);
  EXPECT_EQ(t.occupied(), 2u);
  EXPECT_EQ(t.stats().expirations, 0u);
}

// A lookup that finds its key expired says which entry (left in place for
// the caller); a live hit, a miss or no out-parameter say nothing.
TEST_F(FlowTableTest, LookupReportsExpiredEntry) {
  FlowTable t(64);
  const sluice_flow_key k = v4_key(6, 6);
  FlowEntry* e = insert(t, k, 0);  // kSynSent: 1000 ms
  e->backend_index = 9;
  FlowEntry* expired = nullptr;
  EXPECT_EQ(t.lookup(k, hash_of(k), 999, timeouts_, &expired), e);
  EXPECT_EQ(expired, nullptr);
  EXPECT_EQ(t.lookup(v4_key(7, 7), hash_of(v4_key(7, 7)), 999, timeouts_, &expired), nullptr);
  EXPECT_EQ(expired, nullptr);
  EXPECT_EQ(t.lookup(k, hash_of(k), 1999, timeouts_, &expired), nullptr);
  ASSERT_EQ(expired, e);
  EXPECT_EQ(expired->backend_index, 9u);
  EXPECT_EQ(t.occupied(), 1u);  // still there: the caller decides
  t.erase(expired);
  EXPECT_EQ(t.occupied(), 0u);
}

// insert hands back a copy of the expired entry its slot held (the key's
// own, or another key's it reclaimed), and an empty one otherwise.
TEST_F(FlowTableTest, InsertReportsReclaimedEntry) {
  FlowTable t(64);
  FlowEntry reclaimed;
  const sluice_flow_key k = v4_key(8, 8);
  FlowEntry* e = t.insert(k, hash_of(k), 0, timeouts_, &reclaimed);
  EXPECT_EQ(reclaimed.state, FlowState::kEmpty);  // a free way
  e->backend_index = 4;
  e->first_seen_ms = 0;
  t.insert(k, hash_of(k), 500, timeouts_, &reclaimed);  // live: re-initialised, not expired
  EXPECT_EQ(reclaimed.state, FlowState::kEmpty);
  e->backend_index = 5;
  t.insert(k, hash_of(k), 1500, timeouts_, &reclaimed);  // idle 1000 of 1000 ms
  EXPECT_EQ(reclaimed.state, FlowState::kSynSent);
  EXPECT_EQ(reclaimed.backend_index, 5u);
  EXPECT_EQ(key_bytes(reclaimed.key), key_bytes(k));
  // Another key's expired entry in full buckets.
  const uint64_t h = 0x77;
  uint32_t seen[kPairWays];
  for (uint32_t i = 0; i < kPairWays; ++i) seen[i] = 900;
  seen[3] = 100;
  std::vector<FlowEntry*> entries = fill_pair(t, h, seen);
  entries[3]->state = FlowState::kSynSent;  // expired at 1100
  entries[3]->backend_index = 33;
  FlowEntry* got = t.insert(v4_key(2, 9), h, 1100, timeouts_, &reclaimed);
  EXPECT_EQ(got, entries[3]);
  EXPECT_EQ(reclaimed.state, FlowState::kSynSent);
  EXPECT_EQ(reclaimed.backend_index, 33u);
  EXPECT_EQ(key_bytes(reclaimed.key), key_bytes(v4_key(1, 3)));
  // An evicted live entry is not reported.
  for (uint32_t i = 0; i < kPairWays; ++i) t.lookup(v4_key(1, static_cast<uint16_t>(i)), h, 1101, timeouts_);
  t.insert(v4_key(2, 10), h, 1102, timeouts_, &reclaimed);
  EXPECT_EQ(t.stats().evictions, 1u);
  EXPECT_EQ(reclaimed.state, FlowState::kEmpty);
}

// sweep shows each entry it frees to on_freed, before freeing it.
TEST_F(FlowTableTest, SweepShowsFreedEntries) {
  FlowTable t(64);
  const auto timeouts_of = [&](const sluice_flow_key&) { return &timeouts_; };
  insert(t, v4_key(1, 1), 0)->backend_index = 1;  // kSynSent: 1000 ms
  FlowEntry* est = insert(t, v4_key(2, 2), 0);
  est->state = FlowState::kEstablished;  // 5000 ms
  std::vector<std::pair<uint16_t, FlowState>> freed;
  const auto on_freed = [&](const FlowEntry& e) { freed.emplace_back(e.backend_index, e.state); };
  EXPECT_EQ(t.sweep(1000, 8, 1000, timeouts_of, on_freed), 1u);
  ASSERT_EQ(freed.size(), 1u);
  EXPECT_EQ(freed[0], std::make_pair(uint16_t{1}, FlowState::kSynSent));
  EXPECT_EQ(t.sweep(5000, 8, 1000, timeouts_of, on_freed), 1u);
  ASSERT_EQ(freed.size(), 2u);
  EXPECT_EQ(freed[1].second, FlowState::kEstablished);
  EXPECT_EQ(t.sweep(9000, 8, 1000, timeouts_of, on_freed), 0u);
  EXPECT_EQ(freed.size(), 2u);
}

// for_each_entry visits every occupied way once, expired ones included,
// and nothing freed.
TEST_F(FlowTableTest, ForEachEntryVisitsOccupied) {
  FlowTable t(1024);
  const std::vector<sluice_flow_key> keys = random_keys(300, 7);
  fill(t, keys, 0, 300);
  t.erase(t.lookup(keys[10], hash_of(keys[10]), 300, never_));
  std::unordered_set<uint32_t> seen;
  uint32_t visits = 0;
  t.for_each_entry([&](const FlowEntry& e) {
    ++visits;
    seen.insert(e.generation);
    EXPECT_EQ(key_bytes(e.key), key_bytes(keys[e.generation]));
  });
  EXPECT_EQ(visits, 299u);
  EXPECT_EQ(seen.size(), 299u);
  EXPECT_EQ(seen.count(10), 0u);
  FlowTable empty(64);
  empty.for_each_entry([&](const FlowEntry&) { ADD_FAILURE(); });
}

// The cursor walks the buckets round and round; one call makes one pass at most.
TEST_F(FlowTableTest, SweepCursorWraps) {
  FlowTable t(32);  // 4 buckets
  const auto timeouts_of = [&](const sluice_flow_key&) { return &timeouts_; };
  const auto fill_all = [&](uint8_t tag) {
    for (uint32_t b = 0; b < 4; ++b) {  // one SYN (1000 ms) per bucket, at time 0
      t.insert(v4_key(tag, static_cast<uint16_t>(b)), hash_with_buckets(t, b, b), 0, timeouts_);
    }
  };
  fill_all(1);
  EXPECT_EQ(t.sweep(2000, 3, 1000, timeouts_of), 3u);  // buckets 0, 1, 2
  EXPECT_EQ(t.sweep(2000, 3, 1000, timeouts_of), 1u);  // 3, then 0 and 1 again
  EXPECT_EQ(t.occupied(), 0u);
  fill_all(2);
  EXPECT_EQ(t.sweep(2000, 1000, 1000, timeouts_of), 4u);  // one pass, from bucket 2
  EXPECT_EQ(t.sweep(2000, 0, 1000, timeouts_of), 0u);
  EXPECT_EQ(t.stats().swept, 8u);
}

// Flows coming and going (each one sends twice, 5 s apart, then stays live
// until its 10 s timeout) at 70% live load. Unswept, every way ends up taken
// by live or dead flows and live ones get evicted; swept twice a second,
// none are.
TEST_F(FlowTableTest, SweptTableKeepsLiveFlowsInSteadyState) {
  const auto run = [&](bool swept) {
    FlowTable t(1u << 14);
    const FlowTimeouts udp10{.tcp_syn_ms = 1000,
                             .tcp_established_ms = 10000,
                             .tcp_closing_ms = 1000,
                             .udp_ms = 10000,
                             .probation_ms = 10000};
    const auto timeouts_of = [&](const sluice_flow_key&) { return &udp10; };
    const double per_ms = 0.7 * t.capacity() / 15000.0;  // live 15 s each
    std::vector<uint32_t> second_at;                      // per flow id
    uint32_t next_second = 0;
    double due = 0;
    const auto key = [](uint32_t id) {
      sluice_flow_key k = v4_key(0, static_cast<uint16_t>(id), kUdp);
      std::memcpy(k.src, &id, sizeof(id));
      return k;
    };
    for (uint32_t now = 1; now <= 90000; ++now) {
      if (swept) t.sweep(now, 4, 1000, timeouts_of);  // 2048 buckets: a pass per 512 ms
      for (due += per_ms; due >= 1; due -= 1) {
        const sluice_flow_key k = key(static_cast<uint32_t>(second_at.size()));
        t.insert(k, hash_of(k), now, udp10);
        second_at.push_back(now + 5000);
      }
      for (; next_second < second_at.size() && second_at[next_second] <= now; ++next_second) {
        const sluice_flow_key k = key(next_second);
        FlowEntry* e = t.lookup(k, hash_of(k), now, udp10);
        if (e != nullptr) {
          e->last_seen_ms = now;
        } else {
          t.insert(k, hash_of(k), now, udp10);
        }
      }
    }
    return t.stats();
  };
  const FlowTableStats lazy = run(false);
  const FlowTableStats swept = run(true);
  std::printf("[ steady ] 70%% live: %llu evictions unswept, %llu swept (%llu freed by sweep)\n",
              static_cast<unsigned long long>(lazy.evictions),
              static_cast<unsigned long long>(swept.evictions),
              static_cast<unsigned long long>(swept.swept));
  EXPECT_GT(lazy.evictions, 0u);
  EXPECT_EQ(swept.evictions, 0u);
  EXPECT_GT(swept.swept, 0u);
  EXPECT_EQ(swept.hits, swept.lookups);  // every second packet found its flow
}

// The load the table is sized for: random flows (real SipHash) up to 50% and
// then 90% of capacity, and not one live flow is evicted.
TEST_F(FlowTableTest, NinetyPercentLoadEvictsNothing) {
  FlowTable t(1u << 20);
  const uint32_t half = t.capacity() / 2;
  const uint32_t ninety = static_cast<uint32_t>(uint64_t{t.capacity()} * 9 / 10);
  const std::vector<sluice_flow_key> keys = random_keys(ninety, 20261122);
  EXPECT_EQ(fill(t, keys, 0, half), 0u);
  const uint64_t moves_at_half = t.stats().displacements;
  EXPECT_EQ(fill(t, keys, half, ninety), 0u);
  EXPECT_EQ(t.stats().evictions, 0u);
  EXPECT_EQ(t.occupied(), ninety);
  EXPECT_GT(t.stats().displacements, 0u);  // moves did happen, and lost nothing
  EXPECT_EQ(count_found(t, keys, ninety), ninety);
  std::printf("[ load ] 50%%: %u flows, 0 evicted, %llu moved; 90%%: %u flows, 0 evicted, %llu moved\n",
              half, static_cast<unsigned long long>(moves_at_half), ninety,
              static_cast<unsigned long long>(t.stats().displacements));
}

// Filled to exactly its capacity, the table loses only a small fraction.
TEST_F(FlowTableTest, FullLoadEvictsFew) {
  FlowTable t(1u << 20);
  const uint32_t n = t.capacity();
  const std::vector<sluice_flow_key> keys = random_keys(n, 99);
  const uint64_t evicted = fill(t, keys, 0, n);
  EXPECT_LT(evicted, n / 50);  // under 2%
  EXPECT_EQ(t.occupied() + evicted, n);
  EXPECT_EQ(count_found(t, keys, n), n - evicted);
  std::printf("[ load ] 100%%: %u flows, %llu evicted (%.2f%%), %llu moved\n", n,
              static_cast<unsigned long long>(evicted), 100.0 * static_cast<double>(evicted) / n,
              static_cast<unsigned long long>(t.stats().displacements));
}

// A million distinct flows through a 64k table: no crash, no duplicates, and
// every key lookup finds either nothing or its own entry.
TEST_F(FlowTableTest, MillionInsertsStayConsistent) {
  FlowTable t(65536);
  ASSERT_EQ(t.capacity(), 65536u);
  constexpr uint32_t kFlows = 1000000;
  const std::vector<sluice_flow_key> keys = random_keys(kFlows, 20261122);
  for (uint32_t i = 0; i < kFlows; ++i) {
    const uint64_t h = hash_of(keys[i]);
    FlowEntry* e = t.insert(keys[i], h, i, never_);
    ASSERT_NE(e, nullptr);
    e->backend_index = static_cast<uint16_t>(i);
    e->generation = i;
    ASSERT_EQ(t.lookup(keys[i], h, i, never_), e) << i;
  }
  uint32_t found = 0;
  for (uint32_t i = 0; i < kFlows; ++i) {
    FlowEntry* e = t.lookup(keys[i], hash_of(keys[i]), kFlows, never_);
    if (e == nullptr) continue;
    ++found;
    ASSERT_EQ(key_bytes(e->key), key_bytes(keys[i]));
    ASSERT_EQ(e->generation, i);  // the entry is this key's, not a stale copy
  }
  // Every slot holds exactly one distinct key we inserted.
  EXPECT_EQ(found, t.capacity());
  EXPECT_EQ(t.occupied(), t.capacity());
  EXPECT_EQ(t.stats().inserts, kFlows);
  EXPECT_EQ(t.stats().evictions, kFlows - t.capacity());
  // The newest flows survive eviction of the stalest.
  for (uint32_t i = kFlows - 100; i < kFlows; ++i) {
    EXPECT_NE(t.lookup(keys[i], hash_of(keys[i]), kFlows, never_), nullptr) << i;
  }
}

}  // namespace
}  // namespace sluice::engine
