// SPDX-License-Identifier: Apache-2.0
// The XDP program's worst packets of every kind in a pool of 4096
// backends, 90% of them ejected (bounded_scenario.h), under
// BPF_PROG_TEST_RUN: one run per packet (repeat = 1), the kernel's own
// duration of each run summed (as xdp_bench does), the median round per
// kind, minus XDP_PASS timed the same way, and each against a first SYN.
// The program reads its clock from the test clock, so that retransmissions
// can be 600 ms apart without waiting.
//
//   xdp_bounded_bench [--flows N] [--rounds N] [--generations N]
// Runs as root, pinned to the CPU it starts on (use taskset -c).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <sched.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "dataplane/xdp/backend_health.h"
#include "dataplane/xdp/xdp_maps.h"
#include "dataplane/xdp/xdp_publisher.h"
#include "ebpf/xdp/sluice_xdp.skel.h"
#include "perf/bounded_scenario.h"

#ifndef SLUICE_XDP_PASS_OBJ
#error "SLUICE_XDP_PASS_OBJ (path of the built xdp_pass.bpf.o) must be defined by the build"
#endif

namespace sluice::perf::bounded {
namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "xdp_bounded_bench: %s\n", what.c_str());
  std::exit(1);
}

class XdpDataplane : public Dataplane {
 public:
  XdpDataplane() {
    cpu_ = sched_getcpu();
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu_, &one);
    if (sched_setaffinity(0, sizeof(one), &one) != 0) die("cannot pin to the current CPU");
    cpus_ = libbpf_num_possible_cpus();
    skel_ = sluice_xdp__open();
    if (!skel_) die("cannot open the XDP program");
    skel_->rodata->sluice_test_clock = true;
    bpf_map__set_max_entries(skel_->maps.flows, 1u << 18);
    if (sluice_xdp__load(skel_) != 0) die("cannot load the XDP program (root?)");
    prog_ = bpf_program__fd(skel_->progs.sluice_xdp);
    pass_obj_ = bpf_object__open_file(SLUICE_XDP_PASS_OBJ, nullptr);
    if (!pass_obj_ || bpf_object__load(pass_obj_) != 0) die("cannot load xdp_pass");
    pass_ = bpf_program__fd(bpf_object__next_program(pass_obj_, nullptr));
    maps_ = xdp::maps_of(skel_->obj);
    publisher_ = std::make_unique<xdp::XdpPublisher>(maps_);
  }
  ~XdpDataplane() override {
    publisher_.reset();
    bpf_object__close(pass_obj_);
    sluice_xdp__destroy(skel_);
  }

  Series run(uint32_t kind, const std::vector<Frame>& frames, uint64_t now_ns,
             std::vector<bool>* to_big) override {
    skel_->bss->sluice_test_now_ns = now_ns;
    Series s;
    if (to_big) to_big->assign(frames.size(), false);
    uint8_t out[256];
    for (size_t i = 0; i < frames.size(); ++i) {
      LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frames[i].bytes, .data_out = out,
                  .data_size_in = kFrameLen, .data_size_out = sizeof(out), .repeat = 1);
      if (bpf_prog_test_run_opts(prog_, &opts) != 0)
        die(std::string("test run: ") + std::strerror(errno));
      s.ns += opts.duration;
      ++s.packets;
      if (opts.retval == XDP_TX) {
        ++s.forwarded;
        if (to_big) (*to_big)[i] = outer_to_big(out, opts.data_size_out);
      }
      if (kind == kFirstSyn) {  // XDP_PASS on the same frames: the harness's own cost
        LIBBPF_OPTS(bpf_test_run_opts, base, .data_in = frames[i].bytes, .data_size_in = kFrameLen,
                    .repeat = 1);
        if (bpf_prog_test_run_opts(pass_, &base) != 0) die("xdp_pass run failed");
        pass_ns_ += base.duration;
        ++pass_packets_;
      }
    }
    return s;
  }

  void publish(std::shared_ptr<const engine::Snapshot> snapshot) override {
    publisher_->publish(std::move(snapshot));
  }

  void all_unhealthy(const engine::Snapshot& snapshot) override {
    for (const engine::CompiledService& s : snapshot.services()) {
      for (const engine::CompiledBackend& b : s.backends) {
        xdp::set_backend_health(maps_, b.counter_slot, SLUICE_HEALTH_UNHEALTHY);
      }
    }
  }

  uint32_t ejected(const engine::Snapshot& snapshot, uint64_t now_ns) override {
    uint32_t n = 0;
    std::vector<sluice_circuit> values(static_cast<size_t>(cpus_));
    for (const engine::CompiledBackend& b : snapshot.services()[0].backends) {
      if (b.pool != 0 || bpf_map_lookup_elem(maps_.circuits, &b.fingerprint, values.data()) != 0)
        continue;
      const sluice_circuit& c = values[static_cast<size_t>(cpu_)];
      n += c.phase != SLUICE_CIRCUIT_FREE &&
           sluice_circuit_is_ejected(
               sluice_circuit_state(&c, static_cast<uint32_t>(now_ns / 1000000)));
    }
    return n;
  }

  double pass_ns() const { return pass_packets_ ? double(pass_ns_) / double(pass_packets_) : 0; }

 private:
  int cpu_ = 0;
  int cpus_ = 1;
  sluice_xdp* skel_ = nullptr;
  bpf_object* pass_obj_ = nullptr;
  int prog_ = -1;
  int pass_ = -1;
  xdp::XdpMaps maps_;
  std::unique_ptr<xdp::XdpPublisher> publisher_;
  uint64_t pass_ns_ = 0, pass_packets_ = 0;
};

}  // namespace
}  // namespace sluice::perf::bounded

int main(int argc, char** argv) {
  sluice::perf::bounded::Options o;
  if (!sluice::perf::bounded::parse_options(argc, argv, &o)) {
    std::fprintf(stderr, "usage: %s [--flows N] [--rounds N] [--generations N]\n", argv[0]);
    return 2;
  }
  try {
    sluice::perf::bounded::XdpDataplane dp;
    const sluice::perf::bounded::Result r =
        sluice::perf::bounded::run_scenario(dp, o.flows, o.rounds, o.generations);
    std::printf("xdp_pass: %.1f ns/packet (subtracted below)\n", dp.pass_ns());
    sluice::perf::bounded::print(r, "xdp", dp.pass_ns());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xdp_bounded_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
