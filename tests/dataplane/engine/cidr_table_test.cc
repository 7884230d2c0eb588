// Tests of dataplane/engine/cidr_table.h: longest-prefix match of sources.
#include "dataplane/engine/cidr_table.h"

#include <gtest/gtest.h>

#include <random>
#include <string_view>
#include <vector>

namespace sluice::engine {
namespace {

class CidrTableTest : public ::testing::Test {
 protected:
  static Cidr cidr(std::string_view text) {
    auto c = Cidr::parse(text);
    EXPECT_TRUE(c.has_value()) << text;
    return c.value_or(Cidr{});
  }
  static IpAddress ip(std::string_view text) {
    auto a = IpAddress::parse(text);
    EXPECT_TRUE(a.has_value()) << text;
    return a.value_or(IpAddress{});
  }
  // Looks up through the packet form (16 raw bytes + family).
  int64_t lookup(std::string_view address) const {
    IpAddress a = ip(address);
    return table_.lookup(a.bytes.data(), a.family);
  }

  // A random address of the family; IPv4 leaves bytes 4..15 zero.
  IpAddress random_address(uint8_t family) {
    IpAddress a;
    a.family = family;
    const int n = family == SLUICE_AF_INET ? 4 : 16;
    for (int i = 0; i < n; ++i) a.bytes[i] = static_cast<uint8_t>(rng_());
    return a;
  }
  // The prefix of `a` of the given length (host bits cleared).
  static Cidr prefix_of(IpAddress a, uint8_t length) {
    for (int bit = length; bit < 128; ++bit) a.bytes[bit / 8] &= ~(0x80 >> (bit % 8));
    return Cidr{a, length};
  }

  CidrTable table_;
  std::mt19937_64 rng_{42};
};

// An empty table matches nothing.
TEST_F(CidrTableTest, EmptyTableMatchesNothing) {
  EXPECT_TRUE(table_.empty());
  EXPECT_EQ(table_.size(), 0u);
  EXPECT_EQ(lookup("10.0.0.1"), CidrTable::kNoMatch);
  EXPECT_EQ(lookup("::1"), CidrTable::kNoMatch);
  EXPECT_EQ(CidrTable::kNoMatch, -1);
}

// Nested prefixes: the longest one containing the address wins, whatever
// the insertion order.
TEST_F(CidrTableTest, LongestPrefixWinsInAnyOrder) {
  const char* prefixes[] = {"10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.128/25"};
  std::vector<int> order = {0, 1, 2, 3};
  do {
    CidrTable t;
    for (int i : order) ASSERT_TRUE(t.insert(cidr(prefixes[i]), 100 + i));
    EXPECT_EQ(t.lookup(ip("10.9.9.9")), 100);
    EXPECT_EQ(t.lookup(ip("10.1.9.9")), 101);
    EXPECT_EQ(t.lookup(ip("10.1.2.127")), 102);
    EXPECT_EQ(t.lookup(ip("10.1.2.128")), 103);
    EXPECT_EQ(t.lookup(ip("10.1.2.255")), 103);
    EXPECT_EQ(t.lookup(ip("11.1.2.128")), CidrTable::kNoMatch);
  } while (std::next_permutation(order.begin(), order.end()));
}

// A more specific prefix does not hide a sibling's shorter one.
TEST_F(CidrTableTest, FallsBackToShorterPrefixOffTheLongerPath) {
  ASSERT_TRUE(table_.insert(cidr("192.168.0.0/16"), 1));
  ASSERT_TRUE(table_.insert(cidr("192.168.10.0/23"), 2));
  EXPECT_EQ(lookup("192.168.10.1"), 2);
  EXPECT_EQ(lookup("192.168.11.255"), 2);
  EXPECT_EQ(lookup("192.168.12.0"), 1);  // diverges below the /23
  EXPECT_EQ(lookup("192.168.8.0"), 1);
}

// /0 matches every address of its family and nothing of the other.
TEST_F(CidrTableTest, DefaultRouteMatchesItsFamilyOnly) {
  ASSERT_TRUE(table_.insert(cidr("0.0.0.0/0"), 7));
  EXPECT_EQ(lookup("0.0.0.0"), 7);
  EXPECT_EQ(lookup("255.255.255.255"), 7);
  EXPECT_EQ(lookup("::"), CidrTable::kNoMatch);
  ASSERT_TRUE(table_.insert(cidr("::/0"), 8));
  EXPECT_EQ(lookup("::"), 8);
  EXPECT_EQ(lookup("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 8);
  EXPECT_EQ(lookup("1.2.3.4"), 7);
}

// Host routes match exactly one address, at the full depth of the trie.
TEST_F(CidrTableTest, HostPrefixes) {
  ASSERT_TRUE(table_.insert(cidr("203.0.113.7/32"), 32));
  ASSERT_TRUE(table_.insert(cidr("2001:db8::7/128"), 128));
  EXPECT_EQ(lookup("203.0.113.7"), 32);
  EXPECT_EQ(lookup("203.0.113.6"), CidrTable::kNoMatch);
  EXPECT_EQ(lookup("203.0.113.8"), CidrTable::kNoMatch);
  EXPECT_EQ(lookup("2001:db8::7"), 128);
  EXPECT_EQ(lookup("2001:db8::6"), CidrTable::kNoMatch);
  EXPECT_EQ(lookup("2001:db8::8"), CidrTable::kNoMatch);
  // The last bit decides: flip it on the longest path.
  ASSERT_TRUE(table_.insert(cidr("203.0.113.6/32"), 31));
  EXPECT_EQ(lookup("203.0.113.6"), 31);
  EXPECT_EQ(lookup("203.0.113.7"), 32);
}

// Bits of the address beyond the prefix length do not affect the match.
TEST_F(CidrTableTest, HostBitsOfTheAddressAreIgnored) {
  ASSERT_TRUE(table_.insert(cidr("172.16.0.0/12"), 12));
  EXPECT_EQ(lookup("172.16.0.0"), 12);
  EXPECT_EQ(lookup("172.31.255.255"), 12);
  EXPECT_EQ(lookup("172.32.0.0"), CidrTable::kNoMatch);
  EXPECT_EQ(lookup("172.15.255.255"), CidrTable::kNoMatch);
  ASSERT_TRUE(table_.insert(cidr("2001:db8:abcd::/48"), 48));
  EXPECT_EQ(lookup("2001:db8:abcd:ffff:1:2:3:4"), 48);
  EXPECT_EQ(lookup("2001:db8:abce::"), CidrTable::kNoMatch);
}

// An IPv4 prefix never matches an IPv6 address with the same leading bytes,
// nor an IPv4-mapped one, and the reverse.
TEST_F(CidrTableTest, FamiliesAreSeparate) {
  ASSERT_TRUE(table_.insert(cidr("10.0.0.0/8"), 4));
  EXPECT_EQ(lookup("a00::1"), CidrTable::kNoMatch);  // first byte 0x0a
  EXPECT_EQ(lookup("::ffff:10.0.0.1"), CidrTable::kNoMatch);
  ASSERT_TRUE(table_.insert(cidr("a00::/8"), 6));
  EXPECT_EQ(lookup("10.1.1.1"), 4);
  EXPECT_EQ(lookup("a00::1"), 6);
  // Same bits, same length, other family: not a duplicate.
  EXPECT_EQ(table_.size(), 2u);
}

// IPv4 lookups read only the first 4 bytes of the 16.
TEST_F(CidrTableTest, Ipv4IgnoresTrailingBytes) {
  ASSERT_TRUE(table_.insert(cidr("10.0.0.0/8"), 4));
  uint8_t addr[16];
  for (uint8_t& b : addr) b = 0xff;
  addr[0] = 10;
  EXPECT_EQ(table_.lookup(addr, SLUICE_AF_INET), 4);
}

// An unknown family matches nothing, even with a /0 of each family present.
TEST_F(CidrTableTest, UnknownFamilyMatchesNothing) {
  ASSERT_TRUE(table_.insert(cidr("0.0.0.0/0"), 1));
  ASSERT_TRUE(table_.insert(cidr("::/0"), 2));
  const uint8_t addr[16] = {10};
  for (uint8_t family : {0, 2, 5, 10, 255}) {
    EXPECT_EQ(table_.lookup(addr, family), CidrTable::kNoMatch) << int(family);
  }
}

// The exact same prefix twice is rejected and keeps its first value.
TEST_F(CidrTableTest, DuplicatesRejected) {
  ASSERT_TRUE(table_.insert(cidr("10.1.0.0/16"), 1));
  EXPECT_FALSE(table_.insert(cidr("10.1.0.0/16"), 2));
  EXPECT_EQ(lookup("10.1.2.3"), 1);
  ASSERT_TRUE(table_.insert(cidr("0.0.0.0/0"), 3));
  EXPECT_FALSE(table_.insert(cidr("0.0.0.0/0"), 4));
  ASSERT_TRUE(table_.insert(cidr("2001:db8::/32"), 5));
  EXPECT_FALSE(table_.insert(cidr("2001:db8::/32"), 6));
  EXPECT_EQ(table_.size(), 3u);
  // Same address, other length: a different prefix.
  EXPECT_TRUE(table_.insert(cidr("10.1.0.0/17"), 7));
  EXPECT_EQ(lookup("10.1.2.3"), 7);
}

// Malformed prefixes (built by hand; Cidr::parse rejects them) are refused
// and leave the table unchanged.
TEST_F(CidrTableTest, MalformedPrefixesRejected) {
  Cidr host_bits{IpAddress::v4(10, 0, 0, 1), 8};
  EXPECT_FALSE(table_.insert(host_bits, 1));
  Cidr too_long_v4{IpAddress::v4(10, 0, 0, 0), 33};
  EXPECT_FALSE(table_.insert(too_long_v4, 2));
  Cidr too_long_v6{ip("2001:db8::"), 129};
  EXPECT_FALSE(table_.insert(too_long_v6, 3));
  Cidr bad_family{IpAddress{0, {}}, 0};
  EXPECT_FALSE(table_.insert(bad_family, 4));
  Cidr v6_host_bits{ip("2001:db8::1"), 127};
  EXPECT_FALSE(table_.insert(v6_host_bits, 5));
  EXPECT_TRUE(table_.empty());
  EXPECT_EQ(lookup("10.0.0.1"), CidrTable::kNoMatch);
  EXPECT_EQ(lookup("2001:db8::1"), CidrTable::kNoMatch);
}

// Values are returned as given, including 0 and the largest uint32_t (which
// must not be confused with kNoMatch).
TEST_F(CidrTableTest, ValuesRoundTrip) {
  ASSERT_TRUE(table_.insert(cidr("10.0.0.0/8"), 0));
  ASSERT_TRUE(table_.insert(cidr("10.0.0.0/9"), 0xffffffffu));
  EXPECT_EQ(lookup("10.200.0.0"), 0);
  EXPECT_EQ(lookup("10.1.0.0"), int64_t{0xffffffff});
}

// A copy answers like the original and is independent of it.
TEST_F(CidrTableTest, CopiesAreIndependent) {
  ASSERT_TRUE(table_.insert(cidr("10.0.0.0/8"), 1));
  CidrTable copy = table_;
  ASSERT_TRUE(copy.insert(cidr("10.1.0.0/16"), 2));
  EXPECT_EQ(copy.lookup(ip("10.1.0.1")), 2);
  EXPECT_EQ(lookup("10.1.0.1"), 1);
}

// Many random prefixes of both families, checked against a linear scan with
// Cidr::contains over 100k random addresses.
TEST_F(CidrTableTest, MatchesBruteForce) {
  struct Entry {
    Cidr prefix;
    uint32_t value;
  };
  std::vector<Entry> entries;
  // Prefixes are cut from a small pool of base addresses so they nest and
  // overlap a lot; random lengths cover /4 through /32 and /128.
  std::vector<IpAddress> bases;
  for (int i = 0; i < 8; ++i) bases.push_back(random_address(SLUICE_AF_INET));
  for (int i = 0; i < 8; ++i) bases.push_back(random_address(SLUICE_AF_INET6));
  for (uint32_t value = 0; entries.size() < 2000; ++value) {
    IpAddress base = bases[rng_() % bases.size()];
    // Perturb a few bits so siblings appear, not only one chain.
    base.bytes[rng_() % (base.is_v4() ? 4 : 16)] ^= static_cast<uint8_t>(1u << (rng_() % 8));
    // No prefix shorter than /4, so random addresses can miss (/0 has its
    // own test).
    uint8_t length = static_cast<uint8_t>(4 + rng_() % (base.bit_length() - 3));
    Cidr p = prefix_of(base, length);
    bool fresh = true;
    for (const Entry& e : entries) fresh = fresh && !(e.prefix == p);
    EXPECT_EQ(table_.insert(p, value), fresh) << p.to_string();
    if (fresh) entries.push_back({p, value});
  }
  ASSERT_EQ(table_.size(), entries.size());

  int matched = 0;
  int deep = 0;  // matches of a prefix longer than half the address
  for (int n = 0; n < 100000; ++n) {
    uint8_t family = (n & 1) ? SLUICE_AF_INET6 : SLUICE_AF_INET;
    IpAddress a;
    if (n % 4 < 2) {
      a = random_address(family);
    } else {
      // Near a base, so deep prefixes get hit too.
      std::vector<IpAddress> same;
      for (const IpAddress& b : bases) {
        if (b.family == family) same.push_back(b);
      }
      a = same[rng_() % same.size()];
      const int bits = a.bit_length();
      int flip = static_cast<int>(rng_() % (bits + 8));
      if (flip < bits) a.bytes[flip / 8] ^= static_cast<uint8_t>(0x80 >> (flip % 8));
    }
    int64_t expected = CidrTable::kNoMatch;
    int best_len = -1;
    for (const Entry& e : entries) {
      if (e.prefix.length > best_len && e.prefix.contains(a)) {
        best_len = e.prefix.length;
        expected = e.value;
      }
    }
    matched += expected != CidrTable::kNoMatch;
    deep += best_len > a.bit_length() / 2;
    ASSERT_EQ(table_.lookup(a.bytes.data(), a.family), expected) << a.to_string();
  }
  // The check must exercise matches and misses alike.
  EXPECT_GT(matched, 10000);
  EXPECT_LT(matched, 90000);
  EXPECT_GT(deep, 10000);
}

}  // namespace
}  // namespace sluice::engine
