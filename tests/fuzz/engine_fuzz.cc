// libFuzzer target: arbitrary frames through a whole engine worker.
//
// Each input is one frame, processed three times by a fresh worker (so a
// run is reproducible): at t = 0, at t = 600 ms, which reaches the SYN-retry,
// circuit and flow-hit paths, and at t = 20.6 s, past the SYN timeout (the
// expired-handshake path). Two backends are unhealthy, one in a service
// that reschedules their flows. The snapshot serves the addresses
// the parse_fuzz seeds use (203.0.113.1 and 2001:db8:1::1), whose frames
// are this target's starting corpus.
//
// Invariants checked (abort on violation):
// - a verdict never says kNone for a drop, nor a reason for a non-drop;
// - a forwarded frame lies inside the buffer (headroom respected) and
//   parses as a well-formed IP packet;
// - frames handed to the host or dropped are left byte-for-byte unchanged;
// - the per-slot signals add up: new flows, handshakes and connect failures
//   summed over service slots and over backend slots equal the worker's own
//   counts, and each set of handshake histograms holds every handshake;
// - a flow census counts no more flows than the table holds.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "dataplane/engine/backend_health.h"
#include "dataplane/engine/engine.h"
#include "dataplane/engine/flow_census.h"

namespace {

using namespace sluice::engine;

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

ServiceConfig service(const char* name, const char* vip, uint16_t port, Protocol proto,
                      Affinity affinity, Encapsulation encap, bool v6_backends) {
  ServiceConfig s;
  s.name = name;
  s.vip = ip(vip);
  s.port = port;
  s.protocol = proto;
  s.affinity = affinity;
  s.encapsulation = encap;
  s.maglev_table_size = 251;
  s.circuit.consecutive_failures = 1;  // open on the first failure: reach more states
  s.circuit.max_ejected_percent = 100;
  if (v6_backends) {
    s.pools = {{"stable", 50, {{ip("fd00::1")}, {ip("fd00::2")}}}, {"canary", 50, {{ip("fd00::3")}}}};
  } else {
    s.pools = {{"stable", 50, {{ip("10.1.0.1")}, {ip("10.1.0.2")}}}, {"canary", 50, {{ip("10.2.0.1")}}}};
  }
  s.rules = {{*Cidr::parse(v6_backends && !s.vip.is_v4() ? "2001:db8::/64" : "192.0.2.0/28"),
              "canary"}};
  return s;
}

const Snapshot& snapshot() {
  static std::shared_ptr<const Snapshot> snap = [] {
    EngineConfig c;
    c.seed = {1, 2};
    c.forwarding.source_v4 = ip("10.0.0.2");
    c.forwarding.source_v6 = ip("fd00::ff");
    c.services = {
        service("web", "203.0.113.1", 80, Protocol::kTcp, Affinity::kFlow, Encapsulation::kIpip, false),
        service("tls", "203.0.113.1", 443, Protocol::kTcp, Affinity::kClientAddress, Encapsulation::kGue, true),
        service("dns", "203.0.113.1", 53, Protocol::kUdp, Affinity::kClientPrefix, Encapsulation::kIpip, false),
        service("tls6", "2001:db8:1::1", 443, Protocol::kTcp, Affinity::kClientPrefix, Encapsulation::kIpip, true),
        service("dns6", "2001:db8:1::1", 53, Protocol::kUdp, Affinity::kFlow, Encapsulation::kGue, true),
    };
    c.services[1].health_check.unhealthy_flows = UnhealthyFlows::kReschedule;
    SnapshotCompiler compiler;
    auto result = compiler.compile(c, 1);
    if (!result.snapshot) abort();
    return result.snapshot;
  }();
  return *snap;
}

void check(bool ok) {
  if (!ok) abort();
}

// Backend slots 1 (web's 10.1.0.2) and 4 (tls's fd00::2) fail their checks.
const BackendHealthTable& health() {
  static BackendHealthTable* table = [] {
    auto* t = new BackendHealthTable(16);
    t->set(1, SLUICE_HEALTH_UNHEALTHY);
    t->set(4, SLUICE_HEALTH_UNHEALTHY);
    return t;
  }();
  return *table;
}

template <typename Counters>
uint64_t sum(const Counters& v, uint64_t TrafficCounter::*field) {
  uint64_t n = 0;
  for (const TrafficCounter& c : v) n += c.*field;
  return n;
}

uint64_t handshakes(const std::vector<HandshakeHistogram>& v) {
  uint64_t n = 0;
  for (const HandshakeHistogram& h : v) n += h.count();
  return n;
}

void check_signals(const Worker& worker) {
  const WorkerCounters& c = worker.counters();
  for (const auto* slots : {&c.services, &c.backends}) {
    check(sum(*slots, &TrafficCounter::new_flows) == c.new_flows);
    check(sum(*slots, &TrafficCounter::handshakes_completed) == c.handshakes_completed);
    check(sum(*slots, &TrafficCounter::connect_failures) == c.connect_failures);
  }
  check(handshakes(c.pool_handshakes) == c.handshakes_completed);
  check(handshakes(c.backend_handshakes) == c.handshakes_completed);
  check(sum(c.services, &TrafficCounter::handshakes_expired) <= c.new_flows);
  uint64_t live = 0;
  for (const SlotFlows& f : census_flows(worker.flows(), snapshot(), 20600)) live += f.flows;
  check(live <= worker.flows().occupied());
}

void run_once(Worker& worker, const uint8_t* data, size_t size, uint64_t now_ns) {
  constexpr uint32_t kHeadroom = 64;
  std::vector<uint8_t> buffer(kHeadroom + size);
  std::memcpy(buffer.data() + kHeadroom, data, size);
  Packet pkt{buffer.data() + kHeadroom, static_cast<uint32_t>(size), kHeadroom};
  const Decision d = worker.process_one(&snapshot(), pkt, now_ns);
  switch (d.verdict.action) {
    case Action::kDrop:
      check(d.verdict.reason != DropReason::kNone);
      [[fallthrough]];
    case Action::kHost:
      check(pkt.data == buffer.data() + kHeadroom && pkt.len == size);
      check(size == 0 || std::memcmp(pkt.data, data, size) == 0);
      break;
    case Action::kForward: {
      check(d.verdict.reason == DropReason::kNone);
      check(pkt.data >= buffer.data());
      check(pkt.data + pkt.len <= buffer.data() + buffer.size());
      check(pkt.headroom == static_cast<uint32_t>(pkt.data - buffer.data()));
      ParsedPacket out;
      parse_packet(pkt.data, pkt.len, &out);
      check(out.status == ParseStatus::kOk);
      break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  WorkerOptions options;
  options.flow_capacity = 256;
  options.circuit_capacity = 64;
  options.service_counter_slots = 8;
  options.pool_counter_slots = 16;
  options.backend_counter_slots = 16;
  Worker worker(options);
  worker.set_health_table(&health());
  run_once(worker, data, size, 0);
  run_once(worker, data, size, 600ull * 1000000);
  run_once(worker, data, size, 20600ull * 1000000);
  check_signals(worker);
  return 0;
}
