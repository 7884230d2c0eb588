// SPDX-License-Identifier: Apache-2.0
// Parity of the two dataplanes on a corpus: at least 100k frames
// (xdp_parity_corpus.h) through the DPDK decision engine
// (engine::Worker::process_one) and through the XDP program, at the same
// simulated times, under the same configuration and health history, each
// frame compared by XdpParityHarness::run_both (xdp_parity_harness.h):
// verdict, output bytes, every worker counter, every golden signal of every
// slot and every handshake-histogram bucket. At the end: the circuit state
// of every backend, and the generation each side uses.
//
// The clock starts 100 s before the 32-bit millisecond clock wraps, so the
// wrap is crossed halfway. Targeted cases of the signals and health rules
// are in xdp_signals_parity_test.cc.
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "dataplane/engine/circuit_logic.h"
#include "tests/ebpf/xdp_parity_harness.h"

namespace sluice::engine::test::parity {
namespace {

constexpr uint64_t kCorpusSeed = 20260501;  // SLUICE_PARITY_SEED overrides it (exploration)
constexpr uint32_t kPackets = 120000;
constexpr uint32_t kUnconfigured = 500;  // frames before the first configuration

class XdpParityTest : public XdpParityHarness {
 protected:
  void publish(uint32_t step, uint64_t generation) {
    XdpParityHarness::publish(scenario_config(step), generation);
  }

  // A CPU this thread may run on besides cpu_, or -1.
  int other_cpu() const {
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (c != cpu_ && CPU_ISSET(c, &saved_affinity_)) return c;
    }
    return -1;
  }

  static int on_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set);
  }

  std::vector<sluice_xdp_counters> counters_per_cpu() {
    std::vector<sluice_xdp_counters> per_cpu(static_cast<size_t>(cpus_));
    const uint32_t zero = 0;
    EXPECT_EQ(bpf_map_lookup_elem(maps_.counters, &zero, per_cpu.data()), 0);
    return per_cpu;
  }

  // The one flow entry (the test made one flow), confirmed ("flows") or
  // not ("flows_new"): a key is in one of the two maps.
  sluice_xdp_flow only_flow() {
    sluice_xdp_flow e{};
    int found = 0;
    for (const int fd : {maps_.flows, maps_.flows_new}) {
      sluice_flow_key key{}, next{};
      if (bpf_map_get_next_key(fd, nullptr, &key) != 0) continue;
      EXPECT_NE(bpf_map_get_next_key(fd, &key, &next), 0) << "more than one flow";
      EXPECT_EQ(bpf_map_lookup_elem(fd, &key, &e), 0);
      ++found;
    }
    EXPECT_EQ(found, 1) << "flow entries in both maps, or in none";
    return e;
  }

  // Both health tables as scenario_health(step, late) says.
  void apply_health(uint32_t step, bool late) {
    for (const CompiledService& s : snapshot_->services()) {
      for (const CompiledBackend& b : s.backends) set_health(b.counter_slot, SLUICE_HEALTH_UNKNOWN);
    }
    for (const HealthMark& m : scenario_health(step, late)) {
      if (const CompiledBackend* b = find_backend(m.service, m.backend)) {
        set_health(b->counter_slot, m.health);
      }
    }
  }
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
  bool late = false;  // in the second half of the step (its second health marks)
  const uint32_t frames_per_step = kPackets / kSteps;

  for (uint32_t i = 0; i < kPackets; ++i) {
    // Configuration history: nothing, then step 0, then a step every
    // kPackets / kSteps frames; health marks at each step and halfway.
    const uint32_t due = i < kUnconfigured ? 0 : 1 + (i - kUnconfigured) * kSteps / kPackets;
    if (due > generation) {
      step = static_cast<uint32_t>(due - 1);
      publish(step, ++generation);
      if (HasFatalFailure()) return;
      corpus.set_step(step);
      late = false;
      apply_health(step, late);
    } else if (generation > 0 && !late &&
               (i - kUnconfigured) % frames_per_step >= frames_per_step / 2) {
      late = true;
      apply_health(step, late);
    }
    now_ns += corpus.uniform(3000) * 1000ULL;
    if (corpus.chance(1) && corpus.chance(100)) now_ns += 25'000'000'000ULL;  // everyone idles

    Corpus::Item item = corpus.next(now_ns);
    const Both both = run_both(item.frame, now_ns,
                               "frame " + std::to_string(i) + " (" + item.kind + ", step " +
                                   std::to_string(step) + (late ? " late" : "") + ")");
    if (HasFatalFailure()) return;
    const Decision& d = both.engine;
    corpus.observe(d);
    kinds[std::string(item.kind) + "/" +
          (d.verdict.action == Action::kForward ? "fwd"
           : d.verdict.action == Action::kHost  ? "host"
                                                : std::string(drop_reason_name(d.verdict.reason)))]++;
  }
  expect_no_mismatch();

  // The whole history was applied, and each side decides with its last
  // generation.
  EXPECT_EQ(generation, kSteps);
  const uint32_t zero = 0;
  uint64_t seen = 0;
  ASSERT_TRUE(read_this_cpu(maps_.seen_generation, &zero, &seen));
  EXPECT_EQ(seen, generations_.back());
  EXPECT_EQ(worker_->generation(), snapshot_->generation());

  // The totals, too (run_both compared every frame's share of them).
  EXPECT_EQ(engine_slot_values(), xdp_slot_values());

  // Circuit state of every backend ever configured.
  const auto now_ms = static_cast<uint32_t>(now_ns / 1000000);
  for (const uint64_t fp : fingerprints_) {
    sluice_circuit c{};
    const bool stored = read_this_cpu(maps_.circuits, &fp, &c);
    const uint8_t xdp_state = stored && c.phase != SLUICE_CIRCUIT_FREE
                                  ? sluice_circuit_state(&c, now_ms)
                                  : static_cast<uint8_t>(SLUICE_CIRCUIT_CLOSED);
    const CircuitState es = worker_->circuits().state(fp, now_ms);
    const uint8_t engine_state = es == CircuitState::kOpen        ? SLUICE_CIRCUIT_OPEN
                                 : es == CircuitState::kHalfOpen  ? SLUICE_CIRCUIT_HALF_OPEN
                                 : es == CircuitState::kSuspected ? SLUICE_CIRCUIT_SUSPECTED
                                                                  : SLUICE_CIRCUIT_CLOSED;
    EXPECT_EQ(xdp_state, engine_state) << "backend fingerprint " << fp;
  }

  // The corpus reached what it is meant to exercise (otherwise agreement
  // would prove little).
  const WorkerCounters& ec = worker_->counters();
  const Values total = flatten(ec);
  const char* must_happen[] = {
      "forwarded", "replied", "to_host", "new_flows", "flow_hits", "flows_rescheduled",
      "untracked_tcp", "flows_confirmed", "rule_matches", "handshakes_completed", "connect_failures",
      "syn_retry_steered", "circuit_repeat_sources", "circuit_suspected", "circuit_skips",
      "health_skips", "unhealthy_rescheduled",
      "fallback_used", "icmp_errors_forwarded", "icmp_to_host",
      "snapshot_switches", "drop:truncated-ethernet", "drop:nested-vlan", "drop:truncated-ip",
      "drop:bad-ip-version", "drop:bad-ip-header-length", "drop:bad-ip-total-length",
      "drop:bad-ipv6-extension", "drop:truncated-l4", "drop:bad-tcp-data-offset",
      "drop:bad-udp-length", "drop:truncated-icmp-inner", "drop:fragment",
      "drop:unsupported-protocol", "drop:no-service", "drop:no-backend", "drop:too-big",
      "drop:icmp-no-flow"};
  for (const char* name : must_happen) {
    for (size_t c = 0; c < total.size(); ++c) {
      if (counter_names()[c] == name) {
        EXPECT_GT(total[c], 0u) << name << " never happened";
      }
    }
  }
  // Every golden signal happened, and was counted on the backend's pool
  // and service too (ejections only on backends; a handshake that expired
  // after its backend was removed only on its service).
  auto check_signal = [&](const char* name, uint64_t TrafficCounter::*signal) {
    const uint64_t backends = signal_total(ec.backends, signal);
    EXPECT_GT(backends, 0u) << name << " never happened";
    if (signal == &TrafficCounter::ejections) {
      EXPECT_EQ(signal_total(ec.pools, signal), 0u) << name;
      EXPECT_EQ(signal_total(ec.services, signal), 0u) << name;
    } else {
      EXPECT_EQ(signal_total(ec.pools, signal), backends) << name;
      EXPECT_GE(signal_total(ec.services, signal), backends) << name;
    }
  };
#define SLUICE_X(name, help) check_signal(#name, &TrafficCounter::name);
  SLUICE_SLOT_SIGNALS(SLUICE_X)
#undef SLUICE_X
  EXPECT_EQ(signal_total(ec.backends, &TrafficCounter::handshakes_completed),
            ec.handshakes_completed);
  EXPECT_EQ(signal_total(ec.backends, &TrafficCounter::connect_failures), ec.connect_failures);
  EXPECT_EQ(signal_total(ec.backends, &TrafficCounter::ejections),
            worker_->circuits().stats().opened);
  HandshakeHistogram handshakes;
  for (uint32_t s = 0; s < kSlots; ++s) handshakes.add(ec.backend_handshakes[s]);
  EXPECT_EQ(handshakes.count(), ec.handshakes_completed);
  uint32_t buckets_used = 0;
  for (unsigned long long n : handshakes.buckets) buckets_used += n > 0;
  EXPECT_GE(buckets_used, 10u) << "handshake times span too few buckets";
  EXPECT_GT(worker_->circuits().stats().opened, 0u);
  EXPECT_GT(worker_->circuits().stats().closed, 0u);

  std::string summary = "corpus (seed " + std::to_string(seed) + "):";
  for (const auto& [kind, n] : kinds) summary += "\n  " + kind + "=" + std::to_string(n);
  summary += "\ncounters:";
  for (size_t c = 0; c < total.size(); ++c) {
    if (total[c] != 0) summary += " " + counter_names()[c] + "=" + std::to_string(total[c]);
  }
  summary += "\nsignals (all backends):";
#define SLUICE_X(name, help) \
  summary += " " #name "=" + std::to_string(signal_total(ec.backends, &TrafficCounter::name));
  SLUICE_SLOT_SIGNALS(SLUICE_X)
#undef SLUICE_X
  summary += "\nhandshake ms buckets:";
  for (unsigned long long n : handshakes.buckets) summary += " " + std::to_string(n);
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
  EXPECT_EQ(xdp_slot_values(), engine_slot_values());

  const Bytes arp = FrameBuilder().eth().arp().build();
  EXPECT_EQ(run_xdp(arp, now_ns).action, XDP_PASS);
  const Bytes cut = Bytes(syn.begin(), syn.begin() + 20);
  EXPECT_EQ(run_xdp(cut, now_ns).action, XDP_DROP);
}

// Not parity (the engine's workers never share flows) but the XDP side of
// the same promise: a flow whose packets move to another CPU (RSS
// rebalanced; on veth XDP runs on the sending CPU) keeps its backend even
// after the weights changed. The flow table is one map shared by every
// CPU: the other CPU finds the entry, as a hit, and schedules nothing.
TEST_F(XdpParityTest, FlowMovedToAnotherCpuKeepsItsBackend) {
  const int other = other_cpu();
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

  ASSERT_EQ(on_cpu(other), 0);
  const XdpRun moved = run_xdp(segment(port, SLUICE_TCP_ACK), now_ns + 1000000);
  // A flow no CPU has seen is scheduled with the new weights (canary).
  const XdpRun fresh = run_xdp(segment(port + 1000, SLUICE_TCP_ACK), now_ns + 1000000);
  ASSERT_EQ(on_cpu(cpu_), 0);
  const std::vector<sluice_xdp_counters> per_cpu = counters_per_cpu();
  if (HasFatalFailure()) return;

  ASSERT_EQ(moved.action, XDP_TX);
  EXPECT_EQ(backend_of(moved), backend) << "the moved flow was rescheduled";
  EXPECT_EQ(backend_of(fresh).rfind("10.1.1.", 0), 0u) << backend_of(fresh);
  const sluice_xdp_counters& there = per_cpu[static_cast<size_t>(other)];
  EXPECT_EQ(there.flow_hits, 1u) << "the moved flow's entry was not found";
  EXPECT_EQ(there.new_flows, 1u) << "only the unseen flow is new";
  EXPECT_EQ(there.flows_rescheduled, 0u);
}

// A flow whose packets run on two CPUs is one flow: its SYN on one CPU, its
// first ACK on another (where the handshake completes), then more packets
// back on the first. The handshake is counted once, on the CPU that
// completed it; the flow is new once; its entry names the CPU that carried
// its latest packet (where the flow census counts it).
TEST_F(XdpParityTest, FlowMovingBetweenCpusCountsItsHandshakeOnce) {
  const int other = other_cpu();
  if (other < 0) GTEST_SKIP() << "needs a second CPU to move a flow to";
  publish(0, 1);
  if (HasFatalFailure()) return;
  auto segment = [](uint8_t flags) {
    return FrameBuilder().eth().ipv4("192.0.2.78", "10.100.0.10").tcp(42000, 80, flags).build();
  };
  const uint64_t now_ns = kStartNs;
  ASSERT_EQ(run_xdp(segment(SLUICE_TCP_SYN), now_ns).action, XDP_TX);
  ASSERT_EQ(on_cpu(other), 0);
  const XdpRun ack = run_xdp(segment(SLUICE_TCP_ACK), now_ns + 3000000);
  EXPECT_EQ(only_flow().cpu, static_cast<uint32_t>(other)) << "the flow moved";
  ASSERT_EQ(on_cpu(cpu_), 0);
  const XdpRun data = run_xdp(segment(SLUICE_TCP_ACK | SLUICE_TCP_PSH), now_ns + 4000000);
  const XdpRun more = run_xdp(segment(SLUICE_TCP_ACK), now_ns + 5000000);
  EXPECT_EQ(ack.action, XDP_TX);
  EXPECT_EQ(data.action, XDP_TX);
  EXPECT_EQ(more.action, XDP_TX);

  const std::vector<sluice_xdp_counters> per_cpu = counters_per_cpu();
  if (HasFatalFailure()) return;
  uint64_t handshakes = 0, new_flows = 0, hits = 0;
  for (const sluice_xdp_counters& c : per_cpu) {
    handshakes += c.handshakes_completed;
    new_flows += c.new_flows;
    hits += c.flow_hits;
  }
  EXPECT_EQ(handshakes, 1u) << "the handshake was completed on both CPUs";
  EXPECT_EQ(new_flows, 1u);
  EXPECT_EQ(hits, 3u);
  EXPECT_EQ(per_cpu[static_cast<size_t>(other)].handshakes_completed, 1u);
  // One entry, completed, back on this CPU.
  const sluice_xdp_flow e = only_flow();
  EXPECT_EQ(e.state, SLUICE_XDP_FLOW_ESTABLISHED);
  EXPECT_EQ(e.handshake_claimed, 1u);
  EXPECT_EQ(e.cpu, static_cast<uint32_t>(cpu_));
}

// Two CPUs racing on one flow's SYN_SENT entry both see SYN_SENT; the one
// that claims the handshake counts it, the other does not. The race is
// set up by hand: the entry is SYN_SENT but its handshake already claimed
// (another CPU's state store not yet seen). The first ACK then completes
// the handshake without counting it; likewise, once the SYN timeout has
// passed, a claimed SYN_SENT entry is not counted as expired again.
TEST_F(XdpParityTest, AHandshakeAnotherCpuClaimedIsNotCountedAgain) {
  publish(0, 1);
  if (HasFatalFailure()) return;
  auto segment = [](uint16_t port, uint8_t flags) {
    return FrameBuilder().eth().ipv4("192.0.2.79", "10.100.0.10").tcp(port, 80, flags).build();
  };
  const uint64_t now_ns = kStartNs;
  // The SYN_SENT entry is unconfirmed: in "flows_new".
  auto claim_only_flow = [&] {
    sluice_flow_key key{};
    ASSERT_EQ(bpf_map_get_next_key(maps_.flows_new, nullptr, &key), 0);
    sluice_xdp_flow e{};
    ASSERT_EQ(bpf_map_lookup_elem(maps_.flows_new, &key, &e), 0);
    ASSERT_EQ(e.state, SLUICE_XDP_FLOW_SYN_SENT);
    e.handshake_claimed = 1;
    ASSERT_EQ(bpf_map_update_elem(maps_.flows_new, &key, &e, BPF_EXIST), 0);
  };
  const CompiledService* web = find_service("web");
  ASSERT_NE(web, nullptr);
  auto expired = [&] {
    sluice_xdp_traffic t{};
    const uint32_t slot = web->counter_slot;
    EXPECT_TRUE(read_this_cpu(maps_.service_traffic, &slot, &t));
    return t.handshakes_expired;
  };

  ASSERT_EQ(run_xdp(segment(43000, SLUICE_TCP_SYN), now_ns).action, XDP_TX);
  claim_only_flow();
  if (HasFatalFailure()) return;
  EXPECT_EQ(run_xdp(segment(43000, SLUICE_TCP_ACK), now_ns + 1000000).action, XDP_TX);
  EXPECT_EQ(only_flow().state, SLUICE_XDP_FLOW_ESTABLISHED);
  EXPECT_EQ(xdp_counter("handshakes_completed"), 0u);
  EXPECT_EQ(xdp_counter("flow_hits"), 1u);

  // The same with an expired handshake: a new SYN after the SYN timeout
  // schedules the flow again (new_flows 2) without counting the expiry.
  sluice_flow_key key{};
  ASSERT_EQ(bpf_map_get_next_key(maps_.flows, nullptr, &key), 0);  // confirmed by its ACK
  ASSERT_EQ(bpf_map_delete_elem(maps_.flows, &key), 0);
  ASSERT_EQ(run_xdp(segment(43001, SLUICE_TCP_SYN), now_ns).action, XDP_TX);
  claim_only_flow();
  if (HasFatalFailure()) return;
  const uint64_t late = now_ns + (uint64_t{web->config.timeouts.tcp_syn_ms} + 1) * 1000000;
  EXPECT_EQ(run_xdp(segment(43001, SLUICE_TCP_SYN), late).action, XDP_TX);
  EXPECT_EQ(expired(), 0u);
  EXPECT_EQ(xdp_counter("new_flows"), 3u);
  const sluice_xdp_flow again = only_flow();
  EXPECT_EQ(again.state, SLUICE_XDP_FLOW_SYN_SENT);
  EXPECT_EQ(again.handshake_claimed, 0u) << "a new entry starts unclaimed";
}

}  // namespace
}  // namespace sluice::engine::test::parity
