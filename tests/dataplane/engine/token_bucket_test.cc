// SPDX-License-Identifier: Apache-2.0
// Tests of dataplane/engine/token_bucket.h: the token bucket of the
// per-core new-flow rate (both dataplanes) and of the exception policer.
#include "dataplane/engine/token_bucket.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace {

uint32_t admitted(sluice_token_bucket* b, uint32_t now_ms, uint32_t rate, uint32_t burst,
                  uint32_t tries) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < tries; ++i) n += sluice_token_bucket_take(b, now_ms, rate, burst) ? 1 : 0;
  return n;
}

TEST(TokenBucketTest, NoLimitAdmitsEverythingAndLeavesTheBucket) {
  sluice_token_bucket b{};
  EXPECT_EQ(admitted(&b, 5, 0, 0, 100000), 100000u);
  EXPECT_EQ(b.started, 0u);
}

TEST(TokenBucketTest, StartsFullThenRefillsAtTheRate) {
  sluice_token_bucket b{};
  // 1000 flows/s = one per ms; a burst of 10.
  EXPECT_EQ(admitted(&b, 1000, 1000, 10, 50), 10u);
  EXPECT_EQ(admitted(&b, 1000, 1000, 10, 5), 0u) << "no time passed";
  EXPECT_EQ(admitted(&b, 1003, 1000, 10, 50), 3u);
  EXPECT_EQ(admitted(&b, 1100, 1000, 10, 50), 10u) << "refill capped at the burst";
}

TEST(TokenBucketTest, FractionalRatesAccumulate) {
  sluice_token_bucket b{};
  // 250 flows/s: one every 4 ms.
  EXPECT_EQ(admitted(&b, 0, 250, 1, 5), 1u);
  uint32_t n = 0;
  for (uint32_t t = 1; t <= 4000; ++t) n += admitted(&b, t, 250, 1, 3);
  EXPECT_EQ(n, 1000u);
}

TEST(TokenBucketTest, ClockWrapAndLongGapsStayBounded) {
  sluice_token_bucket b{};
  EXPECT_EQ(admitted(&b, UINT32_MAX - 1, 1000000, 100, 1000), 100u);
  EXPECT_EQ(admitted(&b, 2, 1000000, 100, 1000), 100u) << "4 ms across the wrap: refilled to the cap";
  EXPECT_EQ(admitted(&b, 2, 100000000, 100000000, 1), 0u) << "spent, and no time passed";
  // A gap of 2^31 ms at the highest rate does not overflow the tokens.
  EXPECT_EQ(admitted(&b, 2u + (1u << 31), 100000000, 100000000, 3), 3u);
}

}  // namespace
