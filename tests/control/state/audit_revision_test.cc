// SPDX-License-Identifier: Apache-2.0
#include "control/state/audit_revision.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "control/state/file_audit_log.h"
#include "tests/control/state/state_test_util.h"

namespace sluice::control {
namespace {

using namespace state_test;

// A line exactly as the audit writer makes it.
std::string line(uint64_t before, uint64_t after, bool accepted = true, bool dry_run = false,
                 const std::string& summary = "weights stable=90 -> stable=50") {
  AuditRecord r;
  r.peer = "unix:uid=0";
  r.method = "SetWeights";
  r.service = "web";
  r.revision_before = before;
  r.revision_after = after;
  r.accepted = accepted;
  r.dry_run = dry_run;
  r.summary = summary;
  return audit_line(r, 1714566896789);
}

// Accepted changes count; the highest wins, whatever the order.
TEST(AuditRevisionTest, HighestAcceptedChange) {
  const AuditRevisionScan s = scan_audit_revision_text(line(0, 1) + line(1, 2) + line(6, 7) + line(2, 3));
  EXPECT_EQ(s.highest, 7u);
  EXPECT_EQ(s.lines, 4u);
  EXPECT_EQ(s.skipped, 0u);
}

// Refusals and dry runs changed nothing: they are not counted (their
// revision_after is the one they saw, which an accepted change reached).
TEST(AuditRevisionTest, RefusalsAndDryRunsDoNotCount) {
  const AuditRevisionScan s = scan_audit_revision_text(
      line(0, 1) + line(9, 9, /*accepted=*/false) + line(8, 8, true, /*dry_run=*/true));
  EXPECT_EQ(s.highest, 1u);
  EXPECT_EQ(s.skipped, 0u);
}

// A torn last line (the writer killed mid-write) is skipped, also when the
// next record starts on a line of its own after it.
TEST(AuditRevisionTest, TornLinesAreSkipped) {
  const std::string torn = line(4, 5).substr(0, 60);  // ends inside the method
  AuditRevisionScan s = scan_audit_revision_text(line(3, 4) + torn);
  EXPECT_EQ(s.highest, 4u);
  EXPECT_EQ(s.lines, 2u);
  EXPECT_EQ(s.skipped, 1u);
  // Cut right after "revision_after":5 : the number is there, the line is not.
  const std::string full = line(4, 5);
  const std::string cut = full.substr(0, full.find("\"accepted\""));
  s = scan_audit_revision_text(line(3, 4) + cut + "\n" + line(4, 6));
  EXPECT_EQ(s.highest, 6u);
  EXPECT_EQ(s.skipped, 1u);
  s = scan_audit_revision_text(line(3, 4) + cut);
  EXPECT_EQ(s.highest, 4u);
  // Cut in the summary, or just before the closing brace: every field is
  // there, the end of the record is not.
  const std::string late = line(4, 9);
  for (const size_t cut_bytes : {5u, 2u}) {
    s = scan_audit_revision_text(line(3, 4) + late.substr(0, late.size() - cut_bytes));
    EXPECT_EQ(s.highest, 4u) << cut_bytes;
    EXPECT_EQ(s.skipped, 1u) << cut_bytes;
  }
}

// A whole last record that only lacks its '\n' still counts.
TEST(AuditRevisionTest, LastLineWithoutNewline) {
  std::string last = line(4, 5);
  last.pop_back();
  EXPECT_EQ(scan_audit_revision_text(line(3, 4) + last).highest, 5u);
}

// Key names and numbers inside strings (a summary, a service name quoting
// a record) are not the line's own fields.
TEST(AuditRevisionTest, KeysInsideStringsAreNotFields) {
  const std::string quoted = R"({"revision_after":999,"accepted":true,"dry_run":false} \" "revision_after":998)";
  const AuditRevisionScan s = scan_audit_revision_text(line(1, 2, true, false, quoted));
  EXPECT_EQ(s.highest, 2u);
  // Fields nested in an object are not the line's either.
  EXPECT_EQ(scan_audit_revision_text(
                R"({"x":{"revision_after":50,"accepted":true,"dry_run":false},"revision_after":3,"accepted":true,"dry_run":false})"
                "\n")
                .highest,
            3u);
}

// Lines that are not whole records: skipped and counted, never an error.
TEST(AuditRevisionTest, MalformedLinesAreSkipped) {
  const AuditRevisionScan s = scan_audit_revision_text(
      "not json\n"
      "{\"revision_after\":\"12\",\"accepted\":true,\"dry_run\":false}\n"     // a string
      "{\"revision_after\":13,\"accepted\":\"yes\",\"dry_run\":false}\n"      // not a bool
      "{\"revision_after\":14,\"accepted\":true}\n"                          // dry_run missing
      "{\"revision_after\":15,\"accepted\":true,\"dry_run\":false}}\n"        // extra brace
      "{\"revision_after\":16,\"accepted\":true,\"dry_run\":false} x\n"       // trailing text
      "{\"revision_after\":99999999999999999999,\"accepted\":true,\"dry_run\":false}\n"  // > 2^64
      "{\"revision_after\":-4,\"accepted\":true,\"dry_run\":false}\n"
      "\n"
      "   \n" +
      line(1, 2));
  EXPECT_EQ(s.highest, 2u);
  EXPECT_EQ(s.lines, 9u);  // blank lines are not lines
  EXPECT_EQ(s.skipped, 8u);
  EXPECT_EQ(scan_audit_revision_text("").highest, 0u);
}

// The file: missing is an empty log; a long line streams through blocks.
TEST(AuditRevisionTest, File) {
  ScratchDir dir;
  const std::string path = dir.path() + "/audit.log";
  AuditRevisionScan s = scan_audit_revision(path);
  EXPECT_FALSE(s.found);
  EXPECT_EQ(s.error, "");
  EXPECT_EQ(s.highest, 0u);
  {
    std::ofstream out(path, std::ios::binary);
    out << line(0, 1) << line(1, 2, true, false, std::string(1 << 20, 'x')) << line(2, 3)
        << line(3, 4).substr(0, 70);
  }
  s = scan_audit_revision(path);
  EXPECT_TRUE(s.found);
  EXPECT_EQ(s.error, "");
  EXPECT_EQ(s.highest, 3u);
  EXPECT_EQ(s.lines, 4u);
  EXPECT_EQ(s.skipped, 1u);
}

// Something that is not a regular file is an error naming the path.
TEST(AuditRevisionTest, NotARegularFile) {
  ScratchDir dir;
  const std::string path = dir.path() + "/audit.log";
  ASSERT_EQ(::mkdir(path.c_str(), 0700), 0);
  const AuditRevisionScan s = scan_audit_revision(path);
  EXPECT_EQ(s.error, path + ": cannot read: not a regular file");
}

}  // namespace
}  // namespace sluice::control
