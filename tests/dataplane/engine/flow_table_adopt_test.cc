// SPDX-License-Identifier: Apache-2.0
// FlowTable in caller memory and FlowTable::adopt (flow_table_adopt.cc):
// what a restarted process finds in a table an earlier one left behind.
// The file around it is tested in tests/dataplane/dpdk/flow_store_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>

#include "dataplane/engine/flow_table.h"
#include "tests/dataplane/engine/engine_fixture.h"

namespace sluice::engine {
namespace {

constexpr sluice_hash_seed kSeed{0x1111222233334444ULL, 0x5555666677778888ULL};
constexpr sluice_hash_seed kOtherSeed{1, 2};
const FlowTimeouts kTimeouts{};

// Memory that outlives the tables placed in it, as a file mapping does.
class TableMemory {
 public:
  explicit TableMemory(uint32_t capacity) {
    mem_.buckets = FlowTable::bucket_count(capacity);
    sigs_.reset(static_cast<char*>(std::aligned_alloc(64, FlowTable::signature_bytes(mem_.buckets))));
    entries_.reset(static_cast<char*>(std::aligned_alloc(64, FlowTable::entry_bytes(mem_.buckets))));
    std::memset(sigs_.get(), 0xa5, FlowTable::signature_bytes(mem_.buckets));  // garbage
    mem_.signatures = sigs_.get();
    mem_.entries = entries_.get();
  }
  const FlowTableMemory& memory() const { return mem_; }
  FlowEntry* entries() { return reinterpret_cast<FlowEntry*>(entries_.get()); }

 private:
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  std::unique_ptr<char, Free> sigs_, entries_;
  FlowTableMemory mem_;
};

sluice_flow_key key_of(uint32_t i) {
  sluice_flow_key k{};
  k.family = SLUICE_AF_INET;
  k.proto = SLUICE_IPPROTO_TCP;
  std::memcpy(k.src, &i, sizeof i);
  k.dst[0] = 192;
  k.sport = static_cast<uint16_t>(i);
  k.dport = 80;
  return k;
}

// Fills a table with n established flows, backend fingerprint i + 1000,
// generation 7, seen at now_ms.
void fill(FlowTable& t, uint32_t n, uint32_t now_ms) {
  for (uint32_t i = 0; i < n; ++i) {
    const sluice_flow_key k = key_of(i);
    FlowEntry* e = t.insert(k, sluice_flow_hash(&k, &kSeed), now_ms, kTimeouts);
    ASSERT_NE(e, nullptr);
    e->backend_fingerprint = i + 1000;
    e->generation = 7;
    e->backend_index = 3;
    t.set_state(e, FlowState::kEstablished);
  }
}

FlowEntry* find(FlowTable& t, uint32_t i, uint32_t now_ms) {
  const sluice_flow_key k = key_of(i);
  return t.lookup(k, sluice_flow_hash(&k, &kSeed), now_ms, kTimeouts);
}

// A fresh table in caller memory ignores what the memory held.
TEST(FlowTableAdopt, FreshTableInCallerMemoryIsEmpty) {
  TableMemory m(4096);
  FlowTable t(m.memory(), /*keep=*/false);
  EXPECT_EQ(t.occupied(), 0u);
  EXPECT_EQ(t.capacity(), 4096u);
  EXPECT_EQ(find(t, 1, 100), nullptr);
}

// Caller memory must describe a table: a power-of-two bucket count, both arrays.
TEST(FlowTableAdopt, RefusesMemoryThatIsNotATable) {
  TableMemory m(1024);
  FlowTableMemory bad = m.memory();
  bad.buckets = 3;
  EXPECT_THROW(FlowTable(bad, false), std::invalid_argument);
  bad.buckets = 0;
  EXPECT_THROW(FlowTable(bad, true), std::invalid_argument);
  bad = m.memory();
  bad.entries = nullptr;
  EXPECT_THROW(FlowTable(bad, false), std::invalid_argument);
}

// A kept table gives back every flow, with its backend, stale generation.
TEST(FlowTableAdopt, KeepsEveryFlowAndForgetsCachedIndices) {
  TableMemory m(4096);
  {
    FlowTable before(m.memory(), false);
    fill(before, 3000, 1000);
  }
  FlowTable after(m.memory(), /*keep=*/true);
  const FlowAdoptReport r = after.adopt(5000, kSeed, 60000);
  EXPECT_EQ(r.kept, 3000u);
  EXPECT_EQ(r.dropped, 0u);
  EXPECT_EQ(after.occupied(), 3000u);
  for (uint32_t i = 0; i < 3000; ++i) {
    FlowEntry* e = find(after, i, 5000);
    ASSERT_NE(e, nullptr) << i;
    EXPECT_EQ(e->backend_fingerprint, i + 1000u);
    EXPECT_EQ(e->generation, FlowTable::kStaleGeneration);
    EXPECT_EQ(e->state, FlowState::kEstablished);
  }
}

// Timeouts go on applying: idle time across the restart counts.
TEST(FlowTableAdopt, ExpiredFlowsStayExpired) {
  TableMemory m(1024);
  {
    FlowTable before(m.memory(), false);
    fill(before, 10, 1000);
  }
  FlowTable after(m.memory(), true);
  const uint32_t later = 1000 + kTimeouts.tcp_established_ms;
  EXPECT_EQ(after.adopt(later, kSeed, 60000).kept, 10u);
  EXPECT_EQ(find(after, 3, later), nullptr);
}

// Stamped a little ahead of the new clock (another TSC rate estimate):
// taken as seen now, not as idle for 49 days. Far ahead: left alone.
TEST(FlowTableAdopt, TimesAheadOfTheClockAreClamped) {
  TableMemory m(1024);
  {
    FlowTable before(m.memory(), false);
    fill(before, 4, 10000);
  }
  FlowTable after(m.memory(), true);
  const FlowAdoptReport r = after.adopt(9000, kSeed, 5000);  // 1 s behind the old clock
  EXPECT_EQ(r.clamped, 4u);
  for (uint32_t i = 0; i < 4; ++i) EXPECT_NE(find(after, i, 9001), nullptr) << i;

  TableMemory far(1024);
  {
    FlowTable before(far.memory(), false);
    fill(before, 4, 100000);
  }
  FlowTable after_far(far.memory(), true);
  EXPECT_EQ(after_far.adopt(9000, kSeed, 5000).clamped, 0u);
}

// Another seed places keys elsewhere: nothing of the old table is trusted.
TEST(FlowTableAdopt, AnotherSeedDropsEverything) {
  TableMemory m(1024);
  {
    FlowTable before(m.memory(), false);
    fill(before, 100, 1000);
  }
  FlowTable after(m.memory(), true);
  const FlowAdoptReport r = after.adopt(1000, kOtherSeed, 60000);
  EXPECT_EQ(r.kept, 0u);
  EXPECT_EQ(r.dropped, 100u);
  EXPECT_EQ(after.occupied(), 0u);
}

// A write torn by a crash (key changed under its signature, a state out of
// range): that entry is freed, the others are kept.
TEST(FlowTableAdopt, TornEntriesAreFreed) {
  TableMemory m(1024);
  FlowEntry* torn_key = nullptr;
  FlowEntry* torn_state = nullptr;
  {
    FlowTable before(m.memory(), false);
    fill(before, 50, 1000);
    torn_key = find(before, 10, 1000);
    torn_state = find(before, 20, 1000);
  }
  torn_key->key.sport ^= 0x0101;
  std::memset(&torn_state->state, 0x77, 1);
  FlowTable after(m.memory(), true);
  const FlowAdoptReport r = after.adopt(1000, kSeed, 60000);
  EXPECT_EQ(r.kept, 48u);
  EXPECT_EQ(r.dropped, 2u);
  EXPECT_EQ(find(after, 10, 1000), nullptr);
  EXPECT_EQ(find(after, 20, 1000), nullptr);
  EXPECT_NE(find(after, 30, 1000), nullptr);
}

// The restarted daemon publishes anew: generation 1 again, its backends in
// another order, one of them draining. Adopted flows keep their backend
// (found again by fingerprint), the draining one included.
class WorkerAdoptTest : public EngineTest {};

TEST_F(WorkerAdoptTest, FlowsKeepTheirBackendUnderARenumberedConfiguration) {
  TableMemory m(1 << 12);
  WorkerOptions o = small_options();
  o.flow_memory = &m.memory();
  std::map<uint16_t, std::string> placed;
  {
    Worker before(o);
    for (uint16_t port = 2000; port < 2200; ++port) {
      Buffer syn(tcp("198.51.100.7", port, SLUICE_TCP_SYN));
      before.process_one(snapshot_.get(), syn.pkt, 1000 * 1000000ull);
      Buffer ack(tcp("198.51.100.7", port, SLUICE_TCP_ACK));
      const Decision d = before.process_one(snapshot_.get(), ack.pkt, 1000 * 1000000ull);
      placed[port] = backend_of(d);
    }
  }
  // The new process: its own compiler, generation 1 again, pools and
  // backends reversed (other indices), weights moved, 10.1.0.1 draining.
  ServiceConfig s = web_service();
  std::swap(s.pools[0], s.pools[1]);
  for (PoolConfig& p : s.pools) std::reverse(p.backends.begin(), p.backends.end());
  s.pools[0].weight = 70;
  s.pools[1].weight = 30;
  for (PoolConfig& p : s.pools) {
    for (BackendConfig& b : p.backends) {
      if (b.address == ip("10.1.0.1")) b.state = BackendState::kDraining;
    }
  }
  config_.services = {s};
  SnapshotCompiler restarted;
  auto compiled = restarted.compile(config_, 1);
  ASSERT_TRUE(compiled.errors.empty());
  snapshot_ = compiled.snapshot;

  o.keep_flows = true;
  Worker after(o);
  EXPECT_EQ(after.adopt_flows(2000, config_.seed, 60000).kept, placed.size());
  uint32_t on_draining = 0;
  for (const auto& [port, backend] : placed) {
    Buffer data(tcp("198.51.100.7", port, SLUICE_TCP_ACK | SLUICE_TCP_PSH));
    const Decision d = after.process_one(snapshot_.get(), data.pkt, 2000 * 1000000ull);
    EXPECT_TRUE(d.flow_hit) << port;
    EXPECT_EQ(backend_of(d), backend) << port;
    on_draining += backend == "10.1.0.1";
  }
  EXPECT_GT(on_draining, 0u);  // the draining case was exercised
}

}  // namespace
}  // namespace sluice::engine
