// SPDX-License-Identifier: Apache-2.0
// A fixed amount of traffic through one worker, for counting instructions
// per packet with callgrind (this machine has no hardware counters, and the
// whole benchmark is far too slow under valgrind):
//
//   valgrind --tool=callgrind --collect-atstart=no
//     --toggle-collect=sluice_measure_established
//     --toggle-collect=sluice_measure_new --toggle-collect=sluice_measure_mix
//     --callgrind-out-file=engine.cg build-perf/perf/engine_instructions
//   (one command line; perf/README.md has it ready to paste)
//   callgrind_annotate --inclusive=yes engine.cg | grep sluice_measure
//
// Each sluice_measure_* function is exactly one process_burst call of 32
// packets; set-up, warm-up and the frame copies happen outside them, so the
// inclusive Ir of a function divided by the packet count printed for it is
// the engine's instructions per packet. Traffic is the benchmark's
// (bench_traffic.h) at a smaller scale: instruction counts do not depend on
// the table size, only cache misses do.
//
//   engine_instructions [PACKETS]   (default 100000 per phase)
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "dataplane/engine/engine.h"
#include "perf/bench_traffic.h"

namespace {

using namespace sluice;

constexpr uint32_t kCapacity = 1u << 18;

struct Burst {
  engine::Worker* worker;
  const engine::Snapshot* snapshot;
  engine::Packet packets[perf::kBurst];
  engine::Verdict verdicts[perf::kBurst];
  uint64_t now_ns;
};

uint64_t g_established_packets = 0;
uint64_t g_new_packets = 0;
uint64_t g_mix_packets = 0;

}  // namespace

// Named, unmangled and never inlined or merged, so callgrind can toggle
// collection on exactly these calls. Each bumps its own counter, which also
// keeps the compiler from folding the three identical calls into one.
extern "C" __attribute__((noinline)) void sluice_measure_established(Burst* b) {
  b->worker->process_burst(b->snapshot, b->packets, b->verdicts, perf::kBurst, b->now_ns);
  g_established_packets += perf::kBurst;
}

extern "C" __attribute__((noinline)) void sluice_measure_new(Burst* b) {
  b->worker->process_burst(b->snapshot, b->packets, b->verdicts, perf::kBurst, b->now_ns);
  g_new_packets += perf::kBurst;
}

extern "C" __attribute__((noinline)) void sluice_measure_mix(Burst* b) {
  b->worker->process_burst(b->snapshot, b->packets, b->verdicts, perf::kBurst, b->now_ns);
  g_mix_packets += perf::kBurst;
}

int main(int argc, char** argv) {
  const long requested = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 100000;
  if (argc > 2 || requested < perf::kBurst || requested > (1L << 24)) {
    std::fprintf(stderr, "usage: %s [PACKETS per phase, 32..16777216]\n", argv[0]);
    return 2;
  }
  const auto bursts = static_cast<uint32_t>(requested / perf::kBurst);
  const std::shared_ptr<const engine::Snapshot> snap = perf::compile_bench_snapshot();
  engine::WorkerOptions options;
  options.flow_capacity = kCapacity;
  perf::BufferRing ring;
  const perf::NewFlowSource source;
  bool ok = true;

  // Established: as many flows as measured packets, each sent once.
  const perf::EstablishedFlows flows(*snap, bursts * perf::kBurst, kCapacity);
  auto worker = std::make_unique<engine::Worker>(options);
  Burst b{worker.get(), snap.get(), {}, {}, 1'000'000'000};
  if (perf::warm_up(*worker, *snap, flows, b.now_ns) != 0) ok = false;
  const uint64_t hits_before = worker->counters().flow_hits;
  uint32_t cursor = 0;
  for (uint32_t i = 0; i < bursts; ++i) {
    perf::fill_established(ring, flows, cursor, b.packets);
    sluice_measure_established(&b);
    b.now_ns += perf::kNsPerBurst;
  }
  if (worker->counters().flow_hits - hits_before != g_established_packets) ok = false;

  // Mix 90/10 on the same worker (its table still has free slots).
  uint64_t position = 0, counter = 0;
  cursor = 0;
  for (uint32_t i = 0; i < bursts; ++i) {
    perf::fill_mix(ring, flows, source, position, cursor, counter, b.packets);
    sluice_measure_mix(&b);
    b.now_ns += perf::kNsPerBurst;
  }

  // New flows into a full table, so each insert evicts.
  auto fresh = std::make_unique<engine::Worker>(options);
  Burst n{fresh.get(), snap.get(), {}, {}, 1'000'000'000};
  counter = uint64_t{1} << 40;  // never the mix phase's clients
  for (uint32_t i = 0; i < kCapacity / perf::kBurst; ++i) {
    perf::fill_new(ring, source, counter, n.packets);
    fresh->process_burst(n.snapshot, n.packets, n.verdicts, perf::kBurst, n.now_ns);
    n.now_ns += perf::kNsPerBurst;
  }
  const uint64_t new_before = fresh->counters().new_flows;
  for (uint32_t i = 0; i < bursts; ++i) {
    perf::fill_new(ring, source, counter, n.packets);
    sluice_measure_new(&n);
    n.now_ns += perf::kNsPerBurst;
  }
  if (fresh->counters().new_flows - new_before != g_new_packets) ok = false;

  std::printf("packets: established %llu, new %llu, mix %llu\n",
              static_cast<unsigned long long>(g_established_packets),
              static_cast<unsigned long long>(g_new_packets),
              static_cast<unsigned long long>(g_mix_packets));
  std::printf("flow table evictions (new-flow worker): %llu\n",
              static_cast<unsigned long long>(fresh->flows().stats().evictions));
  if (!ok) {
    std::fprintf(stderr, "FAIL: the traffic did not do what it should (misses or drops)\n");
    return 1;
  }
  return 0;
}
