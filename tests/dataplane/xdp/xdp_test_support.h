// What the XDP dataplane tests share: the program loaded through its
// skeleton with small flow tables (the tests need few flows, and the
// default tables cost hundreds of megabytes), and a small configuration.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>

#include "dataplane/engine/snapshot.h"
#include "dataplane/xdp/xdp_maps.h"
#include "ebpf/xdp/sluice_xdp.skel.h"
#include "tests/ebpf/bpf_test_support.h"

namespace sluice::xdp::test {

struct SkeletonDestroy {
  void operator()(sluice_xdp* s) const { sluice_xdp__destroy(s); }
};
using Skeleton = std::unique_ptr<sluice_xdp, SkeletonDestroy>;

// Sets max_entries of a map of an opened (not yet loaded) object, if the
// object has it.
inline void resize_map(bpf_object* object, const char* name, uint32_t entries) {
  if (bpf_map* m = bpf_object__find_map_by_name(object, name)) {
    ASSERT_EQ(bpf_map__set_max_entries(m, entries), 0) << name;
  }
}

// Opens and loads the program. `before_load` may resize more maps. Null
// (with a test failure carrying libbpf's log) when the load fails.
template <typename BeforeLoad>
Skeleton load_skeleton(BeforeLoad&& before_load) {
  libbpf_set_print(sluice::test::bpf::collect_libbpf_log);
  sluice::test::bpf::libbpf_log().clear();
  Skeleton skel(sluice_xdp__open());
  EXPECT_NE(skel, nullptr) << sluice::test::bpf::libbpf_log();
  if (!skel) return nullptr;
  resize_map(skel->obj, "flows", 4096);
  resize_map(skel->obj, "circuits", 1024);
  before_load(skel.get());
  const int err = sluice_xdp__load(skel.get());
  EXPECT_EQ(err, 0) << sluice::test::bpf::libbpf_log_tail();
  if (err != 0) return nullptr;
  return skel;
}

inline Skeleton load_skeleton() {
  return load_skeleton([](sluice_xdp*) {});
}

// A test with the program loaded (not attached) and its maps; skipped
// where BPF cannot be loaded.
class LoadedProgramTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!sluice::test::bpf::can_load_bpf()) {
      GTEST_SKIP() << "needs CAP_BPF (or root) to load sluice_xdp.bpf.o";
    }
    reload([](sluice_xdp*) {});
  }

  // Loads the program again, `before_load` resizing maps first.
  template <typename BeforeLoad>
  void reload(BeforeLoad&& before_load) {
    skel_.reset();
    skel_ = load_skeleton(before_load);
    ASSERT_NE(skel_, nullptr);
    maps_ = maps_of(skel_->obj);
  }

  Skeleton skel_;
  XdpMaps maps_;
};

inline engine::IpAddress ip(std::string_view text) {
  auto a = engine::IpAddress::parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(engine::IpAddress{});
}

inline engine::Cidr cidr(std::string_view text) {
  auto c = engine::Cidr::parse(text);
  EXPECT_TRUE(c.has_value()) << text;
  return c.value_or(engine::Cidr{});
}

// services[0] "web": IPv4 10.0.0.1:80/TCP, pools stable (3 backends) and
// canary (2), two source rules. services[1] "dns6": IPv6 [2001:db8::53]:53/
// UDP, one pool of 2 backends, GUE. Small Maglev tables (251, 13).
inline engine::EngineConfig sample_config() {
  engine::EngineConfig c;
  c.seed = {0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  c.forwarding.source_v4 = ip("192.0.2.1");
  c.forwarding.source_v6 = ip("2001:db8:ff::1");
  c.forwarding.local_mac = {0x02, 0, 0, 0, 0, 2};
  c.forwarding.next_hop_mac = {0x02, 0, 0, 0, 0, 1};
  c.forwarding.max_frame_size = 1600;

  engine::ServiceConfig web;
  web.name = "web";
  web.vip = ip("10.0.0.1");
  web.port = 80;
  web.maglev_table_size = 251;
  web.pools.push_back({"stable", 90, {{ip("10.1.0.1"), 1}, {ip("10.1.0.2"), 2}, {ip("10.1.0.3"), 1}}});
  web.pools.push_back({"canary", 10, {{ip("10.2.0.1"), 1}, {ip("10.2.0.2"), 1}}});
  web.rules.push_back({cidr("198.51.100.0/24"), "canary"});
  web.rules.push_back({cidr("198.51.100.128/25"), "stable"});
  c.services.push_back(web);

  engine::ServiceConfig dns;
  dns.name = "dns6";
  dns.vip = ip("2001:db8::53");
  dns.port = 53;
  dns.protocol = engine::Protocol::kUdp;
  dns.encapsulation = engine::Encapsulation::kGue;
  dns.gue_port = 6081;
  dns.maglev_table_size = 13;
  dns.pools.push_back({"main", 1, {{ip("2001:db8:1::1"), 1}, {ip("2001:db8:1::2"), 1}}});
  c.services.push_back(dns);
  return c;
}

// Compiles `config` (which must be valid) at `generation`.
inline std::shared_ptr<const engine::Snapshot> compile(engine::SnapshotCompiler& compiler,
                                                       const engine::EngineConfig& config,
                                                       uint64_t generation) {
  engine::SnapshotCompiler::Result r = compiler.compile(config, generation);
  for (const auto& e : r.errors) ADD_FAILURE() << e.to_string();
  return r.snapshot;
}

}  // namespace sluice::xdp::test
