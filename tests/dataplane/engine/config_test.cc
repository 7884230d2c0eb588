// Tests of dataplane/engine/config.h (address and prefix parsing) and
// dataplane/engine/config_validate.h (the whole invalid-input table).
//
// Validation tests start from one valid configuration and apply exactly one
// mutation, then assert the exact field path and a key phrase of the
// message, so a check that fires on the wrong field or not at all fails.
#include "dataplane/engine/config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/engine/config_validate.h"
#include "dataplane/engine/pool_split.h"

namespace sluice::engine {
namespace {

IpAddress ip(std::string_view text) {
  auto a = IpAddress::parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(IpAddress{});
}

Cidr cidr(std::string_view text) {
  auto c = Cidr::parse(text);
  EXPECT_TRUE(c.has_value()) << text;
  return c.value_or(Cidr{});
}

std::string describe(const std::vector<ConfigError>& errors) {
  std::string out;
  for (const ConfigError& e : errors) out += "\n  " + e.to_string();
  return out.empty() ? "\n  (no errors)" : out;
}

// ---------------------------------------------------------------------------
// IpAddress and Cidr parsing.

class AddressTest : public ::testing::Test {};

// Dotted-quad IPv4 fills bytes 0..3 and leaves the rest zero.
TEST_F(AddressTest, ParsesIpv4) {
  auto a = IpAddress::parse("10.1.2.254");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->family, SLUICE_AF_INET);
  EXPECT_TRUE(a->is_v4());
  EXPECT_EQ(a->bit_length(), 32);
  const std::array<uint8_t, 16> expected{10, 1, 2, 254};
  EXPECT_EQ(a->bytes, expected);
  EXPECT_EQ(*a, IpAddress::v4(10, 1, 2, 254));
}

// IPv6 in compressed and mapped forms fills all 16 bytes.
TEST_F(AddressTest, ParsesIpv6) {
  auto a = IpAddress::parse("2001:db8::1");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->family, SLUICE_AF_INET6);
  EXPECT_FALSE(a->is_v4());
  EXPECT_EQ(a->bit_length(), 128);
  const std::array<uint8_t, 16> expected{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                         0,    0,    0,    0,    0, 0, 0, 1};
  EXPECT_EQ(a->bytes, expected);

  auto mapped = IpAddress::parse("::ffff:10.0.0.1");
  ASSERT_TRUE(mapped.has_value());
  EXPECT_EQ(mapped->family, SLUICE_AF_INET6);
  const std::array<uint8_t, 16> mapped_bytes{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1};
  EXPECT_EQ(mapped->bytes, mapped_bytes);

  auto any = IpAddress::parse("::");
  ASSERT_TRUE(any.has_value());
  EXPECT_EQ(any->family, SLUICE_AF_INET6);
  EXPECT_EQ(any->bytes, (std::array<uint8_t, 16>{}));
}

// The longest legal textual IPv6 address (45 characters) is accepted.
TEST_F(AddressTest, ParsesLongestIpv6Text) {
  constexpr std::string_view kText = "0000:0000:0000:0000:0000:ffff:255.255.255.255";
  ASSERT_EQ(kText.size(), 45u);
  auto a = IpAddress::parse(kText);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->family, SLUICE_AF_INET6);
  EXPECT_EQ(a->bytes[15], 255);
  EXPECT_EQ(a->bytes[10], 0xff);
}

// Malformed addresses are rejected, not half-parsed.
TEST_F(AddressTest, RejectsMalformedAddresses) {
  const std::string_view bad[] = {
      "",
      "10.0.0.300",
      "1.2.3",
      "1.2.3.4.5",
      "1.2.3.",
      "::g",
      "1::2::3",
      "12345::1",
      "10.0.0.1/32",
      " 10.0.0.1",
      "10.0.0.1 ",
      "10.0.0.1:80",
      "localhost",
      "-1.0.0.0",
      // Overlong: one character past the longest legal text, and far past.
      "0000:0000:0000:0000:0000:ffff:255.255.255.2555",
      "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd",
      std::string_view("10.0.0.1.........................................................."),
  };
  for (std::string_view text : bad) {
    EXPECT_FALSE(IpAddress::parse(text).has_value()) << "\"" << text << "\"";
  }
}

// A NUL byte inside the view is garbage, not the end of the address.
TEST_F(AddressTest, RejectsEmbeddedNul) {
  constexpr std::string_view kV4("10.0.0.1\0junk", 13);
  constexpr std::string_view kV6("2001:db8::1\0", 12);
  EXPECT_FALSE(IpAddress::parse(kV4).has_value());
  EXPECT_FALSE(IpAddress::parse(kV6).has_value());
}

// to_string gives canonical text that parses back to the same address.
TEST_F(AddressTest, ToStringRoundTrips) {
  EXPECT_EQ(IpAddress::v4(192, 0, 2, 7).to_string(), "192.0.2.7");
  EXPECT_EQ(ip("2001:0db8:0000:0000:0000:0000:0000:0001").to_string(), "2001:db8::1");
  EXPECT_EQ(ip("::").to_string(), "::");
  EXPECT_EQ(IpAddress{}.to_string(), "0.0.0.0");
  for (std::string_view text : {"0.0.0.0", "255.255.255.255", "10.20.30.40", "::1",
                                "fe80::1:2", "2001:db8:1:2:3:4:5:6", "::ffff:10.0.0.1"}) {
    const IpAddress a = ip(text);
    EXPECT_EQ(a.to_string(), text);
    EXPECT_EQ(ip(a.to_string()), a) << text;
  }
}

// Ordering puts IPv4 before IPv6, then compares bytes as unsigned.
TEST_F(AddressTest, OrdersByFamilyThenBytes) {
  EXPECT_LT(ip("10.0.0.1"), ip("10.0.0.2"));
  EXPECT_LT(ip("10.0.0.255"), ip("10.0.1.0"));
  EXPECT_LT(ip("9.0.0.0"), ip("200.0.0.0"));
  EXPECT_LT(ip("255.255.255.255"), ip("::"));
  // Same bytes, different family: not equal.
  IpAddress v6_shaped = ip("10.0.0.1");
  v6_shaped.family = SLUICE_AF_INET6;
  EXPECT_NE(v6_shaped, ip("10.0.0.1"));
  EXPECT_LT(ip("10.0.0.1"), v6_shaped);
}

class CidrTest : public ::testing::Test {};

// Well-formed prefixes of both families parse with their length.
TEST_F(CidrTest, ParsesPrefixes) {
  auto c = Cidr::parse("10.1.0.0/16");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->address, IpAddress::v4(10, 1, 0, 0));
  EXPECT_EQ(c->length, 16);

  auto v6 = Cidr::parse("2001:db8::/32");
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->address, ip("2001:db8::"));
  EXPECT_EQ(v6->length, 32);

  for (std::string_view text : {"0.0.0.0/0", "10.0.0.1/32", "::/0", "2001:db8::1/128",
                                "10.0.0.0/8", "10.128.0.0/9", "2001:db8:8000::/33"}) {
    auto p = Cidr::parse(text);
    ASSERT_TRUE(p.has_value()) << text;
    EXPECT_EQ(p->to_string(), text);
    EXPECT_EQ(Cidr::parse(p->to_string()), p) << text;
  }
}

// Host bits set beyond the length are rejected: the operator meant
// something else.
TEST_F(CidrTest, RejectsHostBits) {
  for (std::string_view text : {"10.0.0.1/24", "11.0.0.0/7", "10.128.0.0/8", "0.0.0.1/0",
                                "2001:db8::1/64", "2001:db8:8000::/32", "::1/127"}) {
    EXPECT_FALSE(Cidr::parse(text).has_value()) << text;
  }
}

// Lengths beyond the family's width, missing or non-numeric lengths, and
// bad addresses are rejected.
TEST_F(CidrTest, RejectsMalformedPrefixes) {
  for (std::string_view text :
       {"10.0.0.0/33", "10.0.0.0/100", "10.0.0.0/1000", "::/129", "::/255", "::/256",
        "10.0.0.0", "2001:db8::", "/", "/24", "10.0.0.0/", "10.0.0.0/abc", "10.0.0.0/2a",
        "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/ 8", "10.0.0.0/8 ", "10.0.0.0/8/8",
        "10.0.0.0//8", "10.0.0.300/8", "::g/64", "", "10.0.0.0/00008"}) {
    EXPECT_FALSE(Cidr::parse(text).has_value()) << "\"" << text << "\"";
  }
}

// contains() compares exactly the first `length` bits, and never matches
// across families.
TEST_F(CidrTest, Contains) {
  const Cidr c = cidr("10.1.0.0/16");
  EXPECT_TRUE(c.contains(ip("10.1.0.0")));
  EXPECT_TRUE(c.contains(ip("10.1.255.255")));
  EXPECT_FALSE(c.contains(ip("10.2.0.0")));
  EXPECT_FALSE(c.contains(ip("10.0.255.255")));
  EXPECT_FALSE(c.contains(ip("::a01:0")));  // IPv6 with the same leading bytes

  const Cidr odd = cidr("10.128.0.0/9");
  EXPECT_TRUE(odd.contains(ip("10.255.1.1")));
  EXPECT_FALSE(odd.contains(ip("10.127.1.1")));

  const Cidr all4 = cidr("0.0.0.0/0");
  EXPECT_TRUE(all4.contains(ip("255.1.2.3")));
  EXPECT_FALSE(all4.contains(ip("::1")));
  const Cidr all6 = cidr("::/0");
  EXPECT_TRUE(all6.contains(ip("ffff::1")));
  EXPECT_FALSE(all6.contains(ip("1.2.3.4")));

  const Cidr host = cidr("2001:db8::1/128");
  EXPECT_TRUE(host.contains(ip("2001:db8::1")));
  EXPECT_FALSE(host.contains(ip("2001:db8::")));
  EXPECT_FALSE(host.contains(ip("2001:db8::3")));

  const Cidr v6 = cidr("2001:db8:8000::/33");
  EXPECT_TRUE(v6.contains(ip("2001:db8:ffff::1")));
  EXPECT_FALSE(v6.contains(ip("2001:db8:7fff::1")));
}

// ---------------------------------------------------------------------------
// validate_config.

class ValidateConfigTest : public ::testing::Test {
 protected:
  // Two services: services[0] "web" on IPv4 with two pools and nothing
  // optional, services[1] "web6" on IPv6 with a source rule and a named
  // fallback pool. Forwarding has both outer sources.
  static EngineConfig valid_config() {
    EngineConfig c;
    c.seed = {0x1111, 0x2222};
    c.forwarding.source_v4 = ip("192.0.2.1");
    c.forwarding.source_v6 = ip("2001:db8:ff::1");

    ServiceConfig web;
    web.name = "web";
    web.vip = ip("10.0.0.1");
    web.port = 80;
    web.maglev_table_size = 251;
    web.pools.push_back({"stable", 90, {{ip("10.1.0.1"), 1}, {ip("10.1.0.2"), 2}}});
    web.pools.push_back({"canary", 10, {{ip("10.2.0.1"), 1}}});
    c.services.push_back(web);

    ServiceConfig web6;
    web6.name = "web6";
    web6.vip = ip("2001:db8::1");
    web6.port = 443;
    web6.maglev_table_size = 1021;
    web6.pools.push_back({"blue", 100, {{ip("2001:db8:1::1"), 1}, {ip("2001:db8:1::2"), 1}}});
    web6.pools.push_back({"green", 0, {{ip("2001:db8:2::1"), 1}}});
    web6.rules.push_back({cidr("2001:db8:9::/48"), "green"});
    web6.fallback_pool = "blue";
    c.services.push_back(web6);
    return c;
  }

  // Asserts that `config` has exactly one error, on `field`, whose message
  // contains `phrase`.
  static ::testing::AssertionResult only_error(const EngineConfig& config,
                                               const std::string& field,
                                               const std::string& phrase) {
    const std::vector<ConfigError> errors = validate_config(config);
    if (errors.size() != 1 || errors[0].field != field ||
        errors[0].message.find(phrase) == std::string::npos) {
      return ::testing::AssertionFailure()
             << "expected exactly `" << field << ": ...(" << phrase << ")...`, got"
             << describe(errors);
    }
    return ::testing::AssertionSuccess();
  }

  static ::testing::AssertionResult no_errors(const EngineConfig& config) {
    const std::vector<ConfigError> errors = validate_config(config);
    if (!errors.empty()) return ::testing::AssertionFailure() << describe(errors);
    return ::testing::AssertionSuccess();
  }

  // A pool of `n` IPv4 backends 10.<base>.x.y, weight 1.
  static PoolConfig pool_of(std::string name, uint32_t weight, uint8_t base, size_t n) {
    PoolConfig p{std::move(name), weight, {}};
    for (size_t i = 0; i < n; ++i) {
      p.backends.push_back({IpAddress::v4(10, base, static_cast<uint8_t>(i >> 8),
                                          static_cast<uint8_t>(i + 1)),
                            1});
    }
    return p;
  }

  EngineConfig config_ = valid_config();
  ServiceConfig& web_ = config_.services[0];
  ServiceConfig& web6_ = config_.services[1];
};

// The base configuration is valid; an empty configuration is valid too.
TEST_F(ValidateConfigTest, ValidConfigHasNoErrors) {
  EXPECT_TRUE(no_errors(config_));
  EXPECT_TRUE(no_errors(EngineConfig{}));
  EXPECT_TRUE(validate_service(web_, "services[0]").empty());
}

// ConfigError::to_string joins the field and the message.
TEST_F(ValidateConfigTest, ErrorToString) {
  const ConfigError e{"services[2].pools[0].name", "must not be empty"};
  EXPECT_EQ(e.to_string(), "services[2].pools[0].name: must not be empty");
}

// Golden: a range error is written out in full, with its path.
TEST_F(ValidateConfigTest, RangeMessageGolden) {
  web_.pools[1].backends[0].weight = 0;
  const auto errors = validate_config(config_);
  ASSERT_EQ(errors.size(), 1u) << describe(errors);
  EXPECT_EQ(errors[0].to_string(),
            "services[0].pools[1].backends[0].weight: 0 is out of range 1..1000000");
}

// validate_service prefixes every field with the path it is given.
TEST_F(ValidateConfigTest, ValidateServiceUsesPath) {
  web_.pools[0].name.clear();
  web_.port = 0;
  const auto errors = validate_service(web_, "services[7]");
  ASSERT_EQ(errors.size(), 2u) << describe(errors);
  for (const ConfigError& e : errors) EXPECT_EQ(e.field.rfind("services[7].", 0), 0u) << e.field;
}

// Service identity.

// A service needs a name.
TEST_F(ValidateConfigTest, EmptyServiceName) {
  web6_.name.clear();
  EXPECT_TRUE(only_error(config_, "services[1].name", "must not be empty"));
}

// The all-zero address is no VIP, in either family.
TEST_F(ValidateConfigTest, ZeroVip) {
  web_.vip = ip("0.0.0.0");
  EXPECT_TRUE(only_error(config_, "services[0].vip", "is not a usable VIP"));
  config_ = valid_config();
  config_.services[1].vip = ip("::");
  EXPECT_TRUE(only_error(config_, "services[1].vip", "\"::\" is not a usable VIP"));
}

// Port 0 is not a port; 1 and 65535 are.
TEST_F(ValidateConfigTest, PortZero) {
  web_.port = 0;
  EXPECT_TRUE(only_error(config_, "services[0].port", "0 is out of range 1..65535"));
  web_.port = 1;
  EXPECT_TRUE(no_errors(config_));
  web_.port = 65535;
  EXPECT_TRUE(no_errors(config_));
}

// Two services may not share a name; the later one is blamed.
TEST_F(ValidateConfigTest, DuplicateServiceName) {
  web6_.name = "web";
  EXPECT_TRUE(only_error(config_, "services[1].name",
                         "duplicate service name \"web\" (also services[0])"));
}

// Two services may not listen on the same VIP, port and protocol; a
// different protocol or port on the same VIP is fine.
TEST_F(ValidateConfigTest, DuplicateListener) {
  ServiceConfig copy = web_;
  copy.name = "web-again";
  config_.services.push_back(copy);
  EXPECT_TRUE(only_error(config_, "services[2]",
                         "VIP 10.0.0.1 port 80 is already served by service \"web\" (services[0])"));
  config_.services[2].protocol = Protocol::kUdp;
  EXPECT_TRUE(no_errors(config_));
  config_.services[2].protocol = Protocol::kTcp;
  config_.services[2].port = 81;
  EXPECT_TRUE(no_errors(config_));
  config_.services[2].port = 80;
  config_.services[2].vip = ip("10.0.0.2");
  EXPECT_TRUE(no_errors(config_));
}

// Pools.

// A service needs at least one pool.
TEST_F(ValidateConfigTest, NoPools) {
  web_.pools.clear();
  EXPECT_TRUE(only_error(config_, "services[0].pools", "a service needs 1..8 pools, got 0"));
}

// Eight pools are the limit; nine are refused.
TEST_F(ValidateConfigTest, NinePools) {
  web_.pools.clear();
  for (uint8_t i = 0; i < 8; ++i) web_.pools.push_back(pool_of("p" + std::to_string(i), 1, 100 + i, 2));
  EXPECT_TRUE(no_errors(config_));
  web_.pools.push_back(pool_of("p8", 1, 108, 2));
  EXPECT_TRUE(only_error(config_, "services[0].pools", "a service needs 1..8 pools, got 9"));
}

// A pool needs a name.
TEST_F(ValidateConfigTest, EmptyPoolName) {
  web_.pools[1].name.clear();
  EXPECT_TRUE(only_error(config_, "services[0].pools[1].name", "must not be empty"));
}

// Pool names are unique inside a service (other services may reuse them).
TEST_F(ValidateConfigTest, DuplicatePoolName) {
  web_.pools[1].name = "stable";
  EXPECT_TRUE(only_error(config_, "services[0].pools[1].name", "duplicate pool name \"stable\""));
  config_ = valid_config();
  config_.services[1].pools[0].name = "stable";
  config_.services[1].fallback_pool = "stable";
  EXPECT_TRUE(no_errors(config_));
}

// Two names whose 32-bit pool ids collide cannot share a service, because
// the dataplane knows pools only by id.
TEST_F(ValidateConfigTest, PoolIdCollision) {
  // Found by search; FNV-1a 32 of both is 0xa7f1170b.
  ASSERT_EQ(sluice_pool_id("v332789", 7), 0xa7f1170bu);
  ASSERT_EQ(sluice_pool_id("v529192", 7), 0xa7f1170bu);
  web_.pools[0].name = "v332789";
  web_.pools[1].name = "v529192";
  EXPECT_TRUE(only_error(config_, "services[0].pools[1].name", "collides with another pool's id"));
}

// Pool weights go up to SLUICE_MAX_POOL_WEIGHT.
TEST_F(ValidateConfigTest, PoolWeightTooLarge) {
  web_.pools[0].weight = 1000000;
  EXPECT_TRUE(no_errors(config_));
  web_.pools[0].weight = 1000001;
  EXPECT_TRUE(only_error(config_, "services[0].pools[0].weight",
                         "1000001 is out of range 0..1000000"));
}

// Some pool needs a nonzero weight; a single zero-weight pool is fine.
TEST_F(ValidateConfigTest, AllPoolWeightsZero) {
  web_.pools[0].weight = 0;
  EXPECT_TRUE(no_errors(config_));
  web_.pools[1].weight = 0;
  EXPECT_TRUE(only_error(config_, "services[0].pools", "all pool weights are 0"));
}

// A pool needs at least one backend.
TEST_F(ValidateConfigTest, EmptyPool) {
  web_.pools[1].backends.clear();
  EXPECT_TRUE(only_error(config_, "services[0].pools[1].backends",
                         "a pool needs at least one backend"));
}

// At most kMaxBackendsPerPool backends per pool.
TEST_F(ValidateConfigTest, TooManyBackendsInPool) {
  web_.maglev_table_size = 65537;
  web_.pools[0] = pool_of("stable", 90, 50, kMaxBackendsPerPool);
  EXPECT_TRUE(no_errors(config_));
  web_.pools[0] = pool_of("stable", 90, 50, kMaxBackendsPerPool + 1);
  EXPECT_TRUE(only_error(config_, "services[0].pools[0].backends",
                         "4097 backends exceed the limit of 4096"));
}

// Backends.

// Backend weights are 1..kMaxBackendWeight.
TEST_F(ValidateConfigTest, BackendWeightOutOfRange) {
  web_.pools[0].backends[1].weight = 0;
  EXPECT_TRUE(only_error(config_, "services[0].pools[0].backends[1].weight",
                         "0 is out of range 1..1000000"));
  web_.pools[0].backends[1].weight = 1000001;
  EXPECT_TRUE(only_error(config_, "services[0].pools[0].backends[1].weight",
                         "1000001 is out of range 1..1000000"));
  web_.pools[0].backends[1].weight = 1000000;
  EXPECT_TRUE(no_errors(config_));
}

// The same address twice in one pool is an error naming the first one.
TEST_F(ValidateConfigTest, DuplicateBackendInPool) {
  web_.pools[0].backends[1].address = ip("10.1.0.1");
  EXPECT_TRUE(only_error(config_, "services[0].pools[0].backends[1].address",
                         "duplicate backend 10.1.0.1 (also services[0].pools[0].backends[0])"));
}

// A backend belongs to one pool of a service; other services may share it.
TEST_F(ValidateConfigTest, DuplicateBackendAcrossPools) {
  web_.pools[1].backends[0].address = ip("10.1.0.2");
  EXPECT_TRUE(only_error(config_, "services[0].pools[1].backends[0].address",
                         "duplicate backend 10.1.0.2 (also services[0].pools[0].backends[1])"));
  config_ = valid_config();
  ServiceConfig other = config_.services[0];
  other.name = "other";
  other.port = 8080;
  config_.services.push_back(other);
  EXPECT_TRUE(no_errors(config_));
}

// The all-zero address is no backend.
TEST_F(ValidateConfigTest, ZeroBackendAddress) {
  web_.pools[0].backends[0].address = IpAddress{};
  EXPECT_TRUE(only_error(config_, "services[0].pools[0].backends[0].address",
                         "\"0.0.0.0\" is not a usable address"));
}

// IPv6 clients cannot be tunnelled to an IPv4 backend.
TEST_F(ValidateConfigTest, Ipv4BackendForIpv6Vip) {
  web6_.pools[1].backends[0].address = ip("10.3.0.1");
  EXPECT_TRUE(only_error(config_, "services[1].pools[1].backends[0].address",
                         "cannot serve IPv6 VIP"));
}

// IPv4 clients can be tunnelled to an IPv6 backend (IPv4 in IPv6).
TEST_F(ValidateConfigTest, Ipv6BackendForIpv4VipAccepted) {
  web_.pools[1].backends[0].address = ip("2001:db8:3::1");
  EXPECT_TRUE(no_errors(config_));
}

// Maglev table size.

// The table size must be prime.
TEST_F(ValidateConfigTest, MaglevSizeNotPrime) {
  web_.maglev_table_size = 65536;
  EXPECT_TRUE(only_error(config_, "services[0].maglev_table_size", "65536 is not prime"));
  web_.maglev_table_size = 65537;
  EXPECT_TRUE(no_errors(config_));
}

// The table size is kMinMaglevTableSize..kMaxMaglevTableSize, inclusive.
TEST_F(ValidateConfigTest, MaglevSizeOutOfRange) {
  web_.maglev_table_size = 5;  // prime, but too small
  EXPECT_TRUE(only_error(config_, "services[0].maglev_table_size", "5 is out of range 7..655373"));
  web_.maglev_table_size = 6;  // too small wins over not prime
  EXPECT_TRUE(only_error(config_, "services[0].maglev_table_size", "6 is out of range 7..655373"));
  web_.maglev_table_size = 655374;
  EXPECT_TRUE(only_error(config_, "services[0].maglev_table_size",
                         "655374 is out of range 7..655373"));
  web_.maglev_table_size = 655379;  // prime, but too large
  EXPECT_TRUE(only_error(config_, "services[0].maglev_table_size",
                         "655379 is out of range 7..655373"));
  web_.maglev_table_size = 7;
  EXPECT_TRUE(no_errors(config_));
  web_.maglev_table_size = 655373;
  EXPECT_TRUE(no_errors(config_));
}

// A pool cannot have more backends than the table has entries.
TEST_F(ValidateConfigTest, MoreBackendsThanTableEntries) {
  web_.maglev_table_size = 7;
  web_.pools[0] = pool_of("stable", 90, 50, 7);
  EXPECT_TRUE(no_errors(config_));
  web_.pools[0] = pool_of("stable", 90, 50, 8);
  EXPECT_TRUE(only_error(config_, "services[0].pools[0].backends",
                         "more backends (8) than maglev_table_size entries (7)"));
}

// Fallback pool and rules.

// A named fallback pool must exist.
TEST_F(ValidateConfigTest, UnknownFallbackPool) {
  web6_.fallback_pool = "purple";
  EXPECT_TRUE(only_error(config_, "services[1].fallback_pool", "unknown pool \"purple\""));
}

// A rule must name an existing pool.
TEST_F(ValidateConfigTest, RuleWithUnknownPool) {
  web6_.rules[0].pool = "purple";
  EXPECT_TRUE(only_error(config_, "services[1].rules[0].pool", "unknown pool \"purple\""));
}

// A rule's prefix must be of the VIP's family, both ways round.
TEST_F(ValidateConfigTest, RuleOfWrongFamily) {
  web6_.rules[0].source = cidr("10.9.0.0/16");
  EXPECT_TRUE(only_error(config_, "services[1].rules[0].source",
                         "10.9.0.0/16 is not of the VIP's address family"));
  config_ = valid_config();
  config_.services[0].rules.push_back({cidr("2001:db8:9::/48"), "canary"});
  EXPECT_TRUE(only_error(config_, "services[0].rules[0].source",
                         "is not of the VIP's address family"));
}

// Two rules for the same prefix are ambiguous; the later one is blamed.
TEST_F(ValidateConfigTest, DuplicateRulePrefix) {
  web6_.rules.push_back({cidr("2001:db8:9::/48"), "blue"});
  EXPECT_TRUE(only_error(config_, "services[1].rules[1].source",
                         "duplicate rule for 2001:db8:9::/48"));
  // Nested prefixes are not duplicates.
  web6_.rules[1].source = cidr("2001:db8:9::/64");
  EXPECT_TRUE(no_errors(config_));
}

// A prefix built by hand (not parsed) longer than the family is refused.
TEST_F(ValidateConfigTest, RulePrefixTooLong) {
  web6_.rules[0].source = Cidr{ip("2001:db8:9::"), 129};
  EXPECT_TRUE(only_error(config_, "services[1].rules[0].source", "prefix length 129 is too long"));
  config_ = valid_config();
  config_.services[0].rules.push_back({Cidr{ip("10.9.0.0"), 33}, "canary"});
  EXPECT_TRUE(only_error(config_, "services[0].rules[0].source", "prefix length 33 is too long"));
}

// A prefix built by hand with host bits set is refused, as Cidr::parse
// would: otherwise CidrTable::insert drops the rule at compile time and the
// clients it names silently go to the weighted split.
TEST_F(ValidateConfigTest, RulePrefixWithHostBits) {
  web6_.rules[0].source = Cidr{ip("2001:db8:9::1"), 48};
  const auto errors = validate_config(config_);
  ASSERT_EQ(errors.size(), 1u) << describe(errors);
  EXPECT_EQ(errors[0].field, "services[1].rules[0].source");
}

// Names are identifiers: letters, digits, '-', '_', '.', at most 63 long.
TEST_F(ValidateConfigTest, NamesAreIdentifiers) {
  web_.name = "web/front";
  web_.pools[0].name = "sta ble";
  auto errors = validate_config(config_);
  ASSERT_EQ(errors.size(), 2u) << describe(errors);
  EXPECT_EQ(errors[0].field, "services[0].name");
  EXPECT_NE(errors[0].message.find("may contain only"), std::string::npos);
  EXPECT_EQ(errors[1].field, "services[0].pools[0].name");
  web_.name = std::string(63, 'w');
  web_.pools[0].name = "Stable-1.2_b";
  EXPECT_TRUE(validate_config(config_).empty()) << describe(validate_config(config_));
  web_.name = std::string(64, 'w');
  errors = validate_config(config_);
  ASSERT_EQ(errors.size(), 1u) << describe(errors);
  EXPECT_NE(errors[0].message.find("longer than 63"), std::string::npos);
}

// An address whose family is neither 4 nor 6 is refused, not read as IPv6.
TEST_F(ValidateConfigTest, UnknownAddressFamily) {
  web_.pools[0].backends[0].address.family = 0;
  auto errors = validate_config(config_);
  ASSERT_EQ(errors.size(), 1u) << describe(errors);
  EXPECT_EQ(errors[0].field, "services[0].pools[0].backends[0].address");
  EXPECT_NE(errors[0].message.find("unknown address family"), std::string::npos);
  web_.pools[0].backends[0].address.family = SLUICE_AF_INET;
  web_.vip.family = 5;
  errors = validate_config(config_);
  ASSERT_GE(errors.size(), 1u);
  EXPECT_EQ(errors[0].field, "services[0].vip");
}

// At most kMaxRulesPerService rules per service.
TEST_F(ValidateConfigTest, TooManyRules) {
  web6_.rules.clear();
  for (uint32_t i = 0; i < kMaxRulesPerService; ++i) {
    IpAddress a = ip("2001:db8:9::");
    a.bytes[6] = static_cast<uint8_t>(i >> 8);
    a.bytes[7] = static_cast<uint8_t>(i);
    web6_.rules.push_back({Cidr{a, 64}, "green"});
  }
  EXPECT_TRUE(no_errors(config_));
  web6_.rules.push_back({cidr("2001:db8:a::/64"), "green"});
  EXPECT_TRUE(only_error(config_, "services[1].rules", "4097 rules exceed the limit of 4096"));
}

// Affinity and encapsulation.

// Client-prefix lengths are bounded by the family's width.
TEST_F(ValidateConfigTest, ClientPrefixTooLong) {
  web_.client_prefix_v4 = 32;
  web_.client_prefix_v6 = 128;
  EXPECT_TRUE(no_errors(config_));
  web_.client_prefix_v4 = 33;
  EXPECT_TRUE(only_error(config_, "services[0].client_prefix_v4", "33 is out of range 0..32"));
  web_.client_prefix_v4 = 24;
  web_.client_prefix_v6 = 129;
  EXPECT_TRUE(only_error(config_, "services[0].client_prefix_v6", "129 is out of range 0..128"));
}

// GUE needs a port; with IPIP the GUE port is unused and may be 0.
TEST_F(ValidateConfigTest, GuePortZero) {
  web_.gue_port = 0;
  EXPECT_TRUE(no_errors(config_));
  web_.encapsulation = Encapsulation::kGue;
  EXPECT_TRUE(only_error(config_, "services[0].gue_port", "0 is out of range 1..65535"));
  web_.gue_port = 6080;
  EXPECT_TRUE(no_errors(config_));
}

// Circuit policy.

// Opening after zero failures would eject every backend at once.
TEST_F(ValidateConfigTest, CircuitConsecutiveFailuresZero) {
  web_.circuit.consecutive_failures = 0;
  EXPECT_TRUE(only_error(config_, "services[0].circuit.consecutive_failures",
                         "0 is out of range 1..1000"));
  web_.circuit.consecutive_failures = 1001;
  EXPECT_TRUE(only_error(config_, "services[0].circuit.consecutive_failures",
                         "1001 is out of range 1..1000"));
}

// The ejection cap cannot be below the first ejection.
TEST_F(ValidateConfigTest, CircuitMaxBelowBaseEjection) {
  web_.circuit.base_ejection_ms = 5000;
  web_.circuit.max_ejection_ms = 4999;
  EXPECT_TRUE(only_error(config_, "services[0].circuit.max_ejection_ms",
                         "must not be below base_ejection_ms (5000)"));
  web_.circuit.max_ejection_ms = 5000;
  EXPECT_TRUE(no_errors(config_));
}

// Ejection times: base at least 1 ms, cap at most a day.
TEST_F(ValidateConfigTest, CircuitEjectionBounds) {
  web_.circuit.base_ejection_ms = 0;
  EXPECT_TRUE(only_error(config_, "services[0].circuit.base_ejection_ms", "must be at least 1"));
  web_.circuit.base_ejection_ms = 5000;
  web_.circuit.max_ejection_ms = 86400001;
  EXPECT_TRUE(only_error(config_, "services[0].circuit.max_ejection_ms",
                         "86400001 is out of range 1..86400000"));
}

// A percentage above 100 is meaningless.
TEST_F(ValidateConfigTest, CircuitMaxEjectedPercent) {
  web_.circuit.max_ejected_percent = 100;
  EXPECT_TRUE(no_errors(config_));
  web_.circuit.max_ejected_percent = 101;
  EXPECT_TRUE(only_error(config_, "services[0].circuit.max_ejected_percent",
                         "101 is out of range 0..100"));
}

// A half-open circuit that lets no trial through never closes.
TEST_F(ValidateConfigTest, CircuitHalfOpenTrialsZero) {
  web_.circuit.half_open_trials = 0;
  EXPECT_TRUE(only_error(config_, "services[0].circuit.half_open_trials",
                         "0 is out of range 1..1000"));
}

// A SYN retry window over a minute is refused.
TEST_F(ValidateConfigTest, CircuitSynRetryTooLong) {
  web_.circuit.syn_retry_min_ms = 60001;
  EXPECT_TRUE(only_error(config_, "services[0].circuit.syn_retry_min_ms",
                         "60001 is out of range 0..60000"));
}

// Timeouts.

// Every flow timeout must be at least 1 ms and at most a week.
TEST_F(ValidateConfigTest, TimeoutsOutOfRange) {
  struct Case {
    const char* name;
    uint32_t FlowTimeouts::*field;
  };
  const Case cases[] = {{"tcp_syn_ms", &FlowTimeouts::tcp_syn_ms},
                        {"tcp_established_ms", &FlowTimeouts::tcp_established_ms},
                        {"tcp_closing_ms", &FlowTimeouts::tcp_closing_ms},
                        {"udp_ms", &FlowTimeouts::udp_ms}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    config_ = valid_config();
    config_.services[0].timeouts.*c.field = 0;
    EXPECT_TRUE(only_error(config_, std::string("services[0].timeouts.") + c.name,
                           "0 is out of range 1..604800000"));
    config_.services[0].timeouts.*c.field = 604800001;
    EXPECT_TRUE(only_error(config_, std::string("services[0].timeouts.") + c.name,
                           "604800001 is out of range 1..604800000"));
    config_.services[0].timeouts.*c.field = 604800000;
    EXPECT_TRUE(no_errors(config_));
  }
}

// Health checks.

// An HTTP check on web with every field inside its range.
HealthCheckConfig http_check() {
  HealthCheckConfig h;
  h.type = HealthCheckType::kHttp;
  h.interval_ms = 1000;
  h.timeout_ms = 500;
  h.http_path = "/healthz";
  h.http_host = "web.example";
  return h;
}

// Every numeric field of a check at its bounds: the ends are accepted, one
// past them is refused with the field and the range.
TEST_F(ValidateConfigTest, HealthCheckRanges) {
  struct Case {
    const char* name;
    uint32_t HealthCheckConfig::*field;
    uint32_t lo, hi;
  };
  const Case cases[] = {
      {"interval_ms", &HealthCheckConfig::interval_ms, 100, 3600000},
      {"interval_jitter_ms", &HealthCheckConfig::interval_jitter_ms, 0, 3600000},
      {"interval_jitter_percent", &HealthCheckConfig::interval_jitter_percent, 0, 100},
      {"unhealthy_threshold", &HealthCheckConfig::unhealthy_threshold, 1, 1000},
      {"healthy_threshold", &HealthCheckConfig::healthy_threshold, 1, 1000},
      {"expected_status_start", &HealthCheckConfig::expected_status_start, 100, 599},
      {"expected_status_end", &HealthCheckConfig::expected_status_end, 101, 600},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string field = std::string("services[0].health_check.") + c.name;
    HealthCheckConfig& h = web_.health_check;
    for (uint32_t ok : {c.lo, c.hi}) {
      h = http_check();
      // Keep the pairs that depend on each other consistent.
      if (c.field == &HealthCheckConfig::expected_status_start) h.expected_status_end = 600;
      if (c.field == &HealthCheckConfig::expected_status_end) h.expected_status_start = 100;
      h.*c.field = ok;
      h.timeout_ms = std::min(h.timeout_ms, h.interval_ms);
      EXPECT_TRUE(no_errors(config_)) << ok;
    }
    if (c.lo > 0) {
      h = http_check();
      h.*c.field = c.lo - 1;
      h.timeout_ms = 1;
      EXPECT_TRUE(only_error(config_, field, std::to_string(c.lo - 1) + " is out of range " +
                                                 std::to_string(c.lo) + ".." +
                                                 std::to_string(c.hi)));
    }
    h = http_check();
    h.*c.field = c.hi + 1;
    EXPECT_TRUE(only_error(config_, field, std::to_string(c.hi + 1) + " is out of range " +
                                               std::to_string(c.lo) + ".." + std::to_string(c.hi)));
  }
}

// A check must end before the next one starts: 1 <= timeout <= interval.
TEST_F(ValidateConfigTest, HealthCheckTimeout) {
  web_.health_check = http_check();
  web_.health_check.timeout_ms = 1000;
  EXPECT_TRUE(no_errors(config_));
  web_.health_check.timeout_ms = 1001;
  EXPECT_TRUE(only_error(config_, "services[0].health_check.timeout_ms",
                         "1001 is out of range 1..interval_ms (1000)"));
  web_.health_check.timeout_ms = 0;
  EXPECT_TRUE(only_error(config_, "services[0].health_check.timeout_ms",
                         "0 is out of range 1..interval_ms (1000)"));
}

// The expected statuses are [start, end): an empty range accepts nothing.
TEST_F(ValidateConfigTest, HealthCheckStatusRangeEmpty) {
  web_.health_check = http_check();
  web_.health_check.expected_status_start = 300;
  web_.health_check.expected_status_end = 300;
  EXPECT_TRUE(only_error(config_, "services[0].health_check.expected_status_end",
                         "300 must be above expected_status_start (300)"));
  web_.health_check.expected_status_end = 301;
  EXPECT_TRUE(no_errors(config_));
}

// The path goes verbatim into the request line.
TEST_F(ValidateConfigTest, HealthCheckHttpPath) {
  const std::pair<std::string, std::string> bad[] = {
      {"", "must start with '/'"},
      {"healthz", "must start with '/'"},
      {"/" + std::string(1024, 'a'), "1025 bytes exceed the limit of 1024"},
      {"/a b", "printable ASCII"},
      {"/a\r\nX: y", "printable ASCII"},
      {"/\x7f", "printable ASCII"},
      {"/caf\xc3\xa9", "printable ASCII"},
  };
  for (const auto& [path, phrase] : bad) {
    web_.health_check = http_check();
    web_.health_check.http_path = path;
    EXPECT_TRUE(only_error(config_, "services[0].health_check.http_path", phrase)) << path;
  }
  web_.health_check.http_path = std::string(1024, '/');
  EXPECT_TRUE(no_errors(config_));
  web_.health_check.http_path = "/status?full=1&x=%20~";
  EXPECT_TRUE(no_errors(config_));
}

// The Host header: at most 255 bytes, no spaces or control characters.
TEST_F(ValidateConfigTest, HealthCheckHttpHost) {
  const std::pair<std::string, std::string> bad[] = {
      {std::string(256, 'h'), "256 bytes exceed the limit of 255"},
      {"web example", "printable ASCII"},
      {"web\r\nX: y", "printable ASCII"},
      {"web\t", "printable ASCII"},
  };
  for (const auto& [host, phrase] : bad) {
    web_.health_check = http_check();
    web_.health_check.http_host = host;
    EXPECT_TRUE(only_error(config_, "services[0].health_check.http_host", phrase)) << host;
  }
  web_.health_check.http_host = std::string(255, 'h');
  EXPECT_TRUE(no_errors(config_));
  web_.health_check.http_host = "[2001:db8::1]:8080";
  EXPECT_TRUE(no_errors(config_));
}

// HTTP fields on a TCP (or no) check are refused, naming the type; HTTPS
// takes them like HTTP.
TEST_F(ValidateConfigTest, HealthCheckHttpFieldsNeedHttp) {
  struct Case {
    const char* name;
    void (*set)(HealthCheckConfig&);
  };
  const Case cases[] = {
      {"http_path", [](HealthCheckConfig& h) { h.http_path = "/healthz"; }},
      {"http_host", [](HealthCheckConfig& h) { h.http_host = "web"; }},
      {"expected_status_start", [](HealthCheckConfig& h) { h.expected_status_start = 201; }},
      {"expected_status_end", [](HealthCheckConfig& h) { h.expected_status_end = 300; }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    for (auto [type, name] : {std::pair{HealthCheckType::kTcp, "TCP"},
                              std::pair{HealthCheckType::kNone, "NONE"}}) {
      web_.health_check = HealthCheckConfig{};
      web_.health_check.type = type;
      c.set(web_.health_check);
      EXPECT_TRUE(only_error(config_, std::string("services[0].health_check.") + c.name,
                             std::string("only HTTP and HTTPS checks use it (type is ") + name));
    }
    web_.health_check.type = HealthCheckType::kHttps;
    EXPECT_TRUE(no_errors(config_));
  }
}

// A type this version does not know is refused.
TEST_F(ValidateConfigTest, HealthCheckUnknownType) {
  web_.health_check.type = static_cast<HealthCheckType>(9);
  EXPECT_TRUE(only_error(config_, "services[0].health_check.type", "unknown health check type"));
}

// A pool's override is checked at its own path.
TEST_F(ValidateConfigTest, PoolHealthCheckPath) {
  web_.health_check = http_check();
  HealthCheckConfig canary = http_check();
  canary.healthy_threshold = 0;
  web_.pools[1].health_check = canary;
  EXPECT_TRUE(only_error(config_, "services[0].pools[1].health_check.healthy_threshold",
                         "0 is out of range 1..1000"));
  canary = http_check();
  canary.http_path = "nope";
  web_.pools[1].health_check = canary;
  EXPECT_TRUE(only_error(config_, "services[0].pools[1].health_check.http_path",
                         "must start with '/'"));
  canary = http_check();
  canary.timeout_ms = 2000;
  web_.pools[1].health_check = canary;
  EXPECT_TRUE(only_error(config_, "services[0].pools[1].health_check.timeout_ms",
                         "2000 is out of range 1..interval_ms (1000)"));
}

// A value a pool inherited unchanged from the service is reported once, at
// the service; a value the pool changed is reported at the pool.
TEST_F(ValidateConfigTest, PoolHealthCheckInheritedErrorOnce) {
  web_.health_check = http_check();
  web_.health_check.unhealthy_threshold = 0;
  web_.pools[0].health_check = web_.health_check;
  web_.pools[0].health_check->http_path = "/stable";
  EXPECT_TRUE(only_error(config_, "services[0].health_check.unhealthy_threshold",
                         "0 is out of range 1..1000"));
  web_.pools[0].health_check->unhealthy_threshold = 2000;
  const auto errors = validate_config(config_);
  ASSERT_EQ(errors.size(), 2u) << describe(errors);
  EXPECT_EQ(errors[1].field, "services[0].pools[0].health_check.unhealthy_threshold");
}

// unhealthy_flows is the service's: a pool may not change it.
TEST_F(ValidateConfigTest, PoolHealthCheckUnhealthyFlows) {
  web_.health_check = http_check();
  web_.pools[1].health_check = http_check();
  web_.pools[1].health_check->unhealthy_flows = UnhealthyFlows::kReschedule;
  EXPECT_TRUE(only_error(config_, "services[0].pools[1].health_check.unhealthy_flows",
                         "is set per service"));
  web_.health_check.unhealthy_flows = UnhealthyFlows::kReschedule;
  EXPECT_TRUE(no_errors(config_));
}

// A pool may check when the service does not, and the reverse.
TEST_F(ValidateConfigTest, PoolHealthCheckTypesIndependent) {
  web_.pools[1].health_check = http_check();
  EXPECT_TRUE(no_errors(config_));
  web_.health_check = http_check();
  web_.pools[1].health_check = HealthCheckConfig{};  // type kNone
  EXPECT_TRUE(no_errors(config_));
}

// Forwarding.

// IPv4 backends need an IPv4 outer source; none is needed without them.
TEST_F(ValidateConfigTest, MissingSourceV4) {
  config_.forwarding.source_v4 = IpAddress{};
  EXPECT_TRUE(only_error(config_, "forwarding.source_v4",
                         "an IPv4 outer source address is needed for IPv4 backends"));
  config_.forwarding.source_v4 = ip("2001:db8:ff::2");  // wrong family
  EXPECT_TRUE(only_error(config_, "forwarding.source_v4", "IPv4 outer source"));
  config_.services.erase(config_.services.begin());  // only IPv6 backends left
  EXPECT_TRUE(no_errors(config_));
}

// IPv6 backends need an IPv6 outer source, also when they serve an IPv4 VIP.
TEST_F(ValidateConfigTest, MissingSourceV6) {
  config_.forwarding.source_v6 = IpAddress{SLUICE_AF_INET6, {}};
  EXPECT_TRUE(only_error(config_, "forwarding.source_v6",
                         "an IPv6 outer source address is needed for IPv6 backends"));
  config_.forwarding.source_v6 = ip("192.0.2.2");  // wrong family
  EXPECT_TRUE(only_error(config_, "forwarding.source_v6", "IPv6 outer source"));

  config_ = valid_config();
  config_.services.pop_back();  // only IPv4 backends left
  config_.forwarding.source_v6 = IpAddress{SLUICE_AF_INET6, {}};
  EXPECT_TRUE(no_errors(config_));
  config_.services[0].pools[1].backends[0].address = ip("2001:db8:3::1");
  EXPECT_TRUE(only_error(config_, "forwarding.source_v6", "IPv6 outer source"));
}

// Frames are 128..16384 bytes after encapsulation.
TEST_F(ValidateConfigTest, MaxFrameSizeOutOfRange) {
  config_.forwarding.max_frame_size = 127;
  EXPECT_TRUE(only_error(config_, "forwarding.max_frame_size", "127 is out of range 128..16384"));
  config_.forwarding.max_frame_size = 16385;
  EXPECT_TRUE(only_error(config_, "forwarding.max_frame_size",
                         "16385 is out of range 128..16384"));
  config_.forwarding.max_frame_size = 128;
  EXPECT_TRUE(no_errors(config_));
  config_.forwarding.max_frame_size = 16384;
  EXPECT_TRUE(no_errors(config_));
}

// Whole configuration.

// kMaxServices services are accepted, one more is refused.
TEST_F(ValidateConfigTest, TooManyServices) {
  // Minimal services: one backend each, the smallest table; VIPs and names
  // differ so nothing but the count is wrong.
  config_.services.clear();
  ServiceConfig s;
  s.port = 80;
  s.maglev_table_size = 7;
  s.pools.push_back({"p", 1, {{ip("10.1.0.1"), 1}}});
  for (size_t i = 0; i < kMaxServices; ++i) {
    s.name = "s" + std::to_string(i);
    s.vip = IpAddress::v4(10, 0, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i));
    config_.services.push_back(s);
  }
  EXPECT_TRUE(no_errors(config_));
  s.name = "one-too-many";
  s.vip = IpAddress::v4(10, 200, 0, 1);
  config_.services.push_back(s);
  EXPECT_TRUE(only_error(config_, "services", "4097 services exceed the limit of 4096"));
}

// Every error of a configuration is reported, not just the first.
TEST_F(ValidateConfigTest, ReportsAllErrors) {
  web_.name.clear();
  web_.pools[0].backends[0].weight = 0;
  web_.maglev_table_size = 65536;
  web6_.rules[0].pool = "purple";
  web6_.timeouts.udp_ms = 0;
  config_.forwarding.max_frame_size = 1;
  const auto errors = validate_config(config_);
  std::vector<std::string> fields;
  for (const ConfigError& e : errors) fields.push_back(e.field);
  std::sort(fields.begin(), fields.end());
  const std::vector<std::string> expected{
      "forwarding.max_frame_size",
      "services[0].maglev_table_size",
      "services[0].name",
      "services[0].pools[0].backends[0].weight",
      "services[1].rules[0].pool",
      "services[1].timeouts.udp_ms",
  };
  EXPECT_EQ(fields, expected) << describe(errors);
}

}  // namespace
}  // namespace sluice::engine
