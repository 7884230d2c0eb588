// SPDX-License-Identifier: Apache-2.0
#include "tools/engine_demo/lab.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "dataplane/engine/wire.h"
#include "tests/dataplane/engine/frame_builder.h"

namespace sluice::demo {
namespace {

constexpr uint32_t kBurst = 32;
constexpr uint32_t kHeadroom = 128;  // like an mbuf: room for the outer headers
constexpr uint32_t kBufferSize = 2048;
constexpr uint32_t kEthHeader = 14;
constexpr uint64_t kNsPerBurst = 10'000;

uint32_t v4_key(const uint8_t* bytes) {
  return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) |
         bytes[3];
}

}  // namespace

Lab::Lab(std::vector<engine::IpAddress> backends, engine::IpAddress vip, uint16_t port,
         uint32_t flow_capacity)
    : backends_(std::move(backends)), vip_(vip), port_(port) {
  for (size_t i = 0; i < backends_.size(); ++i) {
    backend_by_v4_[v4_key(backends_[i].bytes.data())] = static_cast<int>(i);
  }
  engine::WorkerOptions options;
  options.flow_capacity = flow_capacity;
  worker_ = std::make_unique<engine::Worker>(options);
}

bool Lab::publish(const engine::EngineConfig& config) {
  engine::SnapshotCompiler::Result r = compiler_.compile(config, generation_ + 1);
  if (!r.snapshot) {
    for (const engine::ConfigError& e : r.errors) {
      std::fprintf(stderr, "config error: %s\n", e.to_string().c_str());
    }
    return false;
  }
  snapshot_ = std::move(r.snapshot);
  generation_ = snapshot_->generation();
  return true;
}

std::vector<int> Lab::send(const std::vector<PacketSpec>& packets) {
  std::vector<int> where(packets.size(), kNotForwarded);
  std::vector<uint8_t> buffers(size_t{kBurst} * kBufferSize);
  engine::Packet burst[kBurst];
  engine::Verdict verdicts[kBurst];
  for (size_t at = 0; at < packets.size(); at += kBurst) {
    const auto n = static_cast<uint32_t>(std::min<size_t>(kBurst, packets.size() - at));
    for (uint32_t i = 0; i < n; ++i) {
      const PacketSpec& spec = packets[at + i];
      const std::vector<uint8_t> frame = engine::test::FrameBuilder()
                                             .eth()
                                             .ip(spec.client, vip_)
                                             .tcp(spec.sport, port_, spec.tcp_flags)
                                             .payload(spec.payload)
                                             .pad_to(60)
                                             .build();
      uint8_t* buffer = buffers.data() + size_t{i} * kBufferSize;
      std::memcpy(buffer + kHeadroom, frame.data(), frame.size());
      burst[i] = {buffer + kHeadroom, static_cast<uint32_t>(frame.size()), kHeadroom};
    }
    worker_->process_burst(snapshot_.get(), burst, verdicts, n, now_ns_);
    now_ns_ += kNsPerBurst;
    for (uint32_t i = 0; i < n; ++i) {
      if (verdicts[i].action != engine::Action::kForward) continue;
      // An IPv4 backend: Ethernet, then the outer IPv4 header (protocol 4,
      // IPIP) whose destination is the backend.
      const uint8_t* outer = burst[i].data + kEthHeader;
      if (burst[i].len < kEthHeader + 20 || outer[9] != SLUICE_IPPROTO_IPIP) {
        where[at + i] = kUnknownBackend;
        continue;
      }
      const auto it = backend_by_v4_.find(v4_key(outer + 16));
      where[at + i] = it == backend_by_v4_.end() ? kUnknownBackend : it->second;
    }
  }
  return where;
}

}  // namespace sluice::demo
