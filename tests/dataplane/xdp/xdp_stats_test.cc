// Tests of dataplane/xdp/xdp_stats.h: per-CPU counter blocks, traffic per
// counter slot and circuit breakers read back as engine types, first from
// values written by hand into the maps, then from what the program itself
// counted for a packet run through BPF_PROG_TEST_RUN.
#include "dataplane/xdp/xdp_stats.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <sched.h>

#include <gtest/gtest.h>

#include <vector>

#include "dataplane/engine/circuit_logic.h"
#include "dataplane/xdp/xdp_publisher.h"
#include "ebpf/xdp/xdp_layout.h"
#include "tests/dataplane/engine/frame_builder.h"
#include "tests/dataplane/xdp/xdp_test_support.h"

namespace sluice::xdp {
namespace {

class XdpStatsTest : public test::LoadedProgramTest {
 protected:
  void SetUp() override {
    test::LoadedProgramTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    // The program's clock is the test's (handshake times are exact).
    reload([](sluice_xdp* s) { s->rodata->sluice_test_clock = true; });
    skel_->bss->sluice_test_now_ns = 1000 * 1000000ull;
    cpus_ = static_cast<size_t>(libbpf_num_possible_cpus());
  }

  size_t cpus_ = 0;
};

// Every field of the per-CPU block lands in the engine field of the same
// name, on the worker of the same CPU.
TEST_F(XdpStatsTest, CounterBlockMapsToWorkerCountersPerCpu) {
  std::vector<sluice_xdp_counters> blocks(cpus_);
  for (size_t cpu = 0; cpu < cpus_; ++cpu) {
    uint64_t n = (cpu + 1) * 1000;
#define SLUICE_X(name, help) blocks[cpu].name = ++n;
    SLUICE_WORKER_COUNTERS(SLUICE_X)
#undef SLUICE_X
    for (int r = 0; r < SLUICE_DROP_REASON_COUNT; ++r) blocks[cpu].drops[r] = (cpu + 1) * 100 + r;
  }
  const uint32_t zero = 0;
  ASSERT_EQ(bpf_map_update_elem(maps_.counters, &zero, blocks.data(), BPF_ANY), 0);

  XdpStatsReader reader(maps_);
  EXPECT_EQ(reader.possible_cpus(), static_cast<int>(cpus_));
  const auto counters = reader.read_counters({});
  ASSERT_EQ(counters.size(), cpus_);
  for (size_t cpu = 0; cpu < cpus_; ++cpu) {
    uint64_t n = (cpu + 1) * 1000;
#define SLUICE_X(name, help) EXPECT_EQ(counters[cpu].name, ++n) << #name << " cpu " << cpu;
    SLUICE_WORKER_COUNTERS(SLUICE_X)
#undef SLUICE_X
    for (int r = 0; r < engine::kDropReasonCount; ++r) {
      EXPECT_EQ(counters[cpu].drops[r], (cpu + 1) * 100 + r) << "drop " << r;
    }
    EXPECT_TRUE(counters[cpu].services.empty());
  }
}

// Traffic is read per slot and CPU, as many slots as asked (at most the
// maps' size).
TEST_F(XdpStatsTest, TrafficPerCounterSlotAndCpu) {
  std::vector<sluice_xdp_traffic> per_cpu(cpus_);
  for (size_t cpu = 0; cpu < cpus_; ++cpu) {
    per_cpu[cpu] = {};
    per_cpu[cpu].packets = 10 + cpu;
    per_cpu[cpu].bytes = 1000 + cpu;
  }
  const uint32_t slot = 3;
  ASSERT_EQ(bpf_map_update_elem(maps_.pool_traffic, &slot, per_cpu.data(), BPF_ANY), 0);
  const uint32_t last = bpf_map__max_entries(skel_->maps.backend_traffic) - 1;
  ASSERT_EQ(bpf_map_update_elem(maps_.backend_traffic, &last, per_cpu.data(), BPF_ANY), 0);

  XdpStatsReader reader(maps_);
  const auto counters = reader.read_counters({.services = 2, .pools = 5, .backends = last + 100});
  for (size_t cpu = 0; cpu < cpus_; ++cpu) {
    ASSERT_EQ(counters[cpu].services.size(), 2u);
    ASSERT_EQ(counters[cpu].pools.size(), 5u);
    EXPECT_EQ(counters[cpu].pools[3].packets, 10 + cpu);
    EXPECT_EQ(counters[cpu].pools[3].bytes, 1000 + cpu);
    EXPECT_EQ(counters[cpu].pools[2].packets, 0u);
    ASSERT_EQ(counters[cpu].backends.size(), last + 1);  // capped at the map's size
    EXPECT_EQ(counters[cpu].backends[last].packets, 10 + cpu);
  }
}

// Every golden signal of a slot lands in the engine field of the same name,
// and the pool and backend handshake histograms bucket by bucket, per CPU.
TEST_F(XdpStatsTest, SlotSignalsAndHistogramsPerCpu) {
  std::vector<sluice_xdp_traffic> traffic(cpus_);
  std::vector<sluice_handshake_histogram> histograms(cpus_);
  for (size_t cpu = 0; cpu < cpus_; ++cpu) {
    uint64_t n = (cpu + 1) * 100;
#define SLUICE_X(name, help) traffic[cpu].name = ++n;
    SLUICE_SLOT_SIGNALS(SLUICE_X)
#undef SLUICE_X
    for (int b = 0; b < SLUICE_HANDSHAKE_BUCKETS; ++b) histograms[cpu].buckets[b] = cpu * 1000 + b;
    histograms[cpu].sum_ms = 77 + cpu;
  }
  const uint32_t slot = 2;
  for (const int fd : {maps_.service_traffic, maps_.pool_traffic, maps_.backend_traffic}) {
    ASSERT_EQ(bpf_map_update_elem(fd, &slot, traffic.data(), BPF_ANY), 0);
  }
  ASSERT_EQ(bpf_map_update_elem(maps_.pool_handshakes, &slot, histograms.data(), BPF_ANY), 0);
  const uint32_t other = 1;
  ASSERT_EQ(bpf_map_update_elem(maps_.backend_handshakes, &other, histograms.data(), BPF_ANY), 0);

  XdpStatsReader reader(maps_);
  const auto counters = reader.read_counters({.services = 3, .pools = 3, .backends = 3});
  for (size_t cpu = 0; cpu < cpus_; ++cpu) {
    for (const auto* kind : {&counters[cpu].services, &counters[cpu].pools, &counters[cpu].backends}) {
      ASSERT_EQ(kind->size(), 3u);
      uint64_t n = (cpu + 1) * 100;
#define SLUICE_X(name, help) EXPECT_EQ((*kind)[slot].name, ++n) << #name << " cpu " << cpu;
      SLUICE_SLOT_SIGNALS(SLUICE_X)
#undef SLUICE_X
      EXPECT_EQ((*kind)[0].packets, 0u);
    }
    ASSERT_EQ(counters[cpu].pool_handshakes.size(), 3u);
    ASSERT_EQ(counters[cpu].backend_handshakes.size(), 3u);
    const engine::HandshakeHistogram& pool = counters[cpu].pool_handshakes[slot];
    const engine::HandshakeHistogram& backend = counters[cpu].backend_handshakes[other];
    for (int b = 0; b < SLUICE_HANDSHAKE_BUCKETS; ++b) {
      EXPECT_EQ(pool.buckets[b], cpu * 1000 + b) << "bucket " << b;
      EXPECT_EQ(backend.buckets[b], cpu * 1000 + b) << "bucket " << b;
    }
    EXPECT_EQ(pool.sum_ms, 77 + cpu);
    EXPECT_EQ(counters[cpu].backend_handshakes[slot].count(), 0u);
  }
}

// A stored circuit: failures counted, ejections, start and length of the
// ejection, phase.
sluice_circuit circuit(uint32_t failures, uint32_t ejections, uint32_t opened_ms,
                       uint32_t ejection_ms, uint8_t phase) {
  sluice_circuit c{};
  c.consecutive_failures = failures;
  c.ejections = ejections;
  c.opened_ms = opened_ms;
  c.ejection_ms = ejection_ms;
  c.phase = phase;
  return c;
}

// Circuits: per CPU, backends holding state are counted, and those of the
// snapshot that are open, half-open (open past its ejection time counts as
// half-open) or suspected are listed; backends of other snapshots are not.
TEST_F(XdpStatsTest, CircuitsPerCpu) {
  if (cpus_ < 2) GTEST_SKIP() << "needs two possible CPUs";
  engine::SnapshotCompiler compiler;
  auto snap = test::compile(compiler, test::sample_config(), 1);
  const uint64_t a = snap->services()[0].backends[0].fingerprint;
  const uint64_t b = snap->services()[0].backends[1].fingerprint;
  const uint64_t stranger = 0x5eed;
  const uint32_t now = 1000000;

  std::vector<sluice_circuit> v(cpus_);
  v[0] = circuit(0, 1, now - 10, 60000, SLUICE_CIRCUIT_OPEN);  // open, cpu 0 only
  v[1] = circuit(0, 0, 0, 0, SLUICE_CIRCUIT_CLOSED);  // suspected, cpu 1
  v[1].suspected_ms = now - 10;
  v[1].suspected_for_ms = 10000;
  ASSERT_EQ(bpf_map_update_elem(maps_.circuits, &a, v.data(), BPF_ANY), 0);
  v.assign(cpus_, sluice_circuit{});
  v[0] = circuit(0, 1, now - 70000, 60000, SLUICE_CIRCUIT_OPEN);  // ejection over
  v[1] = circuit(2, 0, 0, 0, SLUICE_CIRCUIT_CLOSED);              // failing, closed
  ASSERT_EQ(bpf_map_update_elem(maps_.circuits, &b, v.data(), BPF_ANY), 0);
  v.assign(cpus_, sluice_circuit{});
  v[1] = circuit(0, 1, now, 60000, SLUICE_CIRCUIT_OPEN);
  ASSERT_EQ(bpf_map_update_elem(maps_.circuits, &stranger, v.data(), BPF_ANY), 0);

  XdpStatsReader reader(maps_);
  EXPECT_EQ(reader.circuits_capacity(), bpf_map__max_entries(skel_->maps.circuits));
  const auto circuits = reader.read_circuits(snap.get(), now);
  ASSERT_EQ(circuits.size(), cpus_);
  EXPECT_EQ(circuits[0].tracked, 2u);
  EXPECT_EQ(circuits[1].tracked, 3u);
  ASSERT_EQ(circuits[0].not_closed.size(), 2u);
  for (const XdpCircuit& c : circuits[0].not_closed) {
    if (c.fingerprint == a) {
      EXPECT_EQ(c.state, engine::CircuitState::kOpen);
    } else {
      EXPECT_EQ(c.fingerprint, b);
      EXPECT_EQ(c.state, engine::CircuitState::kHalfOpen);
    }
  }
  // b closed, stranger not asked about; a suspected.
  ASSERT_EQ(circuits[1].not_closed.size(), 1u);
  EXPECT_EQ(circuits[1].not_closed[0].fingerprint, a);
  EXPECT_EQ(circuits[1].not_closed[0].state, engine::CircuitState::kSuspected);
  EXPECT_TRUE(reader.read_circuits(nullptr, now)[0].not_closed.empty());
}

// A CPU's value caught mid-change (odd sequence, as the program leaves it
// while it writes) through every read attempt is not taken: the circuit is
// reported as the previous reading found it, and the skip is counted; once
// the change ends (even sequence) the new state is read. The other CPU is
// read as usual.
TEST_F(XdpStatsTest, CircuitMidChangeKeepsLastKnownState) {
  engine::SnapshotCompiler compiler;
  auto snap = test::compile(compiler, test::sample_config(), 1);
  const uint64_t a = snap->services()[0].backends[0].fingerprint;
  const uint32_t now = 1000000;
  std::vector<sluice_circuit> v(cpus_);
  v[0] = circuit(0, 1, now - 10, 60000, SLUICE_CIRCUIT_OPEN);
  v[0].seq = 2;
  ASSERT_EQ(bpf_map_update_elem(maps_.circuits, &a, v.data(), BPF_ANY), 0);
  XdpStatsReader reader(maps_);
  auto circuits = reader.read_circuits(snap.get(), now);
  ASSERT_EQ(circuits[0].not_closed.size(), 1u);
  EXPECT_EQ(circuits[0].reads_skipped, 0u);

  // Mid-change: half-written data (closed, failures) under an odd sequence.
  v[0] = circuit(3, 0, 0, 0, SLUICE_CIRCUIT_CLOSED);
  v[0].seq = 3;
  ASSERT_EQ(bpf_map_update_elem(maps_.circuits, &a, v.data(), BPF_ANY), 0);
  circuits = reader.read_circuits(snap.get(), now);
  EXPECT_EQ(circuits[0].reads_skipped, 1u);
  EXPECT_EQ(circuits[0].tracked, 1u);
  ASSERT_EQ(circuits[0].not_closed.size(), 1u);
  EXPECT_EQ(circuits[0].not_closed[0].state, engine::CircuitState::kOpen);
  if (cpus_ > 1) EXPECT_EQ(circuits[1].reads_skipped, 0u);

  v[0].seq = 4;  // the change ended
  ASSERT_EQ(bpf_map_update_elem(maps_.circuits, &a, v.data(), BPF_ANY), 0);
  circuits = reader.read_circuits(snap.get(), now);
  EXPECT_EQ(circuits[0].reads_skipped, 1u);  // counted since the reader was made
  EXPECT_EQ(circuits[0].tracked, 1u);
  EXPECT_TRUE(circuits[0].not_closed.empty());
}

// What the program counts for one forwarded SYN, run on CPU 0, is read back
// on worker 0: the frame, the new flow, its service's traffic.
TEST_F(XdpStatsTest, ProgramCountsReadBack) {
  cpu_set_t cpu0;
  CPU_ZERO(&cpu0);
  CPU_SET(0, &cpu0);
  ASSERT_EQ(sched_setaffinity(0, sizeof(cpu0), &cpu0), 0);

  engine::SnapshotCompiler compiler;
  auto snap = test::compile(compiler, test::sample_config(), 1);
  XdpPublisher publisher(maps_);
  publisher.publish(snap);

  const std::vector<uint8_t> frame = engine::test::FrameBuilder()
                                         .eth()
                                         .ipv4("203.0.113.9", "10.0.0.1")
                                         .tcp(40000, 80, SLUICE_TCP_SYN)
                                         .build();
  std::vector<uint8_t> out(frame.size() + 256);
  LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = frame.data(), .data_out = out.data(),
              .data_size_in = static_cast<uint32_t>(frame.size()),
              .data_size_out = static_cast<uint32_t>(out.size()), .repeat = 1);
  ASSERT_EQ(bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.sluice_xdp), &run), 0);
  EXPECT_EQ(run.retval, static_cast<uint32_t>(XDP_TX));

  XdpStatsReader reader(maps_);
  const auto counters = reader.read_counters({compiler.service_slots(), compiler.pool_slots(),
                                              compiler.backend_slots()});
  EXPECT_EQ(counters[0].rx_packets, 1u);
  EXPECT_EQ(counters[0].forwarded, 1u);
  EXPECT_EQ(counters[0].new_flows, 1u);
  EXPECT_EQ(counters[0].snapshot_switches, 1u);
  const uint32_t web = snap->services()[0].counter_slot;
  ASSERT_GT(counters[0].services.size(), web);
  EXPECT_EQ(counters[0].services[web].packets, 1u);
  EXPECT_EQ(counters[0].services[web].bytes, frame.size());
  EXPECT_EQ(counters[0].services[web].new_flows, 1u);

  // The client's ACK 7 ms later completes the handshake: a 7 ms handshake
  // on the backend the SYN went to (the test clock gives the time).
  skel_->bss->sluice_test_now_ns = 1007 * 1000000ull;
  const std::vector<uint8_t> ack = engine::test::FrameBuilder()
                                       .eth()
                                       .ipv4("203.0.113.9", "10.0.0.1")
                                       .tcp(40000, 80, SLUICE_TCP_ACK)
                                       .build();
  LIBBPF_OPTS(bpf_test_run_opts, run2, .data_in = ack.data(), .data_out = out.data(),
              .data_size_in = static_cast<uint32_t>(ack.size()),
              .data_size_out = static_cast<uint32_t>(out.size()), .repeat = 1);
  ASSERT_EQ(bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.sluice_xdp), &run2), 0);
  const auto after = reader.read_counters({compiler.service_slots(), compiler.pool_slots(),
                                           compiler.backend_slots()});
  EXPECT_EQ(after[0].handshakes_completed, 1u);
  EXPECT_EQ(after[0].services[web].handshakes_completed, 1u);
  engine::HandshakeHistogram backends;
  for (const auto& h : after[0].backend_handshakes) backends.add(h);
  EXPECT_EQ(backends.count(), 1u);
  EXPECT_EQ(backends.buckets[3], 1u);  // (5, 10] ms
  EXPECT_EQ(backends.sum_ms, 7u);

  engine::WorkerCounters total;
  for (const auto& c : counters) total.add(c);
  EXPECT_EQ(total.rx_packets, 1u);
  EXPECT_EQ(publisher.worker_generations()[0], 1u);
}

}  // namespace
}  // namespace sluice::xdp
