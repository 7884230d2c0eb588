// SPDX-License-Identifier: Apache-2.0
// Tests of control/core/flow_census_cache.h with a dataplane that counts
// its censuses: nothing before the first, fresh() reuses a young census and
// takes a new one when the cached one is too old, concurrent callers share
// one scan, the thread refreshes on its period and stops promptly, and the
// timing is filled in when the dataplane leaves it out.
#include "control/core/flow_census_cache.h"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "tests/mocks/control/null_dataplane_sink.h"

namespace sluice::control {
namespace {

using namespace std::chrono_literals;

// Counts its censuses, each taking scan_time.
class CountingSink final : public fakes::NullDataplaneSink {
 public:
  FlowCensus flow_census(const engine::Snapshot&) const override {
    const uint32_t n = ++calls;
    std::this_thread::sleep_for(scan_time);
    FlowCensus c;
    c.workers = {{engine::SlotFlows{7, n, 0, 0}}};
    return c;
  }
  mutable std::atomic<uint32_t> calls{0};
  std::chrono::milliseconds scan_time{0};
};

class FlowCensusCacheTest : public ::testing::Test {
 protected:
  FlowCensusCacheTest() {
    engine::EngineConfig c;
    auto r = compiler_.compile(c, 1);
    snapshot_ = r.snapshot;
  }
  engine::SnapshotCompiler compiler_;
  std::shared_ptr<const engine::Snapshot> snapshot_;
  CountingSink sink_;
};

TEST_F(FlowCensusCacheTest, FreshReusesAYoungCensusAndRenewsAnOldOne) {
  FlowCensusCache cache(sink_, [this] { return snapshot_; });
  EXPECT_FALSE(cache.latest().census);
  FlowCensusCache::Entry a = cache.fresh(1000ms);
  ASSERT_TRUE(a.census);
  EXPECT_EQ(a.snapshot, snapshot_);
  EXPECT_EQ(sink_.calls, 1u);
  EXPECT_EQ(a.census->workers[0][0].flows, 1u);
  // Timing filled in by the cache.
  EXPECT_NE(a.census->taken_at, std::chrono::steady_clock::time_point{});

  FlowCensusCache::Entry b = cache.fresh(1000ms);
  EXPECT_EQ(sink_.calls, 1u);
  EXPECT_EQ(b.census, a.census);

  std::this_thread::sleep_for(20ms);
  FlowCensusCache::Entry c = cache.fresh(10ms);
  EXPECT_EQ(sink_.calls, 2u);
  EXPECT_EQ(c.census->workers[0][0].flows, 2u);
  EXPECT_EQ(cache.latest().census, c.census);
  EXPECT_EQ(cache.taken(), 2u);
}

TEST_F(FlowCensusCacheTest, ConcurrentCallersShareOneScan) {
  sink_.scan_time = 100ms;
  FlowCensusCache cache(sink_, [this] { return snapshot_; });
  std::vector<std::thread> callers;
  for (int i = 0; i < 4; ++i) callers.emplace_back([&] { cache.fresh(1000ms); });
  for (auto& t : callers) t.join();
  EXPECT_EQ(sink_.calls, 1u);
}

TEST_F(FlowCensusCacheTest, NoSnapshotNoCensus) {
  FlowCensusCache cache(sink_, [] { return std::shared_ptr<const engine::Snapshot>(); });
  EXPECT_FALSE(cache.fresh(0ms).census);
  EXPECT_EQ(sink_.calls, 0u);
}

TEST_F(FlowCensusCacheTest, ThreadRefreshesAndStopsPromptly) {
  FlowCensusCache cache(sink_, [this] { return snapshot_; });
  cache.start(20ms);
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (sink_.calls < 3 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(5ms);
  EXPECT_GE(sink_.calls, 3u);
  const auto t0 = std::chrono::steady_clock::now();
  cache.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  const uint32_t after = sink_.calls;
  std::this_thread::sleep_for(60ms);
  EXPECT_EQ(sink_.calls, after);
}

// A slow census spaces the next ones out (10x its duration), so that the
// scans cost at most about a tenth of a core.
TEST_F(FlowCensusCacheTest, SlowCensusBacksOff) {
  sink_.scan_time = 30ms;
  FlowCensusCache cache(sink_, [this] { return snapshot_; });
  cache.start(1ms);
  std::this_thread::sleep_for(500ms);
  cache.stop();
  // Without the back-off: about 16 scans of 30 ms in 500 ms.
  EXPECT_LE(sink_.calls, 3u);
  EXPECT_GE(sink_.calls, 1u);
}

}  // namespace
}  // namespace sluice::control
