// The XDP dataplane program (ebpf/xdp/sluice_xdp.bpf.c) loads through its
// skeleton: the verifier accepts it, in production form and with the test
// clock. What it decides is the parity test's business
// (xdp_parity_test.cc); here only what needs no configuration: with "root"
// still 0 every frame goes to the host and a malformed one is dropped, as
// the engine does without a snapshot.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "dataplane/engine/drop_reasons.h"
#include "ebpf/xdp/sluice_xdp.skel.h"
#include "ebpf/xdp/xdp_layout.h"
#include "tests/dataplane/engine/frame_builder.h"
#include "tests/ebpf/bpf_test_support.h"

namespace {

namespace bpftest = sluice::test::bpf;
using sluice::engine::test::FrameBuilder;

class XdpProgramTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!bpftest::can_load_bpf()) {
      GTEST_SKIP() << "needs CAP_BPF (or root) to load sluice_xdp.bpf.o";
    }
    libbpf_set_print(bpftest::collect_libbpf_log);
    bpftest::libbpf_log().clear();
  }

  void TearDown() override { sluice_xdp__destroy(skel_); }

  // Opens and loads the program; test_clock as the parity test sets it.
  void load(bool test_clock) {
    skel_ = sluice_xdp__open();
    ASSERT_NE(skel_, nullptr) << bpftest::libbpf_log();
    skel_->rodata->sluice_test_clock = test_clock;
    ASSERT_EQ(sluice_xdp__load(skel_), 0) << bpftest::libbpf_log_tail();
  }

  // Runs one frame; returns the XDP action.
  int run(std::vector<uint8_t> frame) {
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(),
                .data_size_in = static_cast<uint32_t>(frame.size()), .repeat = 1);
    EXPECT_EQ(bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.sluice_xdp), &opts), 0);
    return static_cast<int>(opts.retval);
  }

  // This process's counters, summed over CPUs.
  sluice_xdp_counters counters() {
    const int cpus = libbpf_num_possible_cpus();
    std::vector<sluice_xdp_counters> per_cpu(static_cast<size_t>(cpus));
    const uint32_t zero = 0;
    sluice_xdp_counters sum{};
    EXPECT_EQ(bpf_map_lookup_elem(bpf_map__fd(skel_->maps.counters), &zero, per_cpu.data()), 0);
    for (const sluice_xdp_counters& c : per_cpu) {
      sum.rx_packets += c.rx_packets;
      sum.to_host += c.to_host;
      sum.dropped += c.dropped;
      for (int i = 0; i < SLUICE_DROP_REASON_COUNT; ++i) sum.drops[i] += c.drops[i];
    }
    return sum;
  }

  sluice_xdp* skel_ = nullptr;
};

// The verifier accepts the program as it ships (kernel clock).
TEST_F(XdpProgramTest, LoadsWithKernelClock) { load(false); }

// ... and with the test clock the parity test uses.
TEST_F(XdpProgramTest, LoadsWithTestClock) { load(true); }

// Unconfigured: IP and non-IP frames go to the host, malformed ones are
// dropped with the engine's reason, and everything is counted.
TEST_F(XdpProgramTest, UnconfiguredPassesAndDropsMalformed) {
  load(false);
  if (HasFatalFailure()) return;
  EXPECT_EQ(run(FrameBuilder().eth().ipv4("10.0.0.1", "10.1.1.1").tcp(1234, 80).build()),
            XDP_PASS);
  EXPECT_EQ(run(FrameBuilder().eth().arp().build()), XDP_PASS);
  EXPECT_EQ(run(FrameBuilder().eth().ipv4("10.0.0.1", "10.1.1.1").tcp(1234, 80).truncate(20)
                    .build()),
            XDP_DROP);
  const sluice_xdp_counters c = counters();
  EXPECT_EQ(c.rx_packets, 3u);
  EXPECT_EQ(c.to_host, 2u);
  EXPECT_EQ(c.dropped, 1u);
  EXPECT_EQ(c.drops[SLUICE_DROP_TRUNCATED_IP], 1u);
}

}  // namespace
