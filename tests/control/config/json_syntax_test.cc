// SPDX-License-Identifier: Apache-2.0
#include "control/config/json_syntax.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace sluice::control::config {
namespace {

using ::testing::ElementsAre;

class JsonSyntaxTest : public ::testing::Test {
 protected:
  // "field: message" of the first error, or "" when the text is well-formed.
  static std::string error_of(std::string_view text) {
    JsonSyntaxResult r = check_json_syntax(text);
    return r.error ? r.error->to_string() : "";
  }
};

// Well-formed documents of every value type pass.
TEST_F(JsonSyntaxTest, AcceptsWellFormedJson) {
  EXPECT_EQ(error_of(R"({})"), "");
  EXPECT_EQ(error_of(R"([])"), "");
  EXPECT_EQ(error_of(" \t\r\n{ \"a\" : [ 1 , -0.5e+3 , 0 , 2E-2 , true , false , null ] } \n"), "");
  EXPECT_EQ(error_of(R"({"s": "tab\t quote\" slash\/ back\\ \u00e9 \uD83D\uDE00"})"), "");
  EXPECT_EQ(error_of("{\"utf8\": \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}"), "");
  EXPECT_EQ(error_of(R"({"a": {"b": {"a": 1}}, "b": [{"a": 1}, {"a": 2}]})"), "");
  EXPECT_EQ(error_of("7"), "");
}

// Top-level keys are reported in order, so the loader can tell the document's message.
TEST_F(JsonSyntaxTest, ReportsTopLevelKeys) {
  JsonSyntaxResult r = check_json_syntax(R"({"name": "web", "pools": [{"name": "x"}], "vip": ""})");
  EXPECT_TRUE(r.root_is_object);
  EXPECT_THAT(r.top_level_keys, ElementsAre("name", "pools", "vip"));
  JsonSyntaxResult a = check_json_syntax("[1, 2]");
  EXPECT_FALSE(a.root_is_object);
  EXPECT_TRUE(a.top_level_keys.empty());
}

// A UTF-8 byte order mark (as some editors write) is skipped.
TEST_F(JsonSyntaxTest, SkipsByteOrderMark) {
  EXPECT_EQ(error_of("\xef\xbb\xbf{\"a\": 1}"), "");
}

// Empty and all-blank documents are one error about the document.
TEST_F(JsonSyntaxTest, EmptyDocument) {
  EXPECT_EQ(error_of(""), "document: is empty");
  EXPECT_EQ(error_of(" \n\t "), "document: is empty");
}

// Trailing commas, which protobuf's parser would accept, are errors.
TEST_F(JsonSyntaxTest, TrailingCommas) {
  EXPECT_EQ(error_of(R"({"a": 1,})"), "line 1, column 9: trailing comma before '}'");
  EXPECT_EQ(error_of("{\"a\": [1,\n  2,\n]}"), "line 3, column 1: trailing comma before ']'");
}

// A repeated key names its JSON path and both places.
TEST_F(JsonSyntaxTest, RepeatedKeys) {
  EXPECT_EQ(error_of(R"({"a": 1, "a": 2})"),
            "a: repeated key (line 1, column 10; first at line 1, column 2)");
  EXPECT_EQ(error_of("{\"services\": [{}, {\"pools\": [\n  {\"weight\": 90,\n   \"weight\": 10}]}]}"),
            "services[1].pools[0].weight: repeated key (line 3, column 4; first at line 2, "
            "column 4)");
}

// Structural mistakes, each with its line and column.
TEST_F(JsonSyntaxTest, StructuralErrors) {
  EXPECT_EQ(error_of(R"({"a" 1})"), "line 1, column 6: expected ':' after a key, found '1'");
  EXPECT_EQ(error_of(R"({"a": 1 "b": 2})"), "line 1, column 9: expected ',' or '}', found '\"'");
  EXPECT_EQ(error_of(R"([1 2])"), "line 1, column 4: expected ',' or ']', found '2'");
  EXPECT_EQ(error_of(R"({a: 1})"), "line 1, column 2: expected a quoted key, found 'a'");
  EXPECT_EQ(error_of(R"({'a': 1})"), "line 1, column 2: expected a quoted key, found '''");
  EXPECT_EQ(error_of(R"({"a": })"), "line 1, column 7: expected a value, found '}'");
  EXPECT_EQ(error_of(R"({"a": 1)"), "line 1, column 8: expected ',' or '}', found end of input");
  EXPECT_EQ(error_of(R"({"a": 1}})"),
            "line 1, column 9: unexpected text after the end of the document");
  EXPECT_EQ(error_of("{\"a\": 1} // comment"),
            "line 1, column 10: unexpected text after the end of the document");
  EXPECT_EQ(error_of(R"({"a": tru})"), "line 1, column 7: expected a value, found 't'");
  EXPECT_EQ(error_of(R"({"a": nul})"), "line 1, column 7: expected a value, found 'n'");
}

// Numbers follow RFC 8259 exactly.
TEST_F(JsonSyntaxTest, NumberErrors) {
  EXPECT_EQ(error_of(R"({"a": 080})"), "line 1, column 7: numbers must not have leading zeros");
  EXPECT_EQ(error_of(R"({"a": 1.})"), "line 1, column 9: expected a digit after '.', found '}'");
  EXPECT_EQ(error_of(R"({"a": -})"), "line 1, column 8: expected a digit, found '}'");
  EXPECT_EQ(error_of(R"({"a": 1e})"), "line 1, column 9: expected a digit in the exponent, found '}'");
  EXPECT_EQ(error_of(R"({"a": +1})"), "line 1, column 7: expected a value, found '+'");
  EXPECT_EQ(error_of(R"({"a": .5})"), "line 1, column 7: expected a value, found '.'");
  EXPECT_EQ(error_of(R"({"a": 0x10})"), "line 1, column 8: expected ',' or '}', found 'x'");
}

// Strings: escapes, control characters, termination.
TEST_F(JsonSyntaxTest, StringErrors) {
  EXPECT_EQ(error_of(R"({"a": "\x41"})"), "line 1, column 9: unknown escape \\x");
  EXPECT_EQ(error_of(R"({"a": "\u12"})"), "line 1, column 12: \\u needs four hexadecimal digits");
  EXPECT_EQ(error_of("{\"a\": \"line\nbreak\"}"),
            "line 1, column 12: control character (byte 0x0a) inside a string; escape it");
  EXPECT_EQ(error_of("{\"a\": \"tab\there\"}"),
            "line 1, column 11: control character (byte 0x09) inside a string; escape it");
  EXPECT_EQ(error_of(R"({"a": "open)"), "line 1, column 7: string is not terminated");
  EXPECT_EQ(error_of(R"({"a": "ends in \)"), "line 1, column 17: string is not terminated");
}

// Bytes that are not well-formed UTF-8 are refused.
TEST_F(JsonSyntaxTest, InvalidUtf8) {
  EXPECT_EQ(error_of("{\"a\": \"\xff\"}"), "line 1, column 8: invalid UTF-8 (byte 0xff)");
  // Overlong encoding of '/'.
  EXPECT_EQ(error_of("{\"a\": \"\xc0\xaf\"}"), "line 1, column 8: invalid UTF-8 (byte 0xc0)");
  // A UTF-16 surrogate encoded as UTF-8.
  EXPECT_EQ(error_of("{\"a\": \"\xed\xa0\x80\"}"),
            "line 1, column 8: invalid UTF-8 (byte 0xed then 0xa0)");
  // Above U+10FFFF.
  EXPECT_EQ(error_of("{\"a\": \"\xf4\x90\x80\x80\"}"),
            "line 1, column 8: invalid UTF-8 (byte 0xf4 then 0x90)");
  EXPECT_EQ(error_of("{\"a\": \"\xe2\x82"), "line 1, column 8: invalid UTF-8 (truncated sequence)");
  EXPECT_EQ(error_of("{\"a\": 1, \xc3\xa9}"), "line 1, column 10: expected a quoted key, found byte 0xc3");
}

// Nesting is bounded, so hostile input cannot exhaust the stack.
TEST_F(JsonSyntaxTest, NestingLimit) {
  const std::string ok = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  EXPECT_EQ(error_of(ok), "");
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(error_of(deep), "line 1, column 66: nesting deeper than 64 levels");
}

}  // namespace
}  // namespace sluice::control::config
