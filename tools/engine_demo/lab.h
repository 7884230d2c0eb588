// SPDX-License-Identifier: Apache-2.0
// The demo's packet lab: one engine worker (one core) and a snapshot
// compiler, driven with real frames.
//
// Frames are built with the test FrameBuilder, pushed through
// Worker::process_burst in bursts of 32 like a DPDK receive loop, and the
// backend of each packet is read back from the encapsulated output frame's
// outer IPv4 destination: the lab sees what the wire would see, not the
// engine's internal decision.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/engine/config.h"
#include "dataplane/engine/engine.h"
#include "dataplane/engine/snapshot.h"

namespace sluice::demo {

// One client-to-VIP TCP packet to send.
struct PacketSpec {
  engine::IpAddress client;
  uint16_t sport = 0;
  uint8_t tcp_flags = 0;
  uint16_t payload = 0;  // bytes of data after the TCP header
};

// Where a packet went: a backend index into Lab::backends(), or one of these.
inline constexpr int kNotForwarded = -1;    // dropped or handed to the host
inline constexpr int kUnknownBackend = -2;  // forwarded, but not to a configured backend

class Lab {
 public:
  // `backends` are every backend address any published config will use,
  // in the order the demo prints them. `vip` and `port` are the service's.
  // `flow_capacity` sizes the worker's flow table.
  Lab(std::vector<engine::IpAddress> backends, engine::IpAddress vip, uint16_t port,
      uint32_t flow_capacity);

  // Compiles `config` as generation previous + 1 and uses it for every
  // later packet. Returns false (printing the errors) if it does not compile.
  bool publish(const engine::EngineConfig& config);

  // Sends the packets in order, in bursts of 32, and returns for each where
  // it went (see kNotForwarded / kUnknownBackend). Advances the lab clock.
  std::vector<int> send(const std::vector<PacketSpec>& packets);

  // Moves the clock on (between phases of the demo).
  void advance_ms(uint64_t ms) { now_ns_ += ms * 1'000'000; }

  const std::vector<engine::IpAddress>& backends() const { return backends_; }
  uint64_t generation() const { return generation_; }
  const engine::Worker& worker() const { return *worker_; }

 private:
  std::vector<engine::IpAddress> backends_;
  std::map<uint32_t, int> backend_by_v4_;  // outer destination -> index
  engine::IpAddress vip_;
  uint16_t port_;
  engine::SnapshotCompiler compiler_;
  std::shared_ptr<const engine::Snapshot> snapshot_;
  std::unique_ptr<engine::Worker> worker_;
  uint64_t generation_ = 0;
  uint64_t now_ns_ = 1'000'000'000;
};

}  // namespace sluice::demo
