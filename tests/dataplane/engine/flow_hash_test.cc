// Tests of dataplane/engine/flow_hash.h: the one hash both dataplanes share.
#include "dataplane/engine/flow_hash.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <random>
#include <vector>

namespace {

// A byte-oriented SipHash-c-d written straight from the paper (Aumasson and
// Bernstein, 2012), independent of the word-oriented code under test.
uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

uint64_t reference_siphash(int c_rounds, int d_rounds, uint64_t k0, uint64_t k1,
                           const uint8_t* msg, size_t len) {
  uint64_t v[4] = {k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL,
                   k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL};
  auto round = [&v] {
    v[0] += v[1]; v[1] = rotl(v[1], 13); v[1] ^= v[0]; v[0] = rotl(v[0], 32);
    v[2] += v[3]; v[3] = rotl(v[3], 16); v[3] ^= v[2];
    v[0] += v[3]; v[3] = rotl(v[3], 21); v[3] ^= v[0];
    v[2] += v[1]; v[1] = rotl(v[1], 17); v[1] ^= v[2]; v[2] = rotl(v[2], 32);
  };
  std::vector<uint8_t> padded(msg, msg + len);
  while (padded.size() % 8 != 7) padded.push_back(0);
  padded.push_back(static_cast<uint8_t>(len));
  for (size_t off = 0; off < padded.size(); off += 8) {
    uint64_t m = 0;
    for (int i = 7; i >= 0; --i) m = (m << 8) | padded[off + i];
    v[3] ^= m;
    for (int r = 0; r < c_rounds; ++r) round();
    v[0] ^= m;
  }
  v[2] ^= 0xff;
  for (int r = 0; r < d_rounds; ++r) round();
  return v[0] ^ v[1] ^ v[2] ^ v[3];
}

// The canonical bytes hashed for a key (flow_hash.h): 16 for IPv4, 40 for IPv6.
std::vector<uint8_t> canonical_bytes(const sluice_flow_key& k) {
  const auto* raw = reinterpret_cast<const uint8_t*>(&k);
  if (k.family != SLUICE_AF_INET) return {raw, raw + sizeof(k)};
  std::vector<uint8_t> out(raw, raw + 4);          // src
  out.insert(out.end(), raw + 16, raw + 20);       // dst
  out.insert(out.end(), raw + 32, raw + 40);       // sport dport proto family pad
  return out;
}

uint64_t reference_flow_hash(const sluice_flow_key& k, const sluice_hash_seed& seed) {
  const std::vector<uint8_t> bytes = canonical_bytes(k);
  return reference_siphash(1, 3, seed.k0, seed.k1, bytes.data(), bytes.size());
}

sluice_flow_key random_key(std::mt19937_64& rng) {
  sluice_flow_key k{};
  k.family = (rng() & 1) ? SLUICE_AF_INET : SLUICE_AF_INET6;
  const int n = k.family == SLUICE_AF_INET ? 4 : 16;
  for (int i = 0; i < n; ++i) {
    k.src[i] = static_cast<uint8_t>(rng());
    k.dst[i] = static_cast<uint8_t>(rng());
  }
  k.sport = static_cast<uint16_t>(rng());
  k.dport = static_cast<uint16_t>(rng());
  k.proto = (rng() & 1) ? 6 : 17;
  return k;
}

class FlowHashTest : public ::testing::Test {
 protected:
  std::mt19937_64 rng_{20261122};
};

// The reference implementation itself matches SipHash-2-4's published vector.
TEST_F(FlowHashTest, ReferenceMatchesPublishedSipHash24Vector) {
  uint8_t msg[15];
  for (int i = 0; i < 15; ++i) msg[i] = static_cast<uint8_t>(i);
  // Key 00 01 .. 0f, message 00 .. 0e: 0xa129ca6149be45e5 (paper, appendix A).
  EXPECT_EQ(reference_siphash(2, 4, 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL, msg, 15),
            0xa129ca6149be45e5ULL);
}

// The key is 40 bytes with no hidden padding: every byte is hashed.
TEST_F(FlowHashTest, KeyLayoutIsFortyBytes) {
  EXPECT_EQ(sizeof(sluice_flow_key), 40u);
  EXPECT_EQ(offsetof(sluice_flow_key, sport), 32u);
  EXPECT_EQ(offsetof(sluice_flow_key, proto), 36u);
  EXPECT_EQ(offsetof(sluice_flow_key, family), 37u);
}

// sluice_flow_hash is SipHash-1-3 of the key's canonical bytes under the seed.
TEST_F(FlowHashTest, EqualsSipHash13OfCanonicalBytes) {
  for (int i = 0; i < 10000; ++i) {
    const sluice_flow_key k = random_key(rng_);
    const sluice_hash_seed seed{rng_(), rng_()};
    EXPECT_EQ(sluice_flow_hash(&k, &seed), reference_flow_hash(k, seed));
  }
  sluice_flow_key k{};
  k.family = SLUICE_AF_INET;
  EXPECT_EQ(canonical_bytes(k).size(), 16u);
  k.family = SLUICE_AF_INET6;
  EXPECT_EQ(canonical_bytes(k).size(), 40u);
}

// IPv4 and IPv6 keys with the same bytes hash differently (family is hashed).
TEST_F(FlowHashTest, FamilyIsPartOfTheHash) {
  sluice_flow_key a{}, b{};
  a.family = SLUICE_AF_INET;
  b.family = SLUICE_AF_INET6;
  const sluice_hash_seed seed{3, 4};
  EXPECT_NE(sluice_flow_hash(&a, &seed), sluice_flow_hash(&b, &seed));
}

// A golden value pins the definition: changing it would move every flow.
TEST_F(FlowHashTest, GoldenValue) {
  sluice_flow_key k{};
  k.family = SLUICE_AF_INET;
  const uint8_t src[4] = {192, 0, 2, 1}, dst[4] = {198, 51, 100, 10};
  std::memcpy(k.src, src, 4);
  std::memcpy(k.dst, dst, 4);
  k.sport = 0x3930;  // 12345 in network order on a little-endian host
  k.dport = 0x5000;  // 80
  k.proto = 6;
  const sluice_hash_seed seed{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  const uint64_t expected = reference_flow_hash(k, seed);
  EXPECT_EQ(sluice_flow_hash(&k, &seed), expected);
  EXPECT_EQ(expected, 0x228d453cca5bf3aaULL) << std::hex << expected;
}

// Changing the seed changes the hash: clients cannot predict placement.
TEST_F(FlowHashTest, SeedChangesHash) {
  const sluice_flow_key k = random_key(rng_);
  const sluice_hash_seed a{1, 2}, b{1, 3}, c{2, 2};
  EXPECT_NE(sluice_flow_hash(&k, &a), sluice_flow_hash(&k, &b));
  EXPECT_NE(sluice_flow_hash(&k, &a), sluice_flow_hash(&k, &c));
}

// hash_to_range stays in range and spreads evenly (chi-square over 64 bins).
TEST_F(FlowHashTest, HashToRangeIsUniform) {
  const sluice_hash_seed seed{rng_(), rng_()};
  std::array<int, 64> bins{};
  const int n = 640000;
  for (int i = 0; i < n; ++i) {
    sluice_flow_key k = random_key(rng_);
    const uint32_t r = sluice_hash_to_range(sluice_flow_hash(&k, &seed), 64);
    ASSERT_LT(r, 64u);
    bins[r]++;
  }
  double chi2 = 0;
  for (int b : bins) chi2 += (b - n / 64.0) * (b - n / 64.0) / (n / 64.0);
  EXPECT_LT(chi2, 120.0);  // 63 degrees of freedom: p < 1e-5 above 120
  EXPECT_EQ(sluice_hash_to_range(~0ULL, 65537), 65536u);
  EXPECT_EQ(sluice_hash_to_range(0, 65537), 0u);
}

// Client-address affinity keeps only the client address and family.
TEST_F(FlowHashTest, AffinityKeyClientAddress) {
  sluice_flow_key k = random_key(rng_);
  sluice_flow_key out;
  sluice_affinity_key(&k, SLUICE_AFFINITY_CLIENT_ADDR, 0, &out);
  EXPECT_EQ(0, std::memcmp(out.src, k.src, 16));
  for (uint8_t b : out.dst) EXPECT_EQ(b, 0);
  EXPECT_EQ(out.sport, 0);
  EXPECT_EQ(out.dport, 0);
  EXPECT_EQ(out.proto, 0);
  EXPECT_EQ(out.family, k.family);
}

// Client-prefix affinity masks the address to the prefix, bit-exact.
TEST_F(FlowHashTest, AffinityKeyClientPrefix) {
  sluice_flow_key k{};
  k.family = SLUICE_AF_INET;
  k.src[0] = 10; k.src[1] = 1; k.src[2] = 0xff; k.src[3] = 0xff;
  sluice_flow_key out;
  sluice_affinity_key(&k, SLUICE_AFFINITY_CLIENT_PREFIX, 20, &out);
  EXPECT_EQ(out.src[0], 10);
  EXPECT_EQ(out.src[1], 1);
  EXPECT_EQ(out.src[2], 0xf0);
  EXPECT_EQ(out.src[3], 0);
  sluice_affinity_key(&k, SLUICE_AFFINITY_CLIENT_PREFIX, 0, &out);
  for (uint8_t b : out.src) EXPECT_EQ(b, 0);
  sluice_affinity_key(&k, SLUICE_AFFINITY_CLIENT_PREFIX, 32, &out);
  EXPECT_EQ(0, std::memcmp(out.src, k.src, 16));
}

// Flow affinity hashes the whole 5-tuple.
TEST_F(FlowHashTest, AffinityKeyFlowIsIdentity) {
  const sluice_flow_key k = random_key(rng_);
  sluice_flow_key out;
  sluice_affinity_key(&k, SLUICE_AFFINITY_FLOW, 0, &out);
  EXPECT_EQ(0, std::memcmp(&out, &k, sizeof(k)));
}

}  // namespace
