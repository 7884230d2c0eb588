// SPDX-License-Identifier: Apache-2.0
// control/state/audit_text.h: client text made printable (every control
// character escaped, in every form), bounded (a large text becomes its size
// and hash, never copied), and truncated (the head kept, the rest hashed).
#include "control/state/audit_text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sluice::control {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

// True when `text` holds no C0 control, DEL, C1 control, U+2028 or U+2029.
bool is_printable(const std::string& text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) return false;
    if (c == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) < 0xa0) {
      return false;
    }
    if (text.compare(i, 3, "\xe2\x80\xa8") == 0 || text.compare(i, 3, "\xe2\x80\xa9") == 0) {
      return false;
    }
  }
  return true;
}

// Each control character has a visible escape; a backslash is doubled so
// that an escape cannot be forged.
TEST(AuditTextTest, PrintableEscapesControls) {
  EXPECT_EQ(printable("a\nb\rc\td"), "a\\nb\\rc\\td");
  EXPECT_EQ(printable(std::string("nul\0x", 5)), "nul\\x00x");
  EXPECT_EQ(printable("\x1b[2J\x7f"), "\\x1b[2J\\x7f");
  EXPECT_EQ(printable("back\\slash"), "back\\\\slash");
  EXPECT_EQ(printable("c1 \xc2\x85 \xc2\x9f"), "c1 \\u0085 \\u009f");
  EXPECT_EQ(printable("ls \xe2\x80\xa8 ps \xe2\x80\xa9"), "ls \\u2028 ps \\u2029");
  EXPECT_EQ(printable("caf\xc3\xa9 \xc2\xa0"), "caf\xc3\xa9 \xc2\xa0");  // é and NBSP stay
  EXPECT_EQ(printable("bad \xff"), "bad \xef\xbf\xbd");
}

// Every byte value, alone and in the middle of text: nothing unprintable
// survives.
TEST(AuditTextTest, NoByteSurvivesRaw) {
  for (int b = 0; b < 256; ++b) {
    const std::string text = std::string("x") + static_cast<char>(b) + "y";
    EXPECT_TRUE(is_printable(printable(text))) << b;
  }
  for (int b = 0x80; b < 0xa0; ++b) {
    const std::string c1 = std::string("\xc2") + static_cast<char>(b);
    EXPECT_TRUE(is_printable(printable(c1))) << b;
  }
}

// Within the limit: the printable text. Over it: size and hash only.
TEST(AuditTextTest, BoundedNeverCopiesALargeText) {
  EXPECT_EQ(bounded("web", 256), "web");
  EXPECT_EQ(bounded("a\nb", 256), "a\\nb");
  const std::string huge(4 << 20, 'A');
  const std::string b = bounded(huge, 256);
  EXPECT_THAT(b, MatchesRegex("<4194304 bytes, sha256 [0-9a-f]{16}>"));
  EXPECT_THAT(b, Not(HasSubstr("AAAA")));
  // Fits raw but not once escaped: still hashed.
  EXPECT_THAT(bounded(std::string(200, '\n'), 256), MatchesRegex("<200 bytes, sha256 .*>"));
  // Different texts, different hashes; the same text, the same hash.
  EXPECT_NE(bounded(huge, 256), bounded(huge + "B", 256));
  EXPECT_EQ(bounded(huge, 256), bounded(std::string(4 << 20, 'A'), 256));
  // SHA-256 of "abc" begins ba7816bf8f01cfea.
  EXPECT_EQ(short_hash("abc"), "sha256 ba7816bf8f01cfea");
}

// The head is kept, cut on a character boundary, the rest summarised.
TEST(AuditTextTest, TruncatedKeepsTheHead) {
  EXPECT_EQ(truncated("short", 64), "short");
  const std::string message = "service: no service named \"" + std::string(10000, 'x') + "\"";
  const std::string t = truncated(message, 200);
  EXPECT_LE(t.size(), 200u);
  EXPECT_THAT(t, MatchesRegex("service: no service named \"x+ \\.\\.\\. \\(10028 bytes in all, "
                              "sha256 [0-9a-f]{16}\\)"));
  std::string accents;
  for (int i = 0; i < 200; ++i) accents += "\xc3\xa9";
  const std::string cut = truncated(accents, 101);
  EXPECT_LE(cut.size(), 101u);
  EXPECT_EQ(cut.find("\xc3 "), std::string::npos);  // no half character before the tail
  EXPECT_TRUE(is_printable(truncated(std::string(5000, '\x01'), 300)));
}

}  // namespace
}  // namespace sluice::control
