// SPDX-License-Identifier: Apache-2.0
// control/daemon/logging.h: whatever a message quotes (a name a caller
// sent), a log line is one line without control characters, in both
// formats. stderr is redirected to a file while the logger writes.
#include "control/daemon/logging.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace sluice::control {
namespace {

using ::testing::HasSubstr;

// What the logger set up with `format` writes for one message.
std::string logged(const std::string& format, const std::string& name) {
  char path[] = "/tmp/sluice-logging-test-XXXXXX";
  const int fd = ::mkstemp(path);
  EXPECT_GE(fd, 0);
  std::fflush(stderr);
  const int saved = ::dup(2);
  ::dup2(fd, 2);
  spdlog::drop("sluiced");
  setup_logging(format, "info");
  spdlog::info("no service named \"{}\"", name);
  spdlog::default_logger()->flush();
  ::dup2(saved, 2);
  ::close(saved);
  ::close(fd);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  ::unlink(path);
  return text.str();
}

void expect_one_clean_line(const std::string& text) {
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.find('\n'), text.size() - 1) << text;
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    EXPECT_FALSE(c < 0x20 || c == 0x7f) << "byte " << int(c) << " at " << i << ": " << text;
  }
}

constexpr char kEvilText[] = "web\n2026-01-01 00:00:00.000 info  forged\r\x1b[2J\0";
const std::string kEvil(kEvilText, sizeof(kEvilText) - 1);  // the NUL included

// Text format: the newline, carriage return, escape and NUL are escaped.
TEST(LoggingTest, TextLinesAreEscaped) {
  const std::string text = logged("text", kEvil);
  expect_one_clean_line(text);
  EXPECT_THAT(text, HasSubstr("no service named \"web\\n2026-01-01 00:00:00.000 info  forged"
                              "\\r\\x1b[2J\\x00\""));
}

// JSON format: one valid line whose decoded message holds no control
// character either.
TEST(LoggingTest, JsonLinesAreEscaped) {
  const std::string text = logged("json", kEvil);
  expect_one_clean_line(text);
  EXPECT_THAT(text, HasSubstr("web\\\\n2026"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("\\u00")));
}

}  // namespace
}  // namespace sluice::control
