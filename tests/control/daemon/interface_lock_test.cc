// SPDX-License-Identifier: Apache-2.0
// The ownership locks of control/daemon/interface_lock.h, in a lock folder
// of the test's own (never /run/sluice/locks). flock conflicts between two
// open files of one process as between two processes, so one test process
// plays both sluiceds; a child process shows the lock dies with its owner.
#include "control/daemon/interface_lock.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace sluice::control {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class InterfaceLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sluice-lock-test-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    folder_ = (dir_ / "run" / "locks").string();  // created by acquire
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<OwnershipLock> take(const std::vector<LockTarget>& targets, const LockOwner& who,
                                      std::string* error, long* pid = nullptr) {
    return OwnershipLock::acquire(folder_, targets, who, error, pid);
  }

  fs::path dir_;
  std::string folder_;
  const LockTarget eth_ = interface_lock_target("eth7");
  const LockTarget pins_ = pin_folder_lock_target("/sys/fs/bpf/sluice/eth7");
  const LockOwner first_{4242, "xdp", "/var/lib/sluice-a"};
  const LockOwner second_{5353, "xdp", "/var/lib/sluice-b"};
};

// A second owner of the same interface is refused with the first one's PID,
// dataplane and state folder; the first keeps its lock.
TEST_F(InterfaceLockTest, SecondOwnerIsRefusedNamingTheFirst) {
  std::string error;
  auto held = take({eth_, pins_}, first_, &error);
  ASSERT_NE(held, nullptr) << error;
  EXPECT_EQ(held->summary(), "interface eth7, XDP pin folder /sys/fs/bpf/sluice/eth7");
  long pid = 0;
  EXPECT_EQ(take({eth_}, second_, &error, &pid), nullptr);
  EXPECT_EQ(pid, 4242);
  EXPECT_EQ(error, "interface eth7 is owned by a running sluiced: PID 4242, dataplane xdp, "
                   "--state-dir /var/lib/sluice-a");
  // The pin folder alone (another namespace's eth7 over a shared bpffs).
  EXPECT_EQ(take({pins_}, second_, &error, &pid), nullptr);
  EXPECT_THAT(error, StartsWith("XDP pin folder /sys/fs/bpf/sluice/eth7 is owned by a running "
                                "sluiced: PID 4242"));
}

// Released when the owner lets go: the next one takes it and its record
// replaces the old one.
TEST_F(InterfaceLockTest, ReleasedLockIsTakenAndRewritten) {
  std::string error;
  auto held = take({eth_}, first_, &error);
  ASSERT_NE(held, nullptr) << error;
  held.reset();
  auto next = take({eth_}, LockOwner{77, "dpdk", ""}, &error);
  ASSERT_NE(next, nullptr) << error;
  std::ifstream in(folder_ + "/" + eth_.file_name);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "pid=77\ndataplane=dpdk\nstate_dir=\nresource=interface eth7\n");
  EXPECT_EQ(take({eth_}, first_, &error), nullptr);
  EXPECT_THAT(error, HasSubstr("PID 77, dataplane dpdk, no --state-dir"));
}

// All or nothing: refused on the second target, the first is not kept.
TEST_F(InterfaceLockTest, RefusalReleasesWhatWasTaken) {
  std::string error;
  auto pins_owner = take({pins_}, first_, &error);
  ASSERT_NE(pins_owner, nullptr) << error;
  EXPECT_EQ(take({eth_, pins_}, second_, &error), nullptr);
  auto eth_owner = take({eth_}, second_, &error);
  EXPECT_NE(eth_owner, nullptr) << "the interface stayed locked after a refusal: " << error;
}

// The kernel drops the lock when the owning process dies, however it dies:
// a stale file never blocks the next sluiced.
TEST_F(InterfaceLockTest, LockDiesWithItsProcess) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::string error;
    auto held = OwnershipLock::acquire(folder_, {eth_}, LockOwner{getpid(), "xdp", ""}, &error);
    const char ok = held ? 'y' : 'n';
    (void)!write(ready[1], &ok, 1);
    pause();  // until killed
    _exit(0);
  }
  char ok = 0;
  ASSERT_EQ(read(ready[0], &ok, 1), 1);
  ASSERT_EQ(ok, 'y');
  std::string error;
  long pid = 0;
  EXPECT_EQ(take({eth_}, second_, &error, &pid), nullptr);
  EXPECT_EQ(pid, child);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  close(ready[0]);
  close(ready[1]);
  EXPECT_NE(take({eth_}, second_, &error), nullptr) << error;
}

// File names: readable where the key is plain, hashed where it had to be
// changed, so that keys differing only in replaced characters never share
// a file; "." and ".." never name a folder.
TEST(LockFileNameTest, PlainKeysStayReadableOthersAreHashed) {
  EXPECT_EQ(lock_file_name("if-1", "eth0"), "if-1-eth0");
  const std::string a = lock_file_name("pins", "/sys/fs/bpf/a_b");
  const std::string b = lock_file_name("pins", "/sys/fs/bpf/a/b");
  EXPECT_NE(a, b);
  EXPECT_THAT(a, HasSubstr("_sys_fs_bpf_a_b"));
  EXPECT_EQ(a.find('/'), std::string::npos);
  EXPECT_NE(lock_file_name("if-1", ".."), "if-1-..");
  const std::string long_key(500, 'x');
  EXPECT_LT(lock_file_name("pins", long_key).size(), 160u);
  EXPECT_NE(lock_file_name("pins", long_key), lock_file_name("pins", long_key + "y"));
}

// Two spellings of one pin folder (a symbolic link) lock the same file;
// a folder not created yet keeps its missing tail.
TEST_F(InterfaceLockTest, PinFolderIsLockedByItsRealPath) {
  fs::create_directories(dir_ / "bpffs");
  fs::create_symlink(dir_ / "bpffs", dir_ / "link");
  const LockTarget real = pin_folder_lock_target((dir_ / "bpffs" / "sluice" / "eth7").string());
  const LockTarget linked = pin_folder_lock_target((dir_ / "link" / "sluice" / "eth7").string());
  EXPECT_EQ(real.file_name, linked.file_name);
  EXPECT_EQ(real.description, "XDP pin folder " + (dir_ / "bpffs" / "sluice" / "eth7").string());
}

// Interfaces are named per network namespace: the name carries the
// namespace, so eth0 of two namespaces are two locks.
TEST(InterfaceLockTargetTest, NamesTheNetworkNamespace) {
  struct stat st {};
  ASSERT_EQ(stat("/proc/self/ns/net", &st), 0);
  EXPECT_EQ(interface_lock_target("eth0").file_name, "if-" + std::to_string(st.st_ino) + "-eth0");
  EXPECT_EQ(interface_lock_target("eth0").description, "interface eth0");
}

}  // namespace
}  // namespace sluice::control
