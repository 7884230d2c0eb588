// Tests of dataplane/xdp/xdp_publisher.h on the real maps (program loaded
// through its skeleton, not attached): generation acknowledgements.
#include "dataplane/xdp/xdp_publisher.h"

#include <bpf/libbpf.h>

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

#include "tests/dataplane/xdp/xdp_test_support.h"

namespace sluice::xdp {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class XdpPublisherTest : public test::LoadedProgramTest {
 protected:
  std::shared_ptr<const engine::Snapshot> snapshot(uint64_t generation) {
    return test::compile(compiler_, config_, generation);
  }

  engine::SnapshotCompiler compiler_;
  engine::EngineConfig config_ = test::sample_config();
};

// Once publish() returns, the generation is applied on every possible CPU.
TEST_F(XdpPublisherTest, PublishedGenerationIsAppliedOnEveryCpu) {
  XdpPublisher publisher(maps_);
  EXPECT_EQ(publisher.published_generation(), 0u);
  EXPECT_EQ(publisher.current(), nullptr);
  EXPECT_FALSE(publisher.wait_applied(1, Clock::now()));
  auto snap = snapshot(3);
  publisher.publish(snap);
  EXPECT_EQ(publisher.published_generation(), 3u);
  EXPECT_EQ(publisher.current(), snap);
  EXPECT_TRUE(publisher.wait_applied(3, Clock::now()));
  EXPECT_TRUE(publisher.wait_applied(2, Clock::now()));
  const std::vector<uint64_t> gens = publisher.worker_generations();
  ASSERT_EQ(gens.size(), static_cast<size_t>(libbpf_num_possible_cpus()));
  for (uint64_t g : gens) EXPECT_EQ(g, 3u);
}

// A generation not yet published is not reported applied: wait_applied
// waits until its deadline, then says no.
TEST_F(XdpPublisherTest, WaitForUnpublishedGenerationTimesOut) {
  XdpPublisher publisher(maps_);
  publisher.publish(snapshot(1));
  const auto start = Clock::now();
  EXPECT_FALSE(publisher.wait_applied(2, start + 50ms));
  EXPECT_GE(Clock::now() - start, 50ms);
}

// A waiter wakes when another thread publishes the generation it waits for.
TEST_F(XdpPublisherTest, WaiterWakesOnPublication) {
  XdpPublisher publisher(maps_);
  publisher.publish(snapshot(1));
  auto waiter = std::async(std::launch::async,
                           [&publisher] { return publisher.wait_applied(2, Clock::now() + 10s); });
  EXPECT_EQ(waiter.wait_for(30ms), std::future_status::timeout);
  publisher.publish(snapshot(2));
  ASSERT_EQ(waiter.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(waiter.get());
}

// Publications from several threads are serialised; every one is applied
// and the last generation wins.
TEST_F(XdpPublisherTest, ConcurrentPublicationsAreSerialised) {
  XdpPublisher publisher(maps_);
  std::vector<std::shared_ptr<const engine::Snapshot>> snaps;
  for (uint64_t g = 1; g <= 8; ++g) snaps.push_back(snapshot(g));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&publisher, &snaps, t] {
      publisher.publish(snaps[static_cast<size_t>(t)]);
      publisher.publish(snaps[static_cast<size_t>(t + 4)]);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_TRUE(publisher.wait_applied(5, Clock::now()));
  EXPECT_GE(publisher.published_generation(), 5u);
}

// A refused publication (too big for the maps) leaves the previous
// generation applied and reports the new one as not applied.
TEST_F(XdpPublisherTest, RefusedPublicationIsNotApplied) {
  XdpPublisher publisher(maps_);
  publisher.publish(snapshot(1));
  config_.services[0].maglev_table_size = 655373;  // 2 pools: 1.3M entries
  for (int i = 0; i < 3; ++i) {
    engine::ServiceConfig more = config_.services[0];
    more.name = "big" + std::to_string(i);
    more.port = static_cast<uint16_t>(1000 + i);
    config_.services.push_back(more);
  }
  auto big = snapshot(2);
  EXPECT_FALSE(publisher.check(*big).empty());
  EXPECT_THROW(publisher.publish(big), XdpError);
  EXPECT_FALSE(publisher.wait_applied(2, Clock::now() + 10ms));
  EXPECT_EQ(publisher.published_generation(), 1u);
  for (uint64_t g : publisher.worker_generations()) EXPECT_EQ(g, 1u);
  EXPECT_THROW(publisher.publish(nullptr), XdpError);
}

// A new publisher on maps configured earlier (a restarted sluiced) starts
// from their generation.
TEST_F(XdpPublisherTest, NewPublisherStartsFromTheMapsGeneration) {
  {
    XdpPublisher first(maps_);
    first.publish(snapshot(41));
  }
  XdpPublisher second(maps_);
  EXPECT_EQ(second.published_generation(), 41u);
  EXPECT_TRUE(second.wait_applied(41, Clock::now()));
  second.publish(snapshot(42));
  EXPECT_TRUE(second.wait_applied(42, Clock::now()));
}

// What an adopting sluiced compares its saved state with: the snapshot
// generation the maps forward with, also after a bump put the root's
// generation above it (a restart republishing the same revision).
TEST_F(XdpPublisherTest, FoundSnapshotGenerationSurvivesABump) {
  EXPECT_EQ(XdpPublisher(maps_).found_snapshot_generation(), 0u);  // nothing configured
  {
    XdpPublisher first(maps_);
    first.publish(snapshot(30));
  }
  {
    XdpPublisher restarted(maps_);
    EXPECT_EQ(restarted.found_snapshot_generation(), 30u);
    restarted.publish(snapshot(30));  // the same revision again: root 31
    EXPECT_EQ(restarted.published_generation(), 30u);
  }
  XdpPublisher again(maps_);
  EXPECT_EQ(again.published_generation(), 31u);  // the root's
  EXPECT_EQ(again.found_snapshot_generation(), 30u);
  const uint64_t big = (uint64_t{7} << 32) + 5;  // both halves
  again.publish(snapshot(big));
  EXPECT_EQ(XdpPublisher(maps_).found_snapshot_generation(), big);
}

}  // namespace
}  // namespace sluice::xdp
