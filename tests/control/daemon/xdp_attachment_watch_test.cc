// SPDX-License-Identifier: Apache-2.0
// XdpAttachmentWatch (control/daemon/xdp_attachment_watch.h) against a
// scripted kernel: what fault() says for a detach, a replacement and a
// failed query, that it clears when our program is back, and that each
// change is logged once (not on every check).
#include "control/daemon/xdp_attachment_watch.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <memory>
#include <sstream>
#include <string>
#include <thread>

namespace sluice::control {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr uint32_t kOurs = 41;

class XdpAttachmentWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    previous_ = spdlog::default_logger();
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_);
    auto logger = std::make_shared<spdlog::logger>("test", sink);
    logger->set_pattern("%l %v");
    spdlog::set_default_logger(logger);
  }
  void TearDown() override { spdlog::set_default_logger(previous_); }

  // How many log lines contain `text`.
  size_t logged(const std::string& text) const {
    std::istringstream in(log_.str());
    size_t n = 0;
    for (std::string line; std::getline(in, line);) n += line.find(text) != std::string::npos;
    return n;
  }

  XdpAttachmentProbe kernel_{kOurs, "sluice_xdp", ""};
  XdpAttachmentWatch watch_{"eth7", kOurs, [this] { return kernel_; }};
  std::ostringstream log_;
  std::shared_ptr<spdlog::logger> previous_;
};

// Our program attached: no fault, nothing logged.
TEST_F(XdpAttachmentWatchTest, OursAttachedIsNoFault) {
  EXPECT_THAT(watch_.check(), IsEmpty());
  EXPECT_THAT(watch_.fault(), IsEmpty());
  EXPECT_THAT(log_.str(), IsEmpty());
}

// `ip link set dev eth7 xdp off`: a fault naming the interface, our id and
// that sluiced does not re-attach; logged once however often it is checked.
TEST_F(XdpAttachmentWatchTest, DetachIsAFaultLoggedOnce) {
  watch_.check();
  kernel_ = {0, "", ""};
  for (int i = 0; i < 5; ++i) watch_.check();
  EXPECT_THAT(watch_.fault(), HasSubstr("sluiced's XDP program (id 41) was detached from eth7"));
  EXPECT_THAT(watch_.fault(), HasSubstr("does not re-attach it"));
  EXPECT_EQ(logged("error XDP FAULT: sluiced's XDP program (id 41) was detached"), 1u) << log_.str();
}

// Another program in ours' place: named by id and name; a change from
// detached to replaced is a new fault and logged again.
TEST_F(XdpAttachmentWatchTest, ReplacementNamesTheOtherProgram) {
  kernel_ = {0, "", ""};
  watch_.check();
  kernel_ = {99, "xdp_pass", ""};
  watch_.check();
  watch_.check();
  EXPECT_THAT(watch_.fault(), HasSubstr("another XDP program (id 99, \"xdp_pass\") replaced "
                                        "sluiced's XDP program (id 41) on eth7"));
  EXPECT_THAT(watch_.fault(), HasSubstr("does not fight it"));
  EXPECT_EQ(logged("XDP FAULT"), 2u) << log_.str();
}

// Our program back (re-attached from its pin): the fault clears, logged once.
TEST_F(XdpAttachmentWatchTest, FaultClearsWhenOursIsBack) {
  kernel_ = {0, "", ""};
  watch_.check();
  kernel_ = {kOurs, "sluice_xdp", ""};
  EXPECT_THAT(watch_.check(), IsEmpty());
  watch_.check();
  EXPECT_THAT(watch_.fault(), IsEmpty());
  EXPECT_EQ(logged("info XDP program id 41 is attached to eth7 again"), 1u) << log_.str();
}

// A query that fails (interface deleted) is a fault too: sluiced cannot vouch.
TEST_F(XdpAttachmentWatchTest, FailedQueryIsAFault) {
  kernel_ = {0, "", "cannot query the XDP programs of eth7: No such device"};
  EXPECT_THAT(watch_.check(), HasSubstr("No such device; sluiced cannot vouch for what eth7 forwards"));
}

// check_every asks the kernel at most once per interval; fault() never does.
TEST_F(XdpAttachmentWatchTest, CheckEveryIsRateLimited) {
  int queries = 0;
  XdpAttachmentWatch watch("eth7", kOurs, [&] {
    ++queries;
    return XdpAttachmentProbe{0, "", ""};
  });
  for (int i = 0; i < 10; ++i) watch.check_every(std::chrono::hours(1));
  EXPECT_EQ(queries, 1);
  EXPECT_THAT(watch.fault(), HasSubstr("detached"));
  EXPECT_EQ(queries, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  watch.check_every(std::chrono::milliseconds(1));
  EXPECT_EQ(queries, 2);
}

}  // namespace
}  // namespace sluice::control
