// SPDX-License-Identifier: Apache-2.0
// Synthetic traffic for the engine benchmarks (engine_bench.cc) and the
// instruction counter (engine_instructions.cc): one realistic configuration,
// pre-built frames of established flows, a source of never-seen SYNs, and a
// ring of mbuf-like buffers that bursts are copied into.
//
// Why frames are copied into a ring before every burst: encapsulation
// rewrites a frame in place and moves its data pointer into the headroom, so
// a frame can be processed only once. A NIC does the same copy (DMA into a
// recycled receive ring), so the ring's buffers are warm in cache as they
// would be with DDIO. The copy is part of the timed loop; the "copy only"
// benchmarks time it alone so the engine's cost reads as the difference.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "dataplane/engine/config.h"
#include "dataplane/engine/engine.h"
#include "dataplane/engine/packet.h"
#include "dataplane/engine/snapshot.h"

namespace sluice::perf {

inline constexpr uint32_t kBurst = 32;        // packets per process_burst call
inline constexpr uint32_t kFrameLen = 60;     // TCP without payload, padded to the Ethernet minimum
inline constexpr uint32_t kFrameStride = 64;  // bytes between stored frames
// Offsets in an untagged IPv4/TCP frame without options.
inline constexpr uint32_t kSrcAddrOffset = 14 + 12;
inline constexpr uint32_t kSrcPortOffset = 14 + 20;
inline constexpr uint32_t kTcpFlagsOffset = 14 + 20 + 13;
// Simulated time per burst: about what a burst costs, so flow ages and
// timeouts advance at a believable pace.
inline constexpr uint64_t kNsPerBurst = 1000;

// Four IPv4/TCP services, each with a stable pool of 8 backends and a canary
// pool of 2 (static has the stable pool only), Maglev M = 65537:
//   web    192.0.2.10:80   client-address affinity, 90/10, a tester rule
//   api    192.0.2.11:443  flow affinity, 95/5
//   shop   192.0.2.12:80   client /24 affinity, 80/20
//   static 192.0.2.13:80   flow affinity, stable only
engine::EngineConfig bench_config();
inline constexpr uint32_t kBenchServices = 4;

// Compiles bench_config() (or aborts with the errors: a benchmark cannot run
// on a configuration that does not compile).
std::shared_ptr<const engine::Snapshot> compile_bench_snapshot(uint64_t generation = 1);

// Frames (TCP ACK, no payload) of `count` distinct established flows, spread
// over the services round-robin, clients in 100.64.0.0/10, stored in a
// random send order. With fit_capacity > 0 (a power of two), the flows are
// chosen so that no bucket of a flow table of that many entries gets more
// than its ways: every flow fits, so warmed-up lookups all hit. With 0 they
// are taken as they come, and some share a bucket with too many others.
class EstablishedFlows {
 public:
  EstablishedFlows(const engine::Snapshot& snap, uint32_t count, uint32_t fit_capacity);

  uint32_t size() const { return count_; }
  const uint8_t* frame(uint32_t i) const { return frames_.data() + size_t{i} * kFrameStride; }

 private:
  uint32_t count_;
  std::vector<uint8_t> frames_;
};

// SYNs of flows never seen before: packet n comes from client
// 172.16.0.0 + (n mod 2^20), source port 1024 + (n / 2^20) mod 60000, to
// service n mod 4, so consecutive SYNs come from different clients.
class NewFlowSource {
 public:
  NewFlowSource();
  // Writes SYN number n (kFrameLen bytes) to `out`. Only the source address
  // and port are patched into a template, without fixing the checksums: the
  // engine does not verify them (parse.h) and nobody reads the output.
  void write(uint64_t n, uint8_t* out) const {
    std::memcpy(out, templates_[n % kBenchServices].data(), kFrameLen);
    const uint32_t client = static_cast<uint32_t>(n & 0xfffff);
    const uint32_t port = 1024 + static_cast<uint32_t>((n >> 20) % 60000);
    out[kSrcAddrOffset + 1] = static_cast<uint8_t>(16 | (client >> 16));
    out[kSrcAddrOffset + 2] = static_cast<uint8_t>(client >> 8);
    out[kSrcAddrOffset + 3] = static_cast<uint8_t>(client);
    out[kSrcPortOffset] = static_cast<uint8_t>(port >> 8);
    out[kSrcPortOffset + 1] = static_cast<uint8_t>(port);
  }

 private:
  std::vector<uint8_t> templates_[kBenchServices];
};

// Receive buffers like a DPDK ring of mbufs: 1024 buffers, 128 bytes of
// headroom each. Each burst takes the next kBurst buffers.
class BufferRing {
 public:
  static constexpr uint32_t kSlots = 1024;
  static constexpr uint32_t kHeadroom = 128;
  static constexpr uint32_t kSlotSize = 256;

  BufferRing() : slots_(kSlots) {}

  // The data area of the next buffer, as a Packet of kFrameLen bytes.
  engine::Packet next() {
    uint8_t* slot = slots_[cursor_].bytes;
    cursor_ = (cursor_ + 1) % kSlots;
    return {slot + kHeadroom, kFrameLen, kHeadroom};
  }

 private:
  struct alignas(64) Slot {
    uint8_t bytes[kSlotSize];
  };
  std::vector<Slot> slots_;
  uint32_t cursor_ = 0;
};

// What one timed loop fills into each burst. Each returns the Packet array
// ready for process_burst; `cursor`/`counter` advance.
inline void fill_established(BufferRing& ring, const EstablishedFlows& flows, uint32_t& cursor,
                             engine::Packet* out) {
  for (uint32_t i = 0; i < kBurst; ++i) {
    out[i] = ring.next();
    std::memcpy(out[i].data, flows.frame(cursor), kFrameStride);
    if (++cursor == flows.size()) cursor = 0;
  }
}

inline void fill_new(BufferRing& ring, const NewFlowSource& source, uint64_t& counter,
                     engine::Packet* out) {
  for (uint32_t i = 0; i < kBurst; ++i) {
    out[i] = ring.next();
    source.write(counter++, out[i].data);
  }
}

// Stream position p is a new SYN when p % 10 == 9: exactly 10% new flows.
inline void fill_mix(BufferRing& ring, const EstablishedFlows& flows, const NewFlowSource& source,
                     uint64_t& position, uint32_t& cursor, uint64_t& counter, engine::Packet* out) {
  for (uint32_t i = 0; i < kBurst; ++i) {
    out[i] = ring.next();
    if (position++ % 10 == 9) {
      source.write(counter++, out[i].data);
    } else {
      std::memcpy(out[i].data, flows.frame(cursor), kFrameStride);
      if (++cursor == flows.size()) cursor = 0;
    }
  }
}

// Sends every flow's SYN, then its first ACK, through the worker (untimed
// set-up), leaving every flow established. Returns the number of those ACKs
// that missed the flow table (0 when the table holds every flow).
uint64_t warm_up(engine::Worker& worker, const engine::Snapshot& snap,
                 const EstablishedFlows& flows, uint64_t& now_ns);

}  // namespace sluice::perf
