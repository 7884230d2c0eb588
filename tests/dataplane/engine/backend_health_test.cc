// Tests of dataplane/engine/backend_health.h: the health table by backend
// counter slot that sluiced writes and the workers read.
#include "dataplane/engine/backend_health.h"

#include <gtest/gtest.h>

#include <thread>

namespace sluice::engine {
namespace {

// Every slot starts UNKNOWN (served): a restart takes nobody out.
TEST(BackendHealthTableTest, StartsUnknown) {
  BackendHealthTable t(16);
  EXPECT_EQ(t.size(), 16u);
  for (uint32_t slot = 0; slot < 16; ++slot) {
    EXPECT_EQ(t.get(slot), SLUICE_HEALTH_UNKNOWN);
    EXPECT_FALSE(t.unhealthy(slot));
  }
}

// set() marks one slot and no other; only UNHEALTHY is unhealthy.
TEST(BackendHealthTableTest, SetMarksOneSlot) {
  BackendHealthTable t(16);
  t.set(3, SLUICE_HEALTH_UNHEALTHY);
  t.set(4, SLUICE_HEALTH_HEALTHY);
  EXPECT_EQ(t.get(3), SLUICE_HEALTH_UNHEALTHY);
  EXPECT_TRUE(t.unhealthy(3));
  EXPECT_EQ(t.get(4), SLUICE_HEALTH_HEALTHY);
  EXPECT_FALSE(t.unhealthy(4));
  EXPECT_EQ(t.get(2), SLUICE_HEALTH_UNKNOWN);
  EXPECT_EQ(t.get(5), SLUICE_HEALTH_UNKNOWN);
  t.set(3, SLUICE_HEALTH_HEALTHY);
  EXPECT_FALSE(t.unhealthy(3));
}

// Slots past the end are ignored by set() and read UNKNOWN; so are values
// that are not a SLUICE_HEALTH_*.
TEST(BackendHealthTableTest, OutOfRangeIgnored) {
  BackendHealthTable t(16);
  t.set(16, SLUICE_HEALTH_UNHEALTHY);
  t.set(UINT32_MAX, SLUICE_HEALTH_UNHEALTHY);
  EXPECT_EQ(t.get(16), SLUICE_HEALTH_UNKNOWN);
  EXPECT_FALSE(t.unhealthy(UINT32_MAX));
  t.set(15, SLUICE_HEALTH_UNHEALTHY);
  EXPECT_TRUE(t.unhealthy(15));
  t.set(15, 7);
  EXPECT_EQ(t.get(15), SLUICE_HEALTH_UNHEALTHY);
  BackendHealthTable empty(0);
  empty.set(0, SLUICE_HEALTH_UNHEALTHY);
  EXPECT_EQ(empty.get(0), SLUICE_HEALTH_UNKNOWN);
}

// reset() returns every slot to UNKNOWN.
TEST(BackendHealthTableTest, ResetForgetsAll) {
  BackendHealthTable t(8);
  for (uint32_t slot = 0; slot < 8; ++slot) t.set(slot, SLUICE_HEALTH_UNHEALTHY);
  t.reset();
  for (uint32_t slot = 0; slot < 8; ++slot) EXPECT_EQ(t.get(slot), SLUICE_HEALTH_UNKNOWN);
}

// A writer thread's marks reach a reader thread (the checker and a worker).
TEST(BackendHealthTableTest, WriterReachesReader) {
  BackendHealthTable t(4);
  std::thread writer([&] { t.set(2, SLUICE_HEALTH_UNHEALTHY); });
  writer.join();
  std::thread reader([&] { EXPECT_TRUE(t.unhealthy(2)); });
  reader.join();
}

}  // namespace
}  // namespace sluice::engine
