// SPDX-License-Identifier: Apache-2.0
// control/api/unix_peer_relay.h apart from gRPC: only names under the
// relay's own directory are read as credentials, a directory left by a
// killed sluiced is removed, and a live one is kept. (A real caller named
// by uid and pid through a real server: audit_abuse_test.)
#include "control/api/unix_peer_relay.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace sluice::control::api {
namespace {

class UnixPeerRelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/sluice-relay-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

// The credentials come only from a name under the relay's prefix, whole.
TEST_F(UnixPeerRelayTest, OnlyItsOwnNamesAreRead) {
  const std::string prefix = "unix:/run/sluice/.sluiced-Ab12Cd/u";
  EXPECT_EQ(peer_from_relay_name(prefix + "1000p4242n7", prefix), "uid=1000,pid=4242");
  EXPECT_EQ(peer_from_relay_name("unix:/tmp/x/u0p1n1", prefix), std::nullopt);
  EXPECT_EQ(peer_from_relay_name("unix:", prefix), std::nullopt);
  EXPECT_EQ(peer_from_relay_name(prefix + "1000p", prefix), std::nullopt);
  EXPECT_EQ(peer_from_relay_name(prefix + "x1000p1n1", prefix), std::nullopt);
  EXPECT_EQ(peer_from_relay_name(prefix + "1000p1n1", ""), std::nullopt);
}

// A relay directory nothing listens in is removed when the next relay is
// made beside it; the new one is private (0700) and goes at destruction.
TEST_F(UnixPeerRelayTest, StaleDirectoryRemoved) {
  const std::string stale = dir_ + "/.sluiced-Zz9Yy8";
  ASSERT_EQ(::mkdir(stale.c_str(), 0700), 0);
  std::ofstream(stale + "/grpc") << "";
  std::string error;
  auto relay = UnixPeerRelay::create(dir_ + "/sluiced.sock", &error);
  ASSERT_TRUE(relay) << error;
  EXPECT_FALSE(std::filesystem::exists(stale));
  size_t made = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    struct stat st {};
    ASSERT_EQ(::stat(e.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    ++made;
  }
  EXPECT_EQ(made, 1u);
  relay.reset();
  EXPECT_TRUE(std::filesystem::is_empty(dir_));
}

// Too deep a socket directory for the relay's names is named at start.
TEST_F(UnixPeerRelayTest, LongPathRefused) {
  std::string error;
  EXPECT_FALSE(UnixPeerRelay::create(dir_ + "/" + std::string(80, 'd') + "/s.sock", &error));
  EXPECT_THAT(error, ::testing::HasSubstr("too long a path for the peer relay"));
}

}  // namespace
}  // namespace sluice::control::api
