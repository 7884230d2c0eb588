// SPDX-License-Identifier: Apache-2.0
// SnapshotPublisher with real DPDK lcores: workers launched with
// rte_eal_remote_launch run a loop of current() + quiescent() as the
// poll-mode workers do, and can be told to stall (keep a snapshot and stop
// reporting quiescent states) to check that nothing they may still read is
// freed, and that wait_applied() waits for them.
//
// One EAL per process, so this program has its own main(): it starts EAL
// once (--no-huge, no devices) and exits 77, which meson reports as
// skipped, where that fails (no DPDK, no permission).
#include "dataplane/dpdk/snapshot_publisher.h"
#include "tests/dataplane/dpdk/eal_test_support.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_pause.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "dataplane/engine/snapshot.h"

namespace sluice::dpdk {
namespace {

using ::testing::ElementsAre;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr uint32_t kWorkers = 2;  // lcores 1 and 2

// One test worker: an lcore looping over current() + quiescent().
struct TestWorker {
  SnapshotPublisher* publisher = nullptr;
  uint32_t id = 0;
  std::atomic<bool> stop{false};
  std::atomic<bool> stall{false};    // asked to hold its snapshot and stop reporting
  std::atomic<bool> stalled{false};  // it is holding it now
  std::atomic<uint64_t> held_generation{0};  // generation of the held snapshot, read while held
  std::atomic<uint64_t> iterations{0};
  std::atomic<bool> went_backwards{false};  // saw an older generation after a newer one
};

int test_worker_main(void* arg) {
  TestWorker& w = *static_cast<TestWorker*>(arg);
  w.publisher->worker_online(w.id);
  uint64_t last = 0;
  while (!w.stop.load(std::memory_order_acquire)) {
    const engine::Snapshot* s = w.publisher->current();
    const uint64_t generation = s ? s->generation() : 0;
    if (generation < last) w.went_backwards.store(true);
    last = generation;
    if (w.stall.load(std::memory_order_acquire)) {
      // A stalled worker keeps using `s` and reports nothing: the snapshot
      // must stay alive however many times the control side reclaims.
      w.held_generation.store(generation);
      w.stalled.store(true, std::memory_order_release);
      while (w.stall.load(std::memory_order_acquire) && !w.stop.load(std::memory_order_acquire)) {
        if (s) w.held_generation.store(s->generation());
        rte_pause();
        sched_yield();
      }
      w.stalled.store(false, std::memory_order_release);
    }
    w.publisher->quiescent(w.id, generation);
    w.iterations.fetch_add(1, std::memory_order_release);
    sched_yield();  // three lcores may share two CPUs
  }
  w.publisher->worker_offline(w.id);
  return 0;
}

// Polls `done` until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(200us);
  }
  return true;
}

class SnapshotPublisherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unsigned lcore;
    RTE_LCORE_FOREACH_WORKER(lcore) { lcores_.push_back(lcore); }
    ASSERT_GE(lcores_.size(), kWorkers);
    publisher_ = std::make_unique<SnapshotPublisher>(kWorkers);
    for (uint32_t i = 0; i < kWorkers; ++i) {
      workers_.push_back(std::make_unique<TestWorker>());
      workers_[i]->publisher = publisher_.get();
      workers_[i]->id = i;
    }
  }

  void TearDown() override {
    for (uint32_t i = 0; i < kWorkers; ++i) stop(i);
    publisher_.reset();
  }

  // Starts worker `id` on its lcore and waits until it has looped once.
  void launch(uint32_t id) {
    ASSERT_EQ(rte_eal_remote_launch(test_worker_main, workers_[id].get(), lcores_[id]), 0);
    launched_[id] = true;
    ASSERT_TRUE(eventually([&] { return workers_[id]->iterations.load() > 0; }));
  }

  void stop(uint32_t id) {
    if (!launched_[id]) return;
    workers_[id]->stall.store(false);
    workers_[id]->stop.store(true);
    rte_eal_wait_lcore(lcores_[id]);
    launched_[id] = false;
  }

  // Asks worker `id` to stall and waits until it holds its snapshot.
  void stall(uint32_t id) {
    workers_[id]->stall.store(true);
    ASSERT_TRUE(eventually([&] { return workers_[id]->stalled.load(); }));
  }

  void resume(uint32_t id) { workers_[id]->stall.store(false); }

  std::shared_ptr<const engine::Snapshot> snapshot(uint64_t generation) {
    engine::SnapshotCompiler::Result r = compiler_.compile(engine::EngineConfig{}, generation);
    EXPECT_TRUE(r.errors.empty());
    return r.snapshot;
  }

  // Reclaims until `freed` is expired (true) or the timeout passes.
  bool reclaimed(const std::weak_ptr<const engine::Snapshot>& freed,
                 std::chrono::milliseconds timeout = 10s) {
    return eventually(
        [&] {
          publisher_->reclaim();
          return freed.expired();
        },
        timeout);
  }

  std::vector<unsigned> lcores_;
  std::unique_ptr<SnapshotPublisher> publisher_;
  std::vector<std::unique_ptr<TestWorker>> workers_;
  bool launched_[kWorkers] = {};
  engine::SnapshotCompiler compiler_;
};

// Nothing published: no current snapshot, generation 0, nothing retired.
TEST_F(SnapshotPublisherTest, InitiallyEmpty) {
  EXPECT_EQ(publisher_->current(), nullptr);
  EXPECT_EQ(publisher_->published_generation(), 0u);
  EXPECT_EQ(publisher_->retired_count(), 0u);
  EXPECT_THAT(publisher_->worker_generations(), ElementsAre(0u, 0u));
}

// publish() makes a snapshot current; the one it replaces is retired, not freed.
TEST_F(SnapshotPublisherTest, PublishMakesCurrentAndRetiresPrevious) {
  auto first = snapshot(1);
  const engine::Snapshot* first_raw = first.get();
  std::weak_ptr<const engine::Snapshot> first_weak = first;
  publisher_->publish(std::move(first));
  EXPECT_EQ(publisher_->current(), first_raw);
  EXPECT_EQ(publisher_->published_generation(), 1u);
  EXPECT_EQ(publisher_->retired_count(), 0u);
  EXPECT_FALSE(first_weak.expired());  // the publisher owns the current one

  auto second = snapshot(2);
  const engine::Snapshot* second_raw = second.get();
  publisher_->publish(std::move(second));
  EXPECT_EQ(publisher_->current(), second_raw);
  EXPECT_EQ(publisher_->published_generation(), 2u);
  EXPECT_EQ(publisher_->retired_count(), 1u);
  EXPECT_FALSE(first_weak.expired());  // retired, still owned until reclaim
}

// Publishing null stops serving any snapshot and retires the current one.
TEST_F(SnapshotPublisherTest, PublishNullRetiresCurrent) {
  publisher_->publish(snapshot(1));
  publisher_->publish(nullptr);
  EXPECT_EQ(publisher_->current(), nullptr);
  EXPECT_EQ(publisher_->published_generation(), 0u);
  EXPECT_EQ(publisher_->retired_count(), 1u);
}

// With no worker online, reclaim frees every retired snapshot at once and
// keeps the current one.
TEST_F(SnapshotPublisherTest, ReclaimWithoutWorkersFreesAtOnce) {
  auto first = snapshot(1);
  auto second = snapshot(2);
  std::weak_ptr<const engine::Snapshot> first_weak = first, second_weak = second;
  publisher_->publish(std::move(first));
  publisher_->publish(std::move(second));
  publisher_->publish(snapshot(3));
  EXPECT_EQ(publisher_->retired_count(), 2u);
  publisher_->reclaim();
  EXPECT_EQ(publisher_->retired_count(), 0u);
  EXPECT_TRUE(first_weak.expired());
  EXPECT_TRUE(second_weak.expired());
  ASSERT_NE(publisher_->current(), nullptr);
  EXPECT_EQ(publisher_->current()->generation(), 3u);
}

// quiescent() records the generation a worker reports, from any thread;
// wait_applied() compares it, and an offline worker no longer counts.
TEST_F(SnapshotPublisherTest, QuiescentRecordsGeneration) {
  publisher_->worker_online(0);
  publisher_->quiescent(0, 9);
  EXPECT_THAT(publisher_->worker_generations(), ElementsAre(9u, 0u));
  EXPECT_TRUE(publisher_->wait_applied(9, 0ms));
  EXPECT_TRUE(publisher_->wait_applied(8, 0ms));
  EXPECT_FALSE(publisher_->wait_applied(10, 10ms));
  publisher_->worker_offline(0);
  EXPECT_TRUE(publisher_->wait_applied(10, 0ms));
  // The last report stays visible after going offline.
  EXPECT_THAT(publisher_->worker_generations(), ElementsAre(9u, 0u));
}

// wait_applied() is true once every running worker reports the generation.
TEST_F(SnapshotPublisherTest, WaitAppliedOnceWorkersReport) {
  launch(0);
  launch(1);
  publisher_->publish(snapshot(1));
  EXPECT_TRUE(publisher_->wait_applied(1, 10s));
  EXPECT_THAT(publisher_->worker_generations(), ElementsAre(1u, 1u));
  publisher_->publish(snapshot(2));
  EXPECT_TRUE(publisher_->wait_applied(2, 10s));
  EXPECT_THAT(publisher_->worker_generations(), ElementsAre(2u, 2u));
  // An older generation is already applied.
  EXPECT_TRUE(publisher_->wait_applied(1, 0ms));
}

// A stalled worker makes wait_applied() time out, after the whole timeout,
// while the other worker has moved on; once it resumes the wait succeeds.
TEST_F(SnapshotPublisherTest, WaitAppliedTimesOutOnStalledWorker) {
  launch(0);
  launch(1);
  publisher_->publish(snapshot(1));
  ASSERT_TRUE(publisher_->wait_applied(1, 10s));
  stall(1);
  publisher_->publish(snapshot(2));
  ASSERT_TRUE(eventually([&] { return publisher_->worker_generations()[0] == 2; }));
  const auto start = Clock::now();
  EXPECT_FALSE(publisher_->wait_applied(2, 200ms));
  EXPECT_GE(Clock::now() - start, 200ms);
  EXPECT_THAT(publisher_->worker_generations(), ElementsAre(2u, 1u));
  resume(1);
  EXPECT_TRUE(publisher_->wait_applied(2, 10s));
  EXPECT_THAT(publisher_->worker_generations(), ElementsAre(2u, 2u));
}

// Workers that are not online (never started, or stopped) do not block wait_applied().
TEST_F(SnapshotPublisherTest, OfflineWorkersDoNotBlockWaitApplied) {
  launch(0);  // worker 1 never starts
  publisher_->publish(snapshot(1));
  EXPECT_TRUE(publisher_->wait_applied(1, 10s));
  EXPECT_THAT(publisher_->worker_generations(), ElementsAre(1u, 0u));
  stop(0);
  publisher_->publish(snapshot(2));
  // No worker online at all: nothing to wait for.
  EXPECT_TRUE(publisher_->wait_applied(2, 0ms));
  EXPECT_THAT(publisher_->worker_generations(), ElementsAre(1u, 0u));
}

// A retired snapshot stays alive while a worker that may hold it is
// stalled, and is freed by reclaim() once that worker passes a quiescent state.
TEST_F(SnapshotPublisherTest, ReclaimWaitsForStalledWorker) {
  launch(0);
  launch(1);
  auto first = snapshot(1);
  std::weak_ptr<const engine::Snapshot> first_weak = first;
  publisher_->publish(std::move(first));
  ASSERT_TRUE(publisher_->wait_applied(1, 10s));
  stall(1);  // worker 1 now holds generation 1
  EXPECT_EQ(workers_[1]->held_generation.load(), 1u);

  publisher_->publish(snapshot(2));
  ASSERT_TRUE(eventually([&] { return publisher_->worker_generations()[0] == 2; }));
  EXPECT_FALSE(reclaimed(first_weak, 200ms));
  EXPECT_EQ(publisher_->retired_count(), 1u);
  EXPECT_FALSE(first_weak.expired());
  EXPECT_EQ(workers_[1]->held_generation.load(), 1u);  // still readable

  resume(1);
  EXPECT_TRUE(reclaimed(first_weak));
  EXPECT_EQ(publisher_->retired_count(), 0u);
  EXPECT_TRUE(publisher_->wait_applied(2, 10s));
}

// A worker that stopped (offline) does not keep retired snapshots alive.
TEST_F(SnapshotPublisherTest, ReclaimIgnoresOfflineWorker) {
  launch(0);
  launch(1);
  auto first = snapshot(1);
  std::weak_ptr<const engine::Snapshot> first_weak = first;
  publisher_->publish(std::move(first));
  ASSERT_TRUE(publisher_->wait_applied(1, 10s));
  stop(1);
  publisher_->publish(snapshot(2));
  EXPECT_TRUE(reclaimed(first_weak));
  EXPECT_EQ(publisher_->retired_count(), 0u);
}

// reclaim() frees in order and only what every worker is done with: with
// one worker stalled, nothing retired after its stall is freed either.
TEST_F(SnapshotPublisherTest, ReclaimKeepsEverythingAfterAStall) {
  launch(0);
  launch(1);
  publisher_->publish(snapshot(1));
  ASSERT_TRUE(publisher_->wait_applied(1, 10s));
  stall(0);
  std::vector<std::weak_ptr<const engine::Snapshot>> retired;
  for (uint64_t g = 2; g <= 5; ++g) {
    auto s = snapshot(g);
    if (g < 5) retired.push_back(s);
    publisher_->publish(std::move(s));
  }
  ASSERT_TRUE(eventually([&] { return publisher_->worker_generations()[1] == 5; }));
  for (int i = 0; i < 20; ++i) publisher_->reclaim();
  EXPECT_EQ(publisher_->retired_count(), 4u);  // generations 1..4
  for (const auto& w : retired) EXPECT_FALSE(w.expired());
  resume(0);
  ASSERT_TRUE(eventually([&] {
    publisher_->reclaim();
    return publisher_->retired_count() == 0;
  }));
  for (const auto& w : retired) EXPECT_TRUE(w.expired());
}

// Many publishes while both workers run: no crash, workers only ever see
// generations grow, every retired snapshot is eventually freed.
TEST_F(SnapshotPublisherTest, ManyPublishesWhileWorkersRun) {
  launch(0);
  launch(1);
  constexpr uint64_t kPublishes = 2000;
  std::vector<std::weak_ptr<const engine::Snapshot>> all;
  for (uint64_t g = 1; g <= kPublishes; ++g) {
    auto s = snapshot(g);
    all.push_back(s);
    publisher_->publish(std::move(s));
    if (g % 8 == 0) publisher_->reclaim();
  }
  EXPECT_EQ(publisher_->published_generation(), kPublishes);
  EXPECT_TRUE(publisher_->wait_applied(kPublishes, 10s));
  EXPECT_TRUE(eventually([&] {
    publisher_->reclaim();
    return publisher_->retired_count() == 0;
  }));
  for (uint64_t g = 1; g < kPublishes; ++g) EXPECT_TRUE(all[g - 1].expired()) << g;
  EXPECT_FALSE(all.back().expired());
  EXPECT_THAT(publisher_->worker_generations(), ElementsAre(kPublishes, kPublishes));
  for (const auto& w : workers_) {
    EXPECT_FALSE(w->went_backwards.load());
    EXPECT_GT(w->iterations.load(), 0u);
  }
}

// worker_generations() has one entry per worker slot, each the worker's own.
TEST_F(SnapshotPublisherTest, WorkerGenerationsPerWorker) {
  launch(1);  // only the second slot runs
  publisher_->publish(snapshot(5));
  ASSERT_TRUE(publisher_->wait_applied(5, 10s));
  EXPECT_THAT(publisher_->worker_generations(), ElementsAre(0u, 5u));
  launch(0);
  ASSERT_TRUE(eventually([&] { return publisher_->worker_generations()[0] == 5; }));
  publisher_->publish(snapshot(6));
  ASSERT_TRUE(publisher_->wait_applied(6, 10s));
  EXPECT_THAT(publisher_->worker_generations(), ElementsAre(6u, 6u));
}


}  // namespace
}  // namespace sluice::dpdk

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  // Lcores 0 (main) to 2 float over the allowed CPUs: "-l 0-2" would need
  // three CPUs, and CI machines have two.
  const std::string prefix = "sluice-test-" + std::to_string(getpid());
  const std::string cpus = "(" + sluice::dpdk::test::allowed_cpu_list() + ")";
  std::vector<std::string> args = {argv[0], "--no-huge", "-m", "256", "--no-pci",
                                   "--file-prefix", prefix,
                                   "--lcores", "0@" + cpus + ",1@" + cpus + ",2@" + cpus,
                                   "--main-lcore", "0", "--log-level", "3"};
  std::vector<char*> eal_argv;
  for (std::string& a : args) eal_argv.push_back(a.data());
  eal_argv.push_back(nullptr);
  if (rte_eal_init(static_cast<int>(args.size()), eal_argv.data()) < 0) {
    std::fprintf(stderr,
                 "snapshot_publisher_test: SKIPPED: EAL initialisation failed (%s); "
                 "it needs root (or CAP_SYS_ADMIN, CAP_IPC_LOCK) and DPDK\n",
                 rte_strerror(rte_errno));
    return 77;
  }
  // EAL's files: /var/run/dpdk/PREFIX as root, under XDG_RUNTIME_DIR or /tmp otherwise.
  const std::string runtime_dir = rte_eal_get_runtime_dir();
  int rc = 0;
  if (rte_lcore_count() < 1 + sluice::dpdk::kWorkers) {
    std::fprintf(stderr, "snapshot_publisher_test: SKIPPED: EAL gave %u lcores, 3 needed\n",
                 rte_lcore_count());
    rc = 77;
  } else {
    rc = RUN_ALL_TESTS();
  }
  rte_eal_cleanup();
  std::error_code ignored;
  std::filesystem::remove_all(runtime_dir, ignored);
  return rc;
}
