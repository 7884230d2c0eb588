// SPDX-License-Identifier: Apache-2.0
// Bounded work per packet (issue 10, item 2) on both dataplanes: the
// scenarios of tests/dataplane/engine/bounded_scenarios.h (a pool of 4096
// backends ejected by retransmitted SYNs up to max_ejected_percent, or
// nearly whole, then left unhealthy; services sharing backend addresses
// under a churning configuration), every frame through the engine and the
// XDP program and compared by XdpParityHarness::run_both (verdict, bytes,
// counters, signals); and the pools' ejected counts each keeps (the
// engine's Worker::pool_ejected, the program's "pool_ejected" map, this
// CPU) compared with each other and with a recount of each side's circuits.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tests/dataplane/engine/bounded_scenarios.h"
#include "tests/ebpf/xdp_parity_harness.h"

namespace sluice::engine::test::parity {
namespace {

namespace bounded = sluice::engine::test::bounded;

constexpr uint64_t kMs = 1000000;  // ns

class XdpBoundedParityTest : public XdpParityHarness {
 protected:
  void publish_config(const EngineConfig& config) { publish(config, ++generation_); }

  Decision send(const Bytes& frame, uint64_t at_ms, const std::string& label) {
    return run_both(frame, kStartNs + at_ms * kMs, label).engine;
  }

  // The program's count of pool `pool` of service `service`, this CPU, if
  // it holds for the pool's active backends of the current generation.
  std::optional<uint32_t> xdp_pool_ejected(uint32_t service, uint8_t pool) {
    const uint32_t key = service * SLUICE_MAX_POOLS + pool;
    sluice_xdp_pool_ejected v{};
    EXPECT_TRUE(read_this_cpu(maps_.pool_ejected, &key, &v));
    // members_since as the writer wrote it into the active slot.
    const uint32_t zero = 0;
    sluice_xdp_root root{};
    EXPECT_EQ(bpf_map_lookup_elem(maps_.root, &zero, &root), 0);
    const uint32_t at =
        sluice_xdp_root_slot(root.word) *
            (xdp::map_max_entries(maps_.service_config, "service_config") / SLUICE_XDP_SLOTS) +
        service;
    sluice_xdp_service svc{};
    EXPECT_EQ(bpf_map_lookup_elem(maps_.service_config, &at, &svc), 0);
    const uint64_t now = sluice_xdp_root_generation(root.word);
    if (!v.valid || v.generation < svc.pools[pool].members_since || v.generation > now) {
      return std::nullopt;
    }
    return v.ejected;
  }

  bool xdp_closed(uint64_t fp, uint32_t now_ms) {
    sluice_circuit c{};
    return !read_this_cpu(maps_.circuits, &fp, &c) || c.phase == SLUICE_CIRCUIT_FREE ||
           sluice_circuit_state(&c, now_ms) == SLUICE_CIRCUIT_CLOSED;
  }

  // Both sides' counts of every pool are the same (kept or not yet counted
  // on both), and with `recount` each equals a recount of its own circuits.
  // Returns how many pools had a count.
  uint32_t check_counts(uint64_t at_ms, bool with_recount, const std::string& label) {
    const auto now_ms = static_cast<uint32_t>((kStartNs + at_ms * kMs) / kMs);
    uint32_t kept = 0;
    for (const CompiledService& svc : snapshot_->services()) {
      for (uint8_t p = 0; p < svc.pools.size(); ++p) {
        const std::optional<uint32_t> e = worker_->pool_ejected(*snapshot_, svc, p);
        const std::optional<uint32_t> x = xdp_pool_ejected(snapshot_->service_index(svc), p);
        const std::string where = label + ": " + svc.config.name + "/" + svc.pools[p].name;
        EXPECT_EQ(e, x) << where;
        if (!e || !x) continue;
        ++kept;
        if (!with_recount) continue;
        EXPECT_EQ(*e, bounded::recount(svc, svc.pools[p],
                                       [&](uint64_t fp) {
                                         return worker_->circuits().state(fp, now_ms) ==
                                                CircuitState::kClosed;
                                       }))
            << where << " (engine)";
        EXPECT_EQ(*x, bounded::recount(svc, svc.pools[p],
                                       [&](uint64_t fp) { return xdp_closed(fp, now_ms); }))
            << where << " (xdp)";
      }
    }
    return kept;
  }

  // Batches of big-pool flows (bounded_scenarios.h) until `until(n)` says
  // stop: first SYNs, then the retransmissions of those that went to the
  // big pool. Returns the time after the last batch.
  template <typename Until>
  uint64_t big_pool_batches(uint64_t now_ms, uint32_t& n, Until until) {
    while (!until(n)) {
      std::vector<Bytes> sent;
      for (uint32_t k = 0; k < bounded::kBigBatch; ++k, ++n) {
        const Bytes syn = bounded::big_syn(n);
        if (send(syn, now_ms, "first SYN of flow " + std::to_string(n)).pool == 0) {
          sent.push_back(syn);
        }
      }
      const uint64_t at = now_ms + bounded::kRetryAfterMs;
      for (const Bytes& syn : sent)
        send(syn, at, "retransmitted SYN before flow " + std::to_string(n));
      check_counts(at, true, "flow " + std::to_string(n));
      if (HasFailure()) return at;
      now_ms = at + 1;
    }
    return now_ms;
  }

  uint64_t generation_ = 0;
};

// max_ejected_percent 50 in a pool of 4096: both stop at 2048 ejected;
// both keep the count through a new generation with the same backends,
// and count the pool afresh after one backend drains.
TEST_F(XdpBoundedParityTest, LargePoolAtMaxEjectedPercent) {
  publish_config(bounded::big_pool_config(50));
  if (HasFatalFailure()) return;
  uint32_t n = 0;
  uint64_t now_ms = big_pool_batches(1000, n, [](uint32_t flows) { return flows >= 2600; });
  EXPECT_EQ(worker_->pool_ejected(*snapshot_, snapshot_->services()[0], 0), 2048u);
  EXPECT_EQ(xdp_pool_ejected(0, 0), 2048u);
  EXPECT_GT(worker_->circuits().stats().refused_by_max_ejected, 0u);

  publish_config(bounded::big_pool_config(50));
  if (HasFatalFailure()) return;
  EXPECT_EQ(worker_->pool_ejected(*snapshot_, snapshot_->services()[0], 0), 2048u);
  EXPECT_EQ(xdp_pool_ejected(0, 0), 2048u);

  EngineConfig drained = bounded::big_pool_config(50);
  const auto now32 = static_cast<uint32_t>((kStartNs + now_ms * kMs) / kMs);
  for (uint32_t i = 0; i < bounded::kBigPool; ++i) {
    if (worker_->circuits().state(backend_fingerprint(bounded::big_backend(i), drained.seed),
                                  now32) == CircuitState::kClosed) {
      drained.services[0].pools[0].backends[i].state = BackendState::kDraining;
      break;
    }
  }
  publish_config(drained);
  if (HasFatalFailure()) return;
  check_counts(now_ms, false, "drained");
  EXPECT_EQ(xdp_pool_ejected(0, 0), std::nullopt);
  big_pool_batches(now_ms, n, [&](uint32_t flows) { return flows >= 2600 + bounded::kBigBatch; });
  EXPECT_EQ(worker_->pool_ejected(*snapshot_, snapshot_->services()[0], 0), 2048u);
  EXPECT_EQ(xdp_pool_ejected(0, 0), 2048u);
  expect_no_mismatch();
}

// Retransmitted SYNs until 95% of the pool is ejected: the few backends
// left, or the fallback pool, on both; then the rest unhealthy: the
// fallback pool for every flow.
TEST_F(XdpBoundedParityTest, MostlyEjectedLargePoolFindsBackendOrFallsBack) {
  publish_config(bounded::big_pool_config(100));
  if (HasFatalFailure()) return;
  const CompiledService& svc = snapshot_->services()[0];
  uint32_t n = 0;
  uint64_t now_ms = big_pool_batches(1000, n, [&](uint32_t) {
    return worker_->pool_ejected(*snapshot_, svc, 0).value_or(0) >= bounded::kBigPool * 95 / 100;
  });
  if (HasFailure()) return;
  const uint64_t fallback_before = worker_->counters().fallback_used;
  EXPECT_GT(fallback_before, 10u);
  const auto now32 = static_cast<uint32_t>((kStartNs + now_ms * kMs) / kMs);
  for (const CompiledBackend& b : svc.backends) {
    if (b.pool == 0 && worker_->circuits().state(b.fingerprint, now32) == CircuitState::kClosed) {
      set_health(b.counter_slot, SLUICE_HEALTH_UNHEALTHY);
    }
  }
  for (uint32_t k = 0; k < 50; ++k) {
    EXPECT_EQ(send(bounded::big_syn(50000 + k), now_ms, "unhealthy " + std::to_string(k)).pool, 1);
  }
  for (uint32_t k = 0; k < 50; ++k) {
    send(bounded::big_syn(50000 + k), now_ms + bounded::kRetryAfterMs,
         "unhealthy retry " + std::to_string(k));
  }
  expect_no_mismatch();
  EXPECT_EQ(worker_->counters().fallback_used, fallback_before + 50);
}

// Services sharing backend addresses, circuits opening, turning half-open,
// closing and reopening, max_ejected_percent refusing, and a configuration
// that drains, disables, removes and adds backends and pools and moves
// services: the same decisions and the same counts on both sides.
TEST_F(XdpBoundedParityTest, ChurnKeepsCountsEqual) {
  bounded::Churn churn(11);
  uint64_t now_ms = 1000;
  uint32_t step = 0;
  publish_config(bounded::churn_config(step));
  if (HasFatalFailure()) return;
  uint64_t kept = 0, carried = 0;
  for (uint32_t i = 0; i < 15000; ++i) {
    if (i > 0 && i % 2500 == 0) {
      publish_config(bounded::churn_config(++step));
      if (HasFatalFailure()) return;
      // Pools whose active backends did not change keep their counts.
      carried += check_counts(now_ms, true, "publish " + std::to_string(step));
    }
    const bounded::Churn::Item item = churn.next(now_ms);
    churn.observe(send(item.frame, now_ms, "frame " + std::to_string(i)));
    kept += check_counts(now_ms, i % 25 == 0, "frame " + std::to_string(i));
    if (HasFailure()) break;
    now_ms += i % 7;
  }
  expect_no_mismatch();
  const CircuitStats cs = worker_->circuits().stats();
  EXPECT_GT(kept, 15000u);
  // Pools that kept their count through a publish: 3 with this seed since
  // the clients spread over 256 /24s (bounded_scenarios.h client()).
  EXPECT_GE(carried, 3u);
  EXPECT_GT(cs.opened, 50u);
  EXPECT_GT(cs.closed, 20u);
  EXPECT_GT(cs.refused_by_max_ejected, 10u);
}

}  // namespace
}  // namespace sluice::engine::test::parity
