// Tests of dataplane/xdp/flow_census.h: entries written by hand into the
// program's "flows" map (one per flow, as the program would leave them),
// counted per carrying CPU and backend slot with their ages, expired
// handshakes counted and deleted, the rest left alone; and the expired
// counts added to the stats.
#include "dataplane/xdp/flow_census.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "dataplane/engine/wire.h"
#include "ebpf/xdp/xdp_layout.h"
#include "tests/dataplane/xdp/xdp_test_support.h"

namespace sluice::xdp {
namespace {

// The program's clock, just after its 32-bit milliseconds wrapped: ages
// and idle times below cross the wrap.
constexpr uint32_t kNow = 0x00001000;

class FlowCensusTest : public test::LoadedProgramTest {
 protected:
  void SetUp() override {
    test::LoadedProgramTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    reload([](sluice_xdp* s) { test::resize_map(s->obj, "flows", 65536); });
    cpus_ = static_cast<size_t>(libbpf_num_possible_cpus());
    snap_ = test::compile(compiler_, test::sample_config(), 1);
    web_ = &snap_->services()[0];
    dns_ = &snap_->services()[1];
  }

  // A client's key for web (TCP 10.0.0.1:80) or dns6 (UDP [2001:db8::53]:53).
  static sluice_flow_key web_key(uint16_t client) {
    sluice_flow_key k{};
    k.family = SLUICE_AF_INET;
    k.proto = SLUICE_IPPROTO_TCP;
    k.src[0] = 203, k.src[1] = 0, k.src[2] = static_cast<uint8_t>(client >> 8);
    k.src[3] = static_cast<uint8_t>(client);
    k.dst[0] = 10, k.dst[3] = 1;
    k.sport = htons(static_cast<uint16_t>(10000 + client));
    k.dport = htons(80);
    return k;
  }
  static sluice_flow_key dns_key(uint16_t client) {
    sluice_flow_key k{};
    k.family = SLUICE_AF_INET6;
    k.proto = SLUICE_IPPROTO_UDP;
    k.src[0] = 0x20, k.src[1] = 0x01, k.src[15] = static_cast<uint8_t>(client);
    const uint8_t vip[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53};
    std::memcpy(k.dst, vip, 16);
    k.sport = htons(static_cast<uint16_t>(20000 + client));
    k.dport = htons(53);
    return k;
  }

  static sluice_xdp_flow entry(const engine::CompiledBackend& b, uint8_t state,
                               uint32_t first_seen, uint32_t last_seen, uint32_t cpu = 0) {
    sluice_xdp_flow e{};
    e.cpu = cpu;
    e.backend_fingerprint = b.fingerprint;
    e.state = state;
    e.first_seen_ms = first_seen;
    e.last_seen_ms = last_seen;
    e.pool = b.pool;
    return e;
  }

  void put(const sluice_flow_key& key, const sluice_xdp_flow& e) {
    ASSERT_EQ(bpf_map_update_elem(maps_.flows, &key, &e, BPF_ANY), 0);
  }

  bool present(const sluice_flow_key& key) {
    sluice_xdp_flow v{};
    return bpf_map_lookup_elem(maps_.flows, &key, &v) == 0;
  }

  // The census's figures for one CPU and slot (flows 0 when absent).
  static engine::SlotFlows at(const XdpFlowCensus& c, size_t cpu, uint32_t slot) {
    for (const engine::SlotFlows& f : c.cpus.at(cpu)) {
      if (f.backend_slot == slot) return f;
    }
    return {};
  }

  size_t cpus_ = 0;
  engine::SnapshotCompiler compiler_;
  std::shared_ptr<const engine::Snapshot> snap_;
  const engine::CompiledService* web_ = nullptr;
  const engine::CompiledService* dns_ = nullptr;
};

// Live flows per CPU and backend slot, the oldest age and the newest idle
// time; expired, emptied, foreign and orphaned entries are not flows.
TEST_F(FlowCensusTest, CountsLiveFlowsWithTheirAges) {
  const engine::CompiledBackend& a = web_->backends[0];
  const engine::CompiledBackend& b = web_->backends[3];
  const engine::CompiledBackend& d = dns_->backends[1];
  put(web_key(1), entry(a, SLUICE_XDP_FLOW_ESTABLISHED, kNow - 5000, kNow - 100));
  put(web_key(2), entry(a, SLUICE_XDP_FLOW_ESTABLISHED, kNow - 2000, kNow - 10));
  put(web_key(3), entry(a, SLUICE_XDP_FLOW_SYN_SENT, kNow - 30, kNow - 30));
  put(web_key(4), entry(b, SLUICE_XDP_FLOW_CLOSING, kNow - 900, kNow - 9000));  // 9 s of 10
  put(web_key(5), entry(b, SLUICE_XDP_FLOW_CLOSING, kNow - 20000, kNow - 10000));  // expired
  put(web_key(6), entry(b, SLUICE_XDP_FLOW_ESTABLISHED, kNow - 1, kNow + 5));  // after `now`
  put(web_key(7), sluice_xdp_flow{});                                          // emptied
  sluice_xdp_flow orphan = entry(a, SLUICE_XDP_FLOW_ESTABLISHED, kNow, kNow);
  orphan.backend_fingerprint = 0x0bad;
  put(web_key(8), orphan);
  sluice_flow_key foreign = web_key(9);
  foreign.dport = htons(8080);  // no such service
  put(foreign, entry(a, SLUICE_XDP_FLOW_ESTABLISHED, kNow, kNow));
  // dns6 carried by the last CPU (UDP, 30 s timeout).
  put(dns_key(1), entry(d, SLUICE_XDP_FLOW_UDP, kNow - 29000, kNow - 29000,
                        static_cast<uint32_t>(cpus_ - 1)));

  const XdpFlowCensus c = census_xdp_flows(maps_, *snap_, kNow);
  EXPECT_TRUE(c.batched) << "BPF_MAP_LOOKUP_BATCH refused: read key by key";
  EXPECT_EQ(c.keys, 10u);
  ASSERT_EQ(c.cpus.size(), cpus_);
  const engine::SlotFlows fa = at(c, 0, a.counter_slot);
  EXPECT_EQ(fa.flows, 3u);
  EXPECT_EQ(fa.oldest_age_ms, 5000u);
  EXPECT_EQ(fa.newest_idle_ms, 10u);
  const engine::SlotFlows fb = at(c, 0, b.counter_slot);
  EXPECT_EQ(fb.flows, 2u);
  EXPECT_EQ(fb.oldest_age_ms, 900u);
  EXPECT_EQ(fb.newest_idle_ms, 0u);  // written after the census read the clock
  const engine::SlotFlows fd = at(c, cpus_ - 1, d.counter_slot);
  EXPECT_EQ(fd.flows, 1u);
  EXPECT_EQ(fd.oldest_age_ms, 29000u);
  // Slot order, and nothing else anywhere.
  size_t total = 0;
  for (const auto& cpu : c.cpus) {
    for (size_t i = 0; i < cpu.size(); ++i) {
      total += cpu[i].flows;
      if (i > 0) {
        EXPECT_LT(cpu[i - 1].backend_slot, cpu[i].backend_slot);
      }
    }
  }
  EXPECT_EQ(total, 6u);
  EXPECT_TRUE(c.expired.empty());
  for (uint16_t k = 1; k <= 8; ++k) EXPECT_TRUE(present(web_key(k))) << k;
}

// A SYN_SENT entry idle for tcp_syn_ms is a handshake that expired: counted
// once, on its CPU and its backend's slots (the service's alone when the
// backend is gone), and deleted; the next census finds nothing.
TEST_F(FlowCensusTest, ExpiredHandshakesAreCountedAndDeleted) {
  const engine::CompiledBackend& a = web_->backends[1];
  const uint32_t syn_ms = web_->config.timeouts.tcp_syn_ms;
  put(web_key(1), entry(a, SLUICE_XDP_FLOW_SYN_SENT, kNow - syn_ms - 5, kNow - syn_ms));
  put(web_key(2), entry(a, SLUICE_XDP_FLOW_SYN_SENT, kNow - syn_ms, kNow - syn_ms + 1));  // alive
  sluice_xdp_flow gone = entry(a, SLUICE_XDP_FLOW_SYN_SENT, kNow - 2 * syn_ms, kNow - 2 * syn_ms);
  gone.backend_fingerprint = 0x0bad;
  put(web_key(3), gone);
  put(web_key(4), entry(a, SLUICE_XDP_FLOW_ESTABLISHED, 0, kNow - 10800000));  // dead (3 h), not a handshake

  const XdpFlowCensus c = census_xdp_flows(maps_, *snap_, kNow);
  ASSERT_EQ(c.expired.size(), 2u);
  const ExpiredHandshake& x = c.expired[0].has_backend ? c.expired[0] : c.expired[1];
  const ExpiredHandshake& y = c.expired[0].has_backend ? c.expired[1] : c.expired[0];
  EXPECT_EQ(x.cpu, 0u);
  EXPECT_TRUE(x.has_backend);
  EXPECT_EQ(x.service_slot, web_->counter_slot);
  EXPECT_EQ(x.pool_slot, web_->pools[a.pool].counter_slot);
  EXPECT_EQ(x.backend_slot, a.counter_slot);
  EXPECT_FALSE(y.has_backend);
  EXPECT_EQ(y.service_slot, web_->counter_slot);
  EXPECT_EQ(at(c, 0, a.counter_slot).flows, 1u);  // key 2
  EXPECT_FALSE(present(web_key(1)));
  EXPECT_FALSE(present(web_key(3)));
  EXPECT_TRUE(present(web_key(2)));
  EXPECT_TRUE(present(web_key(4))) << "the LRU's to reclaim";

  const XdpFlowCensus again = census_xdp_flows(maps_, *snap_, kNow);
  EXPECT_TRUE(again.expired.empty());
  EXPECT_EQ(again.keys, 2u);
}

// A flow counts on the CPU that carried its latest packet (its entry's
// `cpu`), live or as an expired handshake; a CPU number beyond the possible
// ones (no program writes one) counts on CPU 0.
TEST_F(FlowCensusTest, FlowsCountOnTheCpuThatCarriedThem) {
  if (cpus_ < 2) GTEST_SKIP() << "needs two possible CPUs";
  const engine::CompiledBackend& a = web_->backends[0];
  const uint32_t syn_ms = web_->config.timeouts.tcp_syn_ms;
  put(web_key(1), entry(a, SLUICE_XDP_FLOW_ESTABLISHED, kNow - 700, kNow - 50, 1));
  put(web_key(2), entry(a, SLUICE_XDP_FLOW_SYN_SENT, kNow - syn_ms - 1, kNow - syn_ms - 1, 1));
  put(web_key(3), entry(a, SLUICE_XDP_FLOW_ESTABLISHED, kNow - 600, kNow - 60, 4096));

  const XdpFlowCensus c = census_xdp_flows(maps_, *snap_, kNow);
  const engine::SlotFlows on1 = at(c, 1, a.counter_slot);
  EXPECT_EQ(on1.flows, 1u);
  EXPECT_EQ(on1.oldest_age_ms, 700u);
  const engine::SlotFlows on0 = at(c, 0, a.counter_slot);
  EXPECT_EQ(on0.flows, 1u);
  EXPECT_EQ(on0.oldest_age_ms, 600u);
  ASSERT_EQ(c.expired.size(), 1u);
  EXPECT_EQ(c.expired[0].cpu, 1u);
  EXPECT_TRUE(present(web_key(1)));
  EXPECT_FALSE(present(web_key(2)));
}

// Many keys: the walk goes on batch after batch and reads each key once.
TEST_F(FlowCensusTest, ReadsEveryKeyOfALargeMap) {
  const engine::CompiledBackend& a = web_->backends[2];
  constexpr uint16_t kKeys = 20000;
  std::vector<sluice_flow_key> keys;
  std::vector<sluice_xdp_flow> values;
  for (uint16_t k = 0; k < kKeys; ++k) {
    keys.push_back(web_key(k));
    values.push_back(
        entry(a, SLUICE_XDP_FLOW_ESTABLISHED, kNow - k, kNow, static_cast<uint32_t>(k % cpus_)));
  }
  uint32_t n = kKeys;
  ASSERT_EQ(bpf_map_update_batch(maps_.flows, keys.data(), values.data(), &n, nullptr), 0);
  const XdpFlowCensus c = census_xdp_flows(maps_, *snap_, kNow);
  EXPECT_EQ(c.keys, kKeys);
  uint64_t flows = 0;
  for (size_t cpu = 0; cpu < cpus_; ++cpu) flows += at(c, cpu, a.counter_slot).flows;
  EXPECT_EQ(flows, kKeys);
  EXPECT_EQ(at(c, 0, a.counter_slot).oldest_age_ms, (kKeys - 1) / cpus_ * cpus_);
}

// The expired handshakes the censuses found add to the handshakes_expired
// of their CPU's service, pool and backend slots (the service's alone
// without a backend); slots beyond a worker's vectors are not counted.
TEST_F(FlowCensusTest, ExpiredCountsAddToTheStats) {
  ExpiredHandshakeCounts counts;
  counts.add({{0, 1, true, 2, 3}, {0, 1, true, 2, 3}, {0, 1, false, 0, 0}});
  counts.add({{1, 4, true, 5, 6}, {0, 100, true, 100, 100}, {9, 1, true, 2, 3}});
  std::vector<engine::WorkerCounters> workers(2);
  for (auto& w : workers) {
    w.services.resize(8);
    w.pools.resize(8);
    w.backends.resize(8);
  }
  counts.add_to(workers);
  EXPECT_EQ(workers[0].services[1].handshakes_expired, 3u);
  EXPECT_EQ(workers[0].pools[2].handshakes_expired, 2u);
  EXPECT_EQ(workers[0].backends[3].handshakes_expired, 2u);
  EXPECT_EQ(workers[1].services[4].handshakes_expired, 1u);
  EXPECT_EQ(workers[1].pools[5].handshakes_expired, 1u);
  EXPECT_EQ(workers[1].backends[6].handshakes_expired, 1u);
  uint64_t total = 0;
  for (const auto& w : workers) {
    for (const auto& t : w.backends) total += t.handshakes_expired;
  }
  EXPECT_EQ(total, 3u);
  counts.add_to(workers);  // read twice, counted twice: the caller reads fresh counters
  EXPECT_EQ(workers[0].services[1].handshakes_expired, 6u);
}

}  // namespace
}  // namespace sluice::xdp
