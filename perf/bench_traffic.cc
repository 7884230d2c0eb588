// SPDX-License-Identifier: Apache-2.0
#include "perf/bench_traffic.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <string>

#include "dataplane/engine/flow_hash.h"
#include "dataplane/engine/flow_table.h"
#include "dataplane/engine/parse.h"
#include "dataplane/engine/wire.h"
#include "tests/dataplane/engine/frame_builder.h"

namespace sluice::perf {
namespace {

using engine::IpAddress;
using engine::test::FrameBuilder;

struct ServiceShape {
  const char* name;
  uint8_t vip_last;  // 192.0.2.x
  uint16_t port;
  engine::Affinity affinity;
  uint32_t stable_weight;
  uint32_t canary_weight;  // 0: no canary pool
  uint8_t backend_net;     // backends in 10.<net>.0.0/16
};

constexpr ServiceShape kShapes[kBenchServices] = {
    {"web", 10, 80, engine::Affinity::kClientAddress, 90, 10, 1},
    {"api", 11, 443, engine::Affinity::kFlow, 95, 5, 2},
    {"shop", 12, 80, engine::Affinity::kClientPrefix, 80, 20, 3},
    {"static", 13, 80, engine::Affinity::kFlow, 100, 0, 4},
};

engine::PoolConfig make_pool(const char* name, uint32_t weight, uint8_t net, uint8_t subnet,
                             uint32_t backends) {
  engine::PoolConfig pool;
  pool.name = name;
  pool.weight = weight;
  for (uint32_t i = 0; i < backends; ++i) {
    pool.backends.push_back({IpAddress::v4(10, net, subnet, static_cast<uint8_t>(i + 1)), 1,
                             engine::BackendState::kActive});
  }
  return pool;
}

// The ACK of an established flow from `client`:`sport` to service s.
std::vector<uint8_t> ack_frame(uint32_t s, const IpAddress& client, uint16_t sport,
                               uint8_t flags = SLUICE_TCP_ACK) {
  std::vector<uint8_t> f = FrameBuilder()
                               .eth()
                               .ip(client, IpAddress::v4(192, 0, 2, kShapes[s].vip_last))
                               .tcp(sport, kShapes[s].port, flags, 1000, 2000)
                               .pad_to(kFrameLen)
                               .build();
  if (f.size() != kFrameLen) std::abort();
  f.resize(kFrameStride, 0);
  return f;
}

}  // namespace

engine::EngineConfig bench_config() {
  engine::EngineConfig config;
  config.seed = {0x0123456789abcdefULL, 0x0fedcba987654321ULL};
  config.forwarding.source_v4 = IpAddress::v4(192, 0, 2, 1);
  config.forwarding.local_mac = {0x02, 0, 0, 0, 0, 0x10};
  config.forwarding.next_hop_mac = {0x02, 0, 0, 0, 0, 0x20};
  // No new-flow rate limit: the benchmarks run simulated time at tens of
  // millions of new flows per second, and would otherwise time the
  // stateless path (flood_bench measures the limit under floods).
  config.forwarding.new_flow_rate = 0;
  for (const ServiceShape& shape : kShapes) {
    engine::ServiceConfig s;
    s.name = shape.name;
    s.vip = IpAddress::v4(192, 0, 2, shape.vip_last);
    s.port = shape.port;
    s.protocol = engine::Protocol::kTcp;
    s.affinity = shape.affinity;
    s.maglev_table_size = 65537;
    s.pools.push_back(make_pool("stable", shape.stable_weight, shape.backend_net, 0, 8));
    if (shape.canary_weight > 0) {
      s.pools.push_back(make_pool("canary", shape.canary_weight, shape.backend_net, 1, 2));
    }
    if (shape.affinity == engine::Affinity::kClientAddress) {
      // A tester subnet pinned to the canary: makes every new flow of this
      // service pay for a rule lookup, as it would in production.
      s.rules.push_back({*engine::Cidr::parse("198.51.100.0/24"), "canary"});
    }
    config.services.push_back(std::move(s));
  }
  return config;
}

std::shared_ptr<const engine::Snapshot> compile_bench_snapshot(uint64_t generation) {
  engine::SnapshotCompiler compiler;
  engine::SnapshotCompiler::Result r = compiler.compile(bench_config(), generation);
  if (!r.snapshot) {
    for (const engine::ConfigError& e : r.errors) {
      std::fprintf(stderr, "bench config: %s\n", e.to_string().c_str());
    }
    std::abort();
  }
  return r.snapshot;
}

EstablishedFlows::EstablishedFlows(const engine::Snapshot& snap, uint32_t count,
                                   uint32_t fit_capacity)
    : count_(count), frames_(size_t{count} * kFrameStride) {
  const uint32_t buckets = fit_capacity > 0 ? fit_capacity / engine::FlowTable::kWays : 1;
  if (buckets == 0 || (buckets & (buckets - 1)) != 0) std::abort();
  if (fit_capacity > 0 && count > fit_capacity) std::abort();
  std::vector<uint8_t> used(buckets, 0);
  std::vector<std::vector<uint8_t>> accepted;
  accepted.reserve(count);
  // Candidate k: service k % 4, client 100.64.0.0 + (k / 4) % 65536,
  // source port 1024 + k / 2^18; so each client has a few connections to
  // every service. Candidates whose bucket is already full are skipped.
  for (uint64_t k = 0; accepted.size() < count; ++k) {
    const auto s = static_cast<uint32_t>(k % kBenchServices);
    const auto c = static_cast<uint32_t>((k >> 2) & 0xffff);
    const auto sport = static_cast<uint16_t>(1024 + (k >> 18));
    std::vector<uint8_t> f =
        ack_frame(s,
                  IpAddress::v4(100, static_cast<uint8_t>(64 + (c >> 16)),
                                static_cast<uint8_t>(c >> 8), static_cast<uint8_t>(c)),
                  sport);
    engine::ParsedPacket p;
    engine::parse_packet(f.data(), kFrameLen, &p);
    const uint64_t h = sluice_flow_hash(&p.key, &snap.seed());
    if (fit_capacity > 0) {
      // FlowTable picks the bucket from the low bits of the hash (flow_table.h).
      uint8_t& n = used[h & (buckets - 1)];
      if (n == engine::FlowTable::kWays) continue;
      ++n;
    }
    accepted.push_back(std::move(f));
  }
  // A random send order: consecutive packets belong to unrelated flows, the
  // worst case for caches and the usual case on a busy link.
  std::vector<uint32_t> order(count);
  std::iota(order.begin(), order.end(), 0u);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(42));
  for (uint32_t i = 0; i < count; ++i) {
    std::memcpy(frames_.data() + size_t{i} * kFrameStride, accepted[order[i]].data(), kFrameStride);
  }
}

NewFlowSource::NewFlowSource() {
  for (uint32_t s = 0; s < kBenchServices; ++s) {
    templates_[s] = ack_frame(s, IpAddress::v4(172, 16, 0, 0), 1024, SLUICE_TCP_SYN);
  }
}

uint64_t warm_up(engine::Worker& worker, const engine::Snapshot& snap,
                 const EstablishedFlows& flows, uint64_t& now_ns) {
  BufferRing ring;
  engine::Packet packets[kBurst];
  engine::Verdict verdicts[kBurst];
  for (const uint8_t flags : {uint8_t{SLUICE_TCP_SYN}, uint8_t{SLUICE_TCP_ACK}}) {
    const uint64_t hits_before = worker.counters().flow_hits;
    for (uint32_t at = 0; at < flows.size(); at += kBurst) {
      const uint32_t n = std::min(kBurst, flows.size() - at);
      for (uint32_t i = 0; i < n; ++i) {
        packets[i] = ring.next();
        std::memcpy(packets[i].data, flows.frame(at + i), kFrameStride);
        packets[i].data[kTcpFlagsOffset] = flags;
      }
      worker.process_burst(&snap, packets, verdicts, n, now_ns);
      now_ns += kNsPerBurst;
    }
    if (flags == SLUICE_TCP_ACK) return flows.size() - (worker.counters().flow_hits - hits_before);
  }
  return 0;
}

}  // namespace sluice::perf
