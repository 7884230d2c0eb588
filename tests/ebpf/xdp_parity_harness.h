// SPDX-License-Identifier: Apache-2.0
// The two dataplanes side by side, for the parity tests (xdp_parity_test.cc,
// xdp_signals_parity_test.cc): an engine::Worker and the XDP program
// (ebpf/xdp/sluice_xdp.bpf.c, run by the kernel with BPF_PROG_TEST_RUN,
// repeat = 1 per frame) under the same configuration (published into the
// maps by the XDP snapshot writer), the same health table (the engine's
// BackendHealthTable and the "backend_health" map, set together) and the
// same simulated clock (the program's test clock).
//
// run_both() sends one frame through both and compares, for that frame:
//  - the verdict: forward = XDP_TX, host = XDP_PASS, drop = XDP_DROP;
//  - the output frame, byte for byte (forwarded and host frames);
//  - what each worker counter counted (so also the drop reason, the
//    flow-table, circuit and health events);
//  - what each golden signal of the first kSlots service, pool and backend
//    counter slots counted, and each bucket (and the sum) of the first
//    kSlots pool and backend handshake histograms.
// A difference is reported (the first kMaxReports in full) and counted in
// mismatches_.
//
// The test thread is pinned to one CPU, so the program's per-CPU state
// (circuits, counters) is one CPU's, and its flow table (one map shared by
// every CPU) holds only what that CPU carried, like the engine worker's.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sched.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "dataplane/engine/backend_health.h"
#include "dataplane/engine/counters.h"
#include "dataplane/engine/engine.h"
#include "dataplane/engine/flow_table.h"
#include "dataplane/engine/snapshot.h"
#include "dataplane/xdp/backend_health.h"
#include "dataplane/xdp/map_io.h"
#include "dataplane/xdp/snapshot_writer.h"
#include "dataplane/xdp/xdp_maps.h"
#include "ebpf/xdp/sluice_xdp.skel.h"
#include "ebpf/xdp/xdp_layout.h"
#include "tests/ebpf/bpf_test_support.h"
#include "tests/ebpf/xdp_parity_corpus.h"

namespace sluice::engine::test::parity {

namespace bpftest = sluice::test::bpf;

inline constexpr uint32_t kHeadroom = 256;  // the engine's buffer, as XDP's
inline constexpr uint32_t kFlowMapEntries = 1u << 18;
inline constexpr size_t kMaxReports = 20;
inline constexpr uint32_t kSlots = 64;  // counter slots of each kind compared
// 100 s before the 32-bit millisecond clock wraps.
inline constexpr uint64_t kStartNs = ((uint64_t{1} << 32) - 100000) * 1000000ULL;

static_assert(static_cast<int>(FlowState::kSynSent) == SLUICE_XDP_FLOW_SYN_SENT);
static_assert(static_cast<int>(FlowState::kEstablished) == SLUICE_XDP_FLOW_ESTABLISHED);
static_assert(static_cast<int>(FlowState::kClosing) == SLUICE_XDP_FLOW_CLOSING);
static_assert(static_cast<int>(FlowState::kUdp) == SLUICE_XDP_FLOW_UDP);
static_assert(sizeof(sluice_xdp_traffic) == sizeof(TrafficCounter));

// A flat array of numbers both sides keep, compared element by element.
using Values = std::vector<uint64_t>;

// Names of the worker counters and drop reasons, in the order of struct
// sluice_xdp_counters.
inline const std::vector<std::string>& counter_names() {
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

inline Values flatten(const WorkerCounters& c) {
  Values a;
#define SLUICE_X(name, help) a.push_back(c.name);
  SLUICE_WORKER_COUNTERS(SLUICE_X)
#undef SLUICE_X
  a.insert(a.end(), c.drops.begin(), c.drops.end());
  return a;
}

inline Values flatten(const sluice_xdp_counters& c) {
  static_assert(sizeof(sluice_xdp_counters) % sizeof(uint64_t) == 0);
  Values a(sizeof(c) / sizeof(uint64_t));
  std::memcpy(a.data(), &c, sizeof(c));
  return a;
}

// The signals of one slot as an array, in SLUICE_SLOT_SIGNALS order.
inline void append(Values& out, const TrafficCounter& t) {
#define SLUICE_X(name, help) out.push_back(t.name);
  SLUICE_SLOT_SIGNALS(SLUICE_X)
#undef SLUICE_X
}

inline void append(Values& out, const sluice_handshake_histogram& h) {
  out.insert(out.end(), std::begin(h.buckets), std::end(h.buckets));
  out.push_back(h.sum_ms);
}

// Names of what slot_values() returns, in order: "backend[3].new_flows",
// "pool[1].handshake_ms<=50", "pool[1].handshake_sum_ms", ...
inline const std::vector<std::string>& slot_value_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const char* kind : {"service", "pool", "backend"}) {
      for (uint32_t s = 0; s < kSlots; ++s) {
        const std::string at = std::string(kind) + "[" + std::to_string(s) + "].";
#define SLUICE_X(name, help) n.push_back(at + #name);
        SLUICE_SLOT_SIGNALS(SLUICE_X)
#undef SLUICE_X
      }
    }
    for (const char* kind : {"pool", "backend"}) {
      for (uint32_t s = 0; s < kSlots; ++s) {
        const std::string at = std::string(kind) + "[" + std::to_string(s) + "].handshake_";
        for (uint32_t b = 0; b < SLUICE_HANDSHAKE_BUCKETS; ++b) {
          n.push_back(at + (b < std::size(kHandshakeBoundsMs)
                                ? "ms<=" + std::to_string(kHandshakeBoundsMs[b])
                                : std::string("ms+Inf")));
        }
        n.push_back(at + "sum_ms");
      }
    }
    return n;
  }();
  return names;
}

inline int expected_xdp_action(Action a) {
  switch (a) {
    case Action::kForward: return XDP_TX;
    case Action::kHost: return XDP_PASS;
    case Action::kDrop: return XDP_DROP;
  }
  return -1;
}

inline std::string hex(const uint8_t* p, size_t n, size_t limit = 96) {
  std::string out;
  char b[4];
  for (size_t i = 0; i < n && i < limit; ++i) {
    snprintf(b, sizeof(b), "%02x", p[i]);
    out += b;
  }
  if (n > limit) out += "...";
  return out;
}

class XdpParityHarness : public ::testing::Test {
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
    ASSERT_EQ(bpf_map__set_max_entries(skel_->maps.flows, flow_map_entries()), 0);
    ASSERT_EQ(bpf_map__set_max_entries(skel_->maps.flows_new, new_flow_map_entries()), 0);
    ASSERT_EQ(sluice_xdp__load(skel_), 0) << bpftest::libbpf_log_tail();
    maps_ = xdp::maps_of(skel_->obj);
    prog_fd_ = bpf_program__fd(skel_->progs.sluice_xdp);

    WorkerOptions options;
    options.flow_capacity = 1u << 18;
    // Room for a pool of 4096 backends with nearly all ejected
    // (xdp_bounded_parity_test.cc): a full table would leave backends
    // untracked that the program's LRU map tracks.
    options.circuit_capacity = 1u << 14;
    worker_ = std::make_unique<Worker>(options);
    health_ = std::make_unique<BackendHealthTable>(options.backend_counter_slots);
    worker_->set_health_table(health_.get());
    engine_counters_ = flatten(worker_->counters());
    xdp_counters_ = xdp_counters();
    engine_slots_ = engine_slot_values();
    xdp_slots_ = xdp_slot_values();
    ASSERT_EQ(engine_counters_.size(), xdp_counters_.size());
    ASSERT_EQ(engine_slots_.size(), slot_value_names().size());
    ASSERT_EQ(xdp_slots_.size(), slot_value_names().size());
  }

  // Sizes of the "flows" and "flows_new" maps (a test may override them).
  virtual uint32_t flow_map_entries() const { return kFlowMapEntries; }
  virtual uint32_t new_flow_map_entries() const { return kFlowMapEntries; }

  void TearDown() override {
    writer_.reset();
    sluice_xdp__destroy(skel_);
    if (pinned_) sched_setaffinity(0, sizeof(saved_affinity_), &saved_affinity_);
  }

  // Compiles `config` as generation `generation` for the engine and writes
  // it into the program's maps (with a writer of default options unless
  // the test made one).
  void publish(const EngineConfig& config, uint64_t generation) {
    if (!writer_) writer_ = std::make_unique<xdp::SnapshotWriter>(maps_);
    SnapshotCompiler::Result r = compiler_.compile(config, generation);
    ASSERT_TRUE(r.errors.empty()) << "generation " << generation << ": "
                                  << r.errors.front().field << ": " << r.errors.front().message;
    snapshot_ = r.snapshot;
    const xdp::WriteStats stats = writer_->write(*snapshot_);
    generations_.push_back(stats.root_generation);
    for (const CompiledService& s : snapshot_->services()) {
      for (const CompiledBackend& b : s.backends) fingerprints_.insert(b.fingerprint);
    }
  }

  // The same health in both tables.
  void set_health(uint32_t backend_slot, uint8_t health) {
    health_->set(backend_slot, health);
    xdp::set_backend_health(maps_, backend_slot, health);
  }

  // The backend of `service` at `address` in the current snapshot, or null.
  const CompiledBackend* find_backend(const std::string& service, const IpAddress& address) const {
    for (const CompiledService& s : snapshot_->services()) {
      if (s.config.name != service) continue;
      for (const CompiledBackend& b : s.backends) {
        if (b.address == address) return &b;
      }
    }
    return nullptr;
  }

  const CompiledService* find_service(const std::string& name) const {
    for (const CompiledService& s : snapshot_->services()) {
      if (s.config.name == name) return &s;
    }
    return nullptr;
  }

  // This CPU's value of a per-CPU map element (false: no such key).
  template <typename T>
  bool read_this_cpu(int fd, const void* key, T* out) {
    std::vector<T> values(static_cast<size_t>(cpus_));
    if (bpf_map_lookup_elem(fd, key, values.data()) != 0) return false;
    *out = values[static_cast<size_t>(cpu_)];
    return true;
  }

  // This CPU's values of elements [0, kSlots) of a per-CPU array map.
  template <typename T>
  std::vector<T> read_slots_this_cpu(int fd, const char* name) {
    const auto cpus = static_cast<size_t>(cpus_);
    std::vector<T> all(kSlots * cpus);
    xdp::read_array(fd, name, kSlots, sizeof(T) * cpus, all.data());
    std::vector<T> out(kSlots);
    for (uint32_t s = 0; s < kSlots; ++s) out[s] = all[s * cpus + static_cast<size_t>(cpu_)];
    return out;
  }

  // This CPU's block of the "counters" map, as the program's struct.
  sluice_xdp_counters xdp_counter_block() {
    const uint32_t zero = 0;
    sluice_xdp_counters c{};
    EXPECT_TRUE(read_this_cpu(maps_.counters, &zero, &c));
    return c;
  }

  Values xdp_counters() {
    const uint32_t zero = 0;
    sluice_xdp_counters c{};
    EXPECT_TRUE(read_this_cpu(maps_.counters, &zero, &c));
    return flatten(c);
  }

  // The program's value of a worker counter, this CPU.
  uint64_t xdp_counter(const std::string& name) {
    const Values v = xdp_counters();
    for (size_t i = 0; i < v.size(); ++i) {
      if (counter_names()[i] == name) return v[i];
    }
    ADD_FAILURE() << "no counter " << name;
    return 0;
  }

  // The engine's slot signals and histograms, as slot_value_names() lists them.
  Values engine_slot_values() const {
    const WorkerCounters& c = worker_->counters();
    Values v;
    for (const auto* kind : {&c.services, &c.pools, &c.backends}) {
      for (uint32_t s = 0; s < kSlots; ++s) append(v, (*kind)[s]);
    }
    for (const auto* kind : {&c.pool_handshakes, &c.backend_handshakes}) {
      for (uint32_t s = 0; s < kSlots; ++s) append(v, (*kind)[s]);
    }
    return v;
  }

  // The program's, likewise (this CPU's).
  Values xdp_slot_values() {
    Values v;
    const std::pair<int, const char*> traffic[] = {{maps_.service_traffic, "service_traffic"},
                                                   {maps_.pool_traffic, "pool_traffic"},
                                                   {maps_.backend_traffic, "backend_traffic"}};
    for (const auto& [fd, name] : traffic) {
      for (const sluice_xdp_traffic& t : read_slots_this_cpu<sluice_xdp_traffic>(fd, name)) {
        TrafficCounter tc;
        std::memcpy(static_cast<void*>(&tc), &t, sizeof(t));
        append(v, tc);
      }
    }
    const std::pair<int, const char*> histograms[] = {
        {maps_.pool_handshakes, "pool_handshakes"}, {maps_.backend_handshakes, "backend_handshakes"}};
    for (const auto& [fd, name] : histograms) {
      for (const sluice_handshake_histogram& h :
           read_slots_this_cpu<sluice_handshake_histogram>(fd, name)) {
        append(v, h);
      }
    }
    return v;
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

  // What the last run_both() did on each side.
  struct Both {
    Decision engine;
    Bytes engine_frame;  // the engine's output (forwarded or host frames)
    XdpRun xdp;
  };

  // One frame through both dataplanes at now_ns, every difference reported
  // under `label`.
  Both run_both(const Bytes& frame, uint64_t now_ns, const std::string& label) {
    Both out;
    Bytes buffer(kHeadroom + 4096);
    std::memcpy(buffer.data() + kHeadroom, frame.data(), frame.size());
    Packet pkt{buffer.data() + kHeadroom, static_cast<uint32_t>(frame.size()), kHeadroom};
    out.engine = worker_->process_one(snapshot_.get(), pkt, now_ns);
    out.engine_frame.assign(pkt.data, pkt.data + pkt.len);
    out.xdp = run_xdp(frame, now_ns);

    std::string diff;
    const Decision& d = out.engine;
    const int want = expected_xdp_action(d.verdict.action);
    if (out.xdp.action != want) {
      diff += " action: engine " + std::string(d.verdict.action == Action::kForward ? "forward"
                                               : d.verdict.action == Action::kHost ? "host"
                                                                                   : "drop") +
              " (" + std::string(drop_reason_name(d.verdict.reason)) + "), xdp " +
              std::to_string(out.xdp.action) + ";";
    }
    const Bytes& x = out.xdp.frame;
    if (out.xdp.action == want && want != XDP_DROP &&
        (x.size() != pkt.len || std::memcmp(x.data(), pkt.data, pkt.len) != 0)) {
      size_t at = 0;
      while (at < pkt.len && at < x.size() && x[at] == pkt.data[at]) ++at;
      diff += " frame differs from byte " + std::to_string(at) + " (engine " +
              std::to_string(pkt.len) + " bytes " + hex(pkt.data, pkt.len) + ", xdp " +
              std::to_string(x.size()) + " bytes " + hex(x.data(), x.size()) + ");";
    }
    compare(flatten(worker_->counters()), xdp_counters(), counter_names(), engine_counters_,
            xdp_counters_, diff);
    compare(engine_slot_values(), xdp_slot_values(), slot_value_names(), engine_slots_,
            xdp_slots_, diff);
    if (!diff.empty()) report(label + ":" + diff + " input " + hex(frame.data(), frame.size()));
    return out;
  }

  // Compares what each side added since `*_before`, and moves both on.
  static void compare(Values engine_now, Values xdp_now, const std::vector<std::string>& names,
                      Values& engine_before, Values& xdp_before, std::string& diff) {
    for (size_t i = 0; i < engine_now.size() && i < xdp_now.size(); ++i) {
      const uint64_t de = engine_now[i] - engine_before[i];
      const uint64_t dx = xdp_now[i] - xdp_before[i];
      if (de != dx) {
        diff += " " + names[i] + " +" + std::to_string(de) + " vs +" + std::to_string(dx) + ";";
      }
    }
    engine_before = std::move(engine_now);
    xdp_before = std::move(xdp_now);
  }

  void report(const std::string& what) {
    ++mismatches_;
    if (reports_.size() < kMaxReports) reports_.push_back(what);
  }

  // One frame through both at now_ns; the XDP verdict must be `action`, and
  // a frame for the host must reach it unchanged.
  XdpRun expect_action(const Bytes& frame, uint64_t now_ns, int action, const std::string& what) {
    const Both both = run_both(frame, now_ns, what);
    EXPECT_EQ(both.xdp.action, action) << what;
    if (action == XDP_PASS) {
      EXPECT_EQ(both.xdp.frame, frame) << what << ": changed on its way to the host";
    }
    return both.xdp;
  }

  // The program's worker counters on this test's CPU.
  sluice_xdp_counters this_cpu_counters() {
    const uint32_t zero = 0;
    sluice_xdp_counters c{};
    EXPECT_TRUE(read_this_cpu(maps_.counters, &zero, &c));
    return c;
  }

  // Fails the test with the reports, if any.
  void expect_no_mismatch() {
    for (const std::string& r : reports_) ADD_FAILURE() << r;
    EXPECT_EQ(mismatches_, 0u) << "frames whose verdict, bytes or counting differ";
  }

  // The sum of one signal over every compared slot of a kind (the engine's,
  // which equals the program's when there is no mismatch).
  uint64_t signal_total(const std::vector<TrafficCounter>& kind,
                        uint64_t TrafficCounter::*signal) const {
    uint64_t n = 0;
    for (uint32_t s = 0; s < kSlots && s < kind.size(); ++s) n += kind[s].*signal;
    return n;
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
  std::unique_ptr<BackendHealthTable> health_;
  std::vector<uint64_t> generations_;
  std::set<uint64_t> fingerprints_;
  Values engine_counters_, xdp_counters_;  // as of the last run_both
  Values engine_slots_, xdp_slots_;
  uint64_t mismatches_ = 0;
  std::vector<std::string> reports_;
};

}  // namespace sluice::engine::test::parity
