// SPDX-License-Identifier: Apache-2.0
// The flood suite (README "Flow state under attack"): what each kind of
// flood costs and whether established flows survive it, on the engine
// (Worker::process_burst) and on the XDP program (BPF_PROG_TEST_RUN, when
// run as root), side by side in one run.
//
// For each flood: a fresh dataplane with bench_config() (perf/bench_traffic.h)
// and --established flows (SYN, then ACK); a baseline pass of one ACK per
// established flow; then --flood packets of the flood, with every 8th packet
// an established flow's ACK (so the flows stay in use, as live traffic
// would); then a weight change that sends every new flow of web, api and
// shop to their canary pools, and one more ACK per established flow. A flow
// is lost when that ACK goes to another backend than its first packet did.
//
// Floods, from random sources and ports unless said:
//   syn      TCP SYNs to the VIPs (new flows, never confirmed)
//   ack      TCP ACKs to the VIPs (mid-stream packets of unknown flows)
//   udp      UDP to a VIP's TCP port (no such service: dropped)
//   non_vip  TCP SYNs to an address that is no VIP (to the host)
//   syn_ack  a SYN then an ACK from each spoofed source (confirmed flows;
//            what a blind attacker can do to get past the probation)
//
// Printed per dataplane and flood: packets, Mpps, ns/packet during the
// flood (wall clock; for XDP it includes the syscall of each test run), the
// baseline ns/packet of established ACKs, for XDP the same two as the
// kernel times the program alone ("prog ns", "base prog"), and
// established flows lost. The engine runs one packet at a time
// (Worker::process_one), as the XDP program does.
// Timings are of this VM and noisy; "lost" is exact.
//
//   flood_bench [--established N] [--flood N] [--capacity N] [--rate N]
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "dataplane/xdp/xdp_loader.h"
#include "dataplane/xdp/xdp_maps.h"
#include "dataplane/xdp/xdp_publisher.h"
#include "ebpf/xdp/sluice_xdp.skel.h"
#include "perf/bench_traffic.h"
#include "tests/dataplane/engine/frame_builder.h"

namespace sluice::perf {
namespace {

using engine::test::FrameBuilder;

struct Options {
  uint32_t established = 20000;
  uint32_t flood = 1000000;
  uint32_t capacity = 1u << 20;  // engine flow table; XDP "flows" (flows_new: a quarter)
  uint32_t rate = 250000;        // new flows per second per worker; 0: no limit
};

uint64_t now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

engine::EngineConfig config(const Options& o, bool canary) {
  engine::EngineConfig c = bench_config();
  c.forwarding.new_flow_rate = o.rate;
  c.forwarding.new_flow_burst = o.rate == 0 ? 1 : o.rate;
  if (canary) {
    for (engine::ServiceConfig& s : c.services) {
      if (s.pools.size() < 2) continue;
      s.pools[0].weight = 0;
      s.pools[1].weight = 100;
    }
  }
  return c;
}

std::shared_ptr<const engine::Snapshot> compile(const engine::EngineConfig& c, uint64_t gen) {
  engine::SnapshotCompiler compiler;
  auto r = compiler.compile(c, gen);
  if (!r.errors.empty()) {
    std::fprintf(stderr, "flood_bench: %s\n", r.errors[0].to_string().c_str());
    std::exit(1);
  }
  return r.snapshot;
}

// Writes flood packet n of `kind` (kFrameLen bytes) into `out`.
class Flood {
 public:
  explicit Flood(std::string kind) : kind_(std::move(kind)) {
    tcp_syn_ = FrameBuilder().eth().ipv4("198.51.100.1", "192.0.2.10").tcp(1000, 80, SLUICE_TCP_SYN).build();
    tcp_ack_ = FrameBuilder().eth().ipv4("198.51.100.1", "192.0.2.11").tcp(1000, 443, SLUICE_TCP_ACK).build();
    udp_ = FrameBuilder().eth().ipv4("198.51.100.1", "192.0.2.12").udp(1000, 80).payload(18).build();
    non_vip_ = FrameBuilder().eth().ipv4("198.51.100.1", "203.0.113.99").tcp(1000, 80, SLUICE_TCP_SYN).build();
  }
  void write(uint64_t n, uint8_t* out) {
    const std::vector<uint8_t>* t = &tcp_syn_;
    uint64_t source = n;
    if (kind_ == "ack") t = &tcp_ack_;
    if (kind_ == "udp") t = &udp_;
    if (kind_ == "non_vip") t = &non_vip_;
    if (kind_ == "syn_ack") {
      source = n / 2;
      t = n % 2 ? &tcp_ack_ : &tcp_syn_;
    }
    std::memset(out, 0, kFrameLen);
    std::memcpy(out, t->data(), std::min<size_t>(t->size(), kFrameLen));
    if (source != last_source_) {
      last_source_ = source;
      addr_ = static_cast<uint32_t>(rng_());
      port_ = static_cast<uint16_t>(rng_());
    }
    std::memcpy(out + kSrcAddrOffset, &addr_, 4);
    std::memcpy(out + kSrcPortOffset, &port_, 2);
  }

 private:
  std::string kind_;
  std::vector<uint8_t> tcp_syn_, tcp_ack_, udp_, non_vip_;
  std::mt19937_64 rng_{7};
  uint64_t last_source_ = UINT64_MAX;
  uint32_t addr_ = 0;
  uint16_t port_ = 0;
};

// One dataplane as the suite drives it: a packet in, where it went out.
struct Dataplane {
  // Sends `len` bytes; returns the outer IPv4 destination of a forwarded
  // frame (0 if it was not forwarded).
  std::function<uint32_t(const uint8_t*, uint32_t)> send;
  std::function<void(const engine::EngineConfig&)> publish;
  // XDP: the kernel's own run time of each test run, summed (what the
  // program cost, without the syscall around it); 0 for the engine.
  uint64_t kernel_ns = 0;
};

struct Result {
  double flood_ns = 0, baseline_ns = 0, mpps = 0;
  double flood_kernel_ns = 0, baseline_kernel_ns = 0;  // XDP only
  uint64_t packets = 0;
  uint32_t lost = 0;
};

Result run_flood(Dataplane& dp, const Options& o, const EstablishedFlows& flows,
                 const std::string& kind) {
  Result r;
  std::vector<uint32_t> placed(flows.size());
  uint8_t frame[kFrameStride];
  for (uint32_t i = 0; i < flows.size(); ++i) {
    std::memcpy(frame, flows.frame(i), kFrameStride);
    frame[kTcpFlagsOffset] = SLUICE_TCP_SYN;
    placed[i] = dp.send(frame, kFrameLen);
    dp.send(flows.frame(i), kFrameLen);
  }
  dp.kernel_ns = 0;
  uint64_t start = now_ns();
  for (uint32_t i = 0; i < flows.size(); ++i) dp.send(flows.frame(i), kFrameLen);
  r.baseline_ns = double(now_ns() - start) / flows.size();
  r.baseline_kernel_ns = double(dp.kernel_ns) / flows.size();

  Flood flood(kind);
  uint32_t cursor = 0;
  dp.kernel_ns = 0;
  start = now_ns();
  for (uint64_t n = 0; n < o.flood; ++n) {
    if (n % 8 == 7) {
      dp.send(flows.frame(cursor), kFrameLen);
      if (++cursor == flows.size()) cursor = 0;
      continue;
    }
    flood.write(n, frame);
    dp.send(frame, kFrameLen);
  }
  const uint64_t elapsed = now_ns() - start;
  r.packets = o.flood;
  r.flood_ns = double(elapsed) / double(o.flood);
  r.mpps = double(o.flood) * 1e3 / double(elapsed);
  r.flood_kernel_ns = double(dp.kernel_ns) / double(o.flood);

  dp.publish(config(o, /*canary=*/true));
  for (uint32_t i = 0; i < flows.size(); ++i) {
    if (dp.send(flows.frame(i), kFrameLen) != placed[i]) ++r.lost;
  }
  return r;
}

uint32_t outer_dst(const uint8_t* frame, uint32_t len) {
  if (len < 34) return 0;
  uint32_t a;
  std::memcpy(&a, frame + 30, 4);
  return a;
}

// The engine: one Worker, packets one at a time through process_burst's
// code path (process_one), on the real clock.
Dataplane engine_dataplane(const Options& o, std::unique_ptr<engine::Worker>& worker,
                           std::shared_ptr<const engine::Snapshot>& snap, uint64_t& gen) {
  engine::WorkerOptions wo;
  wo.flow_capacity = o.capacity;
  worker = std::make_unique<engine::Worker>(wo);
  snap = compile(config(o, false), ++gen);
  Dataplane dp;
  dp.send = [&worker, &snap](const uint8_t* f, uint32_t len) -> uint32_t {
    alignas(64) static uint8_t buffer[256];
    std::memcpy(buffer + 128, f, len);
    engine::Packet p{buffer + 128, len, 128};
    const engine::Decision d = worker->process_one(snap.get(), p, now_ns());
    return d.verdict.action == engine::Action::kForward ? outer_dst(p.data, p.len) : 0;
  };
  dp.publish = [&snap, &gen](const engine::EngineConfig& c) { snap = compile(c, ++gen); };
  return dp;
}

void print(const char* plane, const std::string& kind, const Result& r) {
  std::printf("%-6s %-8s %9llu %7.2f %9.0f %9.0f %9.0f %9.0f %6u\n", plane, kind.c_str(),
              static_cast<unsigned long long>(r.packets), r.mpps, r.flood_ns, r.baseline_ns,
              r.flood_kernel_ns, r.baseline_kernel_ns, r.lost);
  std::fflush(stdout);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    const auto value = static_cast<uint32_t>(std::strtoul(argv[i + 1], nullptr, 10));
    if (arg == "--established") o.established = value;
    else if (arg == "--flood") o.flood = value;
    else if (arg == "--capacity") o.capacity = value;
    else if (arg == "--rate") o.rate = value;
    else {
      std::fprintf(stderr, "usage: flood_bench [--established N] [--flood N] [--capacity N] [--rate N]\n");
      std::exit(2);
    }
  }
  return o;
}

}  // namespace
}  // namespace sluice::perf

int main(int argc, char** argv) {
  using namespace sluice;
  using namespace sluice::perf;
  const Options o = parse(argc, argv);
  // Per-CPU state (the XDP program's buckets and counters): stay on one CPU.
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(sched_getcpu(), &one);
  sched_setaffinity(0, sizeof(one), &one);
  const char* kinds[] = {"syn", "ack", "udp", "non_vip", "syn_ack"};
  std::printf("flood_bench: %u established flows, %u flood packets (1 in 8 established), "
              "capacity %u, new-flow rate %u/s per worker\n",
              o.established, o.flood, o.capacity, o.rate);
  std::printf("%-6s %-8s %9s %7s %9s %9s %9s %9s %6s\n", "plane", "flood", "packets", "Mpps",
              "ns/pkt", "base ns", "prog ns", "base prog", "lost");
  for (const char* kind : kinds) {
    std::unique_ptr<engine::Worker> worker;
    std::shared_ptr<const engine::Snapshot> snap;
    uint64_t gen = 0;
    Dataplane dp = engine_dataplane(o, worker, snap, gen);
    const EstablishedFlows flows(*snap, o.established, 0);
    print("engine", kind, run_flood(dp, o, flows, kind));
  }
  if (geteuid() != 0) {
    std::printf("xdp: skipped (needs root to load the program)\n");
    return 0;
  }
  for (const char* kind : kinds) {
    sluice_xdp* skel = sluice_xdp__open();
    if (!skel) return 1;
    bpf_map__set_max_entries(skel->maps.flows, o.capacity);
    bpf_map__set_max_entries(skel->maps.flows_new, xdp::unconfirmed_flow_entries(o.capacity));
    if (sluice_xdp__load(skel) != 0) {
      std::fprintf(stderr, "flood_bench: cannot load the XDP program\n");
      return 1;
    }
    const int prog = bpf_program__fd(skel->progs.sluice_xdp);
    uint64_t gen = 0;
    xdp::XdpPublisher publisher(xdp::maps_of(skel->obj));
    auto snap = compile(config(o, false), ++gen);
    publisher.publish(snap);
    Dataplane dp;
    dp.send = [prog, &dp](const uint8_t* f, uint32_t len) -> uint32_t {
      uint8_t out[256];
      LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = f, .data_out = out, .data_size_in = len,
                  .data_size_out = sizeof(out), .repeat = 1);
      if (bpf_prog_test_run_opts(prog, &run) != 0) return 0;
      dp.kernel_ns += run.duration;
      return run.retval == XDP_TX ? outer_dst(out, run.data_size_out) : 0;
    };
    dp.publish = [&](const engine::EngineConfig& c) { publisher.publish(compile(c, ++gen)); };
    const EstablishedFlows flows(*snap, o.established, 0);
    print("xdp", kind, run_flood(dp, o, flows, kind));
    sluice_xdp__destroy(skel);
  }
  return 0;
}
