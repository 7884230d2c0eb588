// SPDX-License-Identifier: Apache-2.0
// The worst packets of every kind in a pool of 4096 backends (issue 10,
// item 2: "bounded work per packet"), for bounded_bench.cc (the engine)
// and xdp_bounded_bench.cc (the XDP program under BPF_PROG_TEST_RUN). The
// scenario needs nothing newer than the engine's public API, so the same
// files build against older trees to measure "before" (perf/hardening.md).
//
// Configuration: the tests' big pool (bounded_scenarios.h): service "big"
// (192.0.2.50:80, flow affinity) with pool "big" of 4096 backends taking
// all new flows and a fallback pool "spare" of 2; one connect failure opens
// a circuit, here for a day (nothing turns half-open during a run),
// max_ejected_percent 90.
//
// The kinds, in the order they run (each on fresh flows unless said):
//   first_syn            SYN of a new flow, nothing ejected: the yardstick;
//   established          ACK of an established flow;
//   (setup: retransmitted SYNs eject the pool up to 90%: 3687 backends)
//   first_syn_ejected    SYN of a new flow, 90% of the pool ejected;
//   retry_ejected        a retransmitted SYN (a connect failure, refused at
//                        the limit) of those flows, steered to another
//                        backend, or to the fallback pool;
//   (one packet per new configuration generation:)
//   first_syn_new_generation  SYN of a new flow right after a generation
//                        with the same backends was published (a weight
//                        change would be the same): the yardstick of the
//                        two below, as the new snapshot's memory is cold;
//   retry_new_generation a retransmitted SYN, likewise;
//   retry_new_members    a retransmitted SYN right after a generation in
//                        which one more backend of the pool drains: the
//                        first failure after the pool's active backends
//                        changed counts the pool afresh (once per pool
//                        and core);
//   (every backend of both pools marked unhealthy)
//   first_syn_none       SYN of a new flow with no usable backend anywhere
//                        (dropped: no backend);
//   retry_none           a retransmitted SYN with no backend to steer to.
// Retransmissions go 600 ms after the flow's previous packet; only flows
// whose last packet went to the big pool are retransmitted, so the spare
// pool's circuits stay closed.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/engine/config.h"
#include "dataplane/engine/snapshot.h"
#include "tests/dataplane/engine/bounded_scenarios.h"
#include "tests/dataplane/engine/frame_builder.h"

namespace sluice::perf::bounded {

inline constexpr uint32_t kPoolSize = 4096;
inline constexpr uint32_t kMaxEjectedPercent = 90;
inline constexpr uint32_t kFrameLen = 60;
inline constexpr uint32_t kSrcAddrOffset = 14 + 12;
inline constexpr uint32_t kSrcPortOffset = 14 + 20;
inline constexpr uint32_t kOuterDstOffset = 14 + 16;  // of a forwarded (4in4) frame
inline constexpr uint64_t kRetryNs = 600'000'000;
inline constexpr uint32_t kSetupFlows = 4480;  // enough to reach 90% (about 3800 needed)
inline constexpr uint32_t kSetupBatch = 64;

enum Kind : uint32_t {
  kFirstSyn,
  kEstablished,
  kFirstSynEjected,
  kRetryEjected,
  kFirstSynNewGeneration,
  kRetryNewGeneration,
  kRetryNewMembers,
  kFirstSynNone,
  kRetryNone,
  kKinds,
  kSetup = kKinds,  // not measured
};

inline const char* kind_name(uint32_t k) {
  static const char* const names[] = {"first_syn",
                                      "established",
                                      "first_syn_ejected",
                                      "retry_ejected",
                                      "first_syn_new_generation",
                                      "retry_new_generation",
                                      "retry_new_members",
                                      "first_syn_none",
                                      "retry_none",
                                      "setup"};
  return names[k];
}

// The tests' big pool (tests/dataplane/engine/bounded_scenarios.h) at
// max_ejected_percent 90, ejecting for a day; `draining`: that many
// backends of the big pool (from the last) drain.
inline engine::EngineConfig config(uint32_t draining = 0) {
  engine::EngineConfig c = engine::test::bounded::big_pool_config(kMaxEjectedPercent);
  engine::ServiceConfig& s = c.services[0];
  s.circuit.base_ejection_ms = 86400000;
  s.circuit.max_ejection_ms = 86400000;
  s.timeouts.tcp_syn_ms = 120000;
  for (uint32_t i = kPoolSize - std::min(draining, kPoolSize); i < kPoolSize; ++i) {
    s.pools[0].backends[i].state = engine::BackendState::kDraining;
  }
  return c;
}

inline std::shared_ptr<const engine::Snapshot> compile(engine::SnapshotCompiler& compiler,
                                                       uint64_t generation, uint32_t draining = 0) {
  auto r = compiler.compile(config(draining), generation);
  if (!r.errors.empty()) {
    std::fprintf(stderr, "bounded scenario: %s\n", r.errors[0].to_string().c_str());
    std::exit(1);
  }
  return r.snapshot;
}

struct Frame {
  uint8_t bytes[64];
};

// Flow n's segment: client 100.64.0.0 + n % 2^20, source port from n / 2^20.
// Patched into a template; checksums are not verified by either dataplane.
inline Frame frame(uint32_t n, uint8_t flags) {
  static const std::vector<uint8_t> syn = engine::test::FrameBuilder()
                                              .eth()
                                              .ipv4("100.64.0.0", "192.0.2.50")
                                              .tcp(1024, 80, SLUICE_TCP_SYN)
                                              .build();
  Frame f{};
  std::memcpy(f.bytes, syn.data(), std::min<size_t>(syn.size(), sizeof(f.bytes)));
  const uint32_t client = n & 0xfffff;
  const uint32_t port = 1024 + (n >> 20);
  f.bytes[kSrcAddrOffset + 1] = static_cast<uint8_t>(64 | (client >> 16));
  f.bytes[kSrcAddrOffset + 2] = static_cast<uint8_t>(client >> 8);
  f.bytes[kSrcAddrOffset + 3] = static_cast<uint8_t>(client);
  f.bytes[kSrcPortOffset] = static_cast<uint8_t>(port >> 8);
  f.bytes[kSrcPortOffset + 1] = static_cast<uint8_t>(port);
  f.bytes[14 + 20 + 13] = flags;
  return f;
}

// What a run of frames added up to.
struct Series {
  uint64_t packets = 0;
  uint64_t ns = 0;  // time the dataplane took (the engine's calls; the kernel's run durations)
  uint64_t forwarded = 0;
  double per_packet() const { return packets ? double(ns) / double(packets) : 0; }
};

// One dataplane under the scenario.
class Dataplane {
 public:
  virtual ~Dataplane() = default;
  // Decides `frames` in order at now_ns, timed as `kind`; to_big[i] tells
  // whether frame i was forwarded to a backend of the big pool.
  virtual Series run(uint32_t kind, const std::vector<Frame>& frames, uint64_t now_ns,
                     std::vector<bool>* to_big) = 0;
  virtual void publish(std::shared_ptr<const engine::Snapshot> snapshot) = 0;
  // Every backend of the snapshot unhealthy.
  virtual void all_unhealthy(const engine::Snapshot& snapshot) = 0;
  // Backends of the big pool whose circuit is not closed (this core / CPU).
  virtual uint32_t ejected(const engine::Snapshot& snapshot, uint64_t now_ns) = 0;
};

// Whether a forwarded 4in4 frame went to the big pool (10.64.0.0/12).
inline bool outer_to_big(const uint8_t* frame, uint32_t len) {
  return len > kOuterDstOffset + 1 && frame[kOuterDstOffset] == 10 &&
         (frame[kOuterDstOffset + 1] & 0xf0) == 64;
}

struct Result {
  std::vector<Series> rounds[kKinds];  // one Series per round
  uint32_t ejected_after_setup = 0;
  // The median round's ns per packet.
  double per_packet(uint32_t kind) const {
    std::vector<double> v;
    for (const Series& s : rounds[kind]) v.push_back(s.per_packet());
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }
  uint64_t packets(uint32_t kind) const {
    uint64_t n = 0;
    for (const Series& s : rounds[kind]) n += s.packets;
    return n;
  }
  uint64_t forwarded(uint32_t kind) const {
    uint64_t n = 0;
    for (const Series& s : rounds[kind]) n += s.forwarded;
    return n;
  }
};

// Runs every kind: `flows` packets a round, `rounds` rounds, and
// `generations` packets of retry_new_generation (one publication each).
inline Result run_scenario(Dataplane& dp, uint32_t flows, uint32_t rounds, uint32_t generations) {
  Result result;
  engine::SnapshotCompiler compiler;
  uint64_t generation = 1;
  std::shared_ptr<const engine::Snapshot> snap = compile(compiler, generation);
  dp.publish(snap);
  uint64_t now_ns = 1'000'000'000'000ULL;
  uint32_t next_flow = 0;
  auto fresh = [&](uint32_t count, uint8_t flags) {
    std::vector<Frame> out;
    for (uint32_t i = 0; i < count; ++i) out.push_back(frame(next_flow + i, flags));
    return out;
  };

  // first_syn and established, on a pool with nothing ejected.
  for (uint32_t r = 0; r < rounds; ++r) {
    const std::vector<Frame> syns = fresh(flows, SLUICE_TCP_SYN);
    result.rounds[kFirstSyn].push_back(dp.run(kFirstSyn, syns, now_ns, nullptr));
    if (r + 1 == rounds) {
      const std::vector<Frame> acks = fresh(flows, SLUICE_TCP_ACK);
      dp.run(kSetup, acks, now_ns + 1'000'000, nullptr);  // completes the handshakes
      for (uint32_t e = 0; e < rounds; ++e) {
        result.rounds[kEstablished].push_back(
            dp.run(kEstablished, acks, now_ns + (2 + e) * 1'000'000, nullptr));
      }
    }
    next_flow += flows;
  }
  now_ns += kRetryNs;

  // Setup: retransmitted SYNs eject the big pool up to its limit.
  for (uint32_t done = 0; done < kSetupFlows; done += kSetupBatch) {
    const std::vector<Frame> syns = fresh(kSetupBatch, SLUICE_TCP_SYN);
    next_flow += kSetupBatch;
    std::vector<bool> big;
    dp.run(kSetup, syns, now_ns, &big);
    std::vector<Frame> retries;
    for (size_t i = 0; i < syns.size(); ++i) {
      if (big[i]) retries.push_back(syns[i]);
    }
    dp.run(kSetup, retries, now_ns + kRetryNs, nullptr);
    now_ns += kRetryNs + 1'000'000;
  }
  result.ejected_after_setup = dp.ejected(*snap, now_ns);

  // Flows with 90% of the pool ejected; retransmitted while in the big pool.
  std::vector<Frame> pending;  // SYNs of flows whose last packet went to the big pool
  for (uint32_t r = 0; r < rounds; ++r) {
    const std::vector<Frame> syns = fresh(flows, SLUICE_TCP_SYN);
    next_flow += flows;
    std::vector<bool> big;
    result.rounds[kFirstSynEjected].push_back(dp.run(kFirstSynEjected, syns, now_ns, &big));
    for (size_t i = 0; i < syns.size(); ++i) {
      if (big[i]) pending.push_back(syns[i]);
    }
  }
  for (uint32_t r = 0; r < rounds; ++r) {
    now_ns += kRetryNs;
    std::vector<bool> big;
    std::vector<Frame> batch(pending.begin(),
                             pending.begin() + std::min<size_t>(flows, pending.size()));
    result.rounds[kRetryEjected].push_back(dp.run(kRetryEjected, batch, now_ns, &big));
    std::vector<Frame> still;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (big[i]) still.push_back(batch[i]);
    }
    still.insert(still.end(), pending.begin() + static_cast<long>(batch.size()), pending.end());
    pending = std::move(still);
  }

  // One packet per generation: the same backends (a new flow, then a
  // retransmission), then one more backend draining each time.
  for (const uint32_t kind : {kFirstSynNewGeneration, kRetryNewGeneration, kRetryNewMembers}) {
    Series per_generation;
    now_ns += kRetryNs;
    std::vector<Frame> still;
    for (uint32_t g = 0; g < generations && g < pending.size(); ++g) {
      ++generation;
      snap = compile(compiler, generation, kind == kRetryNewMembers ? g + 1 : 0);
      dp.publish(snap);
      std::vector<bool> big;
      const Frame f =
          kind == kFirstSynNewGeneration ? frame(next_flow++, SLUICE_TCP_SYN) : pending[g];
      const Series s = dp.run(kind, {f}, now_ns, &big);
      per_generation.packets += s.packets;
      per_generation.ns += s.ns;
      per_generation.forwarded += s.forwarded;
      if (kind != kFirstSynNewGeneration && big[0]) still.push_back(f);
    }
    result.rounds[kind].push_back(per_generation);
    if (kind != kFirstSynNewGeneration) {
      still.insert(still.end(), pending.begin() + std::min<size_t>(generations, pending.size()),
                   pending.end());
      pending = std::move(still);
    }
  }

  // Nothing usable.
  dp.all_unhealthy(*snap);
  now_ns += kRetryNs;
  for (uint32_t r = 0; r < rounds; ++r) {
    const std::vector<Frame> syns = fresh(flows, SLUICE_TCP_SYN);
    next_flow += flows;
    result.rounds[kFirstSynNone].push_back(dp.run(kFirstSynNone, syns, now_ns, nullptr));
  }
  for (uint32_t r = 0; r < rounds; ++r) {
    now_ns += kRetryNs;
    std::vector<Frame> batch(pending.begin(),
                             pending.begin() + std::min<size_t>(flows, pending.size()));
    result.rounds[kRetryNone].push_back(dp.run(kRetryNone, batch, now_ns, nullptr));
  }
  return result;
}

// The benchmarks' options: [--flows N] [--rounds N] [--generations N].
struct Options {
  uint32_t flows = 4096;  // packets per round
  uint32_t rounds = 5;
  uint32_t generations = 64;  // packets of retry_new_generation
};

inline bool parse_options(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return false;
    const auto v = static_cast<uint32_t>(std::strtoul(argv[++i], nullptr, 10));
    if (arg == "--flows") {
      o->flows = v;
    } else if (arg == "--rounds") {
      o->rounds = v;
    } else if (arg == "--generations") {
      o->generations = v;
    } else {
      return false;
    }
  }
  return o->flows > 0 && o->rounds > 0;
}

inline void print(const Result& r, const char* dataplane, double baseline_ns = 0) {
  std::printf("%s: %u of %u backends of the big pool ejected after the setup\n", dataplane,
              r.ejected_after_setup, kPoolSize);
  std::printf("%-22s %9s %10s %12s %10s\n", "kind", "packets", "forwarded", "ns/packet",
              "x first_syn");
  const double first = r.per_packet(kFirstSyn) - baseline_ns;
  for (uint32_t k = 0; k < kKinds; ++k) {
    const double ns = r.per_packet(k) - baseline_ns;
    std::printf("%-22s %9llu %10llu %12.1f %10.2f\n", kind_name(k),
                static_cast<unsigned long long>(r.packets(k)),
                static_cast<unsigned long long>(r.forwarded(k)), ns, first > 0 ? ns / first : 0);
  }
}

}  // namespace sluice::perf::bounded
