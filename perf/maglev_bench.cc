// SPDX-License-Identifier: Apache-2.0
// Time to build one weighted Maglev table (build_maglev_table), the work the
// control plane does per pool whenever a pool's backends or weights change,
// and to compile the whole benchmark configuration into a Snapshot.
//
//   maglev_build/<backends>/<M>           equal weights
//   maglev_build_weighted/<backends>/<M>  weights 1..100
//   snapshot_compile                      perf/bench_traffic.h's 4 services
#include <benchmark/benchmark.h>

#include <vector>

#include "dataplane/engine/config.h"
#include "dataplane/engine/maglev.h"
#include "dataplane/engine/snapshot.h"
#include "perf/bench_traffic.h"

namespace sluice::perf {
namespace {

constexpr sluice_hash_seed kSeed = {0x0123456789abcdefULL, 0x0fedcba987654321ULL};

std::vector<engine::MaglevBackend> backends(uint32_t n, bool weighted) {
  std::vector<engine::MaglevBackend> v;
  for (uint32_t i = 1; i <= n; ++i) {
    // Weights cycle through 1..100 so quotas differ widely.
    const uint32_t w = weighted ? 1 + (i * 37) % 100 : 1;
    v.push_back({engine::IpAddress::v4(10, static_cast<uint8_t>(i >> 16),
                                       static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)),
                 w});
  }
  return v;
}

void run_build(benchmark::State& state, bool weighted) {
  const std::vector<engine::MaglevBackend> b =
      backends(static_cast<uint32_t>(state.range(0)), weighted);
  const auto m = static_cast<uint32_t>(state.range(1));
  for (auto _ : state) {
    std::vector<uint32_t> table = engine::build_maglev_table(b, m, kSeed);
    benchmark::DoNotOptimize(table.data());
  }
  state.counters["time_per_slot"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * m,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_maglev_build(benchmark::State& state) { run_build(state, false); }
void BM_maglev_build_weighted(benchmark::State& state) { run_build(state, true); }

void BM_snapshot_compile(benchmark::State& state) {
  const engine::EngineConfig config = bench_config();
  engine::SnapshotCompiler compiler;
  uint64_t generation = 1;
  for (auto _ : state) {
    engine::SnapshotCompiler::Result r = compiler.compile(config, generation++);
    if (!r.snapshot) {
      state.SkipWithError("the benchmark configuration does not compile");
      break;
    }
    benchmark::DoNotOptimize(r.snapshot.get());
  }
}

BENCHMARK(BM_maglev_build)
    ->ArgNames({"backends", "M"})
    ->Args({10, 65537})
    ->Args({100, 65537})
    ->Args({1000, 65537})
    ->Args({1000, 655373})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_maglev_build_weighted)
    ->ArgNames({"backends", "M"})
    ->Args({1000, 65537})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_snapshot_compile)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sluice::perf

BENCHMARK_MAIN();
