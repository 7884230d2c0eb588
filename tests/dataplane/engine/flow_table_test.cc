// Tests of dataplane/engine/flow_table.h: the per-core flow table.
#include "dataplane/engine/flow_table.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

namespace sluice::engine {
namespace {

constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;

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

class FlowTableTest : public ::testing::Test {
 protected:
  uint64_t hash_of(const sluice_flow_key& k) const { return sluice_flow_hash(&k, &seed_); }

  FlowEntry* insert(FlowTable& t, const sluice_flow_key& k, uint32_t now) {
    return t.insert(k, hash_of(k), now, timeouts_);
  }
  FlowEntry* lookup(FlowTable& t, const sluice_flow_key& k, uint32_t now) {
    return t.lookup(k, hash_of(k), now, timeouts_);
  }

  sluice_hash_seed seed_{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
  // Distinct per state so a test can tell which timeout was applied.
  FlowTimeouts timeouts_{.tcp_syn_ms = 1000,
                         .tcp_established_ms = 5000,
                         .tcp_closing_ms = 2000,
                         .udp_ms = 3000};
};

// The entry is one cache line, aligned to one, with the documented layout.
TEST_F(FlowTableTest, EntryIsOneCacheLine) {
  EXPECT_EQ(sizeof(FlowEntry), 64u);
  EXPECT_EQ(alignof(FlowEntry), 64u);
  EXPECT_EQ(offsetof(FlowEntry, key), 0u);
  EXPECT_EQ(offsetof(FlowEntry, backend_fingerprint), 40u);
  EXPECT_EQ(offsetof(FlowEntry, state), 63u);
  EXPECT_EQ(FlowTable::bytes_per_entry(), 64u);
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

// Capacity rounds up to a power-of-two number of 4-entry buckets.
TEST_F(FlowTableTest, CapacityRounding) {
  EXPECT_EQ(FlowTable(0).capacity(), 4u);
  EXPECT_EQ(FlowTable(1).capacity(), 4u);
  EXPECT_EQ(FlowTable(4).capacity(), 4u);
  EXPECT_EQ(FlowTable(5).capacity(), 8u);
  EXPECT_EQ(FlowTable(9).capacity(), 16u);
  EXPECT_EQ(FlowTable(1000).capacity(), 1024u);
  EXPECT_EQ(FlowTable(65536).capacity(), 65536u);
  EXPECT_EQ(FlowTable(65537).capacity(), 131072u);
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
  EXPECT_EQ(e->state_since_ms, 100u);
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
  // An all-zero key matches the zeroed memory of empty slots byte for byte;
  // the state field, not the bytes, must decide.
  sluice_flow_key zero{};
  EXPECT_EQ(t.lookup(zero, 0, 0, timeouts_), nullptr);
  EXPECT_EQ(t.stats().hits, 0u);
}

// Insert sets kUdp for non-TCP keys.
TEST_F(FlowTableTest, InsertInitialStateFollowsProtocol) {
  FlowTable t(16);
  EXPECT_EQ(insert(t, v4_key(1, 1, kUdp), 0)->state, FlowState::kUdp);
  EXPECT_EQ(insert(t, v4_key(1, 2, kTcp), 0)->state, FlowState::kSynSent);
}

// A key differing in any single field misses, even in the same bucket.
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
    const uint64_t h = 0x5555;
    FlowEntry* e = t.insert(base, h, 0, timeouts_);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(t.lookup(v, h, 1, timeouts_), nullptr);
    EXPECT_EQ(t.lookup(base, h, 1, timeouts_), e);
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
                        {FlowState::kUdp, 3000}};
  for (const Case& c : cases) {
    FlowTable t(16);
    const sluice_flow_key k = v4_key(3, 77);
    const uint32_t t0 = 1000000;
    FlowEntry* e = insert(t, k, t0);
    e->state = c.state;
    EXPECT_EQ(lookup(t, k, t0 + c.timeout - 1), e) << static_cast<int>(c.state);
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
  EXPECT_EQ(again->state_since_ms, 20u);
  EXPECT_EQ(again->state, FlowState::kSynSent);
  EXPECT_EQ(t.occupied(), 1u);
  EXPECT_EQ(t.stats().evictions, 0u);
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

// A full bucket evicts its stalest entry (largest idle time).
TEST_F(FlowTableTest, FullBucketEvictsStalest) {
  FlowTable t(64);
  const uint64_t h = 0xABCDEF;  // one bucket for all keys below
  std::vector<FlowEntry*> entries;
  const uint32_t seen[FlowTable::kWays] = {500, 200, 400, 300};
  for (uint32_t i = 0; i < FlowTable::kWays; ++i) {
    FlowEntry* e = t.insert(v4_key(1, static_cast<uint16_t>(i)), h, seen[i], timeouts_);
    e->state = FlowState::kEstablished;
    entries.push_back(e);
  }
  const sluice_flow_key newcomer = v4_key(2, 100);
  FlowEntry* e = t.insert(newcomer, h, 600, timeouts_);
  EXPECT_EQ(e, entries[1]);  // last seen at 200
  EXPECT_EQ(t.stats().evictions, 1u);
  EXPECT_EQ(t.lookup(v4_key(1, 1), h, 600, timeouts_), nullptr);
  EXPECT_EQ(t.lookup(newcomer, h, 600, timeouts_), e);
  for (uint32_t i : {0u, 2u, 3u}) {
    EXPECT_EQ(t.lookup(v4_key(1, static_cast<uint16_t>(i)), h, 600, timeouts_), entries[i]);
  }
  EXPECT_EQ(t.occupied(), FlowTable::kWays);
}

// The stalest entry is judged by age, so last_seen values straddling the wrap
// are ordered right (0xFFFFFF00 is older than 0x10).
TEST_F(FlowTableTest, EvictionOrderAcrossClockWrap) {
  FlowTable t(64);
  const uint64_t h = 7;
  const uint32_t seen[FlowTable::kWays] = {0x10, 0xFFFFFF00u, 0x20, 0xFFFFFFF0u};
  std::vector<FlowEntry*> entries;
  for (uint32_t i = 0; i < FlowTable::kWays; ++i) {
    FlowEntry* e = t.insert(v4_key(1, static_cast<uint16_t>(i)), h, seen[i], timeouts_);
    e->state = FlowState::kEstablished;
    entries.push_back(e);
  }
  EXPECT_EQ(t.insert(v4_key(2, 1), h, 0x30, timeouts_), entries[1]);
}

// A full bucket reuses an expired entry before evicting a live one.
TEST_F(FlowTableTest, FullBucketPrefersExpired) {
  FlowTable t(64);
  const uint64_t h = 3;
  std::vector<FlowEntry*> entries;
  for (uint32_t i = 0; i < FlowTable::kWays; ++i) {
    FlowEntry* e = t.insert(v4_key(1, static_cast<uint16_t>(i)), h, 0, timeouts_);
    e->state = FlowState::kEstablished;  // 5000 ms
    entries.push_back(e);
  }
  entries[2]->state = FlowState::kSynSent;  // 1000 ms: expired at 1000
  for (uint32_t i : {0u, 1u, 3u}) entries[i]->last_seen_ms = 900;  // fresher
  entries[2]->last_seen_ms = 0;
  entries[0]->last_seen_ms = 0;  // stalest, but alive (5000 ms)
  EXPECT_EQ(t.insert(v4_key(2, 1), h, 1000, timeouts_), entries[2]);
  EXPECT_EQ(t.stats().expirations, 1u);
  EXPECT_EQ(t.stats().evictions, 0u);
}

// Erase frees the slot: lookup misses and a new insert takes the empty slot.
TEST_F(FlowTableTest, EraseFreesSlot) {
  FlowTable t(16);
  const sluice_flow_key k = v4_key(6, 6);
  FlowEntry* e = insert(t, k, 0);
  t.erase(e);
  EXPECT_EQ(e->state, FlowState::kEmpty);
  EXPECT_EQ(lookup(t, k, 0), nullptr);
  EXPECT_EQ(t.occupied(), 0u);
  t.erase(e);       // twice: no-op
  t.erase(nullptr);  // tolerated
  EXPECT_EQ(t.occupied(), 0u);
  EXPECT_EQ(t.stats().erases, 1u);
}

// Counters follow the documented meaning.
TEST_F(FlowTableTest, StatsCounters) {
  FlowTable t(4);  // one bucket
  const uint64_t h = 0;
  for (uint16_t i = 0; i < 6; ++i) t.insert(v4_key(1, i), h, i, timeouts_);
  EXPECT_NE(t.lookup(v4_key(1, 5), h, 10, timeouts_), nullptr);
  EXPECT_EQ(t.lookup(v4_key(1, 0), h, 10, timeouts_), nullptr);  // evicted
  EXPECT_EQ(t.lookup(v4_key(1, 5), h, 2000, timeouts_), nullptr);  // expired (syn 1000)
  t.insert(v4_key(1, 9), h, 2000, timeouts_);  // all four expired: reclaims one
  const FlowTableStats s = t.stats();
  EXPECT_EQ(s.inserts, 7u);
  EXPECT_EQ(s.evictions, 2u);
  EXPECT_EQ(s.expirations, 1u);
  EXPECT_EQ(s.lookups, 3u);
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.erases, 0u);
  EXPECT_EQ(t.occupied(), 4u);
}

// prefetch accepts any hash (it only touches the bucket the hash selects).
TEST_F(FlowTableTest, PrefetchAnyHash) {
  FlowTable t(16);
  for (uint64_t h : {0ULL, 1ULL, ~0ULL, 0x8000000000000000ULL}) t.prefetch(h);
  EXPECT_EQ(t.stats().lookups, 0u);
}

// A million distinct flows through a 64k table: no crash, no duplicates, and
// every key lookup finds either nothing or its own entry.
TEST_F(FlowTableTest, MillionInsertsStayConsistent) {
  FlowTable t(65536);
  ASSERT_EQ(t.capacity(), 65536u);
  std::mt19937_64 rng(20261122);
  constexpr uint32_t kFlows = 1000000;
  std::vector<sluice_flow_key> keys;
  keys.reserve(kFlows);
  std::unordered_set<std::string> distinct;
  while (keys.size() < kFlows) {
    sluice_flow_key k{};
    k.family = (rng() & 1) ? SLUICE_AF_INET : SLUICE_AF_INET6;
    const int n = k.family == SLUICE_AF_INET ? 4 : 16;
    for (int i = 0; i < n; ++i) {
      k.src[i] = static_cast<uint8_t>(rng());
      k.dst[i] = static_cast<uint8_t>(rng());
    }
    k.sport = static_cast<uint16_t>(rng());
    k.dport = static_cast<uint16_t>(rng());
    k.proto = (rng() & 1) ? kTcp : kUdp;
    if (distinct.insert(key_bytes(k)).second) keys.push_back(k);
  }
  FlowTimeouts never{.tcp_syn_ms = UINT32_MAX,
                     .tcp_established_ms = UINT32_MAX,
                     .tcp_closing_ms = UINT32_MAX,
                     .udp_ms = UINT32_MAX};
  for (uint32_t i = 0; i < kFlows; ++i) {
    const uint64_t h = hash_of(keys[i]);
    FlowEntry* e = t.insert(keys[i], h, i, never);
    ASSERT_NE(e, nullptr);
    e->backend_index = static_cast<uint16_t>(i);
    e->generation = i;
    ASSERT_EQ(t.lookup(keys[i], h, i, never), e) << i;
  }
  uint32_t found = 0;
  for (uint32_t i = 0; i < kFlows; ++i) {
    FlowEntry* e = t.lookup(keys[i], hash_of(keys[i]), kFlows, never);
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
  // The newest flow of each bucket survives eviction of the stalest.
  EXPECT_NE(t.lookup(keys[kFlows - 1], hash_of(keys[kFlows - 1]), kFlows, never), nullptr);
}

}  // namespace
}  // namespace sluice::engine
