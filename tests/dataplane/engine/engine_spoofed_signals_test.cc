// Issue 10, item 3, on the DPDK engine: passive failure signals that a
// spoofer forges blind (a SYN, then the same SYN again) steer that client's
// own retry but eject no backend whose checks pass, nor any backend from a
// single source prefix; a really dead backend is still shed for new flows.
// (The XDP program: tests/ebpf/xdp_spoofed_signals_test.cc; the active
// confirmation: tests/control/core/health_monitor_test.cc.)
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

#include "dataplane/engine/backend_health.h"
#include "dataplane/engine/engine.h"
#include "tests/dataplane/engine/engine_fixture.h"

namespace sluice::engine {
namespace {

constexpr uint32_t kSpoofed = 100000;

class EngineSpoofedSignalsTest : public EngineTest {
 protected:
  EngineSpoofedSignalsTest() : health_(small_options().backend_counter_slots) {
    // The defaults an operator gets, but for a short ejection.
    config_.services[0].circuit = CircuitPolicy{};
    config_.services[0].circuit.base_ejection_ms = 5000;
    publish();
    worker_.set_health_table(&health_);
  }

  void mark_all(uint8_t health) {
    for (const CompiledBackend& b : web().backends) health_.set(b.counter_slot, health);
  }

  // One packet at now_ns, in a buffer of its own (the engine rewrites it).
  Decision send_ns(const std::vector<uint8_t>& frame, uint64_t now_ns) {
    Buffer b(frame);
    return worker_.process_one(snapshot_.get(), b.pkt, now_ns);
  }

  // kSpoofed clients, each sending a SYN and the same SYN again 600 ms
  // later, 50,000 new sources a second: addresses from `address(i)`, a
  // random source port. Returns the time after the last packet (ns).
  template <typename Address>
  uint64_t spoof(Address address) {
    std::mt19937 rng(42);
    std::vector<std::pair<std::string, uint16_t>> sent(kSpoofed);
    constexpr uint64_t kGapNs = 20000, kRetryNs = 600000000;
    uint32_t retried = 0;
    uint64_t now = 0;
    for (uint32_t i = 0; i < kSpoofed; ++i) {
      now = i * kGapNs;
      while (retried < i && retried * kGapNs + kRetryNs <= now) {
        const auto& [a, p] = sent[retried++];
        send_ns(tcp(a.c_str(), p, SLUICE_TCP_SYN), retried * kGapNs + kRetryNs);
      }
      sent[i] = {address(rng), static_cast<uint16_t>(1024 + rng() % 60000)};
      EXPECT_EQ(send_ns(tcp(sent[i].first.c_str(), sent[i].second, SLUICE_TCP_SYN), now)
                    .verdict.action,
                Action::kForward);
    }
    for (; retried < kSpoofed; ++retried) {
      now = retried * kGapNs + kRetryNs;
      const auto& [a, p] = sent[retried];
      send_ns(tcp(a.c_str(), p, SLUICE_TCP_SYN), now);
    }
    return now + 1;
  }

  // Backends open or half-open on the worker at now_ns.
  uint32_t ejected(uint64_t now_ns) const {
    uint32_t n = 0;
    for (const CompiledBackend& b : web().backends) {
      n += circuit_ejected(
          worker_.circuits().state(b.fingerprint, static_cast<uint32_t>(now_ns / 1000000)));
    }
    return n;
  }

  static std::string random_v4(std::mt19937& rng) {
    const uint32_t a = rng();
    return std::to_string(1 + (a >> 24) % 223) + "." + std::to_string((a >> 16) & 255) + "." +
           std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255);
  }

  BackendHealthTable health_;
};

// Backends whose checks pass: 100,000 spoofed retries from random sources
// eject none; every retry is still steered, and the backends are suspected
// (for sluiced to confirm) instead.
TEST_F(EngineSpoofedSignalsTest, RandomSourcesEjectNoHealthyBackend) {
  mark_all(SLUICE_HEALTH_HEALTHY);
  const uint64_t end = spoof(random_v4);
  EXPECT_EQ(ejected(end), 0u);
  EXPECT_EQ(worker_.circuits().stats().opened, 0u);
  // A retry whose unconfirmed entry another spoofed flow evicted is a new
  // flow again, not a failure (the 65,536-entry table holds 30,000 of them).
  EXPECT_GT(worker_.counters().connect_failures, kSpoofed * 9 / 10);
  EXPECT_EQ(worker_.counters().syn_retry_steered, worker_.counters().connect_failures);
  EXPECT_GT(worker_.counters().circuit_suspected, 1000u);
  EXPECT_EQ(worker_.counters().circuit_skips, 0u);
  // New flows still reach every backend.
  std::set<std::string> reached;
  for (uint16_t p = 1000; p < 1400; ++p) {
    reached.insert(backend_of(send_ns(tcp("198.51.100.9", p, SLUICE_TCP_SYN), end)));
  }
  EXPECT_EQ(reached.size(), web().backends.size());
}

// Without checks, a spoofer confined to one /24 counts once per backend and
// window: no ejection either.
TEST_F(EngineSpoofedSignalsTest, OnePrefixEjectsNothingWithoutChecks) {
  const uint64_t end = spoof([](std::mt19937& rng) {
    return "203.0.113." + std::to_string(rng() % 256);
  });
  EXPECT_EQ(ejected(end), 0u);
  EXPECT_EQ(worker_.circuits().stats().opened, 0u);
  EXPECT_GT(worker_.counters().circuit_repeat_sources,
            worker_.counters().connect_failures - 1000);
}

// The limit, stated: without checks, random sources are many prefixes and
// can eject, but never beyond max_ejected_percent of a pool.
TEST_F(EngineSpoofedSignalsTest, RandomSourcesWithoutChecksBoundedByMaxEjected) {
  const uint64_t end = spoof(random_v4);
  for (const char* pool : {"stable", "canary"}) {
    uint32_t open = 0;
    const CompiledPool& p = pool_named(pool);
    for (uint32_t k = 0; k < p.backend_count; ++k) {
      const CompiledBackend& b = web().backends[p.first_backend + k];
      open += circuit_ejected(
          worker_.circuits().state(b.fingerprint, static_cast<uint32_t>(end / 1000000)));
    }
    EXPECT_LE(open * 100, 50 * p.backend_count) << pool;
  }
}

// A backend really dead, without checks: real clients from three prefixes
// retry after 1 s (Linux's first SYN retransmission) and it is shed for
// new flows from then on, well within 2 s.
TEST_F(EngineSpoofedSignalsTest, DeadBackendWithoutChecksShedWithinTwoSeconds) {
  const std::string dead = "10.1.0.2";
  for (const char* client : {"198.51.100.1", "198.51.101.1", "198.51.102.1"}) {
    const uint16_t p = port_for(dead, client, 0);
    ASSERT_EQ(backend_of(send(tcp(client, p, SLUICE_TCP_SYN), 0)), dead);
    EXPECT_NE(backend_of(send(tcp(client, p, SLUICE_TCP_SYN), 1000)), dead);  // steered
  }
  const uint64_t fp = backend_named(dead).fingerprint;
  EXPECT_EQ(worker_.circuits().state(fp, 1000), CircuitState::kOpen);
  for (uint16_t p = 1000; p < 2000; ++p) {
    ASSERT_NE(backend_of(send(tcp("198.51.103.7", p, SLUICE_TCP_SYN), 1001)), dead) << p;
  }
}

// A really dead backend whose checks passed until now: passive signals only
// suspect it; the verdict of its checks (UNHEALTHY, sluiced's confirming
// check) sheds it for every new flow at once.
TEST_F(EngineSpoofedSignalsTest, DeadHealthyBackendSuspectedThenShedByItsCheck) {
  mark_all(SLUICE_HEALTH_HEALTHY);
  const std::string dead = "10.1.0.2";
  for (const char* client : {"198.51.100.1", "198.51.101.1", "198.51.102.1"}) {
    const uint16_t p = port_for(dead, client, 0);
    send(tcp(client, p, SLUICE_TCP_SYN), 0);
    send(tcp(client, p, SLUICE_TCP_SYN), 1000);
  }
  const CompiledBackend& b = backend_named(dead);
  EXPECT_EQ(worker_.circuits().state(b.fingerprint, 1000), CircuitState::kSuspected);
  health_.set(b.counter_slot, SLUICE_HEALTH_UNHEALTHY);
  for (uint16_t p = 1000; p < 2000; ++p) {
    ASSERT_NE(backend_of(send(tcp("198.51.103.7", p, SLUICE_TCP_SYN), 1100)), dead) << p;
  }
}

}  // namespace
}  // namespace sluice::engine
