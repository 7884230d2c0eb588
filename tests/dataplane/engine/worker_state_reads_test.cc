// SPDX-License-Identifier: Apache-2.0
// Reads of a worker's state from another thread while the worker changes it
// (issue 11, item 5): the sequence counter (seqlock.h), the circuit table's
// slots (circuit.h, read_circuit/read_state), and the engine's counters and
// circuit statistics (relaxed.h, read_counters). Each test runs a writer
// thread and a reader thread for a fixed amount of work, not for a time.
// The checks catch torn records on any build; the ThreadSanitizer build
// (tools/test, build-tsan) also catches every plain access that races.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

#include "dataplane/engine/circuit.h"
#include "dataplane/engine/seqlock.h"
#include "tests/dataplane/engine/engine_fixture.h"

namespace sluice::engine {
namespace {

struct RaceCount {
  uint64_t steps = 0;
  uint64_t reads = 0;
  uint64_t overlapped = 0;  // reads during which the writer made a step
};

// Runs step(0), step(1), ... on a writer thread and reader() on this one
// until the writer has made min_steps steps and `overlaps` reads overlapped
// a step (the writer's step count moved while reader() ran): a count of
// work done at the same time, not a time. max_steps bounds it: on a loaded
// machine (or a CPU quota) the two threads may mostly take turns on one
// CPU, and then few reads overlap a write. That is why the torn-read checks
// are not the only guard: the protocol tests below are deterministic, and
// under ThreadSanitizer (build-tsan) any plain access that races is
// reported whether or not the threads ran at the same moment.
template <typename Step, typename Reader>
RaceCount race(uint64_t min_steps, uint64_t overlaps, uint64_t max_steps, Step&& step,
               Reader&& reader) {
  std::atomic<bool> ready{false}, done{false};
  std::atomic<uint64_t> steps{0}, overlapped{0};
  std::thread w([&] {
    while (!ready.load(std::memory_order_acquire)) std::this_thread::yield();
    for (uint64_t i = 0; i < max_steps; ++i) {
      if (i >= min_steps && overlapped.load(std::memory_order_relaxed) >= overlaps) break;
      step(i);
      steps.store(i + 1, std::memory_order_relaxed);
    }
    done.store(true, std::memory_order_release);
  });
  ready.store(true, std::memory_order_release);
  uint64_t reads = 0;
  while (!done.load(std::memory_order_acquire)) {
    const uint64_t before = steps.load(std::memory_order_relaxed);
    reader();
    ++reads;
    if (steps.load(std::memory_order_relaxed) != before) {
      overlapped.fetch_add(1, std::memory_order_relaxed);
    }
  }
  w.join();
  const RaceCount n{steps.load(), reads, overlapped.load()};
  if (n.overlapped < overlaps) {
    std::printf("note: only %llu of %llu reads overlapped a write (busy machine)\n",
                static_cast<unsigned long long>(n.overlapped),
                static_cast<unsigned long long>(n.reads));
  }
  return n;
}

// Ten words a write sets to one value: a copy with two values is torn.
struct Record {
  std::array<uint64_t, 10> words{};
};

// The protocol, step by step: a read that began before a write, or during
// one, is never valid; a read with no write since it began is.
TEST(WorkerStateReads, SeqlockProtocol) {
  SeqCount seq;
  Record shared;
  uint32_t begin = seq.read_begin();
  EXPECT_TRUE(seq.read_valid(begin));

  begin = seq.read_begin();
  seq.write_begin();
  seq.write_end();
  EXPECT_FALSE(seq.read_valid(begin)) << "a write between begin and check went unnoticed";

  seq.write_begin();
  begin = seq.read_begin();
  EXPECT_FALSE(seq.read_valid(begin)) << "a read begun during a write was accepted";
  Record out;
  EXPECT_FALSE(seq_read(seq, shared, &out)) << "a write in progress must be skipped, not read";
  Record r;
  r.words.fill(9);
  seq_store(shared, r);
  seq.write_end();
  ASSERT_TRUE(seq_read(seq, shared, &out));
  EXPECT_EQ(out.words, r.words);
  EXPECT_EQ(seq.writes(), 2u);
}

// Every change of a slot is one write of the table's sequence (what makes
// readers retry), and an admission that changes nothing is none.
TEST(WorkerStateReads, EveryCircuitChangeIsSequenced) {
  CircuitTable table(8);
  CircuitPolicy p;
  p.consecutive_failures = 2;
  uint32_t changes = table.changes();
  auto changed = [&] {
    const uint32_t now = table.changes();
    const bool moved = now != changes;
    changes = now;
    return moved;
  };
  table.record_failure(1, 100, p, 10, 0, 3, SLUICE_HEALTH_UNKNOWN);  // claims a slot
  EXPECT_TRUE(changed());
  EXPECT_TRUE(table.admit(1, 100, p, SLUICE_HEALTH_UNKNOWN));  // closed: nothing to change
  EXPECT_FALSE(changed());
  table.record_failure(1, 100, p, 10, 0, 5, SLUICE_HEALTH_UNKNOWN);  // opens
  EXPECT_TRUE(changed());
  EXPECT_FALSE(table.admit(1, 200, p, SLUICE_HEALTH_UNKNOWN));  // still open
  EXPECT_FALSE(changed());
  EXPECT_TRUE(table.admit(1, 100 + p.base_ejection_ms, p, SLUICE_HEALTH_UNKNOWN));  // half-open
  EXPECT_TRUE(changed());
  table.record_failure(2, 100, p, 10, 0, 3, SLUICE_HEALTH_UNKNOWN);
  EXPECT_TRUE(changed());
  table.record_success(2, 100, p, 3, SLUICE_HEALTH_UNKNOWN);  // released
  EXPECT_TRUE(changed());
  EXPECT_EQ(table.tracked(), 1u);
  CircuitPolicy off = p;
  off.enabled = false;
  EXPECT_TRUE(table.admit(1, 100, off, SLUICE_HEALTH_UNKNOWN));  // forgotten
  EXPECT_TRUE(changed());
  EXPECT_EQ(table.tracked(), 0u);
}

// A reader of a record under a SeqCount sees only whole writes.
TEST(WorkerStateReads, SeqlockReaderNeverSeesATornRecord) {
  SeqCount seq;
  Record shared;
  uint64_t whole = 0, skipped = 0, torn = 0;
  const RaceCount n = race(
      10000, 2000, 30000000,
      [&](uint64_t i) {
        Record r;
        r.words.fill(i + 1);
        seq.write_begin();
        seq_store(shared, r);
        seq.write_end();
      },
      [&] {
        Record r;
        if (!seq_read(seq, shared, &r)) {
          ++skipped;
          return;
        }
        ++whole;
        for (uint64_t w : r.words) torn += w != r.words[0];
      });
  EXPECT_EQ(torn, 0u) << "of " << whole << " whole reads";
  EXPECT_GT(whole, 0u);
  EXPECT_EQ(seq.writes(), n.steps);
  RecordProperty("whole", static_cast<int>(whole));
  RecordProperty("overlapped", static_cast<int>(n.overlapped));
  RecordProperty("skipped", static_cast<int>(skipped));
}

// Whether a circuit read off the table is one that record_failure could
// have left, in the test below: free, or closed after k failures from the
// sources 3, 5, ..., 2k+1 (the last four kept in a ring).
bool consistent(const sluice_circuit& c) {
  if (c.phase == SLUICE_CIRCUIT_FREE) {
    return c.consecutive_failures == 0 && c.next_source == 0 && c.sources[0] == 0;
  }
  const uint32_t k = c.consecutive_failures;
  if (c.phase != SLUICE_CIRCUIT_CLOSED || k == 0) return false;
  if (c.next_source != k % SLUICE_CIRCUIT_SOURCES) return false;
  for (uint32_t back = 0; back < SLUICE_CIRCUIT_SOURCES && back < k; ++back) {
    const uint32_t n = k - back;  // the n-th failure's source
    if (c.sources[(n - 1) % SLUICE_CIRCUIT_SOURCES] != 2 * n + 1) return false;
  }
  return true;
}

// The worker records failures on three backends of a small table (slots are
// claimed, changed in place and released with backward shifts) while the
// control thread reads them: every circuit it reads is one the worker wrote
// whole. A plain copy of an 80-byte slot mid-change mixes two writes.
TEST(WorkerStateReads, CircuitSlotsAreNeverReadTorn) {
  CircuitTable table(4);
  CircuitPolicy p;
  p.consecutive_failures = UINT32_MAX;  // never opens: failures just add up
  p.failure_window_ms = UINT32_MAX;
  constexpr std::array<uint64_t, 3> kFps = {0x1111, 0x2222, 0x3333};
  constexpr uint32_t kFailuresPerClaim = 24;
  uint64_t torn = 0, skipped = 0, seen_closed = 0;
  CircuitStats last{};
  uint64_t stats_backwards = 0;
  std::array<uint32_t, kFps.size()> k{};
  const RaceCount n = race(
      10000, 2000, 5000000,
      [&](uint64_t) {
        for (size_t i = 0; i < kFps.size(); ++i) {
          if (k[i] == kFailuresPerClaim) {
            // Closed with no ejections: the success releases the slot.
            table.record_success(kFps[i], 1000, p, 1, SLUICE_HEALTH_UNKNOWN);
            k[i] = 0;
            continue;
          }
          ++k[i];
          table.record_failure(kFps[i], 1000, p, 3, 0, 2 * k[i] + 1, SLUICE_HEALTH_UNKNOWN);
        }
      },
      [&] {
        for (uint64_t fp : kFps) {
          sluice_circuit c;
          if (!table.read_circuit(fp, &c)) {
            ++skipped;
            continue;
          }
          if (!consistent(c)) ++torn;
          seen_closed += c.phase == SLUICE_CIRCUIT_CLOSED;
        }
        const CircuitStats s = table.stats();
        stats_backwards += s.failures < last.failures || s.successes < last.successes;
        last = s;
        EXPECT_LE(table.tracked(), table.capacity());
      });
  EXPECT_EQ(torn, 0u) << "torn circuits in " << n.reads << " rounds of reads";
  EXPECT_EQ(stats_backwards, 0u);
  EXPECT_GT(seen_closed, 0u) << "the reader never overlapped the writer";
  EXPECT_EQ(table.stats().failures + table.stats().successes, n.steps * kFps.size());
  RecordProperty("skipped", static_cast<int>(skipped));
  RecordProperty("overlapped", static_cast<int>(n.overlapped));
}

// read_state answers what state() answers, once the writer is quiet.
TEST(WorkerStateReads, ReadStateAgreesWithState) {
  CircuitTable table(16);
  CircuitPolicy p;
  p.consecutive_failures = 2;
  for (uint32_t s = 1; s <= 3; ++s) table.record_failure(7, 100, p, 10, 0, 2 * s + 1, 0);
  table.record_failure(8, 100, p, 10, 0, 3, 0);
  for (uint64_t fp : {7, 8, 9}) {
    for (uint32_t now : {100u, 100u + p.base_ejection_ms}) {
      CircuitState read = CircuitState::kSuspected;
      ASSERT_TRUE(table.read_state(fp, now, &read));
      EXPECT_EQ(read, table.state(fp, now)) << fp << " at " << now;
    }
  }
  CircuitState open;
  ASSERT_TRUE(table.read_state(7, 100, &open));
  EXPECT_EQ(open, CircuitState::kOpen);
}

// The engine forwarding on one thread (new flows, then their SYNs retried,
// which open circuits) while the control thread copies its counters and
// reads its circuits: counts only grow, and (under ThreadSanitizer) no
// access races.
class WorkerReadsTest : public EngineTest {};

TEST_F(WorkerReadsTest, CountersAndCircuitsReadWhileForwarding) {
  constexpr uint32_t kClients = 256;
  std::vector<std::vector<uint8_t>> syns;
  for (uint32_t i = 0; i < kClients; ++i) {
    // One client per /24: each retried SYN is a failure from a new prefix.
    const std::string client = "10." + std::to_string(i / 250) + "." + std::to_string(i % 250) + ".7";
    syns.push_back(tcp(client.c_str(), 40000, SLUICE_TCP_SYN));
  }
  std::vector<uint64_t> fps;
  for (const CompiledBackend& b : web().backends) fps.push_back(b.fingerprint);
  uint64_t backwards = 0, not_closed = 0;
  WorkerCounters last;
  const RaceCount n = race(
      24, 50, 2000,
      [&](uint64_t round) {
        for (const auto& syn : syns) {
          Buffer b(syn);
          worker_.process_one(snapshot_.get(), b.pkt, (1000 + round * 700) * 1000000);
        }
      },
      [&] {
        const WorkerCounters c = read_counters(worker_.counters());
        backwards += c.rx_packets < last.rx_packets || c.new_flows < last.new_flows ||
                     c.connect_failures < last.connect_failures;
        uint64_t backend_packets = 0, last_backend_packets = 0;
        for (size_t i = 0; i < c.backends.size(); ++i) {
          backend_packets += c.backends[i].packets;
          if (i < last.backends.size()) last_backend_packets += last.backends[i].packets;
        }
        backwards += backend_packets < last_backend_packets;
        last = c;
        const uint32_t now = 1000 + 24 * 700;
        for (uint64_t fp : fps) {
          CircuitState s;
          if (worker_.circuits().read_state(fp, now, &s)) not_closed += s != CircuitState::kClosed;
        }
        (void)worker_.circuits().stats();
      });
  EXPECT_EQ(backwards, 0u) << "in " << n.reads << " reads";
  const WorkerCounters end = read_counters(worker_.counters());
  EXPECT_EQ(end.rx_packets, kClients * n.steps);
  EXPECT_GT(end.connect_failures, 0u);
  EXPECT_GT(worker_.circuits().stats().opened, 0u);
  RecordProperty("not_closed_seen", static_cast<int>(not_closed));
}

}  // namespace
}  // namespace sluice::engine
