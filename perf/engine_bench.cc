// SPDX-License-Identifier: Apache-2.0
// Packets per second of one engine worker on one core, through
// Worker::process_burst with bursts of 32 (perf/README.md says how to read
// the numbers).
//
//   established   packets of 1,048,576 established flows in random order,
//                 flow table of 2M entries holding every one of them
//   new_flows     SYNs of never-seen flows into a full 2M-entry table (each
//                 insert evicts the stalest entry of its two buckets)
//   mix_90_10     the established stream with every tenth packet a new SYN
//   established_hot  4096 flows: everything in cache, for comparison
//   established_unfitted  like established, but the flows are not chosen to
//                 fit the table: the few percent whose bucket overflows miss
//                 and are re-inserted (evicting others) on every pass
//   census_1M     not a packet benchmark: one flow census (flow_census.h) of
//                 the established table, 1,048,576 live flows in 2M entries,
//                 as sluiced takes it off the worker about once a second
//
// Each has a `copy_only` twin that runs the same frame copy into the receive
// ring without the engine: the engine's own cost is the difference.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <memory>
#include <vector>

#include "dataplane/engine/engine.h"
#include "dataplane/engine/flow_census.h"
#include "dataplane/engine/flow_table.h"
#include "perf/bench_traffic.h"

namespace sluice::perf {
namespace {

constexpr uint32_t kEstablishedFlows = 1u << 20;
constexpr uint32_t kFlowCapacity = 1u << 21;
constexpr uint32_t kHotFlows = 4096;
constexpr uint32_t kHotCapacity = 1u << 14;
constexpr uint64_t kStartNs = 1'000'000'000;

engine::WorkerOptions worker_options(uint32_t flow_capacity) {
  engine::WorkerOptions o;
  o.flow_capacity = flow_capacity;
  return o;
}

// One worker with its traffic, built on first use and kept for every later
// run of the same benchmark (Google Benchmark calls a function many times).
struct Scenario {
  std::shared_ptr<const engine::Snapshot> snapshot = compile_bench_snapshot();
  engine::Worker worker;
  BufferRing ring;
  uint64_t now_ns = kStartNs;
  uint32_t cursor = 0;    // next established frame
  uint64_t counter = 0;   // next new SYN
  uint64_t position = 0;  // stream position (mix)

  explicit Scenario(uint32_t capacity) : worker(worker_options(capacity)) {}
};

const EstablishedFlows& big_flows() {
  static const EstablishedFlows flows(*compile_bench_snapshot(), kEstablishedFlows, kFlowCapacity);
  return flows;
}

const EstablishedFlows& unfitted_flows() {
  static const EstablishedFlows flows(*compile_bench_snapshot(), kEstablishedFlows, 0);
  return flows;
}

const EstablishedFlows& hot_flows() {
  static const EstablishedFlows flows(*compile_bench_snapshot(), kHotFlows, kHotCapacity);
  return flows;
}

const NewFlowSource& new_source() {
  static const NewFlowSource source;
  return source;
}

// A worker warmed with every flow of `flows` (all established).
std::unique_ptr<Scenario> warmed(const EstablishedFlows& flows, uint32_t capacity) {
  auto s = std::make_unique<Scenario>(capacity);
  if (s->worker.flows().capacity() != capacity) std::abort();
  const uint64_t misses = warm_up(s->worker, *s->snapshot, flows, s->now_ns);
  if (misses != 0) {
    std::fprintf(stderr, "warm-up: %llu of %u flows were evicted (bucket overflow)\n",
                 static_cast<unsigned long long>(misses), flows.size());
  }
  return s;
}

Scenario& established_scenario() {
  static std::unique_ptr<Scenario> s = warmed(big_flows(), kFlowCapacity);
  return *s;
}

Scenario& unfitted_scenario() {
  static std::unique_ptr<Scenario> s = [] {
    auto u = warmed(unfitted_flows(), kFlowCapacity);
    // One more pass, untimed: the steady state of misses and re-inserts.
    engine::Packet packets[kBurst];
    engine::Verdict verdicts[kBurst];
    for (uint32_t i = 0; i < kEstablishedFlows / kBurst; ++i) {
      fill_established(u->ring, unfitted_flows(), u->cursor, packets);
      u->worker.process_burst(u->snapshot.get(), packets, verdicts, kBurst, u->now_ns);
      u->now_ns += kNsPerBurst;
    }
    return u;
  }();
  return *s;
}

Scenario& hot_scenario() {
  static std::unique_ptr<Scenario> s = warmed(hot_flows(), kHotCapacity);
  return *s;
}

Scenario& new_scenario() {
  static std::unique_ptr<Scenario> s = [] {
    auto n = std::make_unique<Scenario>(kFlowCapacity);
    // Fill the table first: the steady state of a busy balancer is a full
    // table where every new flow evicts a stale one.
    engine::Packet packets[kBurst];
    engine::Verdict verdicts[kBurst];
    for (uint32_t i = 0; i < kFlowCapacity / kBurst; ++i) {
      fill_new(n->ring, new_source(), n->counter, packets);
      n->worker.process_burst(n->snapshot.get(), packets, verdicts, kBurst, n->now_ns);
      n->now_ns += kNsPerBurst;
    }
    return n;
  }();
  return *s;
}

Scenario& mix_scenario() {
  static std::unique_ptr<Scenario> s = [] {
    auto m = warmed(big_flows(), kFlowCapacity);
    // Two passes of the mixed stream so that the table reaches its steady
    // state (new flows have filled the free slots and started evicting).
    engine::Packet packets[kBurst];
    engine::Verdict verdicts[kBurst];
    for (uint32_t i = 0; i < 2 * kEstablishedFlows / kBurst; ++i) {
      fill_mix(m->ring, big_flows(), new_source(), m->position, m->cursor, m->counter, packets);
      m->worker.process_burst(m->snapshot.get(), packets, verdicts, kBurst, m->now_ns);
      m->now_ns += kNsPerBurst;
    }
    return m;
  }();
  return *s;
}

// Time per packet and packets per second (items_per_second), plus what the worker's counters say
// about the packets of this run.
void report(benchmark::State& state, const Scenario* s, const engine::WorkerCounters* before,
            const engine::FlowTableStats* table_before) {
  const double packets = static_cast<double>(state.iterations()) * kBurst;
  state.SetItemsProcessed(static_cast<int64_t>(packets));
  // Seconds per packet: the console prints it with an SI prefix ("31.2ns").
  state.counters["time_per_pkt"] =
      benchmark::Counter(packets, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  if (!s) return;
  const engine::WorkerCounters& now = s->worker.counters();
  const double rx = static_cast<double>(now.rx_packets - before->rx_packets);
  if (now.forwarded - before->forwarded != now.rx_packets - before->rx_packets) {
    state.SkipWithError("some packets were not forwarded: the traffic is wrong");
    return;
  }
  state.counters["hit_pct"] = 100.0 * static_cast<double>(now.flow_hits - before->flow_hits) / rx;
  const engine::FlowTableStats t = s->worker.flows().stats();
  state.counters["evict_pct"] =
      100.0 * static_cast<double>(t.evictions - table_before->evictions) / rx;
  state.counters["bytes_per_entry"] = static_cast<double>(engine::FlowTable::bytes_per_entry());
}

template <typename Fill>
void run_engine(benchmark::State& state, Scenario& s, Fill fill) {
  engine::Packet packets[kBurst];
  engine::Verdict verdicts[kBurst];
  const engine::WorkerCounters before = s.worker.counters();
  const engine::FlowTableStats table_before = s.worker.flows().stats();
  for (auto _ : state) {
    fill(packets);
    s.worker.process_burst(s.snapshot.get(), packets, verdicts, kBurst, s.now_ns);
    s.now_ns += kNsPerBurst;
    benchmark::DoNotOptimize(verdicts);
  }
  report(state, &s, &before, &table_before);
}

template <typename Fill>
void run_copy_only(benchmark::State& state, Fill fill) {
  engine::Packet packets[kBurst];
  for (auto _ : state) {
    fill(packets);
    benchmark::DoNotOptimize(packets);
    benchmark::ClobberMemory();
  }
  report(state, nullptr, nullptr, nullptr);
}

void BM_established(benchmark::State& state) {
  Scenario& s = established_scenario();
  run_engine(state, s,
             [&](engine::Packet* p) { fill_established(s.ring, big_flows(), s.cursor, p); });
}

void BM_established_copy_only(benchmark::State& state) {
  Scenario& s = established_scenario();
  run_copy_only(state,
                [&](engine::Packet* p) { fill_established(s.ring, big_flows(), s.cursor, p); });
}

void BM_new_flows(benchmark::State& state) {
  Scenario& s = new_scenario();
  run_engine(state, s, [&](engine::Packet* p) { fill_new(s.ring, new_source(), s.counter, p); });
}

void BM_new_flows_copy_only(benchmark::State& state) {
  // Its own counter range, so the engine benchmark never sees these SYNs.
  static BufferRing ring;
  static uint64_t counter = uint64_t{1} << 40;
  run_copy_only(state, [&](engine::Packet* p) { fill_new(ring, new_source(), counter, p); });
}

void BM_mix_90_10(benchmark::State& state) {
  Scenario& s = mix_scenario();
  run_engine(state, s, [&](engine::Packet* p) {
    fill_mix(s.ring, big_flows(), new_source(), s.position, s.cursor, s.counter, p);
  });
}

void BM_mix_90_10_copy_only(benchmark::State& state) {
  static BufferRing ring;
  static uint64_t position = 0;
  static uint32_t cursor = 0;
  static uint64_t counter = uint64_t{1} << 40;
  run_copy_only(state, [&](engine::Packet* p) {
    fill_mix(ring, big_flows(), new_source(), position, cursor, counter, p);
  });
}

void BM_established_hot(benchmark::State& state) {
  Scenario& s = hot_scenario();
  run_engine(state, s,
             [&](engine::Packet* p) { fill_established(s.ring, hot_flows(), s.cursor, p); });
}

void BM_established_hot_copy_only(benchmark::State& state) {
  Scenario& s = hot_scenario();
  run_copy_only(state,
                [&](engine::Packet* p) { fill_established(s.ring, hot_flows(), s.cursor, p); });
}

void BM_established_unfitted(benchmark::State& state) {
  Scenario& s = unfitted_scenario();
  run_engine(state, s,
             [&](engine::Packet* p) { fill_established(s.ring, unfitted_flows(), s.cursor, p); });
}

// One census of the established table. `ns_per_flow` is also the number
// of milliseconds per million live flows.
void BM_census_1M(benchmark::State& state) {
  Scenario& s = established_scenario();
  const auto now_ms = static_cast<uint32_t>(s.now_ns / 1000000);
  uint64_t flows = 0;
  for (auto _ : state) {
    const std::vector<engine::SlotFlows> census =
        engine::census_flows(s.worker.flows(), *s.snapshot, now_ms);
    flows = 0;
    for (const engine::SlotFlows& f : census) flows += f.flows;
    benchmark::DoNotOptimize(flows);
  }
  if (flows != s.worker.flows().occupied()) {
    state.SkipWithError("the census missed live flows");
    return;
  }
  state.counters["flows"] = static_cast<double>(flows);
  state.counters["entries"] = static_cast<double>(s.worker.flows().capacity());
  state.counters["ns_per_flow"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * static_cast<double>(flows),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

BENCHMARK(BM_established);
BENCHMARK(BM_established_copy_only);
BENCHMARK(BM_new_flows);
BENCHMARK(BM_new_flows_copy_only);
BENCHMARK(BM_mix_90_10);
BENCHMARK(BM_mix_90_10_copy_only);
BENCHMARK(BM_established_hot);
BENCHMARK(BM_established_hot_copy_only);
BENCHMARK(BM_established_unfitted);
BENCHMARK(BM_census_1M)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sluice::perf

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::printf("flow table: %zu bytes per entry; %u-entry tables (%zu MiB) for the big scenarios\n",
              sluice::engine::FlowTable::bytes_per_entry(), sluice::perf::kFlowCapacity,
              sluice::engine::FlowTable::bytes_per_entry() * sluice::perf::kFlowCapacity >> 20);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
