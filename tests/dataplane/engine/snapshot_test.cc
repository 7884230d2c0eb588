// Tests of dataplane/engine/snapshot.h: compiling a configuration into the
// immutable tables the hot path reads, and the lookups on them.
#include "dataplane/engine/snapshot.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/engine/pool_split.h"

namespace sluice::engine {
namespace {

constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;

IpAddress ip(std::string_view text) {
  auto a = IpAddress::parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(IpAddress{});
}

Cidr cidr(std::string_view text) {
  auto c = Cidr::parse(text);
  EXPECT_TRUE(c.has_value()) << text;
  return c.value_or(Cidr{});
}

uint16_t to_network(uint16_t host_port) {
  return static_cast<uint16_t>((host_port >> 8) | (host_port << 8));
}

// A client->VIP key as the parser produces it: ports in network byte order.
sluice_flow_key vip_key(const IpAddress& vip, uint16_t host_port, uint8_t proto) {
  sluice_flow_key k{};
  std::memcpy(k.src, ip("198.51.100.7").bytes.data(), 16);
  std::memcpy(k.dst, vip.bytes.data(), 16);
  k.sport = to_network(40000);
  k.dport = to_network(host_port);
  k.proto = proto;
  k.family = vip.family;
  return k;
}

class SnapshotTest : public ::testing::Test {
 protected:
  // services[0] "web": IPv4, pools stable (3 backends, listed out of order)
  // and canary (2 backends, one below stable's addresses), rules.
  // services[1] "web6": IPv6 with one pool.
  EngineConfig base_config() const {
    EngineConfig c;
    c.seed = seed_;
    c.forwarding.source_v4 = ip("192.0.2.1");
    c.forwarding.source_v6 = ip("2001:db8:ff::1");
    c.forwarding.max_frame_size = 1600;

    ServiceConfig web;
    web.name = "web";
    web.vip = ip("10.0.0.1");
    web.port = 80;
    web.maglev_table_size = 251;
    web.client_prefix_v4 = 20;
    web.client_prefix_v6 = 56;
    web.pools.push_back({"stable",
                         90,
                         {{ip("10.1.0.3"), 1}, {ip("10.1.0.1"), 2}, {ip("10.1.0.2"), 3}}});
    web.pools.push_back({"canary", 10, {{ip("10.2.0.9"), 1}, {ip("10.0.0.5"), 1}}});
    web.rules.push_back({cidr("10.9.0.0/16"), "canary"});
    web.rules.push_back({cidr("10.9.1.0/24"), "stable"});
    web.rules.push_back({cidr("10.9.1.128/25"), "canary"});
    c.services.push_back(web);

    ServiceConfig web6;
    web6.name = "web6";
    web6.vip = ip("2001:db8::1");
    web6.port = 443;
    web6.maglev_table_size = 1021;
    web6.client_prefix_v4 = 20;
    web6.client_prefix_v6 = 56;
    web6.pools.push_back({"blue", 1, {{ip("2001:db8:1::2"), 1}, {ip("2001:db8:1::1"), 1}}});
    c.services.push_back(web6);
    return c;
  }

  // Compiles with the fixture's compiler; fails the test on errors.
  std::shared_ptr<const Snapshot> compile_ok(const EngineConfig& config, uint64_t generation = 1) {
    SnapshotCompiler::Result r = compiler_.compile(config, generation);
    std::string errors;
    for (const ConfigError& e : r.errors) errors += "\n  " + e.to_string();
    EXPECT_TRUE(r.errors.empty()) << errors;
    EXPECT_NE(r.snapshot, nullptr);
    return r.snapshot;
  }

  static const CompiledPool* pool_named(const CompiledService& s, std::string_view name) {
    for (const CompiledPool& p : s.pools) {
      if (p.name == name) return &p;
    }
    return nullptr;
  }

  // A pool's Maglev table as backend addresses, so tables of differently
  // ordered configurations can be compared.
  static std::vector<IpAddress> table_by_address(const CompiledService& s, const CompiledPool& p) {
    std::vector<IpAddress> out;
    for (uint16_t e : p.maglev) {
      EXPECT_LT(e, s.backends.size());
      out.push_back(e < s.backends.size() ? s.backends[e].address : IpAddress{});
    }
    return out;
  }

  // Slots of each backend index in a pool's table.
  static std::map<uint16_t, uint32_t> entry_counts(const CompiledPool& p) {
    std::map<uint16_t, uint32_t> counts;
    for (uint16_t e : p.maglev) ++counts[e];
    return counts;
  }

  sluice_hash_seed seed_{0x0123456789abcdefULL, 0x0fedcba987654321ULL};
  SnapshotCompiler compiler_;
};

// An invalid configuration yields no snapshot, its errors, and takes no
// counter slots.
TEST_F(SnapshotTest, RefusesInvalidConfig) {
  EngineConfig c = base_config();
  c.services[0].port = 0;
  c.services[1].pools[0].backends[0].weight = 0;
  SnapshotCompiler::Result r = compiler_.compile(c, 7);
  EXPECT_EQ(r.snapshot, nullptr);
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].field, "services[0].port");
  EXPECT_EQ(r.errors[1].field, "services[1].pools[0].backends[0].weight");
  EXPECT_EQ(compiler_.service_slots(), 0u);
  EXPECT_EQ(compiler_.pool_slots(), 0u);
  EXPECT_EQ(compiler_.backend_slots(), 0u);
}

// The generation, seed, forwarding and service settings are kept as given.
TEST_F(SnapshotTest, KeepsGenerationAndSettings) {
  auto snap = compile_ok(base_config(), 42);
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(snap->generation(), 42u);
  EXPECT_EQ(snap->seed().k0, seed_.k0);
  EXPECT_EQ(snap->seed().k1, seed_.k1);
  EXPECT_EQ(snap->forwarding().source_v4, ip("192.0.2.1"));
  EXPECT_EQ(snap->forwarding().max_frame_size, 1600u);
  ASSERT_EQ(snap->services().size(), 2u);
  EXPECT_EQ(snap->services()[0].config.name, "web");
  EXPECT_EQ(snap->services()[1].config.name, "web6");
  // The affinity prefix is the one of the VIP's family.
  EXPECT_EQ(snap->services()[0].affinity_prefix_len, 20);
  EXPECT_EQ(snap->services()[1].affinity_prefix_len, 56);

  auto later = compile_ok(base_config(), 0xffffffffffffULL);
  ASSERT_NE(later, nullptr);
  EXPECT_EQ(later->generation(), 0xffffffffffffULL);
}


// A weights-only change reuses every Maglev table (bit-identical); a backend
// change rebuilds only its pool's table.
TEST_F(SnapshotTest, MaglevTablesReusedWhenBackendsUnchanged) {
  EngineConfig c = base_config();
  auto first = compile_ok(c);
  ASSERT_NE(first, nullptr);
  const uint64_t built = compiler_.maglev_built();
  EXPECT_GT(built, 0u);
  c.services[0].pools[0].weight += 7;
  auto second = compile_ok(c);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(compiler_.maglev_built(), built);
  EXPECT_EQ(compiler_.maglev_reused(), built);
  for (size_t s = 0; s < first->services().size(); ++s) {
    for (size_t p = 0; p < first->services()[s].pools.size(); ++p) {
      EXPECT_EQ(first->services()[s].pools[p].maglev, second->services()[s].pools[p].maglev);
    }
  }
  // Changing one backend's weight rebuilds that pool's table only, and the
  // result equals a fresh compiler's.
  c.services[0].pools[0].backends[0].weight += 1;
  auto third = compile_ok(c);
  ASSERT_NE(third, nullptr);
  EXPECT_EQ(compiler_.maglev_built(), built + 1);
  SnapshotCompiler fresh;
  auto reference = fresh.compile(c, 9).snapshot;
  ASSERT_NE(reference, nullptr);
  for (size_t s = 0; s < third->services().size(); ++s) {
    for (size_t p = 0; p < third->services()[s].pools.size(); ++p) {
      EXPECT_EQ(third->services()[s].pools[p].maglev, reference->services()[s].pools[p].maglev);
    }
  }
}

// The shortest idle timeout of any service, for the flow-table sweep.
TEST_F(SnapshotTest, MinFlowTimeoutAcrossServices) {
  EngineConfig c = base_config();
  c.services[0].timeouts.udp_ms = 4000;
  c.services[1].timeouts.tcp_closing_ms = 2500;
  auto snap = compile_ok(c);
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(snap->min_flow_timeout_ms(), 2500u);
  c.services[1].timeouts.tcp_closing_ms = 10000;
  snap = compile_ok(c);
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(snap->min_flow_timeout_ms(), 4000u);
}

// An empty configuration compiles to a snapshot that matches nothing.
TEST_F(SnapshotTest, EmptyConfig) {
  EngineConfig c;
  auto snap = compile_ok(c, 1);
  ASSERT_NE(snap, nullptr);
  EXPECT_TRUE(snap->services().empty());
  EXPECT_EQ(snap->find_service(vip_key(ip("10.0.0.1"), 80, kTcp)), nullptr);
  EXPECT_FALSE(snap->is_vip(vip_key(ip("10.0.0.1"), 80, kTcp)));
}

// find_service and is_vip among 500 services: 50 VIPs (half IPv4, half
// IPv6) x 10 ports, TCP on some ports and UDP on the others.
class SnapshotLookupTest : public SnapshotTest {
 protected:
  static constexpr int kVips = 50;
  static constexpr int kPorts = 10;

  static IpAddress vip(int v) {
    if (v % 2 == 0) return IpAddress::v4(10, 0, 0, static_cast<uint8_t>(v + 1));
    IpAddress a = ip("2001:db8::");
    a.bytes[15] = static_cast<uint8_t>(v + 1);
    return a;
  }
  static uint16_t port(int p) { return static_cast<uint16_t>(8000 + 11 * p); }
  static uint8_t proto(int v, int p) { return (v + p) % 2 ? kUdp : kTcp; }
  static std::string name(int v, int p) {
    return "svc-" + std::to_string(v) + "-" + std::to_string(p);
  }

  EngineConfig many_services() const {
    EngineConfig c;
    c.seed = seed_;
    c.forwarding.source_v4 = ip("192.0.2.1");
    c.forwarding.source_v6 = ip("2001:db8:ff::1");
    for (int v = 0; v < kVips; ++v) {
      for (int p = 0; p < kPorts; ++p) {
        ServiceConfig s;
        s.name = name(v, p);
        s.vip = vip(v);
        s.port = port(p);
        s.protocol = static_cast<Protocol>(proto(v, p));
        s.maglev_table_size = 7;
        const IpAddress backend = s.vip.is_v4() ? ip("10.1.0.1") : ip("2001:db8:1::1");
        s.pools.push_back({"p", 1, {{backend, 1}}});
        c.services.push_back(s);
      }
    }
    return c;
  }
};

// Every (VIP, port, protocol, family) finds its own service.
TEST_F(SnapshotLookupTest, FindsEveryService) {
  auto snap = compile_ok(many_services());
  ASSERT_NE(snap, nullptr);
  ASSERT_EQ(snap->services().size(), 500u);
  for (int v = 0; v < kVips; ++v) {
    for (int p = 0; p < kPorts; ++p) {
      const CompiledService* s = snap->find_service(vip_key(vip(v), port(p), proto(v, p)));
      ASSERT_NE(s, nullptr) << name(v, p);
      EXPECT_EQ(s->config.name, name(v, p));
      EXPECT_EQ(s->config.vip, vip(v));
      EXPECT_EQ(s->config.port, port(p));
    }
  }
}

// Keys that differ from every listener in one field find nothing.
TEST_F(SnapshotLookupTest, MissesWrongPortProtocolFamilyAddress) {
  auto snap = compile_ok(many_services());
  ASSERT_NE(snap, nullptr);
  for (int v = 0; v < kVips; ++v) {
    for (int p = 0; p < kPorts; ++p) {
      SCOPED_TRACE(name(v, p));
      const sluice_flow_key good = vip_key(vip(v), port(p), proto(v, p));
      sluice_flow_key k = good;
      k.dport = to_network(static_cast<uint16_t>(port(p) + 1));  // not a service port
      EXPECT_EQ(snap->find_service(k), nullptr);
      k = good;
      k.dport = port(p);  // host byte order by mistake
      EXPECT_EQ(snap->find_service(k), nullptr);
      k = good;
      k.proto = proto(v, p) == kTcp ? kUdp : kTcp;
      EXPECT_EQ(snap->find_service(k), nullptr);
      k.proto = 132;  // SCTP
      EXPECT_EQ(snap->find_service(k), nullptr);
      k = good;
      k.family = vip(v).is_v4() ? SLUICE_AF_INET6 : SLUICE_AF_INET;
      EXPECT_EQ(snap->find_service(k), nullptr);
      k = good;
      k.dst[vip(v).is_v4() ? 3 : 15] = 200;  // an address that is no VIP
      EXPECT_EQ(snap->find_service(k), nullptr);
      k = good;
      k.dst[vip(v).is_v4() ? 0 : 1] ^= 0x40;
      EXPECT_EQ(snap->find_service(k), nullptr);
    }
  }
}

// is_vip is true for every VIP whatever the port and protocol, and false
// for other addresses and for a VIP's bytes under the other family.
TEST_F(SnapshotLookupTest, IsVip) {
  auto snap = compile_ok(many_services());
  ASSERT_NE(snap, nullptr);
  for (int v = 0; v < kVips; ++v) {
    SCOPED_TRACE(vip(v).to_string());
    EXPECT_TRUE(snap->is_vip(vip_key(vip(v), port(0), proto(v, 0))));
    EXPECT_TRUE(snap->is_vip(vip_key(vip(v), 9, 1)));  // any port, even ICMP
    sluice_flow_key k = vip_key(vip(v), 80, kTcp);
    k.family = vip(v).is_v4() ? SLUICE_AF_INET6 : SLUICE_AF_INET;
    EXPECT_FALSE(snap->is_vip(k));
  }
  for (int v = kVips; v < 250; ++v) {
    EXPECT_FALSE(snap->is_vip(vip_key(vip(v), port(0), kTcp))) << vip(v).to_string();
  }
  EXPECT_FALSE(snap->is_vip(vip_key(ip("192.0.2.1"), 80, kTcp)));
  EXPECT_FALSE(snap->is_vip(vip_key(ip("::"), 80, kTcp)));
}

// Backends are grouped by pool in pool order and sorted by address inside
// each pool; pools know their range; every field is carried over.
TEST_F(SnapshotTest, BackendsSortedAndGroupedByPool) {
  EngineConfig c = base_config();
  c.services[0].pools[0].backends[1].state = BackendState::kDraining;  // 10.1.0.1
  auto snap = compile_ok(c);
  ASSERT_NE(snap, nullptr);
  const CompiledService& s = snap->services()[0];
  ASSERT_EQ(s.backends.size(), 5u);
  const std::vector<IpAddress> expected{ip("10.1.0.1"), ip("10.1.0.2"), ip("10.1.0.3"),
                                        ip("10.0.0.5"), ip("10.2.0.9")};
  const std::vector<uint8_t> expected_pool{0, 0, 0, 1, 1};
  const std::vector<uint32_t> expected_weight{2, 3, 1, 1, 1};
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(s.backends[i].address, expected[i]);
    EXPECT_EQ(s.backends[i].pool, expected_pool[i]);
    EXPECT_EQ(s.backends[i].weight, expected_weight[i]);
    EXPECT_EQ(s.backends[i].fingerprint, backend_fingerprint(expected[i], seed_));
    EXPECT_EQ(s.backends[i].state,
              i == 0 ? BackendState::kDraining : BackendState::kActive);
  }
  ASSERT_EQ(s.pools.size(), 2u);
  EXPECT_EQ(s.pools[0].name, "stable");
  EXPECT_EQ(s.pools[0].first_backend, 0u);
  EXPECT_EQ(s.pools[0].backend_count, 3u);
  EXPECT_EQ(s.pools[1].name, "canary");
  EXPECT_EQ(s.pools[1].first_backend, 3u);
  EXPECT_EQ(s.pools[1].backend_count, 2u);

  const CompiledService& s6 = snap->services()[1];
  ASSERT_EQ(s6.backends.size(), 2u);
  EXPECT_EQ(s6.backends[0].address, ip("2001:db8:1::1"));
  EXPECT_EQ(s6.backends[1].address, ip("2001:db8:1::2"));
  EXPECT_EQ(s6.pools[0].first_backend, 0u);
  EXPECT_EQ(s6.pools[0].backend_count, 2u);
}

// Listing pools and backends in another order gives the same table per pool
// (compared by address) and the same backend order inside each pool.
TEST_F(SnapshotTest, ListingOrderDoesNotChangeTables) {
  EngineConfig a = base_config();
  a.services[0].maglev_table_size = 1021;
  a.services[0].pools[0].backends.push_back({ip("10.1.0.0"), 5});
  a.services[0].pools[0].backends.push_back({ip("10.1.0.200"), 1, BackendState::kDraining});
  EngineConfig b = a;
  std::reverse(b.services[0].pools.begin(), b.services[0].pools.end());
  for (PoolConfig& p : b.services[0].pools) {
    std::reverse(p.backends.begin(), p.backends.end());
    std::rotate(p.backends.begin(), p.backends.begin() + 1, p.backends.end());
  }
  ASSERT_NE(a.services[0].pools[0].backends[0].address,
            b.services[0].pools[1].backends[0].address);
  std::reverse(b.services[1].pools[0].backends.begin(), b.services[1].pools[0].backends.end());

  auto sa = compile_ok(a);
  auto sb = compile_ok(b);
  ASSERT_NE(sa, nullptr);
  ASSERT_NE(sb, nullptr);
  for (size_t i = 0; i < 2; ++i) {
    const CompiledService& x = sa->services()[i];
    const CompiledService& y = sb->services()[i];
    for (const CompiledPool& px : x.pools) {
      SCOPED_TRACE(px.name);
      const CompiledPool* py = pool_named(y, px.name);
      ASSERT_NE(py, nullptr);
      EXPECT_EQ(px.maglev.size(), x.config.maglev_table_size);
      EXPECT_EQ(table_by_address(x, px), table_by_address(y, *py));
      ASSERT_EQ(px.backend_count, py->backend_count);
      for (uint32_t j = 0; j < px.backend_count; ++j) {
        EXPECT_EQ(x.backends[px.first_backend + j].address,
                  y.backends[py->first_backend + j].address);
      }
    }
  }
}

// Only active backends own table entries; a pool with none active has an
// empty table.
TEST_F(SnapshotTest, MaglevHoldsOnlyActiveBackends) {
  EngineConfig c = base_config();
  auto& stable = c.services[0].pools[0].backends;  // 10.1.0.3, 10.1.0.1, 10.1.0.2
  stable[0].state = BackendState::kDraining;       // 10.1.0.3
  stable[1].state = BackendState::kDisabled;       // 10.1.0.1
  auto& canary = c.services[0].pools[1].backends;
  canary[0].state = BackendState::kDraining;
  canary[1].state = BackendState::kDisabled;
  auto snap = compile_ok(c);
  ASSERT_NE(snap, nullptr);
  const CompiledService& s = snap->services()[0];
  ASSERT_EQ(s.pools[0].maglev.size(), 251u);
  for (uint16_t e : s.pools[0].maglev) {
    ASSERT_LT(e, s.backends.size());
    EXPECT_EQ(s.backends[e].address, ip("10.1.0.2"));
  }
  EXPECT_TRUE(s.pools[1].maglev.empty());
  // The excluded backends still exist (their flows drain through them).
  EXPECT_EQ(s.backends.size(), 5u);
  EXPECT_EQ(s.pools[1].backend_count, 2u);
}

// Table entries stay inside the pool's own backend range.
TEST_F(SnapshotTest, MaglevEntriesStayInTheirPool) {
  auto snap = compile_ok(base_config());
  ASSERT_NE(snap, nullptr);
  for (const CompiledService& s : snap->services()) {
    for (size_t p = 0; p < s.pools.size(); ++p) {
      const CompiledPool& pool = s.pools[p];
      ASSERT_EQ(pool.maglev.size(), s.config.maglev_table_size);
      for (uint16_t e : pool.maglev) {
        ASSERT_GE(e, pool.first_backend);
        ASSERT_LT(e, pool.first_backend + pool.backend_count);
        EXPECT_EQ(s.backends[e].pool, p);
      }
      // Every active backend of the pool owns some entry here (shares >= 1).
      EXPECT_EQ(entry_counts(pool).size(), pool.backend_count);
    }
  }
}

// Each active backend owns within one entry of M * w / W, where W sums the
// weights of the ACTIVE backends only.
TEST_F(SnapshotTest, MaglevSharesFollowActiveWeights) {
  EngineConfig c = base_config();
  c.services[0].maglev_table_size = 1021;
  c.services[0].pools[0].backends = {{ip("10.1.0.1"), 1},
                                     {ip("10.1.0.2"), 2},
                                     {ip("10.1.0.3"), 3},
                                     {ip("10.1.0.4"), 10},
                                     {ip("10.1.0.5"), 50, BackendState::kDraining},
                                     {ip("10.1.0.6"), 7, BackendState::kDisabled},
                                     {ip("10.1.0.7"), 1000}};
  auto snap = compile_ok(c);
  ASSERT_NE(snap, nullptr);
  const CompiledService& s = snap->services()[0];
  const CompiledPool& pool = s.pools[0];
  ASSERT_EQ(pool.maglev.size(), 1021u);
  const std::map<uint16_t, uint32_t> counts = entry_counts(pool);
  const uint64_t total = 1 + 2 + 3 + 10 + 1000;
  uint64_t sum = 0;
  for (uint32_t j = 0; j < pool.backend_count; ++j) {
    const uint16_t index = static_cast<uint16_t>(pool.first_backend + j);
    const CompiledBackend& b = s.backends[index];
    SCOPED_TRACE(b.address.to_string());
    const uint64_t n = counts.count(index) ? counts.at(index) : 0;
    sum += n;
    if (b.state != BackendState::kActive) {
      EXPECT_EQ(n, 0u);
      continue;
    }
    // |n - M w / W| < 1, in integers: |n W - M w| < W.
    const int64_t diff = static_cast<int64_t>(n * total) - static_cast<int64_t>(1021 * b.weight);
    EXPECT_LT(std::abs(diff), static_cast<int64_t>(total)) << n;
  }
  EXPECT_EQ(sum, 1021u);
}

// The split carries each pool's id and reciprocal weight.
TEST_F(SnapshotTest, SplitMatchesPools) {
  EngineConfig c = base_config();
  c.services[1].pools.push_back({"green", 0, {{ip("2001:db8:2::1"), 1}}});
  c.services[1].pools.push_back({"max", 1000000, {{ip("2001:db8:3::1"), 1}}});
  auto snap = compile_ok(c);
  ASSERT_NE(snap, nullptr);
  for (const CompiledService& s : snap->services()) {
    SCOPED_TRACE(s.config.name);
    ASSERT_EQ(s.split.n_pools, s.config.pools.size());
    ASSERT_EQ(s.pools.size(), s.config.pools.size());
    for (size_t p = 0; p < s.pools.size(); ++p) {
      const std::string& name = s.config.pools[p].name;
      const uint32_t id = sluice_pool_id(name.data(), static_cast<uint32_t>(name.size()));
      EXPECT_EQ(s.pools[p].name, name);
      EXPECT_EQ(s.pools[p].id, id);
      EXPECT_EQ(s.pools[p].weight, s.config.pools[p].weight);
      EXPECT_EQ(s.split.pool_id[p], id);
      EXPECT_EQ(s.split.inv_weight[p], sluice_inv_weight(s.config.pools[p].weight));
    }
    for (size_t p = s.pools.size(); p < SLUICE_MAX_POOLS; ++p) {
      EXPECT_EQ(s.split.pool_id[p], 0u);
      EXPECT_EQ(s.split.inv_weight[p], 0u);
    }
  }
  // Golden values: FNV-1a of the names, floor(2^36 / weight).
  const CompiledService& web = snap->services()[0];
  EXPECT_EQ(web.split.pool_id[0], 0xbc9cb896u);  // "stable"
  EXPECT_EQ(web.split.pool_id[1], 0x1c604159u);  // "canary"
  EXPECT_EQ(web.split.inv_weight[0], 763549741u);   // 90
  EXPECT_EQ(web.split.inv_weight[1], 6871947673u);  // 10
  const CompiledService& web6 = snap->services()[1];
  EXPECT_EQ(web6.split.inv_weight[0], 68719476736u);  // 1
  EXPECT_EQ(web6.split.inv_weight[1], 0u);            // 0: never chosen
  EXPECT_EQ(web6.split.inv_weight[2], 68719u);        // 1000000
}

// The fallback pool is the first by default, else the named one wherever
// it is listed.
TEST_F(SnapshotTest, FallbackPool) {
  EngineConfig c = base_config();
  auto snap = compile_ok(c);
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(snap->services()[0].fallback_pool, 0);
  EXPECT_EQ(snap->services()[1].fallback_pool, 0);

  c.services[0].fallback_pool = "canary";
  snap = compile_ok(c);
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(snap->services()[0].fallback_pool, 1);

  c.services[0].fallback_pool = "stable";
  std::reverse(c.services[0].pools.begin(), c.services[0].pools.end());
  snap = compile_ok(c);
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(snap->services()[0].fallback_pool, 1);
  EXPECT_EQ(snap->services()[0].pools[1].name, "stable");
}

// Source rules compile to pool indices; the longest prefix wins; services
// without rules say so.
TEST_F(SnapshotTest, RulesCompileToPoolIndices) {
  EngineConfig c = base_config();
  c.services[1].pools.push_back({"green", 0, {{ip("2001:db8:2::1"), 1}}});
  c.services[1].rules.push_back({cidr("2001:db8:aa::/48"), "green"});
  c.services[1].rules.push_back({cidr("2001:db8:aa:1::/64"), "blue"});
  auto snap = compile_ok(c);
  ASSERT_NE(snap, nullptr);
  const CompiledService& web = snap->services()[0];
  EXPECT_TRUE(web.has_rules);
  EXPECT_EQ(web.rules.size(), 3u);
  EXPECT_EQ(web.rules.lookup(ip("10.9.2.1")), 1);     // /16 -> canary
  EXPECT_EQ(web.rules.lookup(ip("10.9.1.1")), 0);     // /24 -> stable
  EXPECT_EQ(web.rules.lookup(ip("10.9.1.127")), 0);   // /24 -> stable
  EXPECT_EQ(web.rules.lookup(ip("10.9.1.128")), 1);   // /25 -> canary
  EXPECT_EQ(web.rules.lookup(ip("10.9.1.255")), 1);   // /25 -> canary
  EXPECT_EQ(web.rules.lookup(ip("10.8.255.255")), CidrTable::kNoMatch);
  EXPECT_EQ(web.rules.lookup(ip("::ffff:10.9.1.1")), CidrTable::kNoMatch);

  const CompiledService& web6 = snap->services()[1];
  EXPECT_TRUE(web6.has_rules);
  EXPECT_EQ(web6.rules.lookup(ip("2001:db8:aa:2::1")), 1);  // green
  EXPECT_EQ(web6.rules.lookup(ip("2001:db8:aa:1::1")), 0);  // blue
  EXPECT_EQ(web6.rules.lookup(ip("2001:db8:ab::1")), CidrTable::kNoMatch);

  // Pool indices follow the pools, not the order rules name them in.
  std::reverse(c.services[0].pools.begin(), c.services[0].pools.end());
  snap = compile_ok(c);
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(snap->services()[0].rules.lookup(ip("10.9.2.1")), 0);  // canary is first now
  EXPECT_EQ(snap->services()[0].rules.lookup(ip("10.9.1.1")), 1);

  c.services[0].rules.clear();
  snap = compile_ok(c);
  ASSERT_NE(snap, nullptr);
  EXPECT_FALSE(snap->services()[0].has_rules);
  EXPECT_TRUE(snap->services()[0].rules.empty());
}

// find_backend maps every backend's fingerprint to its index, and anything
// else to kNoBackendIndex.
TEST_F(SnapshotTest, FindBackendByFingerprint) {
  EngineConfig c = base_config();
  c.services[0].pools[0].backends[0].state = BackendState::kDisabled;
  auto snap = compile_ok(c);
  ASSERT_NE(snap, nullptr);
  for (const CompiledService& s : snap->services()) {
    for (size_t i = 0; i < s.backends.size(); ++i) {
      EXPECT_EQ(s.find_backend(s.backends[i].fingerprint), i) << s.backends[i].address.to_string();
    }
  }
  const CompiledService& web = snap->services()[0];
  EXPECT_EQ(web.find_backend(backend_fingerprint(ip("10.1.0.4"), seed_)), kNoBackendIndex);
  // web6's backend is not web's.
  EXPECT_EQ(web.find_backend(backend_fingerprint(ip("2001:db8:1::1"), seed_)), kNoBackendIndex);
  // The right address under another seed is another fingerprint.
  EXPECT_EQ(web.find_backend(backend_fingerprint(ip("10.1.0.1"), {1, 2})), kNoBackendIndex);
  EXPECT_EQ(web.find_backend(0), kNoBackendIndex);
  EXPECT_EQ(web.find_backend(~uint64_t{0}), kNoBackendIndex);
}

// Fingerprints differ per address (also across families) and per seed, and
// are a pure function of both.
TEST_F(SnapshotTest, BackendFingerprint) {
  std::set<uint64_t> seen;
  for (int i = 0; i < 2000; ++i) {
    IpAddress a = IpAddress::v4(10, 1, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i));
    EXPECT_TRUE(seen.insert(backend_fingerprint(a, seed_)).second) << a.to_string();
    a.family = SLUICE_AF_INET6;  // same bytes, other family
    EXPECT_TRUE(seen.insert(backend_fingerprint(a, seed_)).second) << a.to_string();
  }
  const IpAddress a = ip("10.1.0.1");
  EXPECT_EQ(backend_fingerprint(a, seed_), backend_fingerprint(ip("10.1.0.1"), seed_));
  EXPECT_NE(backend_fingerprint(a, seed_), backend_fingerprint(a, {seed_.k0 + 1, seed_.k1}));
  EXPECT_NE(backend_fingerprint(a, seed_), backend_fingerprint(a, {seed_.k0, seed_.k1 ^ 1}));
  EXPECT_NE(backend_fingerprint(a, {0, 0}), backend_fingerprint(ip("10.1.0.2"), {0, 0}));
}

// Counter slots follow names across recompilations: kept names keep their
// slot, new names get fresh slots, and no slot is ever handed to another
// name (a removed name's slot stays its own).
TEST_F(SnapshotTest, CounterSlotsStableAcrossRecompiles) {
  const EngineConfig first = base_config();
  auto s1 = compile_ok(first);
  ASSERT_NE(s1, nullptr);
  EXPECT_EQ(compiler_.service_slots(), 2u);
  EXPECT_EQ(compiler_.pool_slots(), 3u);
  EXPECT_EQ(compiler_.backend_slots(), 7u);

  std::map<std::string, uint32_t> service_slot, pool_slot, backend_slot;
  for (const CompiledService& s : s1->services()) {
    service_slot[s.config.name] = s.counter_slot;
    for (const CompiledPool& p : s.pools) pool_slot[s.config.name + " " + p.name] = p.counter_slot;
    for (const CompiledBackend& b : s.backends) {
      backend_slot[s.config.name + " " + b.address.to_string()] = b.counter_slot;
    }
  }
  // Inside one snapshot, slots are distinct and below the counts.
  auto distinct_below = [](const std::map<std::string, uint32_t>& m, uint32_t n) {
    std::set<uint32_t> values;
    for (const auto& [name, slot] : m) {
      EXPECT_LT(slot, n) << name;
      values.insert(slot);
    }
    EXPECT_EQ(values.size(), m.size());
  };
  distinct_below(service_slot, compiler_.service_slots());
  distinct_below(pool_slot, compiler_.pool_slots());
  distinct_below(backend_slot, compiler_.backend_slots());

  // Second config: a new service ahead of the others, canary removed
  // (with 10.2.0.9), 10.0.0.5 moved to stable, a new pool with a new backend.
  EngineConfig second = base_config();
  ServiceConfig api = second.services[1];
  api.name = "api";
  api.port = 8443;
  second.services.insert(second.services.begin(), api);
  ServiceConfig& web = second.services[1];
  web.rules.clear();
  web.pools[1] = {"beta", 5, {{ip("10.3.0.1"), 1}}};
  web.pools[0].backends.push_back({ip("10.0.0.5"), 1});
  auto s2 = compile_ok(second);
  ASSERT_NE(s2, nullptr);
  EXPECT_EQ(compiler_.service_slots(), 3u);
  EXPECT_EQ(compiler_.pool_slots(), 5u);   // + api/blue, web/beta
  EXPECT_EQ(compiler_.backend_slots(), 10u);  // + api's two, 10.3.0.1

  const CompiledService& api2 = s2->services()[0];
  const CompiledService& web2 = s2->services()[1];
  const CompiledService& web6 = s2->services()[2];
  EXPECT_EQ(api2.counter_slot, 2u);
  EXPECT_EQ(web2.counter_slot, service_slot["web"]);
  EXPECT_EQ(web6.counter_slot, service_slot["web6"]);
  EXPECT_EQ(web2.pools[0].counter_slot, pool_slot["web stable"]);
  EXPECT_EQ(web6.pools[0].counter_slot, pool_slot["web6 blue"]);
  // New pools get slots never used before (canary's slot is not reused).
  EXPECT_GE(web2.pools[1].counter_slot, 3u);
  EXPECT_GE(api2.pools[0].counter_slot, 3u);
  EXPECT_NE(web2.pools[1].counter_slot, api2.pools[0].counter_slot);
  for (const CompiledBackend& b : web2.backends) {
    const std::string key = "web " + b.address.to_string();
    if (b.address == ip("10.3.0.1")) {
      EXPECT_GE(b.counter_slot, 7u);
    } else {
      // Includes 10.0.0.5, which moved from canary to stable.
      ASSERT_TRUE(backend_slot.count(key)) << key;
      EXPECT_EQ(b.counter_slot, backend_slot[key]) << key;
    }
  }
  for (const CompiledBackend& b : web6.backends) {
    EXPECT_EQ(b.counter_slot, backend_slot["web6 " + b.address.to_string()]);
  }
  // The same addresses under another service are other counters.
  for (const CompiledBackend& b : api2.backends) {
    EXPECT_GE(b.counter_slot, 7u);
    EXPECT_NE(b.counter_slot, backend_slot["web6 " + b.address.to_string()]);
  }

  // Going back to the first config gives the first slots back.
  auto s3 = compile_ok(first);
  ASSERT_NE(s3, nullptr);
  EXPECT_EQ(compiler_.pool_slots(), 5u);
  EXPECT_EQ(s3->services()[0].pools[1].counter_slot, pool_slot["web canary"]);
  EXPECT_EQ(s3->services()[0].backends[4].counter_slot, backend_slot["web 10.2.0.9"]);
}

// Two different pools never share a counter slot, whatever characters
// their names hold.
TEST_F(SnapshotTest, DistinctPoolsNeverShareCounterSlot) {
  // '/' (the counter key separator) is refused in names, so "a/b"+"c" and
  // "a"+"b/c" can never both compile to the key "a/b/c".
  EngineConfig c = base_config();
  c.services[0].name = "a/b";
  auto r = compiler_.compile(c, 1);
  EXPECT_EQ(r.snapshot, nullptr);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].field, "services[0].name");
  c = base_config();
  c.services[0].name = "a.b";
  c.services[0].pools[0].name = "c";
  c.services[0].rules.clear();
  c.services[1].name = "a";
  c.services[1].pools[0].name = "b.c";
  auto snap = compile_ok(c);
  ASSERT_NE(snap, nullptr);
  EXPECT_NE(snap->services()[0].pools[0].counter_slot, snap->services()[1].pools[0].counter_slot);
}

// The same configuration compiles to identical tables, in one compiler or
// in two.
TEST_F(SnapshotTest, Deterministic) {
  EngineConfig c = base_config();
  c.services[0].maglev_table_size = 1021;
  c.services[0].pools[0].backends[2].state = BackendState::kDraining;
  SnapshotCompiler other;
  auto a = compile_ok(c, 3);
  auto b = compile_ok(c, 3);
  auto r = other.compile(c, 3);
  ASSERT_TRUE(r.errors.empty());
  for (const auto& snap : {b, r.snapshot}) {
    ASSERT_NE(a, nullptr);
    ASSERT_NE(snap, nullptr);
    EXPECT_EQ(snap->generation(), a->generation());
    ASSERT_EQ(snap->services().size(), a->services().size());
    for (size_t i = 0; i < a->services().size(); ++i) {
      const CompiledService& x = a->services()[i];
      const CompiledService& y = snap->services()[i];
      EXPECT_EQ(x.counter_slot, y.counter_slot);
      EXPECT_EQ(std::memcmp(&x.split, &y.split, sizeof(x.split)), 0);
      EXPECT_EQ(x.fallback_pool, y.fallback_pool);
      EXPECT_EQ(x.affinity_prefix_len, y.affinity_prefix_len);
      EXPECT_EQ(x.has_rules, y.has_rules);
      EXPECT_EQ(x.rules.size(), y.rules.size());
      ASSERT_EQ(x.pools.size(), y.pools.size());
      for (size_t p = 0; p < x.pools.size(); ++p) {
        EXPECT_EQ(x.pools[p].name, y.pools[p].name);
        EXPECT_EQ(x.pools[p].id, y.pools[p].id);
        EXPECT_EQ(x.pools[p].first_backend, y.pools[p].first_backend);
        EXPECT_EQ(x.pools[p].backend_count, y.pools[p].backend_count);
        EXPECT_EQ(x.pools[p].counter_slot, y.pools[p].counter_slot);
        EXPECT_EQ(x.pools[p].maglev, y.pools[p].maglev);
      }
      ASSERT_EQ(x.backends.size(), y.backends.size());
      for (size_t j = 0; j < x.backends.size(); ++j) {
        EXPECT_EQ(x.backends[j].address, y.backends[j].address);
        EXPECT_EQ(x.backends[j].fingerprint, y.backends[j].fingerprint);
        EXPECT_EQ(x.backends[j].weight, y.backends[j].weight);
        EXPECT_EQ(x.backends[j].state, y.backends[j].state);
        EXPECT_EQ(x.backends[j].pool, y.backends[j].pool);
        EXPECT_EQ(x.backends[j].counter_slot, y.backends[j].counter_slot);
      }
    }
  }
  // Another seed gives other tables: the seed reaches the permutations.
  c.seed = {seed_.k0 ^ 1, seed_.k1};
  auto d = compile_ok(c, 3);
  ASSERT_NE(d, nullptr);
  EXPECT_NE(table_by_address(d->services()[0], d->services()[0].pools[0]),
            table_by_address(a->services()[0], a->services()[0].pools[0]));
}

}  // namespace
}  // namespace sluice::engine
