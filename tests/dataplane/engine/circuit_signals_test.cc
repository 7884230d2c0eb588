// Tests of the evidence rules of dataplane/engine/circuit_logic.h (through
// CircuitTable): failures count once per client source prefix within
// failure_window_ms, a backend whose checks pass is suspected rather than
// ejected, and a half-open circuit closes only on a success a lone spoofer
// cannot forge. circuit_source.h's prefix tag is tested at the end.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <set>

#include "dataplane/engine/circuit.h"
#include "dataplane/engine/circuit_source.h"
#include "dataplane/engine/config.h"
#include "tests/dataplane/engine/frame_builder.h"

namespace sluice::engine {
namespace {

constexpr uint64_t kFp = 0x9e3779b97f4a7c15ULL;
constexpr uint8_t kUnknown = SLUICE_HEALTH_UNKNOWN;
constexpr uint8_t kHealthy = SLUICE_HEALTH_HEALTHY;

// The default policy: 3 failures, 5 s first ejection, 3 trials, 50%, a
// 10 s failure window.
class CircuitSignalsTest : public ::testing::Test {
 protected:
  CircuitTransition fail(uint32_t now, uint32_t source, uint8_t health = kUnknown) {
    return table_.record_failure(kFp, now, policy_, 10, 0, source, health);
  }
  CircuitTransition succeed(uint32_t now, uint32_t source, uint8_t health = kUnknown) {
    return table_.record_success(kFp, now, policy_, source, health);
  }
  void open_at(uint32_t now) {
    ASSERT_EQ(fail(now, 11), CircuitTransition::kNone);
    ASSERT_EQ(fail(now, 12), CircuitTransition::kNone);
    ASSERT_EQ(fail(now, 13), CircuitTransition::kOpened);
  }

  CircuitPolicy policy_;
  CircuitTable table_{64};
};

// One prefix counts once per window however often it fails: never ejects.
TEST_F(CircuitSignalsTest, OnePrefixNeverEjects) {
  EXPECT_EQ(fail(0, 7), CircuitTransition::kNone);
  for (uint32_t i = 1; i < 100000; ++i) {
    ASSERT_EQ(fail(i % 9000, 7), CircuitTransition::kRepeatSource) << i;
  }
  EXPECT_EQ(table_.state(kFp, 9000), CircuitState::kClosed);
  EXPECT_EQ(table_.stats().opened, 0u);
  EXPECT_EQ(table_.stats().repeat_sources, 99999u);
}

// Two prefixes taking turns still count as two: below a threshold of three.
TEST_F(CircuitSignalsTest, TwoPrefixesTakingTurnsStayBelowThree) {
  for (uint32_t i = 0; i < 1000; ++i) fail(i, 1 + i % 2);
  EXPECT_EQ(table_.state(kFp, 1000), CircuitState::kClosed);
  EXPECT_EQ(fail(1000, 3), CircuitTransition::kOpened);  // a third prefix
}

// Failures count only within failure_window_ms of the first one counted.
TEST_F(CircuitSignalsTest, WindowExpires) {
  EXPECT_EQ(fail(0, 1), CircuitTransition::kNone);
  EXPECT_EQ(fail(9999, 2), CircuitTransition::kNone);
  // The window of 0 passed: this one starts a new window, counting 1.
  EXPECT_EQ(fail(10000, 3), CircuitTransition::kNone);
  EXPECT_EQ(fail(10001, 1), CircuitTransition::kNone);  // prefix 1 counts again
  EXPECT_EQ(table_.state(kFp, 10001), CircuitState::kClosed);
  EXPECT_EQ(fail(19999, 2), CircuitTransition::kOpened);
}

// Reaching the threshold with passing checks suspects, never opens, and
// the suspicion shows for one window.
TEST_F(CircuitSignalsTest, HealthyBackendSuspectedNotOpened) {
  EXPECT_EQ(fail(100, 1, kHealthy), CircuitTransition::kNone);
  EXPECT_EQ(fail(100, 2, kHealthy), CircuitTransition::kNone);
  EXPECT_EQ(fail(100, 3, kHealthy), CircuitTransition::kSuspected);
  EXPECT_EQ(table_.state(kFp, 100), CircuitState::kSuspected);
  EXPECT_FALSE(circuit_ejected(table_.state(kFp, 100)));
  EXPECT_TRUE(table_.available(kFp, 100, kHealthy));
  EXPECT_TRUE(table_.admit(kFp, 100, policy_, kHealthy));
  EXPECT_EQ(table_.stats().suspected, 1u);
  EXPECT_EQ(table_.stats().opened, 0u);
  // The count started again: three new prefixes suspect it again.
  EXPECT_EQ(fail(200, 4, kHealthy), CircuitTransition::kNone);
  EXPECT_EQ(fail(200, 5, kHealthy), CircuitTransition::kNone);
  EXPECT_EQ(fail(200, 6, kHealthy), CircuitTransition::kSuspected);
  EXPECT_EQ(table_.state(kFp, 200 + 9999), CircuitState::kSuspected);
  EXPECT_EQ(table_.state(kFp, 200 + 10000), CircuitState::kClosed);
  // Once the suspicion is over, a success lets the slot go.
  succeed(200 + 10000, 9, kHealthy);
  EXPECT_EQ(table_.tracked(), 0u);
}

// 100,000 failures from random prefixes against a HEALTHY backend: never
// open, never refused entry.
TEST_F(CircuitSignalsTest, RandomSourcesNeverEjectHealthyBackend) {
  std::mt19937 rng(7);
  for (uint32_t i = 0; i < 100000; ++i) {
    const uint32_t now = i / 10;  // 10,000 per second
    const CircuitTransition t = fail(now, rng() | 1, kHealthy);
    ASSERT_NE(t, CircuitTransition::kOpened) << i;
    ASSERT_TRUE(table_.admit(kFp, now, policy_, kHealthy)) << i;
  }
  EXPECT_EQ(table_.stats().opened, 0u);
  EXPECT_GT(table_.stats().suspected, 30000u);
}

// An open circuit does not keep a backend whose checks pass out, and takes
// no trial from it.
TEST_F(CircuitSignalsTest, PassingChecksOutrankAnOpenCircuit) {
  open_at(0);
  EXPECT_FALSE(table_.available(kFp, 10, kUnknown));
  EXPECT_TRUE(table_.available(kFp, 10, kHealthy));
  EXPECT_TRUE(table_.admit(kFp, 10, policy_, kHealthy));
  EXPECT_FALSE(table_.admit(kFp, 10, policy_, kUnknown));
  // Half-open: HEALTHY admissions take none of the three trials.
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(table_.admit(kFp, 5000, policy_, kHealthy));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(table_.admit(kFp, 5000, policy_, kUnknown)) << i;
  EXPECT_FALSE(table_.admit(kFp, 5000, policy_, kUnknown));
}

// Without checks a half-open circuit closes on the second prefix's success,
// not on any number from one prefix.
TEST_F(CircuitSignalsTest, HalfOpenNeedsSuccessesFromTwoPrefixes) {
  open_at(0);
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(succeed(5000, 21), CircuitTransition::kNone) << i;
  }
  EXPECT_EQ(table_.state(kFp, 5000), CircuitState::kHalfOpen);
  EXPECT_EQ(succeed(5000, 22), CircuitTransition::kClosed);
  EXPECT_EQ(table_.state(kFp, 5000), CircuitState::kClosed);
}

// One prefix alone closes it only after a whole ejection time of successes
// with no failure (a service whose clients all sit in one /24 recovers);
// a failure meanwhile reopens it and forgets the first success.
TEST_F(CircuitSignalsTest, HalfOpenClosesOnOnePrefixAfterAnEjectionTime) {
  open_at(0);
  ASSERT_EQ(succeed(5000, 21), CircuitTransition::kNone);
  EXPECT_EQ(succeed(9999, 21), CircuitTransition::kNone);
  EXPECT_EQ(succeed(10000, 21), CircuitTransition::kClosed);

  CircuitTable t(8);
  auto fail_t = [&](uint32_t now, uint32_t source) {
    return t.record_failure(kFp, now, policy_, 10, 0, source, kUnknown);
  };
  fail_t(0, 1);
  fail_t(0, 2);
  ASSERT_EQ(fail_t(0, 3), CircuitTransition::kOpened);
  ASSERT_EQ(t.record_success(kFp, 5000, policy_, 21, kUnknown), CircuitTransition::kNone);
  ASSERT_EQ(fail_t(6000, 4), CircuitTransition::kReopened);  // 10 s this time
  EXPECT_EQ(t.record_success(kFp, 16000, policy_, 21, kUnknown), CircuitTransition::kNone);
  EXPECT_EQ(t.record_success(kFp, 25999, policy_, 21, kUnknown), CircuitTransition::kNone);
  EXPECT_EQ(t.record_success(kFp, 26000, policy_, 21, kUnknown), CircuitTransition::kClosed);
}

// With checks passing, the first success closes a half-open circuit: the
// check vouches for the backend, which a spoofer cannot forge.
TEST_F(CircuitSignalsTest, HalfOpenClosesOnSuccessWhileHealthy) {
  open_at(0);
  EXPECT_EQ(succeed(5000, 21, kHealthy), CircuitTransition::kClosed);
}

// A half-open circuit of a HEALTHY backend is not reopened by a failure:
// it is counted toward a suspicion instead.
TEST_F(CircuitSignalsTest, HalfOpenHealthyFailureDoesNotReopen) {
  open_at(0);
  EXPECT_EQ(fail(5000, 31, kHealthy), CircuitTransition::kNone);
  EXPECT_EQ(table_.state(kFp, 5000), CircuitState::kHalfOpen);
  EXPECT_EQ(fail(5000, 32, kUnknown), CircuitTransition::kReopened);
}

// Failures while open neither count nor remember prefixes.
TEST_F(CircuitSignalsTest, OpeningForgetsPrefixes) {
  open_at(0);
  ASSERT_EQ(succeed(5000, 41), CircuitTransition::kNone);
  ASSERT_EQ(succeed(5000, 42), CircuitTransition::kClosed);
  // The prefixes that opened it count again after it closed.
  EXPECT_EQ(fail(5001, 11), CircuitTransition::kNone);
  EXPECT_EQ(fail(5001, 12), CircuitTransition::kNone);
  EXPECT_EQ(fail(5001, 13), CircuitTransition::kOpened);
}

sluice_flow_key key_from(const char* src) {
  sluice_flow_key k{};
  const IpAddress a = test::parse_test_address(src);
  std::copy(a.bytes.begin(), a.bytes.end(), k.src);
  k.family = a.family;
  k.proto = SLUICE_IPPROTO_TCP;
  k.sport = 1234;
  return k;
}

// One tag per IPv4 /24 and IPv6 /48, never 0, and different prefixes differ.
TEST(CircuitSource, TagPerPrefix) {
  const sluice_hash_seed seed{1, 2};
  const auto tag = [&](const char* a) {
    const sluice_flow_key k = key_from(a);
    return sluice_source_tag(&k, &seed);
  };
  EXPECT_EQ(tag("198.51.100.1"), tag("198.51.100.254"));
  EXPECT_NE(tag("198.51.100.1"), tag("198.51.101.1"));
  EXPECT_EQ(tag("2001:db8:1::1"), tag("2001:db8:1:ffff::9"));
  EXPECT_NE(tag("2001:db8:1::1"), tag("2001:db8:2::1"));
  std::set<uint32_t> tags;
  for (int i = 0; i < 256; ++i) {
    const std::string a = "203.0." + std::to_string(i) + ".7";
    const uint32_t t = tag(a.c_str());
    EXPECT_NE(t, 0u);
    tags.insert(t);
  }
  EXPECT_EQ(tags.size(), 256u);
  const sluice_hash_seed other{3, 4};
  const sluice_flow_key k = key_from("198.51.100.1");
  EXPECT_NE(sluice_source_tag(&k, &other), tag("198.51.100.1"));  // keyed
}

}  // namespace
}  // namespace sluice::engine
