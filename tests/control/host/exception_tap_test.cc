// SPDX-License-Identifier: Apache-2.0
// Tests of control/host/exception_tap.h on real kernel interfaces: the test
// process moves into a network namespace of its own (unshare), makes a
// veth (the "NIC") and a TAP there with `ip`, and everything it made goes
// with the namespace when the process exits, whatever happens.
#include "control/host/exception_tap.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace sluice::host {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

void sh(const std::string& command) {
  ASSERT_EQ(std::system((command + " >/dev/null").c_str()), 0) << command;
}

class ExceptionTapTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "needs root"; }

  void SetUp() override {
    sh("ip link add xnic type veth peer name xpeer");
    sh("ip link set xnic mtu 1600 up");
    sh("ip link set xpeer up");
    sh("ip addr add 10.9.0.2/24 dev xnic");
    sh("ip -6 addr add fd09::2/64 dev xnic nodad");
    sh("ip tuntap add dev xtap mode tap");
    record_ = std::filesystem::temp_directory_path() /
              ("sluice-tap-test-" + std::to_string(getpid()) + ".addresses");
    std::filesystem::remove(record_);
  }

  void TearDown() override {
    std::system("ip link del xnic 2>/dev/null; ip link del xtap 2>/dev/null");
    std::filesystem::remove(record_);
  }

  ExceptionTapOptions options() const {
    ExceptionTapOptions o;
    o.tap = "xtap";
    o.nic = "xnic";
    o.mtu = 1600;
    o.record_path = record_.string();
    return o;
  }

  std::filesystem::path record_;
  Links links_;
};

// The TAP gets the port's MTU, comes up and takes the NIC's addresses (not
// its link-local one); stopping gives them back and removes the record.
TEST_F(ExceptionTapTest, MovesAddressesThereAndBack) {
  ASSERT_EQ(links_.mtu("xtap"), 1500u);
  std::unique_ptr<ExceptionTap> tap = ExceptionTap::set_up(options());
  EXPECT_EQ(links_.mtu("xtap"), 1600u);
  EXPECT_THAT(links_.addresses("xtap"), UnorderedElementsAre("10.9.0.2/24", "fd09::2/64"));
  EXPECT_THAT(links_.addresses("xnic"), IsEmpty());
  EXPECT_TRUE(std::filesystem::exists(record_));
  tap->restore();
  EXPECT_THAT(links_.addresses("xnic"), UnorderedElementsAre("10.9.0.2/24", "fd09::2/64"));
  EXPECT_THAT(links_.addresses("xtap"), IsEmpty());
  EXPECT_FALSE(std::filesystem::exists(record_));
}

// A sluiced that died left its addresses on a TAP that died with it: the
// next start takes them from the record, and its stop gives them back.
TEST_F(ExceptionTapTest, ANewStartRecoversWhatACrashTookAway) {
  ExceptionTap* crashed = ExceptionTap::set_up(options()).release();  // never restored
  (void)crashed;
  sh("ip link del xtap");  // the TAP goes with the process, its addresses with it
  sh("ip tuntap add dev xtap mode tap");
  ASSERT_THAT(links_.addresses("xnic"), IsEmpty());
  std::unique_ptr<ExceptionTap> tap = ExceptionTap::set_up(options());
  EXPECT_THAT(tap->moved(), UnorderedElementsAre("10.9.0.2/24", "fd09::2/64"));
  EXPECT_THAT(links_.addresses("xtap"), UnorderedElementsAre("10.9.0.2/24", "fd09::2/64"));
  tap.reset();  // the destructor restores too
  EXPECT_THAT(links_.addresses("xnic"), UnorderedElementsAre("10.9.0.2/24", "fd09::2/64"));
}

// exception.address lines are added and removed again; with
// take_addresses off the NIC keeps its own.
TEST_F(ExceptionTapTest, ExtraAddressesWithoutTakingTheNics) {
  ExceptionTapOptions o = options();
  o.take_addresses = false;
  o.addresses = {"192.0.2.7/24", "2001:db8::7/64"};
  std::unique_ptr<ExceptionTap> tap = ExceptionTap::set_up(o);
  EXPECT_THAT(links_.addresses("xtap"), UnorderedElementsAre("192.0.2.7/24", "2001:db8::7/64"));
  EXPECT_THAT(links_.addresses("xnic"), UnorderedElementsAre("10.9.0.2/24", "fd09::2/64"));
  tap->restore();
  EXPECT_THAT(links_.addresses("xtap"), IsEmpty());
  EXPECT_THAT(links_.addresses("xnic"), UnorderedElementsAre("10.9.0.2/24", "fd09::2/64"));
}

// Errors name the interface; a failed set-up leaves the NIC as it was.
TEST_F(ExceptionTapTest, ErrorsNameTheInterface) {
  ExceptionTapOptions o = options();
  o.nic = "nosuchnic";
  try {
    ExceptionTap::set_up(o);
    FAIL() << "no error";
  } catch (const LinkError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("port.iface nosuchnic: no such interface"));
  }
  o = options();
  o.tap = "nosuchtap";
  EXPECT_THROW(ExceptionTap::set_up(o), LinkError);
  // An address the kernel refuses (::), after the NIC's moved:
  // they go back.
  o = options();
  o.addresses = {"::/0"};
  EXPECT_THROW(ExceptionTap::set_up(o), LinkError);
  EXPECT_THAT(links_.addresses("xnic"), UnorderedElementsAre("10.9.0.2/24", "fd09::2/64"));
  EXPECT_THAT(links_.addresses("xtap"), IsEmpty());
}

}  // namespace
}  // namespace sluice::host
