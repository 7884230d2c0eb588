// Tests of dataplane/xdp/slot_image.h: what a snapshot becomes in one slot
// of the XDP maps, and the capacity check, without BPF.
#include "dataplane/xdp/slot_image.h"

#include <gtest/gtest.h>

#include <cstring>

#include "tests/dataplane/xdp/xdp_test_support.h"

namespace sluice::xdp {
namespace {

using test::cidr;
using test::ip;

class SlotImageTest : public ::testing::Test {
 protected:
  std::shared_ptr<const engine::Snapshot> snapshot(const engine::EngineConfig& c) {
    return test::compile(compiler_, c, 1);
  }
  engine::SnapshotCompiler compiler_;
};

// Keys carry their slot; ports are in network byte order as in flow keys;
// rule keys put slot and service big-endian ahead of the prefix.
TEST_F(SlotImageTest, KeysFollowTheLayout) {
  engine::ServiceConfig s;
  s.vip = ip("10.0.0.1");
  s.port = 443;
  s.protocol = engine::Protocol::kUdp;
  const sluice_xdp_service_key k = service_key(1, s);
  EXPECT_EQ(k.slot, 1u);
  EXPECT_EQ(k.family, SLUICE_AF_INET);
  EXPECT_EQ(k.proto, 17u);
  const auto* port = reinterpret_cast<const uint8_t*>(&k.port);
  EXPECT_EQ(port[0], 443 >> 8);
  EXPECT_EQ(port[1], 443 & 0xff);
  EXPECT_EQ(k.addr[0], 10);
  EXPECT_EQ(k.addr[4], 0);

  const sluice_xdp_rule_key r = rule_key(1, 0x0203, cidr("2001:db8::/32"));
  EXPECT_EQ(r.prefixlen, 64u);
  EXPECT_EQ(r.slot_service[0], 1);
  EXPECT_EQ(r.slot_service[1], 0);
  EXPECT_EQ(r.slot_service[2], 2);
  EXPECT_EQ(r.slot_service[3], 3);
  EXPECT_EQ(r.addr[0], 0x20);
  EXPECT_EQ(r.addr[1], 0x01);

  EXPECT_EQ(backend_key(1, 5, 99).slot_service, (1u << 24) | 5u);
  EXPECT_EQ(slot_of(backend_key(1, 5, 99)), 1u);
  EXPECT_EQ(slot_of(r), 1u);
  EXPECT_EQ(slot_of(vip_key(1, s.vip)), 1u);
}

// Maglev tables are packed four entries to a value, each table starting on
// a value boundary; the padding entries are zero.
TEST_F(SlotImageTest, MaglevTablesArePackedOnValueBoundaries) {
  auto snap = snapshot(test::sample_config());
  const SlotImage image = build_slot_image(*snap, 0, 0);
  ASSERT_EQ(image.maglev.size(), (252u + 252u + 16u) / 4);
  const auto& web = snap->services()[0];
  const auto& dns = snap->services()[1];
  auto entry = [&image](uint32_t e) { return image.maglev[e / 4].index[e % 4]; };
  for (uint32_t e = 0; e < 251; ++e) ASSERT_EQ(entry(e), web.pools[0].maglev[e]);
  EXPECT_EQ(entry(251), 0);
  for (uint32_t e = 0; e < 251; ++e) ASSERT_EQ(entry(252 + e), web.pools[1].maglev[e]);
  for (uint32_t e = 0; e < 13; ++e) ASSERT_EQ(entry(504 + e), dns.pools[0].maglev[e]);
  EXPECT_EQ(image.service_config[1].pools[0].maglev_offset, 504u);
  EXPECT_EQ(image.service_config[1].backend_base, 5u);
  ASSERT_EQ(image.backends.size(), 7u);
  EXPECT_EQ(image.backend_index.size(), 7u);
  EXPECT_EQ(image.rules.size(), 2u);
  EXPECT_EQ(image.vips.size(), 2u);
}

// A pool without active backends has an empty table and takes no space.
TEST_F(SlotImageTest, PoolWithoutActiveBackendsHasNoTable) {
  auto config = test::sample_config();
  for (auto& b : config.services[0].pools[0].backends) b.state = engine::BackendState::kDraining;
  const SlotImage image = build_slot_image(*snapshot(config), 0, 0);
  EXPECT_EQ(image.service_config[0].pools[0].maglev_size, 0u);
  EXPECT_EQ(image.service_config[0].pools[1].maglev_offset, 0u);
  EXPECT_EQ(image.maglev.size(), (252u + 16u) / 4);
}

// Two services on one VIP (ports 80 and 443) share one VIP key.
TEST_F(SlotImageTest, SharedVipIsOneKey) {
  auto config = test::sample_config();
  config.services.push_back(config.services[0]);
  config.services.back().name = "web-tls";
  config.services.back().port = 443;
  const SlotImage image = build_slot_image(*snapshot(config), 1, 0);
  EXPECT_EQ(image.services.size(), 3u);
  EXPECT_EQ(image.vips.size(), 2u);
  EXPECT_EQ(image.rules.size(), 4u);  // the copy's rules are its own (service 2)
}

// Every exceeded limit is reported, with the numbers and the maps.
TEST_F(SlotImageTest, CapacityErrorsNameEachLimit) {
  auto snap = snapshot(test::sample_config());
  XdpCapacity big{.services = 2, .backends = 7, .maglev_entries = 520, .rules = 2, .counter_slots = 8};
  EXPECT_TRUE(capacity_errors(*snap, big).empty());
  XdpCapacity small{.services = 1, .backends = 6, .maglev_entries = 519, .rules = 1, .counter_slots = 8};
  const auto errors = capacity_errors(*snap, small);
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_NE(errors[0].find("2 services exceed the 1"), std::string::npos) << errors[0];
  EXPECT_NE(errors[1].find("7 backends exceed the 6"), std::string::npos) << errors[1];
  EXPECT_NE(errors[2].find("520 Maglev entries"), std::string::npos) << errors[2];
  EXPECT_NE(errors[2].find("XDP maps maglev"), std::string::npos) << errors[2];
  EXPECT_NE(errors[3].find("2 source rules exceed the 1"), std::string::npos) << errors[3];
}

}  // namespace
}  // namespace sluice::xdp
