// SPDX-License-Identifier: Apache-2.0
// Parity of the two dataplanes: the same corpus of frames (at least 100k,
// xdp_parity_corpus.h) goes through the DPDK decision engine
// (engine::Worker::process_one) and through the XDP program
// (ebpf/xdp/sluice_xdp.bpf.c, run by the kernel with BPF_PROG_TEST_RUN,
// repeat = 1 per frame), at the same simulated times, under the same
// configuration history (published into the maps by the XDP snapshot
// writer, dataplane/xdp/). For every frame:
//  - the verdict: forward = XDP_TX, host = XDP_PASS, drop = XDP_DROP;
//  - the output frame, byte for byte (forwarded and host frames);
//  - what each counter of the worker counted for it (so also the drop
//    reason, the flow-table and circuit events);
// and at the end the traffic per service, pool and backend counter slot,
// the circuit state of every backend, and the generation each side uses.
//
// The test thread is pinned to one CPU, so the program's per-CPU state
// (flows, circuits, counters) is one CPU's, like the engine worker's. The
// program runs with its test clock (sluice_test_clock), so both sides see
// the same now_ns; the clock starts 100 s before the 32-bit millisecond
// clock wraps, so the wrap is crossed halfway.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sched.h>

#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "dataplane/engine/circuit_logic.h"
#include "dataplane/engine/counters.h"
#include "dataplane/engine/engine.h"
#include "dataplane/engine/flow_table.h"
#include "dataplane/engine/snapshot.h"
#include "dataplane/xdp/snapshot_writer.h"
#include "dataplane/xdp/xdp_maps.h"
#include "ebpf/xdp/sluice_xdp.skel.h"
#include "ebpf/xdp/xdp_layout.h"
#include "tests/ebpf/bpf_test_support.h"
#include "tests/ebpf/xdp_parity_corpus.h"

namespace sluice::engine::test::parity {
namespace {

namespace bpftest = sluice::test::bpf;

constexpr uint64_t kCorpusSeed = 20260501;  // SLUICE_PARITY_SEED overrides it (exploration)
constexpr uint32_t kPackets = 120000;
constexpr uint32_t kUnconfigured = 500;  // frames before the first configuration
constexpr uint32_t kHeadroom = 256;      // the engine's buffer, as XDP's
constexpr uint32_t kFlowMapEntries = 1u << 18;
constexpr size_t kMaxReports = 20;
// 100 s before the 32-bit millisecond clock wraps.
constexpr uint64_t kStartNs = ((uint64_t{1} << 32) - 100000) * 1000000ULL;

static_assert(static_cast<int>(FlowState::kSynSent) == SLUICE_XDP_FLOW_SYN_SENT);
static_assert(static_cast<int>(FlowState::kEstablished) == SLUICE_XDP_FLOW_ESTABLISHED);
static_assert(static_cast<int>(FlowState::kClosing) == SLUICE_XDP_FLOW_CLOSING);
static_assert(static_cast<int>(FlowState::kUdp) == SLUICE_XDP_FLOW_UDP);

// The worker counters and drop reasons as one flat array, in the order of
// struct sluice_xdp_counters.
using CounterArray = std::vector<uint64_t>;

const std::vector<std::string>& counter_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
#define SLUICE_X(name, help) n.push_back(#name);
    SLUICE_WORKER_COUNTERS(SLUICE_X)
#undef SLUICE_X
#define SLUICE_X(name, c_name, str, help) n.push_back("drop:" str);
    SLUICE_DROP_REASONS(SLUICE_X)
#undef SLUICE_X
    return n;
  }();
  return names;
}

CounterArray flatten(const WorkerCounters& c) {
  CounterArray a;
#define SLUICE_X(name, help) a.push_back(c.name);
  SLUICE_WORKER_COUNTERS(SLUICE_X)
#undef SLUICE_X
  a.insert(a.end(), c.drops.begin(), c.drops.end());
  return a;
}

CounterArray flatten(const sluice_xdp_counters& c) {
  static_assert(sizeof(sluice_xdp_counters) % sizeof(uint64_t) == 0);
  CounterArray a(sizeof(c) / sizeof(uint64_t));
  std::memcpy(a.data(), &c, sizeof(c));
  return a;
}

std::string hex(const uint8_t* p, size_t n, size_t limit = 96) {
  std::string out;
  char b[4];
  for (size_t i = 0; i < n && i < limit; ++i) {
    snprintf(b, sizeof(b), "%02x", p[i]);
    out += b;
  }
  if (n > limit) out += "...";
  return out;
}

int expected_xdp_action(Action a) {
  switch (a) {
    case Action::kForward: return XDP_TX;
    case Action::kHost: return XDP_PASS;
    case Action::kDrop: return XDP_DROP;
  }
  return -1;
}

class XdpParityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!bpftest::can_load_bpf()) {
      GTEST_SKIP() << "needs CAP_BPF (or root) to load sluice_xdp.bpf.o";
    }
    libbpf_set_print(bpftest::collect_libbpf_log);
    bpftest::libbpf_log().clear();
    // One CPU: the program's per-CPU maps then hold one CPU's state.
    ASSERT_EQ(sched_getaffinity(0, sizeof(saved_affinity_), &saved_affinity_), 0);
    cpu_ = sched_getcpu();
    ASSERT_GE(cpu_, 0);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu_, &one);
    ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
    pinned_ = true;
    cpus_ = libbpf_num_possible_cpus();
    ASSERT_GT(cpus_, cpu_);

    skel_ = sluice_xdp__open();
    ASSERT_NE(skel_, nullptr) << bpftest::libbpf_log();
    skel_->rodata->sluice_test_clock = true;
    // Room for every flow of the corpus without LRU eviction, and far less
    // memory than the default million.
    ASSERT_EQ(bpf_map__set_max_entries(skel_->maps.flows, kFlowMapEntries), 0);
    ASSERT_EQ(sluice_xdp__load(skel_), 0) << bpftest::libbpf_log_tail();
    maps_ = xdp::maps_of(skel_->obj);
    prog_fd_ = bpf_program__fd(skel_->progs.sluice_xdp);

    WorkerOptions options;
    options.flow_capacity = 1u << 18;
    options.circuit_capacity = 1u << 12;
    worker_ = std::make_unique<Worker>(options);
  }

  void TearDown() override {
    writer_.reset();
    sluice_xdp__destroy(skel_);
    if (pinned_) sched_setaffinity(0, sizeof(saved_affinity_), &saved_affinity_);
  }

  // Compiles step `step` as generation `generation` for the engine and
  // writes it into the program's maps (with a writer of default options
  // unless the test made one).
  void publish(uint32_t step, uint64_t generation) {
    if (!writer_) writer_ = std::make_unique<xdp::SnapshotWriter>(maps_);
    SnapshotCompiler::Result r = compiler_.compile(scenario_config(step), generation);
    ASSERT_TRUE(r.errors.empty()) << "step " << step << ": " << r.errors.front().field << ": "
                                  << r.errors.front().message;
    snapshot_ = r.snapshot;
    const xdp::WriteStats stats = writer_->write(*snapshot_);
    generations_.push_back(stats.root_generation);
    for (const CompiledService& s : snapshot_->services()) {
      for (const CompiledBackend& b : s.backends) fingerprints_.insert(b.fingerprint);
    }
  }

  // This CPU's value of a per-CPU map element (false: no such key).
  template <typename T>
  bool read_this_cpu(int fd, const void* key, T* out) {
    std::vector<T> values(static_cast<size_t>(cpus_));
    if (bpf_map_lookup_elem(fd, key, values.data()) != 0) return false;
    *out = values[static_cast<size_t>(cpu_)];
    return true;
  }

  CounterArray xdp_counters() {
    const uint32_t zero = 0;
    sluice_xdp_counters c{};
    EXPECT_TRUE(read_this_cpu(maps_.counters, &zero, &c));
    return flatten(c);
  }

  struct XdpRun {
    int action = -1;
    Bytes frame;
  };

  XdpRun run_xdp(const Bytes& frame, uint64_t now_ns) {
    skel_->bss->sluice_test_now_ns = now_ns;
    XdpRun out;
    out.frame.resize(4096);
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(),
                .data_out = out.frame.data(),
                .data_size_in = static_cast<uint32_t>(frame.size()),
                .data_size_out = static_cast<uint32_t>(out.frame.size()), .repeat = 1);
    const int err = bpf_prog_test_run_opts(prog_fd_, &opts);
    EXPECT_EQ(err, 0) << "BPF_PROG_TEST_RUN refused a frame of " << frame.size() << " bytes";
    out.action = static_cast<int>(opts.retval);
    out.frame.resize(err == 0 ? opts.data_size_out : 0);
    return out;
  }

  void report(const std::string& what) {
    ++mismatches_;
    if (reports_.size() < kMaxReports) reports_.push_back(what);
  }

  int cpu_ = -1;
  int cpus_ = 0;
  cpu_set_t saved_affinity_{};
  bool pinned_ = false;
  sluice_xdp* skel_ = nullptr;
  int prog_fd_ = -1;
  xdp::XdpMaps maps_;
  std::unique_ptr<xdp::SnapshotWriter> writer_;
  SnapshotCompiler compiler_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::unique_ptr<Worker> worker_;
  std::vector<uint64_t> generations_;
  std::set<uint64_t> fingerprints_;
  uint64_t mismatches_ = 0;
  std::vector<std::string> reports_;
};

// Every frame of the corpus: same verdict, same bytes, same counting.
TEST_F(XdpParityTest, CorpusGivesSameVerdictsFramesAndCounters) {
  const char* seed_text = std::getenv("SLUICE_PARITY_SEED");
  const uint64_t seed = seed_text ? std::strtoull(seed_text, nullptr, 0) : kCorpusSeed;
  Corpus corpus(seed);
  std::map<std::string, uint64_t> kinds;
  uint64_t now_ns = kStartNs;
  uint32_t step = 0;
  uint64_t generation = 0;
  CounterArray engine_before = flatten(worker_->counters());
  CounterArray xdp_before = xdp_counters();
  ASSERT_EQ(engine_before.size(), xdp_before.size());
  Bytes buffer(kHeadroom + 4096);

  for (uint32_t i = 0; i < kPackets; ++i) {
    // Configuration history: nothing, then step 0, then a step every
    // kPackets / kSteps frames.
    const uint32_t due = i < kUnconfigured ? 0 : 1 + (i - kUnconfigured) * kSteps / kPackets;
    if (due > generation) {
      step = static_cast<uint32_t>(due - 1);
      publish(step, ++generation);
      if (HasFatalFailure()) return;
      corpus.set_step(step);
    }
    now_ns += corpus.uniform(3000) * 1000ULL;
    if (corpus.chance(1) && corpus.chance(100)) now_ns += 25'000'000'000ULL;  // everyone idles

    Corpus::Item item = corpus.next(now_ns);

    // The engine, in a buffer with XDP's headroom.
    std::memcpy(buffer.data() + kHeadroom, item.frame.data(), item.frame.size());
    Packet pkt{buffer.data() + kHeadroom, static_cast<uint32_t>(item.frame.size()), kHeadroom};
    const Decision d = worker_->process_one(snapshot_.get(), pkt, now_ns);
    corpus.observe(d);
    kinds[std::string(item.kind) + "/" +
          (d.verdict.action == Action::kForward ? "fwd"
           : d.verdict.action == Action::kHost  ? "host"
                                                : std::string(drop_reason_name(d.verdict.reason)))]++;

    const XdpRun x = run_xdp(item.frame, now_ns);
    if (HasFatalFailure()) return;

    const CounterArray engine_after = flatten(worker_->counters());
    const CounterArray xdp_after = xdp_counters();
    std::string diff;
    const int want = expected_xdp_action(d.verdict.action);
    if (x.action != want) {
      diff += " action: engine " + std::string(d.verdict.action == Action::kForward ? "forward"
                                               : d.verdict.action == Action::kHost ? "host"
                                                                                   : "drop") +
              " (" + std::string(drop_reason_name(d.verdict.reason)) + "), xdp " +
              std::to_string(x.action) + ";";
    }
    if (x.action == want && want != XDP_DROP &&
        (x.frame.size() != pkt.len || std::memcmp(x.frame.data(), pkt.data, pkt.len) != 0)) {
      size_t at = 0;
      while (at < pkt.len && at < x.frame.size() && x.frame[at] == pkt.data[at]) ++at;
      diff += " frame differs from byte " + std::to_string(at) + " (engine " +
              std::to_string(pkt.len) + " bytes " + hex(pkt.data, pkt.len) + ", xdp " +
              std::to_string(x.frame.size()) + " bytes " + hex(x.frame.data(), x.frame.size()) +
              ");";
    }
    for (size_t c = 0; c < engine_after.size(); ++c) {
      const uint64_t de = engine_after[c] - engine_before[c];
      const uint64_t dx = xdp_after[c] - xdp_before[c];
      if (de != dx) {
        diff += " " + counter_names()[c] + " +" + std::to_string(de) + " vs +" +
                std::to_string(dx) + ";";
      }
    }
    if (!diff.empty()) {
      report("frame " + std::to_string(i) + " (" + item.kind + ", step " + std::to_string(step) +
             "):" + diff + " input " + hex(item.frame.data(), item.frame.size()));
    }
    engine_before = engine_after;
    xdp_before = xdp_after;
  }

  for (const std::string& r : reports_) ADD_FAILURE() << r;
  EXPECT_EQ(mismatches_, 0u) << "frames whose verdict, bytes or counting differ";

  // The whole history was applied, and each side decides with its last
  // generation.
  EXPECT_EQ(generation, kSteps);
  const uint32_t zero = 0;
  uint64_t seen = 0;
  ASSERT_TRUE(read_this_cpu(maps_.seen_generation, &zero, &seen));
  EXPECT_EQ(seen, generations_.back());
  EXPECT_EQ(worker_->generation(), snapshot_->generation());

  // Traffic per counter slot.
  const WorkerCounters& ec = worker_->counters();
  const std::pair<int, const std::vector<TrafficCounter>*> kinds_of_slot[] = {
      {maps_.service_traffic, &ec.services},
      {maps_.pool_traffic, &ec.pools},
      {maps_.backend_traffic, &ec.backends}};
  for (const auto& [fd, engine_slots] : kinds_of_slot) {
    for (uint32_t s = 0; s < 64; ++s) {
      sluice_xdp_traffic t{};
      ASSERT_TRUE(read_this_cpu(fd, &s, &t));
      EXPECT_EQ(t.packets, (*engine_slots)[s].packets) << "slot " << s;
      EXPECT_EQ(t.bytes, (*engine_slots)[s].bytes) << "slot " << s;
    }
  }

  // Circuit state of every backend ever configured.
  const auto now_ms = static_cast<uint32_t>(now_ns / 1000000);
  for (const uint64_t fp : fingerprints_) {
    sluice_circuit c{};
    const bool stored = read_this_cpu(maps_.circuits, &fp, &c);
    const uint8_t xdp_state = stored && c.phase != SLUICE_CIRCUIT_FREE
                                  ? sluice_circuit_state(&c, now_ms)
                                  : static_cast<uint8_t>(SLUICE_CIRCUIT_CLOSED);
    const CircuitState es = worker_->circuits().state(fp, now_ms);
    const uint8_t engine_state = es == CircuitState::kOpen       ? SLUICE_CIRCUIT_OPEN
                                 : es == CircuitState::kHalfOpen ? SLUICE_CIRCUIT_HALF_OPEN
                                                                 : SLUICE_CIRCUIT_CLOSED;
    EXPECT_EQ(xdp_state, engine_state) << "backend fingerprint " << fp;
  }

  // The corpus reached what it is meant to exercise (otherwise agreement
  // would prove little).
  const CounterArray total = flatten(ec);
  const char* must_happen[] = {
      "forwarded", "replied", "to_host", "new_flows", "flow_hits", "flows_rescheduled",
      "untracked_tcp", "rule_matches", "handshakes_completed", "connect_failures",
      "syn_retry_steered", "circuit_skips", "fallback_used", "icmp_errors_forwarded",
      "snapshot_switches", "drop:truncated-ethernet", "drop:nested-vlan", "drop:truncated-ip",
      "drop:bad-ip-version", "drop:bad-ip-header-length", "drop:bad-ip-total-length",
      "drop:bad-ipv6-extension", "drop:truncated-l4", "drop:bad-tcp-data-offset",
      "drop:bad-udp-length", "drop:truncated-icmp-inner", "drop:fragment",
      "drop:unsupported-protocol", "drop:no-service", "drop:no-backend", "drop:too-big",
      "drop:icmp-no-flow", "drop:bad-icmp"};
  for (const char* name : must_happen) {
    for (size_t c = 0; c < total.size(); ++c) {
      if (counter_names()[c] == name) {
        EXPECT_GT(total[c], 0u) << name << " never happened";
      }
    }
  }
  EXPECT_GT(worker_->circuits().stats().opened, 0u);
  EXPECT_GT(worker_->circuits().stats().closed, 0u);

  std::string summary = "corpus (seed " + std::to_string(seed) + "):";
  for (const auto& [kind, n] : kinds) summary += "\n  " + kind + "=" + std::to_string(n);
  summary += "\ncounters:";
  for (size_t c = 0; c < total.size(); ++c) {
    if (total[c] != 0) summary += " " + counter_names()[c] + "=" + std::to_string(total[c]);
  }
  const CircuitStats cs = worker_->circuits().stats();
  summary += "\ncircuits: opened=" + std::to_string(cs.opened) +
             " half_opened=" + std::to_string(cs.half_opened) +
             " closed=" + std::to_string(cs.closed) +
             " refused=" + std::to_string(cs.refused_by_max_ejected);
  std::printf("%s\n", summary.c_str());
}

// With an egress interface configured, forwarded frames are redirected to
// it (same bytes and counting as XDP_TX); host and drop verdicts are not.
TEST_F(XdpParityTest, RedirectsForwardedFramesWhenTxIfindexIsSet) {
  xdp::WriterOptions options;
  options.tx_ifindex = 1;  // never used by a test run: the redirect is only requested
  writer_ = std::make_unique<xdp::SnapshotWriter>(maps_, options);
  publish(0, 1);
  if (HasFatalFailure()) return;
  const uint64_t now_ns = kStartNs;
  const Bytes syn = FrameBuilder()
                        .eth()
                        .ipv4("192.0.2.1", "10.100.0.10")
                        .tcp(40000, 80, SLUICE_TCP_SYN)
                        .build();
  Bytes buffer(kHeadroom + syn.size());
  std::memcpy(buffer.data() + kHeadroom, syn.data(), syn.size());
  Packet pkt{buffer.data() + kHeadroom, static_cast<uint32_t>(syn.size()), kHeadroom};
  ASSERT_EQ(worker_->process_one(snapshot_.get(), pkt, now_ns).verdict.action, Action::kForward);
  const XdpRun x = run_xdp(syn, now_ns);
  EXPECT_EQ(x.action, XDP_REDIRECT);
  ASSERT_EQ(x.frame.size(), pkt.len);
  EXPECT_EQ(std::memcmp(x.frame.data(), pkt.data, pkt.len), 0);
  EXPECT_EQ(xdp_counters(), flatten(worker_->counters()));

  const Bytes arp = FrameBuilder().eth().arp().build();
  EXPECT_EQ(run_xdp(arp, now_ns).action, XDP_PASS);
  const Bytes cut = Bytes(syn.begin(), syn.begin() + 20);
  EXPECT_EQ(run_xdp(cut, now_ns).action, XDP_DROP);
}

// Not parity (the engine's workers never share flows) but the XDP side of
// the same promise: flow tables are per CPU, and a flow whose packets move to
// another CPU (RSS rebalanced; on veth XDP runs on the sending CPU) keeps its
// backend even after the weights changed. The program copies the entry from
// the CPU that had it instead of scheduling the flow afresh.
TEST_F(XdpParityTest, FlowMovedToAnotherCpuKeepsItsBackend) {
  int other = -1;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (c != cpu_ && CPU_ISSET(c, &saved_affinity_)) {
      other = c;
      break;
    }
  }
  if (other < 0) GTEST_SKIP() << "needs a second CPU to move a flow to";
  publish(0, 1);  // web: stable 90, canary 10
  if (HasFatalFailure()) return;
  const uint64_t now_ns = kStartNs;
  // Outer IPv4 destination of a 4in4 frame: the backend.
  auto backend_of = [](const XdpRun& r) {
    return r.frame.size() >= 34 ? std::to_string(r.frame[30]) + "." + std::to_string(r.frame[31]) +
                                      "." + std::to_string(r.frame[32]) + "." +
                                      std::to_string(r.frame[33])
                                : std::string("none");
  };
  auto segment = [](uint16_t port, uint8_t flags) {
    return FrameBuilder().eth().ipv4("192.0.2.77", "10.100.0.10").tcp(port, 80, flags).build();
  };
  // A connection on this CPU that lands on a stable backend which stays
  // usable for established flows in step 6 (10.1.0.2 drains, 10.1.0.3 stays).
  uint16_t port = 0;
  std::string backend;
  for (uint16_t p = 41000; p < 41400 && port == 0; ++p) {
    const XdpRun syn = run_xdp(segment(p, SLUICE_TCP_SYN), now_ns);
    ASSERT_EQ(syn.action, XDP_TX);
    const std::string b = backend_of(syn);
    if (b == "10.1.0.2" || b == "10.1.0.3") {
      port = p;
      backend = b;
    }
  }
  ASSERT_NE(port, 0) << "no flow of 400 went to 10.1.0.2 or 10.1.0.3";
  ASSERT_EQ(run_xdp(segment(port, SLUICE_TCP_ACK), now_ns).action, XDP_TX);
  publish(6, 2);  // stable 0, canary 100: a rescheduled flow would go to canary
  if (HasFatalFailure()) return;

  cpu_set_t there;
  CPU_ZERO(&there);
  CPU_SET(other, &there);
  ASSERT_EQ(sched_setaffinity(0, sizeof(there), &there), 0);
  const XdpRun moved = run_xdp(segment(port, SLUICE_TCP_ACK), now_ns + 1000000);
  // A flow no CPU has seen is scheduled with the new weights (canary).
  const XdpRun fresh = run_xdp(segment(port + 1000, SLUICE_TCP_ACK), now_ns + 1000000);
  std::vector<sluice_xdp_counters> per_cpu(static_cast<size_t>(cpus_));
  const uint32_t zero = 0;
  ASSERT_EQ(bpf_map_lookup_elem(maps_.counters, &zero, per_cpu.data()), 0);
  cpu_set_t back;
  CPU_ZERO(&back);
  CPU_SET(cpu_, &back);
  ASSERT_EQ(sched_setaffinity(0, sizeof(back), &back), 0);

  ASSERT_EQ(moved.action, XDP_TX);
  EXPECT_EQ(backend_of(moved), backend) << "the moved flow was rescheduled";
  EXPECT_EQ(backend_of(fresh).rfind("10.1.1.", 0), 0u) << backend_of(fresh);
  EXPECT_EQ(per_cpu[static_cast<size_t>(other)].flows_moved_cpu, 1u);
  EXPECT_EQ(per_cpu[static_cast<size_t>(cpu_)].flows_moved_cpu, 0u);
}

}  // namespace
}  // namespace sluice::engine::test::parity
