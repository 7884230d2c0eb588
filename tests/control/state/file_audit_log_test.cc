// SPDX-License-Identifier: Apache-2.0
#include "control/state/file_audit_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "control/config/json_syntax.h"
#include "control/state/audit_text.h"
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
// valid JSON, and no control character even once the JSON is decoded
// (printable(): a reader that prints the decoded field gets one line).
TEST_F(FileAuditLogTest, StringsAreEscaped) {
  AuditRecord r = sample(1);
  r.summary = "pool \"canary\"\nweight\t\\ 50\r\x01 end";
  r.peer = "CN=\"evil\"\n{\"accepted\":true}";
  const std::string line = audit_line(r, 0);
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  expect_valid_json(line.substr(0, line.size() - 1));
  EXPECT_THAT(line, HasSubstr(
      R"("summary":"pool \"canary\"\\nweight\\t\\\\ 50\\r\\x01 end")"));
  EXPECT_THAT(line, HasSubstr(R"("peer":"CN=\"evil\"\\n{\"accepted\":true}")"));
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

AuditRecord refusal(const std::string& peer, const std::string& service) {
  AuditRecord r;
  r.peer = peer;
  r.method = "SetWeights";
  r.service = service;
  r.revision_before = r.revision_after = 7;
  r.summary = peer + " may not change the configuration";
  return r;
}

size_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<size_t>(st.st_size) : 0;
}

// A refusal carrying 4 MB in every field adds one bounded line: each field
// by its size and hash, the summary's head, never the payload.
TEST_F(FileAuditLogTest, OversizedFieldsRecordedBySizeAndHash) {
  auto log = make_file_audit_log(path());
  const std::string huge(4 << 20, 'N');
  AuditRecord r = refusal(huge, huge);
  r.method = huge;
  r.summary = "no service named \"" + huge + "\"";
  ASSERT_TRUE(log->record(r, &error_)) << error_;
  const std::string text = read_text(path());
  EXPECT_LE(text.size(), kMaxAuditLine);
  // The fields hold no N at all; the summary keeps at most its first 1 KiB.
  EXPECT_LE(static_cast<size_t>(std::count(text.begin(), text.end(), 'N')), kMaxAuditSummary);
  const auto lines = lines_of(text);
  ASSERT_EQ(lines.size(), 1u);
  expect_valid_json(lines[0]);
  EXPECT_THAT(lines[0], ::testing::ContainsRegex(
                            "\"peer\":\"<4194304 bytes, sha256 [0-9a-f]{16}>\",\"method\":\"<4194304"));
  EXPECT_THAT(lines[0], ::testing::ContainsRegex(
                            "\"summary\":\"no service named .*4194323 bytes in all, sha256"));
}

// A line whose every field is escaped to the limit still stays under the
// line cap.
TEST_F(FileAuditLogTest, LineCapHolds) {
  AuditRecord r = refusal(std::string(64, '"'), std::string(64, '\\'));
  r.method = std::string(64, '"');
  r.summary = std::string(256, '\\') + std::string(10000, '\x01');
  EXPECT_LE(audit_line(r, 0).size(), kMaxAuditLine);
}

// 10,000 refusals from one peer: the burst is written, the rest become one
// summary line after the interval; accepted changes in between are all
// written, and a summary still pending is written at close.
TEST_F(FileAuditLogTest, RefusalsRateLimitedPerPeer) {
  uint32_t now = 1000;
  AuditLogOptions options;
  options.refusals.per_peer_burst = 20;
  options.refusals.summary_interval_ms = 60000;
  options.clock_ms = [&now] { return now; };
  {
    auto log = make_file_audit_log(path(), options);
    for (int i = 0; i < 10000; ++i) {
      ASSERT_TRUE(log->record(refusal("tls:CN=viewer (read-only) from ipv4:127.0.0.1:4000" +
                                          std::to_string(i % 10), "web"),
                              &error_));
      if (i % 1000 == 0) {
        ASSERT_TRUE(log->record(sample(static_cast<uint64_t>(i)), &error_));
      }
    }
    // Another peer is not silenced by the first one's flood.
    ASSERT_TRUE(log->record(refusal("tls:CN=other (none)", "web"), &error_));
  }
  std::vector<std::string> lines = lines_of(read_text(path()));
  // Without a key every port is another peer: one burst per port.
  EXPECT_EQ(lines.size(), 10u * 20 + 10 + 1 + 10);

  std::filesystem::remove(path());
  {
    auto log = make_file_audit_log(path(), options);
    for (int i = 0; i < 10000; ++i) {
      AuditRecord r = refusal("tls:CN=viewer (read-only) from ipv4:127.0.0.1:" +
                                  std::to_string(40000 + i), "web");
      r.peer_key = "tls:CN=viewer (read-only)";
      ASSERT_TRUE(log->record(r, &error_));
      if (i % 1000 == 0) {
        ASSERT_TRUE(log->record(sample(static_cast<uint64_t>(i)), &error_));
      }
    }
    now += 60000;  // the interval ends: the next record brings the summary
    ASSERT_TRUE(log->record(sample(99999), &error_));
    for (int i = 0; i < 100; ++i) {
      AuditRecord r = refusal("tls:CN=viewer (read-only) from ipv4:127.0.0.1:1", "web");
      r.peer_key = "tls:CN=viewer (read-only)";
      ASSERT_TRUE(log->record(r, &error_));
    }
  }
  lines = lines_of(read_text(path()));
  // 20 refusals, 10 + 1 accepted, the summary, then 20 more refusals (a
  // full bucket after 60 s) and, at close, the summary of the other 80.
  ASSERT_EQ(lines.size(), 20u + 11 + 1 + 20 + 1);
  size_t accepted = 0;
  std::vector<std::string> summaries;
  for (const std::string& line : lines) {
    expect_valid_json(line);
    if (line.find("\"accepted\":true") != std::string::npos) ++accepted;
    if (line.find(kSuppressedMethod) != std::string::npos) summaries.push_back(line);
  }
  EXPECT_EQ(accepted, 11u);
  ASSERT_EQ(summaries.size(), 2u);
  EXPECT_THAT(summaries[0], HasSubstr("\"summary\":\"suppressed 9980 refusal lines from "
                                      "tls:CN=viewer (read-only) in 60 s\""));
  EXPECT_THAT(summaries[1], HasSubstr("suppressed 80 refusal lines from tls:CN=viewer"));
}

// 10,000 refusals with a 4 MB name: the file grows by a bounded amount.
TEST_F(FileAuditLogTest, FloodOfHugeRefusalsIsBounded) {
  auto log = make_file_audit_log(path());
  const std::string huge(4 << 20, 'x');
  for (int i = 0; i < 10000; ++i) {
    AuditRecord r = refusal("tls:CN=stranger (no role) from ipv4:127.0.0.1:5", huge);
    r.peer_key = "tls:CN=stranger (no role)";
    ASSERT_TRUE(log->record(r, &error_));
  }
  // The default burst of 20 lines (and at most a few more refilled while
  // the loop runs, at 1 a second), each under kMaxAuditLine.
  EXPECT_LE(file_size(path()), 30 * kMaxAuditLine);
}

// An accepted change's line is synced before record() returns (the core
// acknowledges after it); a refusal's is not, nor a summary's.
TEST_F(FileAuditLogTest, OnlyAcceptedChangesAreSynced) {
  int syncs = 0;
  AuditLogOptions options;
  options.sync_fd = [&syncs](int fd) {
    ++syncs;
    return ::fdatasync(fd);
  };
  auto log = make_file_audit_log(path(), options);
  ASSERT_TRUE(log->record(sample(1), &error_));
  EXPECT_EQ(syncs, 1);
  AuditRecord dry = sample(2);
  dry.dry_run = true;
  ASSERT_TRUE(log->record(dry, &error_));
  EXPECT_EQ(syncs, 2);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(log->record(refusal("unix:uid=7", "web"), &error_));
  EXPECT_EQ(syncs, 2);
  // A failing sync is reported (error names it), not hidden.
  options.sync_fd = [](int) {
    errno = EIO;
    return -1;
  };
  auto failing = make_file_audit_log(path(), options);
  EXPECT_FALSE(failing->record(sample(3), &error_));
  EXPECT_THAT(error_, HasSubstr("cannot sync audit log"));
  EXPECT_TRUE(failing->record(refusal("unix:uid=7", "web"), &error_));
}

}  // namespace
}  // namespace sluice::control
