// Tests of dataplane/xdp/snapshot_writer.h against the real maps: the
// program is loaded through its skeleton (not attached anywhere), snapshots
// are written, and the maps are read back with plain bpf() calls and keys
// built here by hand from xdp_layout.h.
#include "dataplane/xdp/snapshot_writer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "dataplane/xdp/xdp_maps.h"
#include "ebpf/xdp/xdp_layout.h"
#include "tests/dataplane/xdp/xdp_test_support.h"

namespace sluice::xdp {
namespace {

using test::ip;

class SnapshotWriterTest : public test::LoadedProgramTest {
 protected:
  std::shared_ptr<const engine::Snapshot> snapshot(const engine::EngineConfig& c, uint64_t gen) {
    return test::compile(compiler_, c, gen);
  }

  uint64_t root() const {
    const uint32_t zero = 0;
    sluice_xdp_root r{};
    EXPECT_EQ(bpf_map_lookup_elem(maps_.root, &zero, &r), 0);
    return r.word;
  }

  template <typename Value>
  Value array_at(int fd, uint32_t index) const {
    Value v{};
    EXPECT_EQ(bpf_map_lookup_elem(fd, &index, &v), 0) << index;
    return v;
  }

  // -1 when the key is absent.
  template <typename Key>
  int64_t hash_value(int fd, const Key& key) const {
    uint32_t v = 0;
    if (bpf_map_lookup_elem(fd, &key, &v) != 0) return -1;
    return v;
  }

  // Keys of a hash map (or the trie) whose first byte / word says `slot`.
  template <typename Key, typename SlotOf>
  size_t keys_of_slot(int fd, uint32_t slot, SlotOf slot_of_key) const {
    size_t n = 0;
    Key k{}, next{};
    const Key* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
      if (slot_of_key(next) == slot) ++n;
      k = next;
      prev = &k;
    }
    return n;
  }

  size_t services_in(uint32_t slot) const {
    return keys_of_slot<sluice_xdp_service_key>(maps_.services, slot,
                                                [](const auto& k) { return k.slot; });
  }
  size_t vips_in(uint32_t slot) const {
    return keys_of_slot<sluice_xdp_vip_key>(maps_.vips, slot, [](const auto& k) { return k.slot; });
  }
  size_t backend_keys_in(uint32_t slot) const {
    return keys_of_slot<sluice_xdp_backend_key>(
        maps_.backend_index, slot, [](const auto& k) { return k.slot_service >> 24; });
  }
  size_t rules_in(uint32_t slot) const {
    return keys_of_slot<sluice_xdp_rule_key>(maps_.rules, slot,
                                             [](const auto& k) { return k.slot_service[0]; });
  }

  // The pool the trie gives a client of service `service` in `slot`, -1: none.
  int64_t rule_lookup(uint32_t slot, uint32_t service, const engine::IpAddress& client) const {
    sluice_xdp_rule_key k{};
    k.prefixlen = 32 + client.bit_length();
    k.slot_service[0] = static_cast<uint8_t>(slot);
    k.slot_service[3] = static_cast<uint8_t>(service);
    std::memcpy(k.addr, client.bytes.data(), 16);
    return hash_value(maps_.rules, k);
  }

  // Entry `e` (slot-relative) of the packed Maglev map.
  uint16_t maglev_entry(uint32_t slot, uint32_t e) const {
    const uint32_t per_slot = bpf_map__max_entries(skel_->maps.maglev) / SLUICE_XDP_SLOTS;
    return array_at<sluice_xdp_maglev>(maps_.maglev, slot * per_slot + e / 4).index[e % 4];
  }

  uint32_t services_stride() const {
    return bpf_map__max_entries(skel_->maps.service_config) / SLUICE_XDP_SLOTS;
  }
  uint32_t backends_stride() const {
    return bpf_map__max_entries(skel_->maps.backends) / SLUICE_XDP_SLOTS;
  }

  engine::SnapshotCompiler compiler_;
};

sluice_xdp_service_key web_key(uint8_t slot) {
  sluice_xdp_service_key k{};
  k.slot = slot;
  k.family = SLUICE_AF_INET;
  k.proto = 6;
  k.port = 80 << 8;  // network byte order
  k.addr[0] = 10, k.addr[3] = 1;
  return k;
}

sluice_xdp_service_key dns6_key(uint8_t slot) {
  sluice_xdp_service_key k{};
  k.slot = slot;
  k.family = SLUICE_AF_INET6;
  k.proto = 17;
  k.port = 53 << 8;
  std::memcpy(k.addr, ip("2001:db8::53").bytes.data(), 16);
  return k;
}

// The first write fills slot 0 with every table of the snapshot, exactly as
// the layout header describes them, and switches root to generation 1.
TEST_F(SnapshotWriterTest, FirstWriteFillsSlotZeroAndSwitchesRoot) {
  EXPECT_EQ(root(), 0u);
  SnapshotWriter writer(maps_, {.tx_ifindex = 7});
  auto snap = snapshot(test::sample_config(), 1);
  const WriteStats stats = writer.write(*snap);
  EXPECT_EQ(stats.slot, 0u);
  EXPECT_EQ(stats.root_generation, 1u);
  EXPECT_EQ(root(), (1u << 1) | 0u);

  const auto g = array_at<sluice_xdp_globals>(maps_.globals, 0);
  EXPECT_EQ(g.seed.k0, 0x0123456789abcdefULL);
  EXPECT_EQ(g.seed.k1, 0xfedcba9876543210ULL);
  EXPECT_EQ(g.source_v4[0], 192);
  EXPECT_EQ(g.source_v4[3], 1);
  EXPECT_EQ(g.source_v6[15], 1);
  EXPECT_EQ(g.local_mac[5], 2);
  EXPECT_EQ(g.next_hop_mac[5], 1);
  EXPECT_EQ(g.max_frame_size, 1600u);
  EXPECT_EQ(g.min_flow_timeout_ms, snap->min_flow_timeout_ms());
  EXPECT_EQ(g.tx_ifindex, 7u);
  EXPECT_EQ(g.service_count, 2u);

  EXPECT_EQ(hash_value(maps_.services, web_key(0)), 0);
  EXPECT_EQ(hash_value(maps_.services, dns6_key(0)), 1);
  EXPECT_EQ(hash_value(maps_.services, web_key(1)), -1);
  sluice_xdp_service_key wrong_port = web_key(0);
  wrong_port.port = 80;  // host byte order: not a listener
  EXPECT_EQ(hash_value(maps_.services, wrong_port), -1);
  sluice_xdp_vip_key vip{};
  vip.family = SLUICE_AF_INET;
  vip.addr[0] = 10, vip.addr[3] = 1;
  EXPECT_EQ(hash_value(maps_.vips, vip), 1);
  EXPECT_EQ(services_in(0), 2u);
  EXPECT_EQ(vips_in(0), 2u);

  // Service 0: two pools, their tables one after the other, each starting
  // on a 4-entry boundary (251 -> offset 252).
  const engine::CompiledService& web = snap->services()[0];
  const auto s0 = array_at<sluice_xdp_service>(maps_.service_config, 0);
  EXPECT_EQ(s0.pool_count, 2u);
  EXPECT_EQ(s0.backend_base, 0u);
  EXPECT_EQ(s0.backend_count, 5u);
  EXPECT_EQ(s0.rule_count, 2u);
  EXPECT_EQ(s0.counter_slot, web.counter_slot);
  EXPECT_EQ(std::memcmp(&s0.split, &web.split, sizeof(s0.split)), 0);
  EXPECT_EQ(s0.pools[0].maglev_offset, 0u);
  EXPECT_EQ(s0.pools[0].maglev_size, 251u);
  EXPECT_EQ(s0.pools[1].maglev_offset, 252u);
  EXPECT_EQ(s0.pools[1].first_backend, 3u);
  EXPECT_EQ(s0.pools[1].backend_count, 2u);
  EXPECT_EQ(s0.circuit_enabled, 1u);
  EXPECT_EQ(s0.tcp_established_ms, web.config.timeouts.tcp_established_ms);
  const auto s1 = array_at<sluice_xdp_service>(maps_.service_config, 1);
  EXPECT_EQ(s1.backend_base, 5u);
  EXPECT_EQ(s1.pools[0].maglev_offset, 504u);
  EXPECT_EQ(s1.pools[0].maglev_size, 13u);
  EXPECT_EQ(s1.encapsulation, 1u);
  EXPECT_EQ(s1.gue_port, 6081u);
  EXPECT_EQ(s1.rule_count, 0u);

  for (uint32_t p = 0; p < 2; ++p) {
    const auto& table = web.pools[p].maglev;
    for (uint32_t e = 0; e < table.size(); ++e) {
      ASSERT_EQ(maglev_entry(0, s0.pools[p].maglev_offset + e), table[e]) << p << "/" << e;
    }
  }
  // Backends: values in service order, and the fingerprint index.
  for (uint32_t s = 0; s < 2; ++s) {
    const engine::CompiledService& svc = snap->services()[s];
    const uint32_t base = s == 0 ? 0 : 5;
    for (uint32_t b = 0; b < svc.backends.size(); ++b) {
      const auto v = array_at<sluice_xdp_backend>(maps_.backends, base + b);
      EXPECT_EQ(std::memcmp(v.addr, svc.backends[b].address.bytes.data(), 16), 0);
      EXPECT_EQ(v.fingerprint, svc.backends[b].fingerprint);
      EXPECT_EQ(v.pool, svc.backends[b].pool);
      sluice_xdp_backend_key k{};
      k.slot_service = s;
      k.fingerprint = svc.backends[b].fingerprint;
      EXPECT_EQ(hash_value(maps_.backend_index, k), b);
    }
  }
  // Rules: longest prefix wins; pools by index (stable 0, canary 1).
  EXPECT_EQ(rule_lookup(0, 0, ip("198.51.100.5")), 1);
  EXPECT_EQ(rule_lookup(0, 0, ip("198.51.100.200")), 0);
  EXPECT_EQ(rule_lookup(0, 0, ip("198.51.101.1")), -1);
  EXPECT_EQ(rule_lookup(0, 1, ip("198.51.100.5")), -1);  // another service
  EXPECT_EQ(rule_lookup(1, 0, ip("198.51.100.5")), -1);  // the other slot
}

// Writes alternate between the slots; the one just left keeps its contents
// until it is written again.
TEST_F(SnapshotWriterTest, WritesAlternateSlots) {
  SnapshotWriter writer(maps_);
  const auto config = test::sample_config();
  writer.write(*snapshot(config, 1));
  const WriteStats second = writer.write(*snapshot(config, 2));
  EXPECT_EQ(second.slot, 1u);
  EXPECT_EQ(root(), (2u << 1) | 1u);
  EXPECT_EQ(services_in(0), 2u);
  EXPECT_EQ(services_in(1), 2u);
  EXPECT_EQ(hash_value(maps_.services, dns6_key(1)), 1);
  const auto s1 = array_at<sluice_xdp_service>(maps_.service_config, services_stride() + 1);
  EXPECT_EQ(s1.backend_base, 5u);
  const auto b = array_at<sluice_xdp_backend>(maps_.backends, backends_stride() + 5);
  EXPECT_EQ(b.fingerprint, snapshot(config, 3)->services()[1].backends[0].fingerprint);
  EXPECT_EQ(rule_lookup(1, 0, ip("198.51.100.5")), 1);
  EXPECT_EQ(writer.write(*snapshot(config, 3)).slot, 0u);
  EXPECT_EQ(root(), (3u << 1) | 0u);
}

// A slot written again loses the keys its previous contents had and the new
// snapshot does not: services, VIPs, backends and rules.
TEST_F(SnapshotWriterTest, RewritingASlotDeletesItsStaleKeys) {
  SnapshotWriter writer(maps_);
  auto config = test::sample_config();
  writer.write(*snapshot(config, 1));
  writer.write(*snapshot(config, 2));
  config.services.pop_back();  // dns6 goes
  config.services[0].rules.clear();
  const WriteStats third = writer.write(*snapshot(config, 3));
  EXPECT_EQ(third.slot, 0u);
  EXPECT_EQ(third.keys_deleted, 1u + 1u + 2u + 2u);  // service, VIP, 2 backends, 2 rules
  EXPECT_EQ(services_in(0), 1u);
  EXPECT_EQ(vips_in(0), 1u);
  EXPECT_EQ(backend_keys_in(0), 5u);
  EXPECT_EQ(rules_in(0), 0u);
  EXPECT_EQ(hash_value(maps_.services, dns6_key(0)), -1);
  EXPECT_EQ(rule_lookup(0, 0, ip("198.51.100.5")), -1);
  EXPECT_EQ(array_at<sluice_xdp_service>(maps_.service_config, 0).rule_count, 0u);
  EXPECT_EQ(array_at<sluice_xdp_globals>(maps_.globals, 0).service_count, 1u);
  // Slot 1 (generation 2) is untouched until the next write.
  EXPECT_EQ(services_in(1), 2u);
  EXPECT_EQ(rules_in(1), 2u);
  writer.write(*snapshot(config, 4));
  EXPECT_EQ(services_in(1), 1u);
  EXPECT_EQ(vips_in(1), 1u);
  EXPECT_EQ(backend_keys_in(1), 5u);
  EXPECT_EQ(rules_in(1), 0u);
}

// A weight change (a rollout step) rewrites the one service entry whose
// split changed, and the slot's globals (they carry the snapshot's
// generation): no Maglev value, backend or key is written again.
TEST_F(SnapshotWriterTest, WeightChangeRewritesOnlyTheServiceEntry) {
  SnapshotWriter writer(maps_);
  auto config = test::sample_config();
  const WriteStats first = writer.write(*snapshot(config, 1));
  EXPECT_EQ(first.maglev_values_written, (252u + 252u + 16u) / 4);
  writer.write(*snapshot(config, 2));
  config.services[0].pools[0].weight = 50;
  config.services[0].pools[1].weight = 50;
  const WriteStats step = writer.write(*snapshot(config, 3));
  EXPECT_EQ(step.maglev_values_written, 0u);
  EXPECT_EQ(step.keys_deleted, 0u);
  EXPECT_EQ(step.elements_written, 2u);
  EXPECT_EQ(array_at<sluice_xdp_globals>(maps_.globals, step.slot).generation_lo, 3u);
  const auto s0 = array_at<sluice_xdp_service>(maps_.service_config, 0);
  EXPECT_EQ(s0.split.inv_weight[0], sluice_inv_weight(50));
  // The other slot still had the old weights: it gets the same two writes.
  EXPECT_EQ(writer.write(*snapshot(config, 4)).elements_written, 2u);

  // Draining a backend changes its pool's table (and its state), nothing else.
  config.services[0].pools[0].backends[1].state = engine::BackendState::kDraining;
  const WriteStats drain = writer.write(*snapshot(config, 5));
  EXPECT_GT(drain.maglev_values_written, 0u);
  EXPECT_LE(drain.maglev_values_written, 252u / 4);
  for (uint32_t e = 0; e < 251; ++e) {
    ASSERT_NE(maglev_entry(drain.slot, e), 1) << "drained backend 1 still in entry " << e;
  }
  EXPECT_EQ(array_at<sluice_xdp_backend>(maps_.backends, drain.slot * backends_stride() + 1).state,
            static_cast<uint8_t>(engine::BackendState::kDraining));
}

// Root generations only increase, whatever generation the snapshot has.
TEST_F(SnapshotWriterTest, RootGenerationsOnlyIncrease) {
  SnapshotWriter writer(maps_);
  const auto config = test::sample_config();
  EXPECT_EQ(writer.write(*snapshot(config, 0)).root_generation, 1u);  // never a 0 root
  EXPECT_EQ(writer.write(*snapshot(config, 5)).root_generation, 5u);
  EXPECT_EQ(writer.write(*snapshot(config, 5)).root_generation, 6u);
  EXPECT_EQ(writer.write(*snapshot(config, 3)).root_generation, 7u);
  EXPECT_EQ(sluice_xdp_root_generation(root()), 7u);
}

// A second writer on the same maps (a restarted sluiced) continues from the
// root it finds, and cleans keys the first writer left in its slot.
TEST_F(SnapshotWriterTest, NewWriterContinuesFromTheMaps) {
  auto config = test::sample_config();
  {
    SnapshotWriter first(maps_);
    first.write(*snapshot(config, 10));
    first.write(*snapshot(config, 11));
  }
  SnapshotWriter second(maps_);
  EXPECT_EQ(second.root_generation(), 11u);
  config.services.pop_back();
  const WriteStats w = second.write(*snapshot(config, 12));
  EXPECT_EQ(w.slot, 0u);
  EXPECT_EQ(root(), (12u << 1) | 0u);
  EXPECT_EQ(services_in(0), 1u);
  EXPECT_EQ(vips_in(0), 1u);
  EXPECT_EQ(backend_keys_in(0), 5u);
  EXPECT_EQ(rules_in(0), 2u);
  EXPECT_EQ(hash_value(maps_.services, web_key(0)), 0);
  // Everything of the slot was written, since the writer could not know it.
  EXPECT_GE(w.maglev_values_written, 504u / 4);
}

// A snapshot too big for the maps is refused before anything is written or
// switched, with a message naming the limit.
TEST_F(SnapshotWriterTest, CapacityErrorChangesNothing) {
  reload([](sluice_xdp* s) {
    // One service per slot; the array strides stay at their defaults.
    test::resize_map(s->obj, "services", 2);
    test::resize_map(s->obj, "vips", 2);
  });
  SnapshotWriter writer(maps_);
  EXPECT_EQ(writer.capacity().services, 1u);
  auto config = test::sample_config();
  EXPECT_EQ(writer.check(*snapshot(config, 1)).size(), 1u);
  try {
    writer.write(*snapshot(config, 1));
    FAIL() << "a snapshot of 2 services was written into maps of 1";
  } catch (const XdpError& e) {
    EXPECT_NE(std::string(e.what()).find("2 services exceed the 1"), std::string::npos) << e.what();
  }
  EXPECT_EQ(root(), 0u);
  EXPECT_EQ(services_in(0), 0u);
  EXPECT_EQ(vips_in(0), 0u);

  config.services.pop_back();
  EXPECT_TRUE(writer.check(*snapshot(config, 2)).empty());
  EXPECT_EQ(writer.write(*snapshot(config, 2)).root_generation, 2u);
  EXPECT_EQ(services_in(0), 1u);
}

}  // namespace
}  // namespace sluice::xdp
