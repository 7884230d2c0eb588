// SPDX-License-Identifier: Apache-2.0
#include "control/state/file_audit_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <thread>

#include "control/config/json_syntax.h"
#include "tests/control/state/state_test_util.h"

namespace sluice::control {
namespace {

using ::testing::HasSubstr;
using namespace state_test;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

void expect_valid_json(const std::string& line) {
  const auto result = config::check_json_syntax(line);
  EXPECT_FALSE(result.error.has_value())
      << line << "\n" << result.error->field << ": " << result.error->message;
  EXPECT_TRUE(result.root_is_object) << line;
}

AuditRecord sample(uint64_t before) {
  AuditRecord r;
  r.peer = "unix:uid=0";
  r.method = "SetWeights";
  r.service = "web";
  r.revision_before = before;
  r.revision_after = before + 1;
  r.accepted = true;
  r.dry_run = false;
  r.summary = "weights stable=90 canary=10 -> stable=50 canary=50";
  return r;
}

class FileAuditLogTest : public ::testing::Test {
 protected:
  std::string path() const { return scratch_.path() + "/audit.log"; }

  ScratchDir scratch_;
  std::string error_;
};

// The line format, byte for byte.
TEST_F(FileAuditLogTest, LineIsTheDocumentedJson) {
  EXPECT_EQ(audit_line(sample(7), 1714566896789),
            "{\"time\":\"2024-05-01T12:34:56.789Z\",\"peer\":\"unix:uid=0\","
            "\"method\":\"SetWeights\",\"service\":\"web\",\"revision_before\":7,"
            "\"revision_after\":8,\"accepted\":true,\"dry_run\":false,"
            "\"summary\":\"weights stable=90 canary=10 -> stable=50 canary=50\"}\n");
}

// Refused and dry-run records keep both revisions and flags as given.
TEST_F(FileAuditLogTest, RefusedDryRunLine) {
  AuditRecord r;
  r.method = "DeleteService";
  r.revision_before = 18446744073709551615u;
  r.revision_after = 18446744073709551615u;
  r.dry_run = true;
  EXPECT_EQ(audit_line(r, 0),
            "{\"time\":\"1970-01-01T00:00:00.000Z\",\"peer\":\"\",\"method\":\"DeleteService\","
            "\"service\":\"\",\"revision_before\":18446744073709551615,"
            "\"revision_after\":18446744073709551615,\"accepted\":false,\"dry_run\":true,"
            "\"summary\":\"\"}\n");
}

// Milliseconds are zero-padded and times before 1970 floor correctly.
TEST_F(FileAuditLogTest, TimeFormatting) {
  EXPECT_THAT(audit_line({}, 1000 * 951782400LL + 5), HasSubstr("\"2000-02-29T00:00:00.005Z\""));
  EXPECT_THAT(audit_line({}, -1), HasSubstr("\"1969-12-31T23:59:59.999Z\""));
  EXPECT_THAT(audit_line({}, 4102444799999LL), HasSubstr("\"2099-12-31T23:59:59.999Z\""));
}

// Quotes, backslashes, newlines and control bytes are escaped: one line,
// valid JSON, the text recoverable.
TEST_F(FileAuditLogTest, StringsAreEscaped) {
  AuditRecord r = sample(1);
  r.summary = "pool \"canary\"\nweight\t\\ 50\r\x01 end";
  r.peer = "CN=\"evil\"\n{\"accepted\":true}";
  const std::string line = audit_line(r, 0);
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  expect_valid_json(line.substr(0, line.size() - 1));
  EXPECT_THAT(line, HasSubstr(
      "\"summary\":\"pool \\\"canary\\\"\\nweight\\t\\\\ 50\\r\\u0001 end\""));
  EXPECT_THAT(line, HasSubstr("\"peer\":\"CN=\\\"evil\\\"\\n{\\\"accepted\\\":true}\""));
}

// Bytes that are not UTF-8 become U+FFFD; valid multi-byte text is kept.
TEST_F(FileAuditLogTest, InvalidUtf8IsReplaced) {
  AuditRecord r = sample(1);
  r.summary = "caf\xc3\xa9 \xff \xc0\xaf \xed\xa0\x80 \xe2\x82 \xf0\x9f\x98\x80";
  const std::string line = audit_line(r, 0);
  expect_valid_json(line.substr(0, line.size() - 1));
  EXPECT_THAT(line, HasSubstr("\"summary\":\"caf\xc3\xa9 \xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd "
                              "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd "
                              "\xf0\x9f\x98\x80\""));
}

// Records are appended one line each, every line valid JSON, time now.
TEST_F(FileAuditLogTest, RecordsAppendLines) {
  auto log = make_file_audit_log(path());
  const auto before = std::chrono::system_clock::now();
  for (uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(log->record(sample(i), &error_)) << error_;
  const std::string text = read_text(path());
  ASSERT_EQ(text.back(), '\n');
  const auto lines = lines_of(text);
  ASSERT_EQ(lines.size(), 3u);
  for (size_t i = 0; i < lines.size(); ++i) {
    expect_valid_json(lines[i]);
    EXPECT_THAT(lines[i], HasSubstr("\"revision_before\":" + std::to_string(i) + ","));
  }
  // The time is the current one (to the second; the file holds text).
  const std::time_t t = std::chrono::system_clock::to_time_t(before);
  char year[8];
  std::strftime(year, sizeof(year), "%Y", std::gmtime(&t));
  EXPECT_EQ(lines[0].substr(0, 13), std::string("{\"time\":\"") + year);
  EXPECT_EQ(lines[0][32], 'Z') << lines[0];
  EXPECT_EQ(mode_of(path()), 0640 & ~current_umask());
}

// A new log object on the same file appends after what is there.
TEST_F(FileAuditLogTest, AppendsAcrossReopen) {
  ASSERT_TRUE(make_file_audit_log(path())->record(sample(1), &error_)) << error_;
  ASSERT_TRUE(make_file_audit_log(path())->record(sample(2), &error_)) << error_;
  const auto lines = lines_of(read_text(path()));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr("\"revision_before\":1,"));
  EXPECT_THAT(lines[1], HasSubstr("\"revision_before\":2,"));
}

// A log renamed away (rotation) is followed by a fresh file.
TEST_F(FileAuditLogTest, RotationByRenameStartsANewFile) {
  auto log = make_file_audit_log(path());
  ASSERT_TRUE(log->record(sample(1), &error_)) << error_;
  std::filesystem::rename(path(), path() + ".1");
  ASSERT_TRUE(log->record(sample(2), &error_)) << error_;
  EXPECT_EQ(lines_of(read_text(path() + ".1")).size(), 1u);
  const auto lines = lines_of(read_text(path()));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("\"revision_before\":2,"));
}

// A torn last line (a crash in the middle of a write) stays alone on its
// line: the next record starts a line of its own.
TEST_F(FileAuditLogTest, TornLastLineIsKeptApart) {
  const std::string whole = audit_line(sample(1), 0);
  const std::string torn = audit_line(sample(2), 0).substr(0, 40);
  write_text(path(), whole + torn);
  ASSERT_TRUE(make_file_audit_log(path())->record(sample(3), &error_)) << error_;
  const auto lines = lines_of(read_text(path()));
  ASSERT_EQ(lines.size(), 3u);
  expect_valid_json(lines[0]);
  EXPECT_EQ(lines[1], torn);
  expect_valid_json(lines[2]);
  EXPECT_THAT(lines[2], HasSubstr("\"revision_before\":3,"));
}

// A log in a missing directory: record() fails naming the path.
TEST_F(FileAuditLogTest, MissingDirectoryFails) {
  const std::string missing = scratch_.path() + "/no/such/audit.log";
  EXPECT_FALSE(make_file_audit_log(missing)->record(sample(1), &error_));
  EXPECT_THAT(error_, HasSubstr(missing));
  EXPECT_THAT(error_, HasSubstr("No such file or directory"));
}

// A path that is a directory: record() fails naming it.
TEST_F(FileAuditLogTest, DirectoryPathFails) {
  EXPECT_FALSE(make_file_audit_log(scratch_.path())->record(sample(1), &error_));
  EXPECT_THAT(error_, HasSubstr(scratch_.path()));
  EXPECT_THAT(error_, HasSubstr("Is a directory"));
}

// Records from several threads never interleave inside a line.
TEST_F(FileAuditLogTest, ConcurrentRecordsStayWhole) {
  auto log = make_file_audit_log(path());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&log, t] {
      std::string error;
      for (int i = 0; i < 25; ++i) {
        AuditRecord r = sample(static_cast<uint64_t>(t * 1000 + i));
        r.summary = std::string(500 + t * 100, static_cast<char>('a' + t));
        EXPECT_TRUE(log->record(r, &error)) << error;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const auto lines = lines_of(read_text(path()));
  ASSERT_EQ(lines.size(), 100u);
  std::set<std::string> seen;
  for (const std::string& line : lines) {
    expect_valid_json(line);
    const size_t at = line.find("\"revision_before\":");
    ASSERT_NE(at, std::string::npos);
    seen.insert(line.substr(at, line.find(',', at) - at));
  }
  EXPECT_EQ(seen.size(), 100u);
}

}  // namespace
}  // namespace sluice::control
