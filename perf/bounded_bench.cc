// SPDX-License-Identifier: Apache-2.0
// The engine's worst packets of every kind in a pool of 4096 backends,
// 90% of them ejected (bounded_scenario.h): ns per packet, the median of
// the rounds, and each against a first SYN. One Worker, process_one per
// packet (each frame copied into its buffer before the timed loop).
//
// Instructions per packet, with callgrind (no hardware counters here):
//
//   valgrind --tool=callgrind --collect-atstart=no
//     --toggle-collect='sluice_bounded_*' --callgrind-out-file=bounded.cg
//     build-perf/perf/bounded_bench --flows 512 --rounds 1 --generations 16
//   callgrind_annotate --inclusive=yes bounded.cg | grep sluice_bounded
//
// Each sluice_bounded_<kind> function runs one batch of one kind; its
// inclusive Ir divided by that kind's packets (printed) is the engine's
// instructions per packet.
//
//   bounded_bench [--flows N] [--rounds N] [--generations N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/engine/backend_health.h"
#include "dataplane/engine/engine.h"
#include "perf/bounded_scenario.h"

using namespace sluice;
using perf::bounded::Frame;
using perf::bounded::Series;

struct Batch {
  engine::Worker* worker;
  const engine::Snapshot* snapshot;
  engine::Packet* packets;
  uint32_t count;
  uint64_t now_ns;
  engine::Decision* decisions;
};

inline void run_batch(Batch* b) {
  for (uint32_t i = 0; i < b->count; ++i) {
    b->decisions[i] = b->worker->process_one(b->snapshot, b->packets[i], b->now_ns);
  }
}

// Named, unmangled and never inlined, so callgrind can collect exactly
// these calls (one per kind; a counter each keeps them from being merged).
uint64_t g_calls[perf::bounded::kKinds + 1];
#define SLUICE_MEASURE(kind)                                                  \
  extern "C" __attribute__((noinline)) void sluice_bounded_##kind(Batch* b) { \
    run_batch(b);                                                             \
    ++g_calls[perf::bounded::k##kind];                                        \
  }
SLUICE_MEASURE(FirstSyn)
SLUICE_MEASURE(Established)
SLUICE_MEASURE(FirstSynEjected)
SLUICE_MEASURE(RetryEjected)
SLUICE_MEASURE(FirstSynNewGeneration)
SLUICE_MEASURE(RetryNewGeneration)
SLUICE_MEASURE(RetryNewMembers)
SLUICE_MEASURE(FirstSynNone)
SLUICE_MEASURE(RetryNone)
SLUICE_MEASURE(Setup)
#undef SLUICE_MEASURE

namespace {

class EngineDataplane : public perf::bounded::Dataplane {
 public:
  EngineDataplane() : worker_(options()), health_(1u << 17) { worker_.set_health_table(&health_); }

  Series run(uint32_t kind, const std::vector<Frame>& frames, uint64_t now_ns,
             std::vector<bool>* to_big) override {
    const auto n = static_cast<uint32_t>(frames.size());
    buffers_.resize(n);
    packets_.resize(n);
    decisions_.resize(n);
    for (uint32_t i = 0; i < n; ++i) {
      std::memcpy(buffers_[i].bytes + kHeadroom, frames[i].bytes, perf::bounded::kFrameLen);
      packets_[i] = {buffers_[i].bytes + kHeadroom, perf::bounded::kFrameLen, kHeadroom};
    }
    Batch b{&worker_, snapshot_.get(), packets_.data(), n, now_ns, decisions_.data()};
    static void (*const measure[])(Batch*) = {sluice_bounded_FirstSyn,
                                              sluice_bounded_Established,
                                              sluice_bounded_FirstSynEjected,
                                              sluice_bounded_RetryEjected,
                                              sluice_bounded_FirstSynNewGeneration,
                                              sluice_bounded_RetryNewGeneration,
                                              sluice_bounded_RetryNewMembers,
                                              sluice_bounded_FirstSynNone,
                                              sluice_bounded_RetryNone,
                                              sluice_bounded_Setup};
    static_assert(std::size(measure) == perf::bounded::kKinds + 1);
    const auto start = std::chrono::steady_clock::now();
    measure[kind](&b);
    const auto end = std::chrono::steady_clock::now();
    Series s;
    s.packets = n;
    s.ns = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count());
    if (to_big) to_big->assign(n, false);
    for (uint32_t i = 0; i < n; ++i) {
      const engine::Decision& d = decisions_[i];
      if (d.verdict.action != engine::Action::kForward) continue;
      ++s.forwarded;
      if (to_big) (*to_big)[i] = d.pool == 0;
    }
    return s;
  }

  void publish(std::shared_ptr<const engine::Snapshot> snapshot) override {
    snapshot_ = std::move(snapshot);
  }

  void all_unhealthy(const engine::Snapshot& snapshot) override {
    for (const engine::CompiledService& s : snapshot.services()) {
      for (const engine::CompiledBackend& b : s.backends)
        health_.set(b.counter_slot, SLUICE_HEALTH_UNHEALTHY);
    }
  }

  uint32_t ejected(const engine::Snapshot& snapshot, uint64_t now_ns) override {
    uint32_t n = 0;
    for (const engine::CompiledBackend& b : snapshot.services()[0].backends) {
      n += b.pool == 0 && engine::circuit_ejected(worker_.circuits().state(
                              b.fingerprint, static_cast<uint32_t>(now_ns / 1000000)));
    }
    return n;
  }

 private:
  static constexpr uint32_t kHeadroom = 128;
  struct alignas(64) Buffer {
    uint8_t bytes[256];
  };
  static engine::WorkerOptions options() {
    engine::WorkerOptions o;
    o.flow_capacity = 1u << 18;
    return o;
  }
  engine::Worker worker_;
  engine::BackendHealthTable health_;
  std::shared_ptr<const engine::Snapshot> snapshot_;
  std::vector<Buffer> buffers_;
  std::vector<engine::Packet> packets_;
  std::vector<engine::Decision> decisions_;
};

}  // namespace

int main(int argc, char** argv) {
  sluice::perf::bounded::Options o;
  if (!sluice::perf::bounded::parse_options(argc, argv, &o)) {
    std::fprintf(stderr, "usage: %s [--flows N] [--rounds N] [--generations N]\n", argv[0]);
    return 2;
  }
  auto dp = std::make_unique<EngineDataplane>();
  const perf::bounded::Result r =
      perf::bounded::run_scenario(*dp, o.flows, o.rounds, o.generations);
  perf::bounded::print(r, "engine");
  return 0;
}
