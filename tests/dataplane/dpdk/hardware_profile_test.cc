// SPDX-License-Identifier: Apache-2.0
#include "dataplane/dpdk/hardware_profile.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <utility>

#include "dataplane/engine/engine.h"

namespace sluice::dpdk {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using Args = std::vector<std::string>;

const std::string kProfiles = std::string(SLUICE_SOURCE_ROOT) + "/hardware-profiles/";

// Every profile shipped in hardware-profiles/ (a new one must be added here).
const std::vector<std::string> kShipped = {
    "lab-af-xdp.ini",   "lab-af-xdp-hugepages.ini", "lab-af-packet.ini", "lab-af-packet-hugepages.ini",
    "vm-virtio.ini",    "vm-vmxnet3.ini",           "vm-ena.ini",        "metal-e810.ini",
    "metal-x710.ini",   "metal-connectx.ini"};

// A small valid profile as (section.key, value) pairs, in file order.
const std::vector<std::pair<std::string, std::string>> kBase = {
    {"profile.description", "test profile"},
    {"eal.main_lcore", "0"},
    {"eal.worker_lcores", "1"},
    {"eal.hugepages", "none"},
    {"eal.memory_mb", "512"},
    {"eal.file_prefix", "t"},
    {"eal.vdev", "net_af_xdp0,iface={iface},start_queue=0,queue_count=1"},
    {"port.device", "net_af_xdp0"},
    {"port.iface", "veth0"},
    {"port.rx_queues", "1"},
};

class HardwareProfileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sluice-profile-test-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  // kBase with keys changed (or removed, with value "-") and keys added;
  // written as INI with one [section] header per change of section.
  static std::string ini(const std::vector<std::pair<std::string, std::string>>& changes,
                         const std::vector<std::pair<std::string, std::string>>& extra = {}) {
    std::vector<std::pair<std::string, std::string>> entries;
    for (auto [key, value] : kBase) {
      for (const auto& [k, v] : changes) {
        if (k == key) value = v;
      }
      if (value != "-") entries.emplace_back(key, value);
    }
    for (const auto& [key, value] : changes) {
      bool in_base = false;
      for (const auto& [k, v] : kBase) in_base |= k == key;
      if (!in_base) entries.emplace_back(key, value);
    }
    entries.insert(entries.end(), extra.begin(), extra.end());
    std::string text, section;
    for (const auto& [key, value] : entries) {
      const std::string s = key.substr(0, key.find('.'));
      if (s != section) text += "\n[" + (section = s) + "]\n";
      text += key.substr(key.find('.') + 1) + " = " + value + "\n";
    }
    return text;
  }

  // Loads `text` as bad.ini and returns its errors without the file prefix.
  std::vector<std::string> errors_of(const std::string& text) {
    const std::string path = write("bad.ini", text);
    ProfileLoadResult r = load_hardware_profile(path);
    EXPECT_EQ(r.profile.has_value(), r.errors.empty());
    std::vector<std::string> out;
    for (const std::string& e : r.errors) {
      EXPECT_EQ(e.rfind(path + ": ", 0), 0u) << e;
      out.push_back(e.substr(path.size() + 2));
    }
    return out;
  }

  HardwareProfile load_good(const std::string& text) {
    ProfileLoadResult r = load_hardware_profile(write("good.ini", text));
    EXPECT_THAT(r.errors, ElementsAre());
    return r.profile.value_or(HardwareProfile{});
  }

  static HardwareProfile shipped(const std::string& name) {
    ProfileLoadResult r = load_hardware_profile(kProfiles + name);
    EXPECT_THAT(r.errors, ElementsAre()) << name;
    return r.profile.value_or(HardwareProfile{});
  }

  fs::path dir_;
};

// --- Shipped profiles ---

// Every shipped profile loads without error, and every .ini there is listed.
TEST_F(HardwareProfileTest, EveryShippedProfileLoads) {
  std::set<std::string> on_disk;
  for (const auto& entry : fs::directory_iterator(kProfiles)) {
    if (entry.path().extension() == ".ini") on_disk.insert(entry.path().filename().string());
  }
  EXPECT_EQ(on_disk, std::set<std::string>(kShipped.begin(), kShipped.end()));
  for (const std::string& name : kShipped) {
    ProfileLoadResult r = load_hardware_profile(kProfiles + name);
    EXPECT_THAT(r.errors, ElementsAre()) << name;
    ASSERT_TRUE(r.profile.has_value()) << name;
    EXPECT_EQ(r.profile->name, name.substr(0, name.size() - 4));
    EXPECT_FALSE(r.profile->description.empty()) << name;
    EXPECT_GE(r.profile->mempool.mbufs, min_mbufs(*r.profile)) << name;
  }
}

// lab-af-xdp.ini: every setting as written, and its EAL argv.
TEST_F(HardwareProfileTest, LabAfXdpGolden) {
  const HardwareProfile p = shipped("lab-af-xdp.ini");
  EXPECT_EQ(p.eal.main_lcore, 0u);
  EXPECT_THAT(p.eal.worker_lcores, ElementsAre(1u));
  EXPECT_FALSE(p.hugepages_required());
  EXPECT_EQ(p.eal.memory_mb, 512u);
  EXPECT_EQ(p.port.device, "net_af_xdp0");
  EXPECT_EQ(p.port.iface, "veth-lb");
  EXPECT_EQ(p.port.rx_queues, 1);
  EXPECT_EQ(p.port.rx_descriptors, 1024);
  EXPECT_EQ(p.port.tx_descriptors, 1024);
  EXPECT_EQ(p.port.mtu, 1600);
  EXPECT_FALSE(p.port.rss);
  EXPECT_FALSE(p.port.promiscuous);
  EXPECT_EQ(p.mempool.mbufs, 8191u);
  EXPECT_EQ(p.mempool.cache_size, 256u);
  EXPECT_EQ(p.mempool.data_room, 2176);
  EXPECT_TRUE(p.exception.enabled);
  EXPECT_EQ(p.exception.kind, "tap");
  EXPECT_EQ(p.exception.interface, "sluice0");
  EXPECT_EQ(p.workers.burst_size, 32);
  EXPECT_EQ(eal_arguments(p, "sluiced"),
            (Args{"sluiced", "-l", "0,1", "--main-lcore", "0", "--no-huge", "-m", "512",
                  "--file-prefix=sluice-lab",
                  "--vdev=net_af_xdp0,iface=veth-lb,start_queue=0,queue_count=1", "--no-pci",
                  "--log-level=notice"}));
}

// lab-af-xdp-hugepages.ini: in-memory EAL on hugepages, no -m.
TEST_F(HardwareProfileTest, LabAfXdpHugepagesGolden) {
  const HardwareProfile p = shipped("lab-af-xdp-hugepages.ini");
  EXPECT_TRUE(p.hugepages_required());
  EXPECT_EQ(eal_arguments(p, "sluiced"),
            (Args{"sluiced", "-l", "0,1", "--main-lcore", "0", "--in-memory",
                  "--vdev=net_af_xdp0,iface=veth-lb,start_queue=0,queue_count=1", "--no-pci",
                  "--log-level=notice"}));
}

// lab-af-packet.ini: AF_PACKET vdev without hugepages.
TEST_F(HardwareProfileTest, LabAfPacketGolden) {
  const HardwareProfile p = shipped("lab-af-packet.ini");
  EXPECT_EQ(p.port.device, "net_af_packet0");
  EXPECT_EQ(eal_arguments(p, "sluiced"),
            (Args{"sluiced", "-l", "0,1", "--main-lcore", "0", "--no-huge", "-m", "512",
                  "--file-prefix=sluice-lab", "--vdev=net_af_packet0,iface=veth-lb,qpairs=1",
                  "--no-pci", "--log-level=notice"}));
}

// lab-af-packet-hugepages.ini: AF_PACKET vdev, in-memory EAL on hugepages.
TEST_F(HardwareProfileTest, LabAfPacketHugepagesGolden) {
  const HardwareProfile p = shipped("lab-af-packet-hugepages.ini");
  EXPECT_EQ(eal_arguments(p, "sluiced"),
            (Args{"sluiced", "-l", "0,1", "--main-lcore", "0", "--in-memory",
                  "--vdev=net_af_packet0,iface=veth-lb,qpairs=1", "--no-pci",
                  "--log-level=notice"}));
}

// The VM profiles: a PCI device, two workers, default file prefix.
TEST_F(HardwareProfileTest, VmProfilesArgv) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"vm-virtio.ini", "0000:00:05.0"}, {"vm-vmxnet3.ini", "0000:0b:00.0"},
      {"vm-ena.ini", "0000:00:06.0"}};
  for (const auto& [name, pci] : cases) {
    const HardwareProfile p = shipped(name);
    EXPECT_EQ(p.port.rx_queues, 2) << name;
    EXPECT_EQ(p.port.device, pci) << name;
    EXPECT_EQ(eal_arguments(p, "sluiced"),
              (Args{"sluiced", "-l", "0,1,2", "--main-lcore", "0", "--file-prefix=sluice", "-a",
                    pci, "--log-level=notice"}))
        << name;
  }
  EXPECT_FALSE(shipped("vm-virtio.ini").port.rss);  // vhost-net offers no RSS
  EXPECT_TRUE(shipped("vm-ena.ini").port.rss);
}

// The bare-metal profiles: lcore ranges expand, one allowed PCI port each.
TEST_F(HardwareProfileTest, MetalProfilesArgv) {
  const HardwareProfile e810 = shipped("metal-e810.ini");
  EXPECT_THAT(e810.eal.worker_lcores, ElementsAre(2u, 3u, 4u, 5u, 6u, 7u, 8u, 9u));
  EXPECT_EQ(eal_arguments(e810, "sluiced"),
            (Args{"sluiced", "-l", "0,2,3,4,5,6,7,8,9", "--main-lcore", "0", "--file-prefix=sluice",
                  "-a", "0000:3b:00.0", "--log-level=notice"}));
  EXPECT_EQ(eal_arguments(shipped("metal-x710.ini"), "sluiced"),
            (Args{"sluiced", "-l", "0,2,3,4,5", "--main-lcore", "0", "--file-prefix=sluice", "-a",
                  "0000:5e:00.0", "--log-level=notice"}));
  EXPECT_EQ(eal_arguments(shipped("metal-connectx.ini"), "sluiced"),
            (Args{"sluiced", "-l", "0,2,3,4,5,6,7,8,9", "--main-lcore", "0", "--file-prefix=sluice",
                  "-a", "0000:af:00.0", "--log-level=notice"}));
}

// Metal profiles refuse a worker off the NIC's NUMA node; VM and lab ones warn.
TEST_F(HardwareProfileTest, NumaStrictOnMetalOnly) {
  for (const std::string& name : kShipped) {
    EXPECT_EQ(shipped(name).numa.strict, name.rfind("metal-", 0) == 0) << name;
  }
}

// --- Good inputs ---

// Defaults fill what a profile leaves out; the name comes from the file.
TEST_F(HardwareProfileTest, DefaultsAndName) {
  const HardwareProfile p = load_good(ini({}));
  EXPECT_EQ(p.name, "good");
  EXPECT_EQ(p.description, "test profile");
  EXPECT_EQ(p.port.rx_descriptors, 1024);
  EXPECT_EQ(p.port.mtu, 1500);
  EXPECT_TRUE(p.port.rss);
  EXPECT_EQ(p.mempool.mbufs, 8191u);
  EXPECT_EQ(p.eal.log_level, "notice");
  EXPECT_TRUE(p.exception.enabled);
  EXPECT_EQ(p.exception.interface, "sluice0");
  EXPECT_EQ(p.workers.burst_size, 32);
  EXPECT_FALSE(p.numa.strict);
}

// [numa] strict: a boolean, off by default; a bad value names the key; an
// override sets it.
TEST_F(HardwareProfileTest, NumaStrict) {
  EXPECT_TRUE(load_good(ini({{"numa.strict", "on"}})).numa.strict);
  EXPECT_FALSE(load_good(ini({{"numa.strict", "false"}})).numa.strict);
  EXPECT_THAT(errors_of(ini({{"numa.strict", "always"}})),
              ElementsAre("numa.strict: \"always\" is not on or off"));
  EXPECT_THAT(errors_of(ini({{"numa.strict", ""}})), ElementsAre("numa.strict: must have a value"));
  EXPECT_THAT(errors_of(ini({{"numa.node", "1"}})), ElementsAre("numa.node: unknown key"));
  HardwareProfile p = load_good(ini({}));
  std::vector<std::string> errors;
  apply_overrides(p, {{"numa.strict", "yes"}}, errors);
  EXPECT_THAT(errors, ElementsAre());
  EXPECT_TRUE(p.numa.strict);
  apply_overrides(p, {{"numa.strict", "sometimes"}}, errors);
  EXPECT_THAT(errors, ElementsAre("numa.strict: \"sometimes\" is not on or off"));
  EXPECT_TRUE(p.numa.strict);
}

// [profile] name overrides the file name; booleans take on/off/yes/no/true/false/1/0.
TEST_F(HardwareProfileTest, NameAndBooleanSpellings) {
  EXPECT_EQ(load_good(ini({{"profile.name", "lab.v2"}})).name, "lab.v2");
  for (const char* yes : {"on", "yes", "true", "1"}) {
    EXPECT_TRUE(load_good(ini({{"port.promiscuous", yes}})).port.promiscuous) << yes;
  }
  for (const char* no : {"off", "no", "false", "0"}) {
    EXPECT_FALSE(load_good(ini({{"port.rss", no}})).port.rss) << no;
  }
}

// List keys accumulate: several vdevs, PCI devices with devargs, extra args split at spaces.
TEST_F(HardwareProfileTest, ListKeysAccumulate) {
  const HardwareProfile p = load_good(
      ini({{"eal.hugepages", "required"}, {"eal.memory_mb", "0"}},
          {{"eal.vdev", "net_null0"},
           {"eal.allow", "0000:3b:00.0,dv_flow_en=1"},
           {"eal.allow", "0000:3b:00.1"},
           {"eal.extra_args", "--iova-mode=va  --huge-unlink"},
           {"eal.extra_args", "-n 4"}}));
  EXPECT_EQ(eal_arguments(p, "x"),
            (Args{"x", "-l", "0,1", "--main-lcore", "0", "--file-prefix=t",
                  "--vdev=net_af_xdp0,iface=veth0,start_queue=0,queue_count=1", "--vdev=net_null0",
                  "-a", "0000:3b:00.0,dv_flow_en=1", "-a", "0000:3b:00.1", "--log-level=notice",
                  "--iova-mode=va", "--huge-unlink", "-n", "4"}));
}

// Lcore lists mix single ids and ranges; worker order is kept, -l is sorted.
TEST_F(HardwareProfileTest, LcoreListsAndRanges) {
  const HardwareProfile p =
      load_good(ini({{"eal.main_lcore", "6"},
                     {"eal.worker_lcores", "5, 1-3"},
                     {"port.rx_queues", "4"},
                     {"mempool.mbufs", "16383"},
                     {"eal.vdev", "net_af_xdp0,iface={iface},queue_count=4"}}));
  EXPECT_THAT(p.eal.worker_lcores, ElementsAre(5u, 1u, 2u, 3u));
  const Args args = eal_arguments(p, "x");
  EXPECT_EQ(args[2], "1,2,3,5,6");
  EXPECT_EQ(args[4], "6");
}

// An AF_XDP or AF_PACKET vdev without a queue argument opens one queue.
TEST_F(HardwareProfileTest, VdevQueueDefaultIsOne) {
  load_good(ini({{"eal.vdev", "net_af_packet0,iface={iface}"}, {"port.device", "net_af_packet0"}}));
}

// The worst-case mbuf count: rings, TAP rings, caches and bursts.
TEST_F(HardwareProfileTest, MinMbufsFormula) {
  HardwareProfile p;
  p.port.rx_queues = 2;
  p.port.rx_descriptors = 1024;
  p.port.tx_descriptors = 512;
  p.mempool.cache_size = 256;
  p.workers.burst_size = 32;
  p.exception.enabled = true;
  // 2 x (1024 + 512) + 2 x 2 x 512 + 3 x 256 + 2 x 32
  EXPECT_EQ(min_mbufs(p), 3072u + 2048u + 768u + 64u);
  p.exception.enabled = false;
  EXPECT_EQ(min_mbufs(p), 3072u + 768u + 64u);
}

// The burst limit is the engine's: a burst larger than a worker processes makes no sense.
TEST_F(HardwareProfileTest, BurstLimitIsTheEngines) {
  EXPECT_EQ(load_good(ini({{"workers.burst_size", "64"}})).workers.burst_size,
            engine::Worker::kMaxBurst);
  EXPECT_THAT(errors_of(ini({{"workers.burst_size", "65"}})),
              ElementsAre("workers.burst_size: 65 is out of range 1..64"));
}

// --- Overrides ---

// port.iface and eal.file_prefix overrides reach the EAL argv.
TEST_F(HardwareProfileTest, OverridesChangeArgv) {
  HardwareProfile p = shipped("lab-af-xdp.ini");
  std::vector<std::string> errors;
  apply_overrides(p, {{"port.iface", "lb-eth0"}, {"eal.file_prefix", "lb2"}}, errors);
  EXPECT_THAT(errors, ElementsAre());
  EXPECT_EQ(eal_arguments(p, "sluiced"),
            (Args{"sluiced", "-l", "0,1", "--main-lcore", "0", "--no-huge", "-m", "512",
                  "--file-prefix=lb2",
                  "--vdev=net_af_xdp0,iface=lb-eth0,start_queue=0,queue_count=1", "--no-pci",
                  "--log-level=notice"}));
}

// An override of a list key replaces the list; extra_args splits at spaces.
TEST_F(HardwareProfileTest, OverrideReplacesLists) {
  HardwareProfile p = shipped("lab-af-packet.ini");
  std::vector<std::string> errors;
  apply_overrides(p,
                  {{"eal.vdev", "net_af_packet0,iface=veth9,qpairs=1"},
                   {"port.iface", ""},
                   {"eal.extra_args", "--iova-mode=va --huge-unlink"}},
                  errors);
  EXPECT_THAT(errors, ElementsAre());
  EXPECT_THAT(p.eal.vdevs, ElementsAre("net_af_packet0,iface=veth9,qpairs=1"));
  EXPECT_THAT(p.eal.extra_args, ElementsAre("--iova-mode=va", "--huge-unlink"));
}

// Bad overrides name their key; the profile is left untouched.
TEST_F(HardwareProfileTest, BadOverridesLeaveProfileAlone) {
  HardwareProfile p = shipped("lab-af-xdp.ini");
  std::vector<std::string> errors;
  apply_overrides(p, {{"port.bogus", "1"}, {"port.mtu", "big"}, {"nic.speed", "25G"}}, errors);
  EXPECT_THAT(errors, ElementsAre("nic.speed: unknown section [nic]",
                                  "port.bogus: unknown key",
                                  "port.mtu: \"big\" is not a whole number"));
  EXPECT_EQ(p.port.mtu, 1600);
}

// An override that parses but breaks a cross-key rule is refused as a whole.
TEST_F(HardwareProfileTest, OverrideBreakingTheProfileIsRefused) {
  HardwareProfile p = shipped("lab-af-xdp.ini");
  std::vector<std::string> errors;
  apply_overrides(p, {{"port.rx_queues", "2"}, {"eal.file_prefix", "other"}}, errors);
  EXPECT_THAT(errors,
              ElementsAre("eal.worker_lcores: 1 lcore(s) for 2 RX queue(s) in port.rx_queues "
                          "(one worker polls each queue)",
                          "eal.vdev: net_af_xdp0 opens 1 queue(s) (queue_count) but "
                          "port.rx_queues is 2"));
  EXPECT_EQ(p.port.rx_queues, 1);
  EXPECT_EQ(p.eal.file_prefix, "sluice-lab");
}

// --- Bad files ---

// A missing file is reported with errno's text.
TEST_F(HardwareProfileTest, MissingFile) {
  const std::string path = (dir_ / "nope.ini").string();
  ProfileLoadResult r = load_hardware_profile(path);
  EXPECT_FALSE(r.profile.has_value());
  EXPECT_THAT(r.errors, ElementsAre(path + ": cannot open: No such file or directory"));
}

// A directory is not a profile.
TEST_F(HardwareProfileTest, DirectoryIsUnreadable) {
  ProfileLoadResult r = load_hardware_profile(dir_.string());
  EXPECT_FALSE(r.profile.has_value());
  EXPECT_THAT(r.errors, ElementsAre(dir_.string() + ": cannot read: Is a directory"));
}

// An empty file lacks the keys without a default.
TEST_F(HardwareProfileTest, EmptyFile) {
  EXPECT_THAT(errors_of(""),
              ElementsAre("eal.worker_lcores: must be set (one lcore per RX queue)",
                          "port.device: must be set (an eal.vdev name or an eal.allow PCI address)"));
}

// '#' starts a comment anywhere on a line.
TEST_F(HardwareProfileTest, Comments) {
  const HardwareProfile p = load_good("# whole line\n" + ini({{"port.mtu", "1400 # inline"}}));
  EXPECT_EQ(p.port.mtu, 1400);
}

// A line that is neither a section, a comment nor key = value.
TEST_F(HardwareProfileTest, SyntaxError) {
  const std::vector<std::string> errors = errors_of(ini({}) + "this is not ini\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], ::testing::HasSubstr("this is not ini"));
}

// Unknown keys and sections, and keys outside any section, are all reported.
TEST_F(HardwareProfileTest, UnknownKeysAndSections) {
  EXPECT_THAT(errors_of("stray = 1\n" + ini({}, {{"port.speed", "25G"}, {"nic.model", "e810"}})),
              ElementsAre("stray: unknown key (keys belong to a [section])",
                          "port.speed: unknown key", "nic.model: unknown section [nic]"));
}

// A single-valued key given twice is an error, reported once.
TEST_F(HardwareProfileTest, RepeatedKey) {
  EXPECT_THAT(errors_of(ini({}, {{"port.mtu", "1500"}, {"port.mtu", "1600"}, {"port.mtu", "1700"}})),
              ElementsAre("port.mtu: set more than once"));
}

// Each value that does not parse names its key; all are reported together.
TEST_F(HardwareProfileTest, BadValuesAllReported) {
  EXPECT_THAT(errors_of(ini({{"port.rx_queues", "0"},
                             {"port.mtu", "-1"},
                             {"port.rss", "maybe"},
                             {"eal.hugepages", "some"},
                             {"eal.log_level", "loud"},
                             {"exception.kind", "kni"},
                             {"mempool.cache_size", "513"},
                             {"port.rx_descriptors", ""}})),
              ElementsAre("eal.hugepages: \"some\" is not one of required, none",
                          "port.rx_queues: 0 is out of range 1..64",
                          "port.mtu: \"-1\" is not a whole number",
                          "port.rss: \"maybe\" is not on or off",
                          "eal.log_level: \"loud\" is not one of emergency, alert, critical, "
                          "error, warning, notice, info, debug",
                          "exception.kind: \"kni\" is not one of tap",
                          "mempool.cache_size: 513 is out of range 0..512",
                          "port.rx_descriptors: must have a value"));
}

// Numeric limits at both ends.
TEST_F(HardwareProfileTest, NumericRanges) {
  EXPECT_THAT(errors_of(ini({{"port.rx_queues", "65"}})),
              ElementsAre("port.rx_queues: 65 is out of range 1..64"));
  EXPECT_THAT(errors_of(ini({{"port.tx_descriptors", "32"}})),
              ElementsAre("port.tx_descriptors: 32 is out of range 64..32768"));
  EXPECT_THAT(errors_of(ini({{"port.mtu", "9601"}})),
              ElementsAre("port.mtu: 9601 is out of range 1280..9600"));
  EXPECT_THAT(errors_of(ini({{"port.mtu", "99999999999999"}})),
              ElementsAre("port.mtu: \"99999999999999\" is not a whole number"));
  EXPECT_THAT(errors_of(ini({{"mempool.mbufs", "16777217"}})),
              ElementsAre("mempool.mbufs: 16777217 is out of range 1..16777216"));
}

// Lcore lists: bad ids, ranges and separators.
TEST_F(HardwareProfileTest, BadLcoreLists) {
  EXPECT_THAT(errors_of(ini({{"eal.worker_lcores", "128"}})),
              ElementsAre("eal.worker_lcores: lcore 128 is out of range 0..127"));
  EXPECT_THAT(errors_of(ini({{"eal.worker_lcores", "3-1"}})),
              ElementsAre("eal.worker_lcores: \"3-1\" is a descending range"));
  EXPECT_THAT(errors_of(ini({{"eal.worker_lcores", "1,,2"}})),
              ElementsAre("eal.worker_lcores: lcore \"\" is empty"));
  EXPECT_THAT(errors_of(ini({{"eal.worker_lcores", "1,"}})),
              ElementsAre("eal.worker_lcores: \"1,\" ends with a comma"));
  EXPECT_THAT(errors_of(ini({{"eal.worker_lcores", "one"}})),
              ElementsAre("eal.worker_lcores: lcore \"one\" is not a whole number"));
  EXPECT_THAT(errors_of(ini({{"eal.main_lcore", "200"}})),
              ElementsAre("eal.main_lcore: 200 is out of range 0..127"));
}

// Workers: one per RX queue, no lcore twice, the main lcore is not a worker.
TEST_F(HardwareProfileTest, LcoreRules) {
  EXPECT_THAT(errors_of(ini({{"eal.worker_lcores", "1,2"}})),
              ElementsAre("eal.worker_lcores: 2 lcore(s) for 1 RX queue(s) in port.rx_queues "
                          "(one worker polls each queue)"));
  EXPECT_THAT(errors_of(ini({{"eal.worker_lcores", "1,1"},
                             {"port.rx_queues", "2"},
                             {"eal.vdev", "net_af_xdp0,iface={iface},queue_count=2"}})),
              ElementsAre("eal.worker_lcores: lcore 1 is listed twice"));
  EXPECT_THAT(errors_of(ini({{"eal.worker_lcores", "0"}})),
              ElementsAre("eal.main_lcore: lcore 0 is also a worker lcore (the main lcore runs "
                          "the control thread)"));
  EXPECT_THAT(errors_of(ini({{"eal.worker_lcores", "-"}})),
              ElementsAre("eal.worker_lcores: must be set (one lcore per RX queue)"));
}

// Hugepages, -m, in-memory and file prefix conflicts.
TEST_F(HardwareProfileTest, MemoryModeConflicts) {
  EXPECT_THAT(errors_of(ini({{"eal.memory_mb", "-"}})),
              ElementsAre("eal.memory_mb: must be set when hugepages = none (EAL then reserves "
                          "-m MB)"));
  EXPECT_THAT(errors_of(ini({{"eal.memory_mb", "32"}})),
              ElementsAre("eal.memory_mb: 32 is out of range 64..1048576"));
  EXPECT_THAT(errors_of(ini({{"eal.file_prefix", "-"}, {"eal.in_memory", "on"}})),
              ElementsAre("eal.in_memory: cannot be combined with hugepages = none (--no-huge "
                          "implies --legacy-mem, which EAL refuses with --in-memory); set "
                          "file_prefix instead"));
  EXPECT_THAT(errors_of(ini({{"eal.hugepages", "required"}, {"eal.in_memory", "on"}})),
              ElementsAre("eal.file_prefix: cannot be combined with in_memory (an in-memory EAL "
                          "keeps no files)"));
  EXPECT_THAT(errors_of(ini({{"eal.file_prefix", "a/b"}})),
              ElementsAre("eal.file_prefix: \"a/b\" must be 1..32 letters, digits, '-', '_' or '.'"));
  EXPECT_THAT(errors_of(ini({{"eal.hugepages", "required"}, {"eal.memory_mb", "10"}})),
              ElementsAre("eal.memory_mb: 10 is out of range 64..1048576 (or 0: as needed)"));
}

// With no file prefix and no in-memory EAL, the prefix is "sluice".
TEST_F(HardwareProfileTest, DefaultFilePrefix) {
  const Args args = eal_arguments(load_good(ini({{"eal.file_prefix", "-"}})), "x");
  EXPECT_NE(std::find(args.begin(), args.end(), "--file-prefix=sluice"), args.end());
}

// EAL options generated from keys cannot be passed again in extra_args.
TEST_F(HardwareProfileTest, ExtraArgsCannotRepeatGeneratedOptions) {
  EXPECT_THAT(errors_of(ini({{"eal.extra_args", "--no-huge -l 0-3 --vdev=net_null0 --no-pci"}})),
              ElementsAre("eal.extra_args: \"--no-huge\" is set by eal.hugepages; use that key",
                          "eal.extra_args: \"-l\" is set by eal.main_lcore and "
                          "eal.worker_lcores; use that key",
                          "eal.extra_args: \"--vdev=net_null0\" is set by eal.vdev; use that key",
                          "eal.extra_args: \"--no-pci\" is set by eal.allow; use that key"));
  EXPECT_THAT(errors_of(ini({{"eal.extra_args", "--socket-mem=512,0"}})),
              ElementsAre("eal.extra_args: \"--socket-mem=512,0\" cannot be combined with "
                          "eal.memory_mb"));
}

// The port device must be a declared vdev or an allowed PCI address.
TEST_F(HardwareProfileTest, DeviceMustBeDeclared) {
  EXPECT_THAT(errors_of(ini({{"port.device", "net_af_xdp1"}})),
              ElementsAre("port.device: \"net_af_xdp1\" is neither an eal.vdev name nor a PCI "
                          "address in eal.allow"));
  EXPECT_THAT(errors_of(ini({{"port.device", "0000:3b:00.0"}})),
              ElementsAre("port.device: 0000:3b:00.0 is not in eal.allow (EAL would not probe it)"));
  EXPECT_THAT(errors_of(ini({{"port.device", "-"}})),
              ElementsAre("port.device: must be set (an eal.vdev name or an eal.allow PCI address)"));
}

// PCI addresses must be in DPDK's full lower-case form, each listed once.
TEST_F(HardwareProfileTest, BadPciAddresses) {
  EXPECT_THAT(errors_of(ini({}, {{"eal.allow", "3b:00.0"}, {"eal.allow", "0000:3B:00.0"},
                                 {"eal.allow", "0000:3b:00.8"}})),
              ElementsAre("eal.allow: \"3b:00.0\" is not a PCI address (0000:3b:00.0, lower case)",
                          "eal.allow: \"0000:3B:00.0\" is not a PCI address (0000:3b:00.0, lower "
                          "case)",
                          "eal.allow: \"0000:3b:00.8\" is not a PCI address (0000:3b:00.0, lower "
                          "case)"));
  EXPECT_THAT(errors_of(ini({}, {{"eal.allow", "0000:3b:00.0"}, {"eal.allow", "0000:3b:00.0,x=1"}})),
              ElementsAre("eal.allow: 0000:3b:00.0 is listed twice"));
}

// {iface} needs port.iface, and port.iface needs a vdev that uses it.
TEST_F(HardwareProfileTest, IfacePlaceholder) {
  EXPECT_THAT(errors_of(ini({{"port.iface", "-"}})),
              ElementsAre("port.iface: must be set: an eal.vdev line uses {iface}"));
  EXPECT_THAT(errors_of(ini({{"eal.vdev", "net_af_xdp0,iface=veth0"}})),
              ElementsAre("port.iface: no eal.vdev line uses {iface}"));
  EXPECT_THAT(errors_of(ini({{"port.iface", "a,b"}})),
              ElementsAre("port.iface: \"a,b\" is not an interface name (1..15 letters, digits, "
                          "'-', '_' or '.')"));
}

// vdev names, and the queue count an AF_XDP or AF_PACKET vdev opens.
TEST_F(HardwareProfileTest, VdevRules) {
  EXPECT_THAT(errors_of(ini({}, {{"eal.vdev", "net_af_xdp0,iface=x"}})),
              ElementsAre("eal.vdev: two vdevs are named net_af_xdp0"));
  EXPECT_THAT(errors_of(ini({}, {{"eal.vdev", ",iface=x"}})),
              ElementsAre("eal.vdev: \",iface=x\" does not start with a device name "
                          "(net_af_xdp0,...)"));
  EXPECT_THAT(errors_of(ini({{"eal.vdev", "net_af_xdp0,iface={iface},queue_count=2"}})),
              ElementsAre("eal.vdev: net_af_xdp0 opens 2 queue(s) (queue_count) but "
                          "port.rx_queues is 1"));
  EXPECT_THAT(errors_of(ini({{"eal.vdev", "net_af_xdp0,iface={iface},queue_count=many"}})),
              ElementsAre("eal.vdev: net_af_xdp0: queue_count=many is not a queue count"));
  EXPECT_THAT(errors_of(ini({{"eal.vdev", "net_af_packet0,iface={iface},qpairs=4"},
                             {"port.device", "net_af_packet0"}})),
              ElementsAre("eal.vdev: net_af_packet0 opens 4 queue(s) (qpairs) but "
                          "port.rx_queues is 1"));
}

// Descriptor counts must be powers of two.
TEST_F(HardwareProfileTest, DescriptorsPowerOfTwo) {
  EXPECT_THAT(errors_of(ini({{"port.rx_descriptors", "1000"}, {"port.tx_descriptors", "96"}})),
              ElementsAre("port.rx_descriptors: 1000 is not a power of two",
                          "port.tx_descriptors: 96 is not a power of two"));
}

// The pool must cover the worst case, fit the MTU, and fit in -m.
TEST_F(HardwareProfileTest, MempoolSizing) {
  // 1 x (1024 + 1024) + 1 x 2 x 512 + 2 x 256 + 1 x 32 = 3616
  EXPECT_THAT(errors_of(ini({{"mempool.mbufs", "3615"}})),
              ElementsAre("mempool.mbufs: 3615 is too few: the rings, caches and bursts can hold "
                          "3616 at once"));
  load_good(ini({{"mempool.mbufs", "3616"}}));
  EXPECT_THAT(errors_of(ini({{"port.mtu", "2100"}})),
              ElementsAre("mempool.data_room: 2176 cannot hold a 2100-byte MTU frame (needs 2246: "
                          "128 headroom + MTU + 18)"));
  // 200000 x (2176 + 192) bytes = 452 MB, more than half of 512.
  EXPECT_THAT(errors_of(ini({{"mempool.mbufs", "200000"}})),
              ElementsAre("mempool.mbufs: 200000 mbufs take about 452 MB, more than half of "
                          "eal.memory_mb (512)"));
}

// The exception TAP needs a valid interface name of its own.
TEST_F(HardwareProfileTest, ExceptionInterface) {
  EXPECT_THAT(errors_of(ini({{"exception.interface", "sixteen-chars-xx"}})),
              ElementsAre("exception.interface: \"sixteen-chars-xx\" is not an interface name "
                          "(1..15 letters, digits, '-', '_' or '.')"));
  EXPECT_THAT(errors_of(ini({{"exception.interface", "veth0"}})),
              ElementsAre("exception.interface: \"veth0\" is port.iface; the TAP needs its own "
                          "name"));
  // Disabled, its name is not checked.
  load_good(ini({{"exception.enabled", "off"}, {"exception.interface", ""}}));
}

// The TAP's kernel side: port.iface's addresses move by default; extra
// addresses are read one per line and checked.
TEST_F(HardwareProfileTest, ExceptionAddresses) {
  const HardwareProfile d = load_good(ini({}));
  EXPECT_TRUE(d.exception.take_addresses);
  EXPECT_THAT(d.exception.addresses, ElementsAre());
  const HardwareProfile p = load_good(ini({{"exception.take_addresses", "off"}},
                                          {{"exception.address", "10.0.0.2/24"},
                                           {"exception.address", "fd00::2/64"}}));
  EXPECT_FALSE(p.exception.take_addresses);
  EXPECT_THAT(p.exception.addresses, ElementsAre("10.0.0.2/24", "fd00::2/64"));
  for (const char* bad : {"10.0.0.2", "10.0.0.2/33", "fd00::2/129", "10.0.0.300/24", "x/24",
                          "10.0.0.2/", "10.0.0.2/2a"}) {
    EXPECT_THAT(errors_of(ini({}, {{"exception.address", bad}})),
                ElementsAre("exception.address: \"" + std::string(bad) +
                            "\" is not an address with its prefix length (10.0.0.2/24, "
                            "fd00::2/64)"));
  }
}

// The exception path's policer: defaults, values read, bounds named.
TEST_F(HardwareProfileTest, ExceptionPolicer) {
  const HardwareProfile d = load_good(ini({}));
  EXPECT_EQ(d.exception.rate_pps, 200000u);
  EXPECT_EQ(d.exception.burst, 10000u);
  const HardwareProfile p =
      load_good(ini({{"exception.rate_pps", "5000"}, {"exception.burst", "64"}}));
  EXPECT_EQ(p.exception.rate_pps, 5000u);
  EXPECT_EQ(p.exception.burst, 64u);
  EXPECT_THAT(errors_of(ini({{"exception.rate_pps", "0"}})),
              ElementsAre("exception.rate_pps: 0 is out of range 1..100000000"));
  EXPECT_THAT(errors_of(ini({{"exception.burst", "100000001"}})),
              ElementsAre("exception.burst: 100000001 is out of range 1..100000000"));
}

// Cross-key errors are all reported together.
TEST_F(HardwareProfileTest, SeveralCrossKeyErrors) {
  EXPECT_THAT(errors_of(ini({{"profile.name", "bad name"},
                             {"eal.worker_lcores", "0"},
                             {"port.device", "net_null0"},
                             {"port.rx_descriptors", "100"}})),
              ElementsAre("profile.name: \"bad name\" must be 1..63 letters, digits, '-', '_' or '.'",
                          "eal.main_lcore: lcore 0 is also a worker lcore (the main lcore runs "
                          "the control thread)",
                          "port.device: \"net_null0\" is neither an eal.vdev name nor a PCI address "
                          "in eal.allow",
                          "port.rx_descriptors: 100 is not a power of two"));
}

}  // namespace
}  // namespace sluice::dpdk
