// Tests of dataplane/xdp/xdp_loader.h on a real interface: a veth pair named
// sxdpt<pid>a/b and a bpffs mounted on a temporary folder, both made by the
// test and removed by it (whatever the outcome), never anything else.
// "Exiting" sluiced is destroying the XdpLoader: the program must stay
// attached and pinned, and the next XdpLoader must adopt it.
#include "dataplane/xdp/xdp_loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "dataplane/xdp/backend_health.h"
#include "dataplane/xdp/bpffs.h"
#include "dataplane/xdp/xdp_publisher.h"
#include "tests/dataplane/xdp/xdp_test_support.h"

#ifndef SLUICE_XDP_PASS_OBJ
#error "SLUICE_XDP_PASS_OBJ (path of the built xdp_pass.bpf.o) must be defined by the build"
#endif

namespace sluice::xdp {
namespace {

using Clock = std::chrono::steady_clock;

bool run(const std::string& command) { return std::system(command.c_str()) == 0; }

uint32_t map_id(int fd) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  EXPECT_EQ(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
  return info.id;
}

class XdpLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!sluice::test::bpf::can_load_bpf()) {
      GTEST_SKIP() << "needs CAP_BPF and CAP_NET_ADMIN (root) to attach sluice_xdp.bpf.o";
    }
    const std::string pid = std::to_string(getpid());
    veth_ = "sxdpt" + pid + "a";
    peer_ = "sxdpt" + pid + "b";
    if (!run("ip link add " + veth_ + " type veth peer name " + peer_ + " 2>/dev/null")) {
      GTEST_SKIP() << "cannot create a veth pair (ip link add " << veth_ << ")";
    }
    made_veth_ = true;
    ASSERT_TRUE(run("ip link set " + veth_ + " up && ip link set " + peer_ + " up"));
    char folder[] = "/tmp/sxdpt-XXXXXX";
    ASSERT_NE(mkdtemp(folder), nullptr);
    bpffs_ = folder;
    ASSERT_EQ(mount("bpf", bpffs_.c_str(), "bpf", 0, "mode=0700"), 0) << std::strerror(errno);
    mounted_ = true;

    options_.interface = veth_;
    options_.pin_root = bpffs_ + "/sluice";
    options_.sizes.services = 16;
    options_.sizes.backends = 64;
    options_.sizes.maglev_entries = 1024;
    options_.sizes.rules = 16;
    options_.sizes.flows = 1024;
    options_.sizes.circuits = 256;
    options_.sizes.counter_slots = 64;
  }

  void TearDown() override {
    if (made_veth_) run("ip link del " + veth_ + " 2>/dev/null");  // its programs go with it
    if (mounted_) umount2(bpffs_.c_str(), MNT_DETACH);  // its pins go with it
    if (!bpffs_.empty()) rmdir(bpffs_.c_str());
  }

  uint32_t attached(bool generic = false) const {
    LIBBPF_OPTS(bpf_xdp_query_opts, q);
    EXPECT_EQ(bpf_xdp_query(static_cast<int>(if_nametoindex(veth_.c_str())), 0, &q), 0);
    return generic ? q.skb_prog_id : q.drv_prog_id;
  }

  std::string pin(const char* name) const { return options_.pin_folder() + "/" + name; }

  std::unique_ptr<XdpLoader> start(const XdpLoaderOptions& options) {
    return std::make_unique<XdpLoader>(options);
  }

  std::shared_ptr<const engine::Snapshot> snapshot(uint64_t generation) {
    return test::compile(compiler_, test::sample_config(), generation);
  }

  std::string veth_, peer_, bpffs_;
  bool made_veth_ = false, mounted_ = false;
  XdpLoaderOptions options_;
  engine::SnapshotCompiler compiler_;
};

// A first start loads with the asked sizes, attaches in native mode and pins
// the program and every map, with the layout version.
TEST_F(XdpLoaderTest, FirstStartAttachesAndPins) {
  auto loader = start(options_);
  EXPECT_FALSE(loader->maps_adopted());
  EXPECT_EQ(loader->program_action(), XdpProgramAction::kAttached);
  EXPECT_NE(loader->program_id(), 0u);
  EXPECT_EQ(attached(), loader->program_id());
  EXPECT_EQ(loader->ifindex(), if_nametoindex(veth_.c_str()));
  for (const std::string& name : xdp_map_names()) {
    if (name == "circuits" || name == "counters") continue;  // the program's own, maybe absent
    EXPECT_TRUE(pin_exists(pin(name.c_str()))) << name;
  }
  EXPECT_TRUE(pin_exists(pin("program")));
  EXPECT_TRUE(on_bpffs(options_.pin_folder()));
  EXPECT_EQ(map_max_entries(loader->maps().service_config, "service_config"), 32u);
  EXPECT_EQ(map_max_entries(loader->maps().maglev, "maglev"), 2u * 1024 / 4);
  EXPECT_EQ(map_max_entries(loader->maps().flows, "flows"), 1024u);
  uint32_t version = 0;
  const uint32_t zero = 0;
  ASSERT_EQ(bpf_map_lookup_elem(loader->maps().layout, &zero, &version), 0);
  EXPECT_EQ(version, SLUICE_XDP_LAYOUT_VERSION);
}

// After an exit, the next start adopts everything: the same maps (flows and
// configuration in them), the same attached program, the root generation.
TEST_F(XdpLoaderTest, RestartAdoptsMapsProgramAndGeneration) {
  uint32_t program = 0, root_id = 0, flows_id = 0;
  sluice_flow_key flow{};
  flow.family = SLUICE_AF_INET;
  flow.proto = 6;
  flow.src[0] = 198, flow.dst[0] = 10;
  {
    auto first = start(options_);
    XdpPublisher publisher(first->maps());
    publisher.publish(snapshot(5));
    sluice_xdp_flow entry{};
    entry.backend_fingerprint = 0xabcdef;
    entry.state = 2;
    ASSERT_EQ(bpf_map_update_elem(first->maps().flows, &flow, &entry, BPF_ANY), 0);
    program = first->program_id();
    root_id = map_id(first->maps().root);
    flows_id = map_id(first->maps().flows);
  }
  EXPECT_EQ(attached(), program) << "the program must outlive sluiced";

  auto second = start(options_);
  EXPECT_TRUE(second->maps_adopted());
  EXPECT_EQ(second->program_action(), XdpProgramAction::kKept);
  EXPECT_EQ(second->program_id(), program);
  EXPECT_EQ(attached(), program);
  EXPECT_EQ(map_id(second->maps().root), root_id);
  EXPECT_EQ(map_id(second->maps().flows), flows_id);
  sluice_xdp_flow entry{};
  ASSERT_EQ(bpf_map_lookup_elem(second->maps().flows, &flow, &entry), 0);
  EXPECT_EQ(entry.backend_fingerprint, 0xabcdefu);

  XdpPublisher publisher(second->maps());
  EXPECT_EQ(publisher.published_generation(), 5u);
  const WriteStats next = publisher.publish(snapshot(6));
  EXPECT_EQ(next.slot, 1u);
  EXPECT_EQ(next.root_generation, 6u);
}

// Health is each sluiced's own finding: a restart adopts the pinned health
// map (the running program keeps reading the same one) but clears it, so
// every backend is unknown, that is served, until this sluiced's checks
// say otherwise; the first start's map is all unknown too.
TEST_F(XdpLoaderTest, RestartClearsTheHealthTable) {
  uint32_t health_id = 0;
  {
    auto first = start(options_);
    for (uint32_t slot = 0; slot < options_.sizes.counter_slots; ++slot) {
      EXPECT_EQ(backend_health(first->maps(), slot), SLUICE_HEALTH_UNKNOWN) << slot;
    }
    set_backend_health(first->maps(), 3, SLUICE_HEALTH_UNHEALTHY);
    set_backend_health(first->maps(), 63, SLUICE_HEALTH_HEALTHY);
    set_backend_health(first->maps(), 64, SLUICE_HEALTH_UNHEALTHY);  // beyond the map: ignored
    EXPECT_EQ(backend_health(first->maps(), 3), SLUICE_HEALTH_UNHEALTHY);
    EXPECT_EQ(backend_health(first->maps(), 63), SLUICE_HEALTH_HEALTHY);
    EXPECT_EQ(backend_health(first->maps(), 64), SLUICE_HEALTH_UNKNOWN);
    EXPECT_EQ(map_max_entries(first->maps().backend_health, "backend_health"), 64u);
    health_id = map_id(first->maps().backend_health);
  }
  // Until the next start, the marks stay (the program forwards by them).
  PinnedMaps pinned(options_.pin_folder());
  EXPECT_EQ(backend_health(pinned.maps(), 3), SLUICE_HEALTH_UNHEALTHY);

  auto second = start(options_);
  ASSERT_TRUE(second->maps_adopted());
  EXPECT_EQ(map_id(second->maps().backend_health), health_id) << "adopted, not made anew";
  EXPECT_EQ(backend_health(second->maps(), 3), SLUICE_HEALTH_UNKNOWN);
  EXPECT_EQ(backend_health(second->maps(), 63), SLUICE_HEALTH_UNKNOWN);
}

// A start with a changed program (here: other read-only data) replaces the
// attached one in one netlink update, keeping the maps and the generation.
TEST_F(XdpLoaderTest, ChangedProgramIsReplacedAtomically) {
  uint32_t old_program = 0, root_id = 0;
  {
    auto first = start(options_);
    XdpPublisher(first->maps()).publish(snapshot(9));
    old_program = first->program_id();
    root_id = map_id(first->maps().root);
  }
  XdpLoaderOptions upgraded = options_;
  upgraded.test_clock = true;
  auto second = start(upgraded);
  EXPECT_TRUE(second->maps_adopted());
  EXPECT_EQ(second->program_action(), XdpProgramAction::kReplaced);
  EXPECT_NE(second->program_id(), old_program);
  EXPECT_EQ(attached(), second->program_id());
  EXPECT_EQ(map_id(second->maps().root), root_id);
  EXPECT_EQ(XdpPublisher(second->maps()).published_generation(), 9u);
  // The pin now names the new program.
  const int pinned = bpf_obj_get(pin("program").c_str());
  ASSERT_GE(pinned, 0);
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  ASSERT_EQ(bpf_obj_get_info_by_fd(pinned, &info, &len), 0);
  close(pinned);
  EXPECT_EQ(info.id, second->program_id());
}

// Detaching removes the program from the interface and every pin; a second
// detach finds nothing to do.
TEST_F(XdpLoaderTest, DetachRemovesProgramAndPins) {
  start(options_).reset();
  ASSERT_NE(attached(), 0u);
  const XdpRemoval removal = detach_and_remove(options_);
  EXPECT_TRUE(removal.detached);
  EXPECT_EQ(removal.foreign_program, 0u);
  EXPECT_GE(removal.pins_removed, 18u);
  EXPECT_EQ(attached(), 0u);
  EXPECT_FALSE(pin_exists(options_.pin_folder()));
  const XdpRemoval again = detach_and_remove(options_);
  EXPECT_FALSE(again.detached);
  EXPECT_EQ(again.pins_removed, 0u);
  // And a start after that is a first start again.
  EXPECT_FALSE(start(options_)->maps_adopted());
}

// Pins of another layout version are not adopted; the error says why and
// what to do, and the running program is left alone.
TEST_F(XdpLoaderTest, OtherLayoutVersionIsRefused) {
  uint32_t program = 0;
  {
    auto first = start(options_);
    program = first->program_id();
    const uint32_t zero = 0, other = SLUICE_XDP_LAYOUT_VERSION + 998;
    ASSERT_EQ(bpf_map_update_elem(first->maps().layout, &zero, &other, BPF_ANY), 0);
  }
  try {
    start(options_);
    FAIL() << "pins of layout " << SLUICE_XDP_LAYOUT_VERSION + 998 << " were adopted";
  } catch (const XdpError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("layout version " + std::to_string(SLUICE_XDP_LAYOUT_VERSION + 998)),
              std::string::npos) << what;
    EXPECT_NE(what.find("--xdp-detach"), std::string::npos) << what;
    EXPECT_NE(what.find(options_.pin_folder()), std::string::npos) << what;
  }
  EXPECT_EQ(attached(), program);
}

// Replaces the pinned "flows" map with one shaped as layout version 4 had
// it: one value per possible CPU (LRU_PERCPU_HASH) of the 32-byte entry.
void pin_percpu_flows(const std::string& path) {
  ASSERT_EQ(unlink(path.c_str()), 0);
  const int fd = bpf_map_create(BPF_MAP_TYPE_LRU_PERCPU_HASH, "flows", sizeof(sluice_flow_key),
                                32, 1024, nullptr);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  EXPECT_EQ(bpf_obj_pin(fd, path.c_str()), 0) << std::strerror(errno);
  close(fd);
}

// An upgrade from layout 4 (per-CPU flow entries) to this one: the old
// pins are refused by their version, not adopted, and the running program
// and its pins are left alone.
TEST_F(XdpLoaderTest, PinsOfTheLayoutWithPerCpuFlowsAreRefused) {
  static_assert(SLUICE_XDP_LAYOUT_VERSION == 8u, "this test names the layouts before it");
  uint32_t program = 0;
  {
    auto first = start(options_);
    program = first->program_id();
    const uint32_t zero = 0, old = 4;
    ASSERT_EQ(bpf_map_update_elem(first->maps().layout, &zero, &old, BPF_ANY), 0);
  }
  pin_percpu_flows(pin("flows"));
  try {
    start(options_);
    FAIL() << "pins of layout 4 were adopted";
  } catch (const XdpError& e) {
    EXPECT_NE(std::string(e.what()).find("layout version 4, this sluiced uses 8"),
              std::string::npos) << e.what();
  }
  EXPECT_EQ(attached(), program);
  EXPECT_TRUE(pin_exists(pin("flows")));
}

// A pinned map of another type or size is refused even when the layout
// version matches (a layout change that forgot its version bump).
TEST_F(XdpLoaderTest, PinnedMapOfAnotherShapeIsRefused) {
  uint32_t program = 0;
  {
    auto first = start(options_);
    program = first->program_id();
  }
  pin_percpu_flows(pin("flows"));
  try {
    start(options_);
    FAIL() << "a per-CPU flows map was adopted";
  } catch (const XdpError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(pin("flows") + " is lru_percpu_hash (key 40 B, value 32 B)"),
              std::string::npos) << what;
    EXPECT_NE(what.find("needs lru_hash (key 40 B, value 40 B)"), std::string::npos) << what;
    EXPECT_NE(what.find("--xdp-detach"), std::string::npos) << what;
  }
  EXPECT_EQ(attached(), program);
}

// A start interrupted before its root pin (the last one) left pins that are
// removed; the program it attached is replaced with a fresh load.
TEST_F(XdpLoaderTest, InterruptedFirstStartLoadsAfresh) {
  uint32_t root_id = 0;
  {
    auto first = start(options_);
    root_id = map_id(first->maps().root);
  }
  ASSERT_EQ(unlink(pin("root").c_str()), 0);
  auto second = start(options_);
  EXPECT_FALSE(second->maps_adopted());
  EXPECT_EQ(second->program_action(), XdpProgramAction::kReplaced);
  EXPECT_NE(map_id(second->maps().root), root_id);
  EXPECT_EQ(attached(), second->program_id());
  EXPECT_TRUE(pin_exists(pin("root")));
}

// Generic mode only when asked; a program attached in the other mode is
// reported, not silently doubled.
TEST_F(XdpLoaderTest, GenericModeOnlyWhenAsked) {
  XdpLoaderOptions generic = options_;
  generic.generic = true;
  start(generic).reset();
  EXPECT_EQ(attached(false), 0u);
  EXPECT_NE(attached(true), 0u);
  try {
    start(options_);
    FAIL() << "native attach beside a generic one";
  } catch (const XdpError& e) {
    EXPECT_NE(std::string(e.what()).find("generic mode"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(detach_and_remove(generic).detached);
  EXPECT_EQ(attached(true), 0u);
}

// Another program on the interface is neither replaced nor detached.
TEST_F(XdpLoaderTest, ForeignProgramIsLeftAlone) {
  bpf_object* pass = bpf_object__open_file(SLUICE_XDP_PASS_OBJ, nullptr);
  ASSERT_NE(pass, nullptr);
  ASSERT_EQ(bpf_object__load(pass), 0);
  const int pass_fd = bpf_program__fd(bpf_object__next_program(pass, nullptr));
  ASSERT_EQ(bpf_xdp_attach(static_cast<int>(if_nametoindex(veth_.c_str())), pass_fd,
                           XDP_FLAGS_DRV_MODE, nullptr), 0);
  const uint32_t foreign = attached();
  try {
    start(options_);
    ADD_FAILURE() << "replaced another program";
  } catch (const XdpError& e) {
    EXPECT_NE(std::string(e.what()).find("another XDP program"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(veth_), std::string::npos) << e.what();
  }
  EXPECT_EQ(attached(), foreign);
  EXPECT_FALSE(pin_exists(options_.pin_folder())) << "a failed first start left pins";
  const XdpRemoval removal = detach_and_remove(options_);
  EXPECT_FALSE(removal.detached);
  EXPECT_EQ(removal.foreign_program, foreign);
  EXPECT_EQ(attached(), foreign);
  bpf_object__close(pass);
}

// attached_program (the attachment watch's query, control/daemon/
// xdp_attachment_watch.h): ours by id and name in its mode, nothing in the
// other, nothing once detached, and an error naming a deleted interface.
TEST_F(XdpLoaderTest, AttachedProgramIsQueried) {
  auto loader = start(options_);
  const XdpAttached ours = attached_program(loader->ifindex(), false, veth_);
  EXPECT_EQ(ours.id, loader->program_id());
  EXPECT_EQ(ours.name, "sluice_xdp");
  EXPECT_EQ(attached_program(loader->ifindex(), true, veth_).id, 0u);
  ASSERT_TRUE(run("ip link set dev " + veth_ + " xdp off"));
  EXPECT_EQ(attached_program(loader->ifindex(), false, veth_).id, 0u);
  const uint32_t ifindex = loader->ifindex();
  ASSERT_TRUE(run("ip link del " + veth_));
  made_veth_ = false;
  try {
    attached_program(ifindex, false, veth_);
    ADD_FAILURE() << "a deleted interface was queried without error";
  } catch (const XdpError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot query the XDP programs of " + veth_),
              std::string::npos) << e.what();
  }
}

// Errors name what is missing: the interface, the bpffs.
TEST_F(XdpLoaderTest, ErrorsNameTheInterfaceAndPath) {
  XdpLoaderOptions missing = options_;
  missing.interface = "sxdpt" + std::to_string(getpid()) + "x";
  try {
    start(missing);
    FAIL();
  } catch (const XdpError& e) {
    EXPECT_NE(std::string(e.what()).find("no network interface named \"" + missing.interface),
              std::string::npos) << e.what();
  }
  char plain[] = "/tmp/sxdpt-plain-XXXXXX";
  ASSERT_NE(mkdtemp(plain), nullptr);
  XdpLoaderOptions no_bpffs = options_;
  no_bpffs.pin_root = std::string(plain) + "/sluice";
  try {
    start(no_bpffs);
    ADD_FAILURE();
  } catch (const XdpError& e) {
    EXPECT_NE(std::string(e.what()).find("not on a bpffs"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(plain), std::string::npos) << e.what();
  }
  rmdir(plain);
  EXPECT_EQ(attached(), 0u);
  XdpLoaderOptions odd = options_;
  odd.sizes.maglev_entries = 1001;
  EXPECT_THROW(start(odd), XdpError);
  odd.sizes.maglev_entries = 1024;
  odd.sizes.services = 0;
  EXPECT_THROW(start(odd), XdpError);
}

}  // namespace
// sluiced mounts a bpffs itself only in PID 1's mount namespace (bpffs.h):
// one mounted anywhere else vanishes with the process, pins and all.
TEST(BpffsMountRefusal, AllowedOnlyInTheMountNamespaceOfPid1) {
  EXPECT_EQ(bpffs_mount_refusal("mnt:[4026531840]", "mnt:[4026531840]"), "");
  EXPECT_THAT(bpffs_mount_refusal("mnt:[4026532999]", "mnt:[4026531840]"),
              ::testing::HasSubstr("private mount namespace"));
  EXPECT_THAT(bpffs_mount_refusal("mnt:[4026532999]", ""),
              ::testing::HasSubstr("cannot be told"));
  EXPECT_NE(bpffs_mount_refusal("", ""), "");  // neither readable: no mount either
}

}  // namespace sluice::xdp
