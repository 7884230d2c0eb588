// SPDX-License-Identifier: Apache-2.0
// Bounded work per packet (issue 10, item 2): the per-pool ejected counts
// that max_ejected_percent is judged on are kept as circuits open and
// close, never drift from a recount, and still hold the limit; a
// retransmitted SYN in a pool of 4096 mostly ejected backends tries a
// bounded number of them (pool_probe.h) and finds one or falls back.
// The same scenarios run through the XDP program too
// (tests/ebpf/xdp_bounded_parity_test.cc).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/engine/backend_health.h"
#include "dataplane/engine/engine.h"
#include "dataplane/engine/pool_probe.h"
#include "tests/dataplane/engine/bounded_scenarios.h"

namespace sluice::engine::test::bounded {
namespace {

// What Worker::pick_backend must choose in pool `p` for affinity hash `hash`
// when `usable(backend)` says which backends may take the flow: the Maglev
// slot and the next SLUICE_MAX_CIRCUIT_PROBES - 1, then the pool's
// SLUICE_POOL_SAMPLES samples (pool_probe.h), each tried once.
// `tried` counts the backends tried.
inline uint16_t model_pick(const CompiledService& svc, uint8_t p, uint64_t hash,
                           const std::function<bool(const CompiledBackend&)>& usable,
                           uint32_t* tried = nullptr) {
  const CompiledPool& pool = svc.pools[p];
  if (pool.maglev.empty()) return kNoBackendIndex;
  const auto size = static_cast<uint32_t>(pool.maglev.size());
  const uint32_t slot = sluice_hash_to_range(hash, size);
  uint32_t n = 0;
  uint16_t found = kNoBackendIndex;
  for (uint32_t probe = 0; probe < SLUICE_MAX_CIRCUIT_PROBES && found == kNoBackendIndex; ++probe) {
    const uint16_t idx = pool.maglev[(slot + probe) % size];
    ++n;
    if (usable(svc.backends[idx])) found = idx;
  }
  const uint32_t start = sluice_hash_to_range(hash, pool.backend_count);
  for (uint32_t j = 0; j < sluice_pool_samples(pool.backend_count) && found == kNoBackendIndex;
       ++j) {
    const auto idx = static_cast<uint16_t>(pool.first_backend +
                                           sluice_pool_sample(start, j, pool.backend_count));
    ++n;
    if (svc.backends[idx].state == BackendState::kActive && usable(svc.backends[idx])) found = idx;
  }
  if (tried) *tried = n;
  return found;
}

WorkerOptions options() {
  WorkerOptions o;
  o.flow_capacity = 1u << 16;
  o.circuit_capacity = 1u << 13;
  o.service_counter_slots = 16;
  o.pool_counter_slots = 64;
  o.backend_counter_slots = 8192;
  return o;
}

class BoundedTest : public ::testing::Test {
 protected:
  BoundedTest() : worker_(options()), health_(8192) { worker_.set_health_table(&health_); }

  void publish(const EngineConfig& config) {
    auto r = compiler_.compile(config, ++generation_);
    ASSERT_TRUE(r.errors.empty()) << r.errors[0].to_string();
    snapshot_ = r.snapshot;
  }

  Decision send(const Bytes& frame, uint64_t now_ms) {
    Bytes buffer(128 + frame.size());
    std::memcpy(buffer.data() + 128, frame.data(), frame.size());
    Packet pkt{buffer.data() + 128, static_cast<uint32_t>(frame.size()), 128};
    return worker_.process_one(snapshot_.get(), pkt, now_ms * 1000000);
  }

  uint32_t recount_pool(const CompiledService& svc, uint8_t p, uint32_t now_ms) const {
    return recount(svc, svc.pools[p], [&](uint64_t fp) {
      return !circuit_ejected(worker_.circuits().state(fp, now_ms));
    });
  }

  // Every pool's kept count against a recount; returns how many pools had
  // a count to compare.
  uint32_t check_counts(uint32_t now_ms, const std::string& when) {
    uint32_t compared = 0;
    for (const CompiledService& svc : snapshot_->services()) {
      for (uint8_t p = 0; p < svc.pools.size(); ++p) {
        const std::optional<uint32_t> kept = worker_.pool_ejected(*snapshot_, svc, p);
        if (!kept) continue;
        ++compared;
        EXPECT_EQ(*kept, recount_pool(svc, p, now_ms))
            << when << ": " << svc.config.name << "/" << svc.pools[p].name;
      }
    }
    return compared;
  }

  const CompiledService& service(const std::string& name) const {
    for (const CompiledService& s : snapshot_->services()) {
      if (s.config.name == name) return s;
    }
    ADD_FAILURE() << "no service " << name;
    return snapshot_->services()[0];
  }

  // A client port of `client` whose first SYN to vip:dport a fresh worker
  // (no circuit state) sends to `backend`.
  uint16_t port_to(const IpAddress& backend, const std::string& client, const char* vip,
                   uint16_t dport) {
    Worker probe(options());
    for (uint16_t port = 1000; port < 60000; ++port) {
      Bytes frame = tcp_frame(client, port, vip, dport, SLUICE_TCP_SYN);
      Bytes buffer(128 + frame.size());
      std::memcpy(buffer.data() + 128, frame.data(), frame.size());
      Packet pkt{buffer.data() + 128, static_cast<uint32_t>(frame.size()), 128};
      const Decision d = probe.process_one(snapshot_.get(), pkt, 0);
      if (d.service && d.backend != kNoBackendIndex &&
          d.service->backends[d.backend].address == backend) {
        return port;
      }
    }
    ADD_FAILURE() << "no port of " << client << " goes to " << backend.to_string();
    return 0;
  }

  SnapshotCompiler compiler_;
  std::shared_ptr<const Snapshot> snapshot_;
  uint64_t generation_ = 0;
  Worker worker_;
  BackendHealthTable health_;
};

// Many transitions of every kind (open, half-open, close, reopen, refused
// at max_ejected_percent), in services that share backend addresses, under
// a configuration that drains, disables, removes and adds backends and
// pools and reorders services: after every packet, every pool's kept count
// equals a recount of its backends, and the counts of pools whose backends
// a new configuration left alone hold through it.
TEST_F(BoundedTest, EjectedCountsMatchRecountThroughEveryTransition) {
  Churn churn(7);
  uint64_t now_ms = 1000;
  uint32_t step = 0;
  publish(churn_config(step));
  uint64_t compared = 0, carried = 0;
  for (uint32_t i = 0; i < 40000; ++i) {
    if (i > 0 && i % 4000 == 0) {
      publish(churn_config(++step));
      if (HasFatalFailure()) return;
      // Pools whose active backends did not change keep their counts.
      carried += check_counts(static_cast<uint32_t>(now_ms), "publish " + std::to_string(step));
    }
    const Churn::Item item = churn.next(now_ms);
    const Decision d = send(item.frame, now_ms);
    churn.observe(d);
    compared += check_counts(static_cast<uint32_t>(now_ms), "frame " + std::to_string(i));
    if (HasFailure()) return;
    now_ms += i % 7;
  }
  const CircuitStats cs = worker_.circuits().stats();
  std::printf(
      "compared %llu counts; circuits opened %llu, half-opened %llu, closed %llu, "
      "refused %llu; connect failures %llu\n",
      static_cast<unsigned long long>(compared), static_cast<unsigned long long>(cs.opened),
      static_cast<unsigned long long>(cs.half_opened), static_cast<unsigned long long>(cs.closed),
      static_cast<unsigned long long>(cs.refused_by_max_ejected),
      static_cast<unsigned long long>(worker_.counters().connect_failures));
  EXPECT_GT(compared, 40000u);
  EXPECT_GT(carried, 5u);
  EXPECT_GT(cs.opened, 100u);
  EXPECT_GT(cs.closed, 30u);  // fewer than openings: closing takes two prefixes' successes
  EXPECT_GT(cs.half_opened, 50u);
  EXPECT_GT(cs.refused_by_max_ejected, 10u);
  EXPECT_GT(worker_.counters().connect_failures, 1000u);
}

// A circuit opened through one service counts in the pool of every service
// that lists its address, and its closing, through another service, in
// each of them again.
TEST_F(BoundedTest, SharedAddressCountsInEveryPoolThatListsIt) {
  publish(churn_config(0));
  const IpAddress shared = web_a(0);  // web/a, mirror/m
  const std::string client_a = client(1), client_b = client(2), client_c = client(3);
  // A slow client of the shared backend: its handshake completes after the
  // ejection, the second prefix's success that closes the circuit.
  const uint16_t ps = port_to(shared, client(6), "192.0.2.60", 80);
  send(tcp_frame(client(6), ps, "192.0.2.60", 80, SLUICE_TCP_SYN), 0);
  // A failure in mirror/m (below the threshold) makes it count its pool.
  const uint16_t pm = port_to(mirror_own(1), client_a, "192.0.2.60", 81);
  send(tcp_frame(client_a, pm, "192.0.2.60", 81, SLUICE_TCP_SYN), 0);
  send(tcp_frame(client_a, pm, "192.0.2.60", 81, SLUICE_TCP_SYN), 600);
  ASSERT_EQ(worker_.pool_ejected(*snapshot_, service("mirror"), 0), 0u);
  // Two failures on the shared backend through web open it.
  const uint16_t pw = port_to(shared, client_b, "192.0.2.60", 80);
  for (uint16_t port : {pw, port_to(shared, client_c, "192.0.2.60", 80)}) {
    const std::string& c = port == pw ? client_b : client_c;
    send(tcp_frame(c, port, "192.0.2.60", 80, SLUICE_TCP_SYN), 1000);
    send(tcp_frame(c, port, "192.0.2.60", 80, SLUICE_TCP_SYN), 1600);
  }
  const uint64_t fp =
      service("web")
          .backends[service("web").find_backend(backend_fingerprint(shared, snapshot_->seed()))]
          .fingerprint;
  ASSERT_EQ(worker_.circuits().state(fp, 1600), CircuitState::kOpen);
  EXPECT_EQ(worker_.pool_ejected(*snapshot_, service("web"), 0), 1u);
  EXPECT_EQ(worker_.pool_ejected(*snapshot_, service("mirror"), 0), 1u);
  // Half-open after 1 s; a mirror flow is its trial and completes.
  const uint16_t pt = port_to(shared, client(4), "192.0.2.60", 81);
  ASSERT_EQ(send(tcp_frame(client(4), pt, "192.0.2.60", 81, SLUICE_TCP_SYN), 2700).backend,
            service("mirror").find_backend(fp));
  EXPECT_EQ(worker_.circuits().state(fp, 2700), CircuitState::kHalfOpen);
  EXPECT_EQ(worker_.pool_ejected(*snapshot_, service("web"), 0), 1u);  // half-open is still ejected
  send(tcp_frame(client(4), pt, "192.0.2.60", 81, SLUICE_TCP_ACK), 2710);
  EXPECT_EQ(worker_.circuits().state(fp, 2710), CircuitState::kHalfOpen);  // one prefix
  send(tcp_frame(client(6), ps, "192.0.2.60", 80, SLUICE_TCP_ACK), 2710);
  EXPECT_EQ(worker_.circuits().state(fp, 2710), CircuitState::kClosed);
  EXPECT_EQ(worker_.pool_ejected(*snapshot_, service("web"), 0), 0u);
  EXPECT_EQ(worker_.pool_ejected(*snapshot_, service("mirror"), 0), 0u);
  EXPECT_EQ(check_counts(2710, "end"), 2u);
}

// max_ejected_percent 50 in a pool of 4096: exactly 2048 open at most,
// however many fail; every retransmitted SYN is steered inside the pool,
// to the backend the bounded search names; a new generation counts the
// pool afresh and still holds the limit.
TEST_F(BoundedTest, MaxEjectedPercentHoldsInLargePool) {
  publish(big_pool_config(50));
  const CompiledService& svc = snapshot_->services()[0];
  uint64_t now_ms = 10000;
  uint32_t steered_in_pool = 0, n = 0;
  for (uint32_t batch = 0; batch < 5000 / kBigBatch; ++batch, now_ms += kRetryAfterMs + 1) {
    std::vector<std::pair<Bytes, uint64_t>> sent;  // SYN, its backend's fingerprint
    for (uint32_t k = 0; k < kBigBatch; ++k, ++n) {
      const Bytes syn = big_syn(n);
      const Decision first = send(syn, now_ms);
      ASSERT_EQ(first.verdict.action, Action::kForward);
      ASSERT_EQ(first.pool, 0) << "flow " << n;
      sent.emplace_back(syn, svc.backends[first.backend].fingerprint);
    }
    const uint64_t at = now_ms + kRetryAfterMs;
    for (const auto& [syn, failed] : sent) {
      const uint16_t expect =
          model_pick(svc, 0, flow_hash_of(syn, snapshot_->seed()), [&](const CompiledBackend& b) {
            return b.fingerprint != failed &&
                   worker_.circuits().available(b.fingerprint, at, health_.get(b.counter_slot));
          });
      const Decision retry = send(syn, at);
      ASSERT_NE(expect, kNoBackendIndex);
      EXPECT_EQ(retry.backend, expect);
      EXPECT_FALSE(retry.fallback);
      steered_in_pool += retry.steered && retry.pool == 0;
    }
    check_counts(static_cast<uint32_t>(at), "batch " + std::to_string(batch));
  }
  EXPECT_EQ(steered_in_pool, n);
  EXPECT_EQ(worker_.pool_ejected(*snapshot_, svc, 0), 2048u);
  EXPECT_EQ(recount_pool(svc, 0, static_cast<uint32_t>(now_ms)), 2048u);
  EXPECT_GT(worker_.circuits().stats().refused_by_max_ejected, 0u);

  // A new generation with the same backends (a weight change would do the
  // same): the count holds as it is, nothing is counted again.
  publish(big_pool_config(50));
  EXPECT_EQ(worker_.pool_ejected(*snapshot_, snapshot_->services()[0], 0), 2048u);
  // One backend (closed) drains: the count no longer holds until the next
  // failure counts the pool afresh; 2048 of 4095 is still at the limit.
  EngineConfig drained = big_pool_config(50);
  uint32_t closed = 0;
  while (worker_.circuits().state(backend_fingerprint(big_backend(closed), drained.seed),
                                  static_cast<uint32_t>(now_ms)) != CircuitState::kClosed) {
    ++closed;
  }
  drained.services[0].pools[0].backends[closed].state = BackendState::kDraining;
  publish(drained);
  const CompiledService& again = snapshot_->services()[0];
  EXPECT_EQ(worker_.pool_ejected(*snapshot_, again, 0), std::nullopt);
  const uint64_t refused = worker_.circuits().stats().refused_by_max_ejected;
  const uint64_t opened = worker_.circuits().stats().opened;
  for (uint32_t k = 0; k < 20; ++k) send(big_syn(n + k), now_ms);
  for (uint32_t k = 0; k < 20; ++k) send(big_syn(n + k), now_ms + kRetryAfterMs);
  EXPECT_EQ(worker_.pool_ejected(*snapshot_, again, 0), 2048u);
  EXPECT_EQ(worker_.circuits().stats().opened, opened);
  EXPECT_EQ(worker_.circuits().stats().refused_by_max_ejected, refused + 20);
}

// max_ejected_percent 100 and retransmitted SYNs until over 95% of a pool
// of 4096 is ejected: each first and retransmitted SYN goes where the
// bounded search says, having tried at most 24 backends of a pool, and
// either finds one of the few left or falls back to the spare pool; with
// the rest unhealthy too, everything falls back.
TEST_F(BoundedTest, RetransmitInMostlyEjectedPoolFindsBackendOrFallsBack) {
  publish(big_pool_config(100));
  const CompiledService& svc = snapshot_->services()[0];
  uint64_t now_ms = 10000;
  uint32_t found = 0, fell_back = 0, first_fell_back = 0, n = 0;
  // The backend the bounded search names for `frame` (pool, backend), with
  // `exclude` left out, as the circuits are at `at`.
  auto pick = [&](const Bytes& frame, uint64_t exclude, uint64_t at) {
    const uint64_t hash = flow_hash_of(frame, snapshot_->seed());
    auto usable = [&](const CompiledBackend& b) {
      return b.fingerprint != exclude && !health_.unhealthy(b.counter_slot) &&
             worker_.circuits().available(b.fingerprint, static_cast<uint32_t>(at),
                                          health_.get(b.counter_slot));
    };
    uint32_t tried = 0;
    const uint16_t in_pool = model_pick(svc, 0, hash, usable, &tried);
    EXPECT_LE(tried, SLUICE_MAX_CIRCUIT_PROBES + SLUICE_POOL_SAMPLES);
    if (in_pool != kNoBackendIndex) return std::make_pair(uint8_t{0}, in_pool);
    return std::make_pair(uint8_t{1}, model_pick(svc, 1, hash, usable));
  };
  while (worker_.pool_ejected(*snapshot_, svc, 0).value_or(0) < kBigPool * 95 / 100 && n < 20000) {
    std::vector<std::pair<Bytes, uint64_t>> sent;  // SYNs that went to the big pool
    for (uint32_t k = 0; k < kBigBatch; ++k, ++n) {
      const Bytes syn = big_syn(n);
      const auto [pool, backend] = pick(syn, 0, now_ms);  // a first SYN changes no circuit
      const Decision first = send(syn, now_ms);
      EXPECT_EQ(first.pool, pool) << "first SYN of flow " << n;
      EXPECT_EQ(first.backend, backend) << "first SYN of flow " << n;
      if (first.pool == 0) {
        sent.emplace_back(syn, svc.backends[first.backend].fingerprint);
      } else {
        ++first_fell_back;  // not retried: the spare pool's circuits stay closed
      }
    }
    const uint64_t at = now_ms + kRetryAfterMs;
    for (const auto& [syn, failed] : sent) {
      // The failure opens only the failed backend, which is left out anyway.
      const auto [pool, backend] = pick(syn, failed, at);
      const Decision retry = send(syn, at);
      EXPECT_EQ(retry.pool, pool);
      EXPECT_EQ(retry.backend, backend);
      EXPECT_TRUE(retry.steered);
      EXPECT_EQ(retry.fallback, pool == 1);
      pool == 0 ? ++found : ++fell_back;
    }
    check_counts(static_cast<uint32_t>(at), "flow " + std::to_string(n));
    if (HasFailure()) return;
    now_ms = at + 1;
  }
  ASSERT_GE(worker_.pool_ejected(*snapshot_, svc, 0).value_or(0), kBigPool * 95 / 100);
  std::printf(
      "%u flows: %u retransmitted SYNs found a backend in the pool, %u fell back; "
      "%u first SYNs fell back\n",
      n, found, fell_back, first_fell_back);
  EXPECT_GT(found, 3000u);
  EXPECT_GT(fell_back, 10u);
  EXPECT_GT(first_fell_back, 10u);

  // The backends still closed fail their health checks: nothing is left in
  // the pool, and both first and retransmitted SYNs go to the spare pool.
  for (const CompiledBackend& b : svc.backends) {
    if (b.pool == 0 && worker_.circuits().state(b.fingerprint, static_cast<uint32_t>(now_ms)) ==
                           CircuitState::kClosed) {
      health_.set(b.counter_slot, SLUICE_HEALTH_UNHEALTHY);
    }
  }
  for (uint32_t k = 0; k < 50; ++k) {
    const Decision first = send(big_syn(50000 + k), now_ms);
    EXPECT_TRUE(first.fallback);
    EXPECT_EQ(first.pool, 1);
  }
  for (uint32_t k = 0; k < 50; ++k) {
    const Decision retry = send(big_syn(50000 + k), now_ms + kRetryAfterMs);
    EXPECT_EQ(retry.pool, 1);
    EXPECT_EQ(retry.verdict.action, Action::kForward);
  }
}

}  // namespace
}  // namespace sluice::engine::test::bounded
