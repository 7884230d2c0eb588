// SPDX-License-Identifier: Apache-2.0
// The engine test fixture shared by the tests of dataplane/engine/engine.cc
// (engine_test.cc, engine_signals_test.cc, engine_health_test.cc): one
// worker, the "web" service (stable 90 with four backends, canary 10 with
// two), frames built with FrameBuilder and sent at a given millisecond.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/engine/engine.h"
#include "tests/dataplane/engine/frame_builder.h"

namespace sluice::engine {

using test::FrameBuilder;

inline constexpr uint32_t kHeadroom = 128;

// A frame in a buffer with headroom, as the DPDK runtime hands it over.
struct Buffer {
  explicit Buffer(const std::vector<uint8_t>& frame) : storage(kHeadroom + frame.size()) {
    std::memcpy(storage.data() + kHeadroom, frame.data(), frame.size());
    pkt = {storage.data() + kHeadroom, static_cast<uint32_t>(frame.size()), kHeadroom};
  }
  std::vector<uint8_t> bytes() const { return {pkt.data, pkt.data + pkt.len}; }
  std::vector<uint8_t> storage;
  Packet pkt;
};

inline IpAddress ip(const char* text) { return *IpAddress::parse(text); }

inline ServiceConfig web_service() {
  ServiceConfig s;
  s.name = "web";
  s.vip = ip("192.0.2.10");
  s.port = 80;
  s.protocol = Protocol::kTcp;
  s.maglev_table_size = 1021;
  s.pools = {{"stable", 90, {{ip("10.1.0.1")}, {ip("10.1.0.2")}, {ip("10.1.0.3")}, {ip("10.1.0.4")}}},
             {"canary", 10, {{ip("10.2.0.1")}, {ip("10.2.0.2")}}}};
  s.circuit.consecutive_failures = 2;
  s.circuit.syn_retry_min_ms = 500;
  s.circuit.base_ejection_ms = 5000;
  s.circuit.max_ejection_ms = 60000;
  s.circuit.half_open_trials = 1;
  s.circuit.max_ejected_percent = 100;
  return s;
}

class EngineTest : public ::testing::Test {
 protected:
  EngineTest() : worker_(small_options()) {
    config_.seed = {0x1111222233334444ULL, 0x5555666677778888ULL};
    config_.forwarding.source_v4 = ip("10.0.0.2");
    config_.forwarding.source_v6 = ip("fd00::2");
    config_.forwarding.local_mac = {0x02, 0, 0, 0, 0, 0x02};
    config_.forwarding.next_hop_mac = {0x02, 0, 0, 0, 0, 0x01};
    config_.services = {web_service()};
    publish();
  }

  static WorkerOptions small_options() {
    WorkerOptions o;
    o.flow_capacity = 1 << 16;
    o.circuit_capacity = 1024;
    o.service_counter_slots = 16;
    o.pool_counter_slots = 64;
    o.backend_counter_slots = 256;
    return o;
  }

  // Compiles config_ as the next generation; fails the test on errors.
  void publish() {
    auto result = compiler_.compile(config_, ++generation_);
    ASSERT_TRUE(result.errors.empty()) << result.errors[0].to_string();
    snapshot_ = result.snapshot;
  }

  Decision send(const std::vector<uint8_t>& frame, uint64_t now_ms, Buffer** out = nullptr) {
    buffers_.emplace_back(std::make_unique<Buffer>(frame));
    if (out) *out = buffers_.back().get();
    return worker_.process_one(snapshot_.get(), buffers_.back()->pkt, now_ms * 1000000);
  }

  static std::vector<uint8_t> tcp(const char* client, uint16_t sport, uint8_t flags,
                                  const char* vip = "192.0.2.10", uint16_t dport = 80) {
    return FrameBuilder().eth().ipv4(client, vip).tcp(sport, dport, flags).build();
  }

  // The backend address a decision forwarded to.
  static std::string backend_of(const Decision& d) {
    if (d.backend == kNoBackendIndex || !d.service) return "";
    return d.service->backends[d.backend].address.to_string();
  }
  static std::string pool_of(const Decision& d) {
    return d.service && d.pool < d.service->pools.size() ? d.service->pools[d.pool].name : "";
  }

  // Opens a TCP connection (SYN, then ACK); returns the backend it got.
  std::string connect(const char* client, uint16_t sport, uint64_t now_ms) {
    const Decision syn = send(tcp(client, sport, SLUICE_TCP_SYN), now_ms);
    EXPECT_EQ(syn.verdict.action, Action::kForward);
    const Decision ack = send(tcp(client, sport, SLUICE_TCP_ACK), now_ms);
    EXPECT_EQ(backend_of(ack), backend_of(syn));
    return backend_of(syn);
  }

  // A client port whose new flow lands on `backend` (searching ports).
  uint16_t port_for(const std::string& backend, const char* client, uint64_t now_ms) {
    Worker probe(small_options());
    for (uint16_t port = 1000; port < 60000; ++port) {
      Buffer b(tcp(client, port, SLUICE_TCP_SYN));
      const Decision d = probe.process_one(snapshot_.get(), b.pkt, now_ms * 1000000);
      if (backend_of(d) == backend) return port;
    }
    ADD_FAILURE() << "no port maps to " << backend;
    return 0;
  }

  // The first service ("web") of the current snapshot, and its parts by name.
  const CompiledService& web() const { return snapshot_->services()[0]; }
  const CompiledPool& pool_named(const std::string& name) const {
    for (const CompiledPool& p : web().pools) {
      if (p.name == name) return p;
    }
    ADD_FAILURE() << "no pool " << name;
    return web().pools[0];
  }
  const CompiledBackend& backend_named(const std::string& address) const {
    for (const CompiledBackend& b : web().backends) {
      if (b.address.to_string() == address) return b;
    }
    ADD_FAILURE() << "no backend " << address;
    return web().backends[0];
  }

  // The golden signals (signal_list.h) the worker counted on web's slots.
  const TrafficCounter& service_signals() const {
    return worker_.counters().services[web().counter_slot];
  }
  const TrafficCounter& pool_signals(const std::string& pool) const {
    return worker_.counters().pools[pool_named(pool).counter_slot];
  }
  const TrafficCounter& backend_signals(const std::string& address) const {
    return worker_.counters().backends[backend_named(address).counter_slot];
  }
  const HandshakeHistogram& pool_handshakes(const std::string& pool) const {
    return worker_.counters().pool_handshakes[pool_named(pool).counter_slot];
  }
  const HandshakeHistogram& backend_handshakes(const std::string& address) const {
    return worker_.counters().backend_handshakes[backend_named(address).counter_slot];
  }

  EngineConfig config_;
  SnapshotCompiler compiler_;
  std::shared_ptr<const Snapshot> snapshot_;
  uint64_t generation_ = 0;
  Worker worker_;
  std::vector<std::unique_ptr<Buffer>> buffers_;
};

}  // namespace sluice::engine
