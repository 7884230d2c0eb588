// SPDX-License-Identifier: Apache-2.0
// Shared by the control/state tests: sample services that set every field
// away from its default, a field-by-field comparison of whole states, a
// comparison of the compiled snapshots, and a scratch directory.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "control/state/state_store.h"
#include "dataplane/engine/config.h"
#include "dataplane/engine/snapshot.h"
#include "tests/control/config/service_compare.h"

namespace sluice::control::state_test {

inline engine::IpAddress ip(const char* text) {
  auto a = engine::IpAddress::parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(engine::IpAddress{});
}

inline engine::Cidr cidr(const char* text) {
  auto c = engine::Cidr::parse(text);
  EXPECT_TRUE(c.has_value()) << text;
  return c.value_or(engine::Cidr{});
}

// IPv4 VIP, TCP, client-prefix affinity, GUE: every field differs from the
// engine default, every backend state appears, one backend is IPv6.
inline engine::ServiceConfig web_v4() {
  engine::ServiceConfig s;
  s.name = "web.prod-1_a";
  s.vip = ip("10.77.100.10");
  s.port = 8443;
  s.protocol = engine::Protocol::kTcp;
  s.affinity = engine::Affinity::kClientPrefix;
  s.client_prefix_v4 = 20;
  s.client_prefix_v6 = 56;
  s.encapsulation = engine::Encapsulation::kGue;
  s.gue_port = 7001;
  s.maglev_table_size = 251;
  s.pools = {
      {"stable", 900,
       {{ip("10.0.0.21"), 3, engine::BackendState::kActive},
        {ip("10.0.0.22"), 1000000, engine::BackendState::kDraining},
        {ip("10.0.0.23"), 1, engine::BackendState::kDisabled},
        {ip("2001:db8::23"), 7, engine::BackendState::kActive}}},
      {"canary", 100, {{ip("10.0.1.21"), 2, engine::BackendState::kActive}}},
      {"blue", 0, {{ip("10.0.2.21"), 1, engine::BackendState::kActive}}},
  };
  s.rules = {{cidr("10.20.0.0/16"), "canary"}, {cidr("10.20.30.0/24"), "blue"},
             {cidr("0.0.0.0/0"), "stable"}, {cidr("192.0.2.7/32"), "blue"}};
  s.fallback_pool = "canary";
  s.circuit = {false, 7, 250, 1000, 60000, 5, 30};
  s.timeouts = {11000, 310000, 12000, 31000};
  return s;
}

// IPv6 VIP, UDP, client-address affinity, IPIP, with zero-valued settings
// where zero is allowed (a 0 must not come back as the default).
inline engine::ServiceConfig api_v6() {
  engine::ServiceConfig s;
  s.name = "api";
  s.vip = ip("2001:db8:100::10");
  s.port = 53;
  s.protocol = engine::Protocol::kUdp;
  s.affinity = engine::Affinity::kClientAddress;
  s.client_prefix_v4 = 0;
  s.client_prefix_v6 = 128;
  s.encapsulation = engine::Encapsulation::kIpip;
  s.gue_port = 65535;
  s.maglev_table_size = 655373;
  s.pools = {
      {"a", 1, {{ip("2001:db8:1::1"), 1, engine::BackendState::kActive},
                {ip("2001:db8:1::2"), 5, engine::BackendState::kDraining}}},
      {"b", 1000000, {{ip("fe80::1:2:3:4"), 9, engine::BackendState::kDisabled},
                      {ip("::ffff:10.1.2.3"), 1, engine::BackendState::kActive}}},
  };
  s.rules = {{cidr("2001:db8:1::/48"), "b"}, {cidr("::/0"), "a"}};
  s.circuit = {true, 1000, 0, 1, 86400000, 1000, 0};
  s.timeouts = {1, 604800000, 1, 604800000};
  return s;
}

// Only the required fields: everything else the engine default.
inline engine::ServiceConfig defaults_only() {
  engine::ServiceConfig s;
  s.name = "plain";
  s.vip = ip("192.0.2.10");
  s.port = 80;
  s.pools = {{"main", 1, {{ip("192.0.2.100"), 1, engine::BackendState::kActive}}}};
  return s;
}

// `count` distinct services cycling through every enum value and both
// families, each with two pools of a few backends.
inline std::vector<engine::ServiceConfig> many_services(int count) {
  std::vector<engine::ServiceConfig> out;
  for (int i = 0; i < count; ++i) {
    engine::ServiceConfig s;
    s.name = "svc-" + std::to_string(i);
    const bool v6 = i % 2 == 1;
    const std::string n = std::to_string(i / 250) + "." + std::to_string(i % 250);
    s.vip = v6 ? ip(("2001:db8:ff::" + std::to_string(i)).c_str())
               : ip(("10.200." + n).c_str());
    s.port = static_cast<uint16_t>(1000 + i);
    s.protocol = i % 3 == 0 ? engine::Protocol::kUdp : engine::Protocol::kTcp;
    constexpr engine::Affinity kAffinities[] = {engine::Affinity::kFlow,
                                                 engine::Affinity::kClientAddress,
                                                 engine::Affinity::kClientPrefix};
    s.affinity = kAffinities[i % 3];
    s.client_prefix_v4 = static_cast<uint8_t>(i % 33);
    s.client_prefix_v6 = static_cast<uint8_t>(i % 129);
    s.encapsulation = i % 4 < 2 ? engine::Encapsulation::kGue : engine::Encapsulation::kIpip;
    s.gue_port = static_cast<uint16_t>(6000 + i);
    s.maglev_table_size = i % 2 ? 1009 : 65537;
    for (int p = 0; p < 2; ++p) {
      engine::PoolConfig pool;
      pool.name = p == 0 ? "stable" : "canary";
      pool.weight = static_cast<uint32_t>(p == 0 ? 1000 - i % 1000 : i % 1000);
      for (int b = 0; b < 3; ++b) {
        const std::string host = std::to_string(p * 10 + b + 1);
        const std::string address = v6 ? "2001:db8:" + std::to_string(i) + "::" + host
                                        : "10." + std::to_string(i / 250) + "." +
                                              std::to_string(i % 250) + "." + host;
        pool.backends.push_back({ip(address.c_str()), static_cast<uint32_t>(1 + (i + b) % 17),
                                 static_cast<engine::BackendState>((i + b) % 3)});
      }
      s.pools.push_back(pool);
    }
    if (i % 5 == 0) {
      s.rules.push_back({v6 ? cidr("2001:db8:aaaa::/48") : cidr("172.16.0.0/12"), "canary"});
    }
    s.fallback_pool = i % 2 ? "canary" : "";
    s.circuit.enabled = i % 2 == 0;
    s.circuit.consecutive_failures = static_cast<uint32_t>(1 + i % 1000);
    s.timeouts.udp_ms = static_cast<uint32_t>(1000 + i);
    out.push_back(s);
  }
  return out;
}

inline void expect_same_state(const DesiredState& a, const DesiredState& b) {
  EXPECT_EQ(a.revision, b.revision);
  ASSERT_EQ(a.services.size(), b.services.size());
  for (size_t i = 0; i < a.services.size(); ++i) {
    SCOPED_TRACE("service " + std::to_string(i));
    config::expect_same_service(a.services[i], b.services[i]);
  }
}

inline engine::EngineConfig engine_config(const std::vector<engine::ServiceConfig>& services) {
  engine::EngineConfig config;
  for (size_t i = 0; i < sizeof(config.seed); ++i) {
    reinterpret_cast<uint8_t*>(&config.seed)[i] = static_cast<uint8_t>(0x5a + i);
  }
  config.forwarding.source_v4 = ip("192.0.2.1");
  config.forwarding.source_v6 = ip("2001:db8::1");
  config.services = services;
  return config;
}

// Compiles both with fresh compilers at the same generation and compares
// what the hot path reads: split, Maglev tables, backends, rules.
inline void expect_same_snapshot(const std::vector<engine::ServiceConfig>& a,
                                 const std::vector<engine::ServiceConfig>& b) {
  engine::SnapshotCompiler ca, cb;
  auto ra = ca.compile(engine_config(a), 42);
  auto rb = cb.compile(engine_config(b), 42);
  ASSERT_TRUE(ra.errors.empty()) << ra.errors[0].field << ": " << ra.errors[0].message;
  ASSERT_TRUE(rb.errors.empty()) << rb.errors[0].field << ": " << rb.errors[0].message;
  const auto& sa = ra.snapshot->services();
  const auto& sb = rb.snapshot->services();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    SCOPED_TRACE("compiled service " + std::to_string(i));
    EXPECT_EQ(0, std::memcmp(&sa[i].split, &sb[i].split, sizeof(sa[i].split)));
    EXPECT_EQ(sa[i].fallback_pool, sb[i].fallback_pool);
    EXPECT_EQ(sa[i].affinity_prefix_len, sb[i].affinity_prefix_len);
    ASSERT_EQ(sa[i].pools.size(), sb[i].pools.size());
    for (size_t p = 0; p < sa[i].pools.size(); ++p) {
      EXPECT_EQ(sa[i].pools[p].id, sb[i].pools[p].id);
      EXPECT_EQ(sa[i].pools[p].weight, sb[i].pools[p].weight);
      EXPECT_EQ(sa[i].pools[p].first_backend, sb[i].pools[p].first_backend);
      EXPECT_EQ(sa[i].pools[p].backend_count, sb[i].pools[p].backend_count);
      EXPECT_EQ(sa[i].pools[p].maglev, sb[i].pools[p].maglev) << "pool " << p;
    }
    ASSERT_EQ(sa[i].backends.size(), sb[i].backends.size());
    for (size_t k = 0; k < sa[i].backends.size(); ++k) {
      EXPECT_EQ(sa[i].backends[k].address, sb[i].backends[k].address);
      EXPECT_EQ(sa[i].backends[k].fingerprint, sb[i].backends[k].fingerprint);
      EXPECT_EQ(sa[i].backends[k].weight, sb[i].backends[k].weight);
      EXPECT_EQ(sa[i].backends[k].state, sb[i].backends[k].state);
      EXPECT_EQ(sa[i].backends[k].pool, sb[i].backends[k].pool);
    }
    // The rule tables hold no equality: probe them at every rule prefix of
    // either side, one address inside it and one just past it.
    EXPECT_EQ(sa[i].has_rules, sb[i].has_rules);
    EXPECT_EQ(sa[i].rules.size(), sb[i].rules.size());
    for (const auto* side : {&a, &b}) {
      for (const engine::SourceRule& rule : (*side)[i].rules) {
        engine::IpAddress inside = rule.source.address;
        engine::IpAddress outside = rule.source.address;
        const int last = rule.source.address.bit_length() / 8 - 1;
        inside.bytes[last] ^= rule.source.length < inside.bit_length() ? 1 : 0;
        if (rule.source.length > 0) {
          const int bit = rule.source.length - 1;
          outside.bytes[bit / 8] ^= static_cast<uint8_t>(0x80 >> (bit % 8));
        }
        for (const engine::IpAddress& probe : {rule.source.address, inside, outside}) {
          EXPECT_EQ(sa[i].rules.lookup(probe), sb[i].rules.lookup(probe)) << probe.to_string();
        }
      }
    }
  }
}

// A fresh directory under the test temp dir, removed (whatever is in it)
// when the object goes.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = ::testing::TempDir() + "sluice-state-XXXXXX";
    char* made = ::mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr);
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    // Tests chmod things; give everything back its permissions first.
    for (auto it = std::filesystem::recursive_directory_iterator(path_, ignored);
         it != std::filesystem::recursive_directory_iterator(); it.increment(ignored)) {
      std::filesystem::permissions(it->path(), std::filesystem::perms::owner_all,
                                   std::filesystem::perm_options::add, ignored);
    }
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

inline bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

inline mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(0, ::stat(path.c_str(), &st)) << path;
  return st.st_mode & 07777;
}

inline mode_t current_umask() {
  const mode_t mask = ::umask(0);
  ::umask(mask);
  return mask;
}

}  // namespace sluice::control::state_test
