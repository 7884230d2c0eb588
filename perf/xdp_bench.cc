// SPDX-License-Identifier: Apache-2.0
// The XDP program's cost per packet, under BPF_PROG_TEST_RUN, beside a
// program that only returns XDP_PASS (ebpf/xdp_pass.bpf.o), in the same run:
// the difference is what sluice's pipeline costs, the harness's own overhead
// (the kernel's timer and context setup around every run) cancelling out.
//
// Same configuration and traffic as engine_bench (perf/bench_traffic.h):
//   established  flows already in the flow table (SYN and first ACK sent
//                untimed), one ACK per flow per pass, in a random order;
//   established_hot  the same with 4096 flows, over and over: the program's
//                data in cache, the floor of this harness;
//   new_flows    SYNs of never-seen 5-tuples into a full flow table (each
//                insert evicts the least recently used entry).
//
// Why one packet per BPF_PROG_TEST_RUN call (repeat = 1): with repeat > 1
// the kernel runs the program again on the buffer the previous run left,
// and a forwarded packet has been encapsulated by then (the second run
// would see an IPIP packet to a backend and hand it to the host). Each call
// copies a pristine frame in, as a NIC's DMA would. The kernel times each
// run itself (duration, in ns, around the program only, not the syscall);
// the figures are sums of those durations divided by the packet count,
// taken the same way for XDP_PASS. XDP_PASS is also timed with repeat = N
// on one frame (it does not modify it) for comparison with other reports.
//
// Also printed: the program's size as the kernel holds it (xlated
// instructions, JIT bytes, instructions the verifier processed), what
// `bpftool prog show id N` reports; and, at the end, the flow census
// (dataplane/xdp/flow_census.h) of the full flow map: how long sluiced's
// walk of it takes, twice (the first also deletes the handshakes that
// expired during the run, if it ran past the SYN timeout).
//
//   xdp_bench [--flows N] [--table N] [--new N] [--passes N] [--pass-repeat N]
// Runs as root, pinned to the CPU it starts on (use taskset -c).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <sched.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "dataplane/engine/wire.h"
#include "dataplane/xdp/flow_census.h"
#include "dataplane/xdp/xdp_maps.h"
#include "dataplane/xdp/xdp_publisher.h"
#include "ebpf/xdp/sluice_xdp.skel.h"
#include "perf/bench_traffic.h"

#ifndef SLUICE_XDP_PASS_OBJ
#error "SLUICE_XDP_PASS_OBJ (path of the built xdp_pass.bpf.o) must be defined by the build"
#endif

namespace sluice::perf {
namespace {

constexpr uint32_t kHotFlows = 4096;
constexpr uint32_t kHotPasses = 64;

struct Options {
  uint32_t flows = 524288;     // established flows
  uint32_t table = 1u << 20;   // entries of the flow map
  uint32_t fresh = 524288;     // timed new flows
  uint32_t passes = 3;         // over the established flows
  uint32_t pass_repeat = 1000000;
};

// What a series of single runs added up to.
struct Series {
  uint64_t packets = 0;
  uint64_t kernel_ns = 0;  // sum of the kernel's per-run durations
  uint64_t wall_ns = 0;    // the syscalls, as this process saw them
  uint64_t tx = 0, pass = 0, other = 0;

  double ns_per_packet() const { return packets ? double(kernel_ns) / double(packets) : 0; }
  double wall_per_packet() const { return packets ? double(wall_ns) / double(packets) : 0; }
};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "xdp_bench: %s\n", what.c_str());
  std::exit(1);
}

// Runs `prog` once on `frame` and adds it to `s`.
void run_once(int prog, const uint8_t* frame, uint32_t len, Series& s) {
  LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = frame, .data_size_in = len, .repeat = 1);
  const auto start = std::chrono::steady_clock::now();
  if (bpf_prog_test_run_opts(prog, &run) != 0) die(std::string("test run: ") + std::strerror(errno));
  s.wall_ns += static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start)
          .count());
  s.kernel_ns += run.duration;
  ++s.packets;
  if (run.retval == XDP_TX) {
    ++s.tx;
  } else if (run.retval == XDP_PASS) {
    ++s.pass;
  } else {
    ++s.other;
  }
}

// One pass over the established flows' ACKs.
void established_pass(int prog, const EstablishedFlows& flows, Series& s) {
  for (uint32_t i = 0; i < flows.size(); ++i) run_once(prog, flows.frame(i), kFrameLen, s);
}

// `count` SYNs of never-seen flows, numbered from `first`.
void new_flows(int prog, const NewFlowSource& source, uint64_t first, uint32_t count, Series& s) {
  uint8_t frame[kFrameStride];
  for (uint64_t n = first; n < first + count; ++n) {
    source.write(n, frame);
    run_once(prog, frame, kFrameLen, s);
  }
}

// Each flow's SYN, then at once its first ACK: all established (confirmed,
// in "flows") afterwards. Not all SYNs first: the unconfirmed map
// "flows_new" holds a quarter of the table, so with more flows than that
// the first SYNs would be evicted before their ACKs came, and those flows
// would stay unconfirmed through every pass (each packet then costs what a
// new flow costs).
void warm_up(int prog, const EstablishedFlows& flows) {
  Series ignored;
  uint8_t syn[kFrameStride];
  for (uint32_t i = 0; i < flows.size(); ++i) {
    std::memcpy(syn, flows.frame(i), kFrameStride);
    syn[kTcpFlagsOffset] = SLUICE_TCP_SYN;
    run_once(prog, syn, kFrameLen, ignored);
    run_once(prog, flows.frame(i), kFrameLen, ignored);
  }
}

void print_size(int prog, const char* name) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog, &info, &len) != 0) die("cannot inspect the program");
  std::printf("%-12s id %u: xlated %u insns (%u B), jited %u B, verified %u insns processed\n",
              name, info.id, info.xlated_prog_len / 8, info.xlated_prog_len, info.jited_prog_len,
              info.verified_insns);
}

void print_row(const char* scenario, const Series& s, const Series& base) {
  std::printf("%-22s %10llu %9.1f %9.1f %12.1f %12.1f   tx=%llu pass=%llu other=%llu\n", scenario,
              static_cast<unsigned long long>(s.packets), s.ns_per_packet(), base.ns_per_packet(),
              s.ns_per_packet() - base.ns_per_packet(), s.wall_per_packet(),
              static_cast<unsigned long long>(s.tx), static_cast<unsigned long long>(s.pass),
              static_cast<unsigned long long>(s.other));
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> uint32_t {
      if (i + 1 >= argc) die(arg + " needs a value");
      return static_cast<uint32_t>(std::strtoul(argv[++i], nullptr, 10));
    };
    if (arg == "--flows") o.flows = value();
    else if (arg == "--table") o.table = value();
    else if (arg == "--new") o.fresh = value();
    else if (arg == "--passes") o.passes = value();
    else if (arg == "--pass-repeat") o.pass_repeat = value();
    else die("unknown option " + arg + " (--flows --table --new --passes --pass-repeat)");
  }
  return o;
}

int run(const Options& o) {
  // Per-CPU counters and circuits: every run must be on one CPU.
  const int cpu = sched_getcpu();
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  if (sched_setaffinity(0, sizeof(one), &one) != 0) die("cannot pin to the current CPU");

  sluice_xdp* skel = sluice_xdp__open();
  if (!skel) die("cannot open the XDP program");
  bpf_map__set_max_entries(skel->maps.flows, o.table);
  if (sluice_xdp__load(skel) != 0) die("cannot load the XDP program (root? see libbpf's messages)");
  bpf_object* pass_obj = bpf_object__open_file(SLUICE_XDP_PASS_OBJ, nullptr);
  if (!pass_obj || bpf_object__load(pass_obj) != 0) die(std::string("cannot load ") + SLUICE_XDP_PASS_OBJ);
  const int prog = bpf_program__fd(skel->progs.sluice_xdp);
  const int pass = bpf_program__fd(bpf_object__next_program(pass_obj, nullptr));

  const auto snap = compile_bench_snapshot(1);
  xdp::XdpPublisher publisher(xdp::maps_of(skel->obj));
  publisher.publish(snap);
  const EstablishedFlows flows(*snap, o.flows, 0);
  const EstablishedFlows hot(*snap, kHotFlows, 0);
  const NewFlowSource source;

  std::printf("xdp_bench: CPU %d, %u established flows, flow map %u entries, %u new flows, "
              "%u passes\n", cpu, o.flows, o.table, o.fresh, o.passes);
  print_size(prog, "sluice_xdp");
  print_size(pass, "xdp_pass");

  // Fill the flow map (so that every timed new flow evicts one), then make
  // the established flows its most recently used entries.
  Series fill;
  new_flows(prog, source, 0, o.table, fill);
  warm_up(prog, hot);
  warm_up(prog, flows);

  Series established, established_base, fresh, fresh_base, hot_runs, hot_base;
  for (uint32_t p = 0; p < o.passes; ++p) {
    established_pass(pass, flows, established_base);
    established_pass(prog, flows, established);
  }
  for (uint32_t p = 0; p < kHotPasses; ++p) {
    established_pass(pass, hot, hot_base);
    established_pass(prog, hot, hot_runs);
  }
  new_flows(pass, source, uint64_t{o.table}, o.fresh, fresh_base);
  new_flows(prog, source, uint64_t{o.table}, o.fresh, fresh);

  LIBBPF_OPTS(bpf_test_run_opts, repeated, .data_in = flows.frame(0), .data_size_in = kFrameLen,
              .repeat = static_cast<int>(o.pass_repeat));
  if (bpf_prog_test_run_opts(pass, &repeated) != 0) die("repeated XDP_PASS run failed");

  std::printf("\n%-22s %10s %9s %9s %12s %12s\n", "scenario", "packets", "ns/pkt", "xdp_pass",
              "difference", "syscall ns");
  print_row("established", established, established_base);
  print_row("established_hot", hot_runs, hot_base);
  print_row("new_flows", fresh, fresh_base);
  std::printf("\nxdp_pass with repeat=%u on one frame: %u ns/packet\n", o.pass_repeat,
              repeated.duration);
  std::printf("(fill before new_flows: %llu SYNs, %llu forwarded)\n",
              static_cast<unsigned long long>(fill.packets), static_cast<unsigned long long>(fill.tx));

  for (int i = 0; i < 2; ++i) {
    rusage before{}, after{};
    getrusage(RUSAGE_SELF, &before);
    const auto start = std::chrono::steady_clock::now();
    const xdp::XdpFlowCensus census =
        xdp::census_xdp_flows(xdp::maps_of(skel->obj), *snap, xdp::xdp_now_ms());
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                                start)
                          .count();
    getrusage(RUSAGE_SELF, &after);
    auto cpu_ms = [](const timeval& a, const timeval& b) {
      return double(b.tv_sec - a.tv_sec) * 1e3 + double(b.tv_usec - a.tv_usec) / 1e3;
    };
    uint64_t live = 0;
    for (const auto& cpu : census.cpus) {
      for (const engine::SlotFlows& f : cpu) live += f.flows;
    }
    std::printf("flow census: %llu keys read (%s), %llu live flows, %zu expired handshakes "
                "deleted: %.1f ms (user %.1f ms, kernel %.1f ms)\n",
                static_cast<unsigned long long>(census.keys),
                census.batched ? "batched" : "key by key", static_cast<unsigned long long>(live),
                census.expired.size(), ms, cpu_ms(before.ru_utime, after.ru_utime),
                cpu_ms(before.ru_stime, after.ru_stime));
  }

  bpf_object__close(pass_obj);
  sluice_xdp__destroy(skel);
  const bool all_forwarded = established.tx == established.packets &&
                             hot_runs.tx == hot_runs.packets && fresh.tx == fresh.packets;
  return all_forwarded ? 0 : 2;
}

}  // namespace
}  // namespace sluice::perf

int main(int argc, char** argv) {
  try {
    return sluice::perf::run(sluice::perf::parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xdp_bench: %s\n", e.what());
    return 1;
  }
}
