// SPDX-License-Identifier: Apache-2.0
#include "control/daemon/json_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "control/config/json_syntax.h"

namespace sluice::control {
namespace {

class JsonWriterTest : public ::testing::Test {
 protected:
  JsonWriter w_;
};

// An empty object and an empty array are written without commas.
TEST_F(JsonWriterTest, EmptyContainers) {
  w_.begin_object().key("a").begin_array().end_array().key("o").begin_object().end_object().end_object();
  EXPECT_EQ(w_.str(), R"({"a":[],"o":{}})");
}

// Commas go between fields, never before the first or after the last.
TEST_F(JsonWriterTest, CommasBetweenFields) {
  w_.begin_object().field("a", uint64_t{1}).field("b", "x").field("c", true).field("d", false).end_object();
  EXPECT_EQ(w_.str(), R"({"a":1,"b":"x","c":true,"d":false})");
}

// Commas go between array elements of every kind.
TEST_F(JsonWriterTest, CommasBetweenArrayElements) {
  w_.begin_array()
      .value(uint64_t{0})
      .value("s")
      .value(false)
      .begin_object()
      .end_object()
      .begin_array()
      .end_array()
      .value(uint64_t{18446744073709551615ull})
      .end_array();
  EXPECT_EQ(w_.str(), R"([0,"s",false,{},[],18446744073709551615])");
}

// Nesting: objects in arrays in objects, each level counts its own commas.
TEST_F(JsonWriterTest, Nesting) {
  w_.begin_object();
  w_.field("generation", uint64_t{2});
  w_.key("services").begin_array();
  for (int i = 0; i < 2; ++i) {
    w_.begin_object().field("name", i == 0 ? "web" : "api");
    w_.key("pools").begin_array();
    w_.begin_object().field("weight", uint64_t{90}).end_object();
    w_.begin_object().field("weight", uint64_t{10}).end_object();
    w_.end_array().end_object();
  }
  w_.end_array();
  w_.key("after").value(uint64_t{7});
  w_.end_object();
  EXPECT_EQ(w_.str(),
            R"({"generation":2,"services":[{"name":"web","pools":[{"weight":90},{"weight":10}]},)"
            R"({"name":"api","pools":[{"weight":90},{"weight":10}]}],"after":7})");
}

// Two documents written one after the other at the top level are comma-free
// (the writer only separates inside containers).
TEST_F(JsonWriterTest, TopLevelValuesHaveNoSeparator) {
  w_.begin_object().end_object();
  EXPECT_EQ(w_.str(), "{}");
  JsonWriter scalar;
  scalar.value(uint64_t{5});
  EXPECT_EQ(scalar.str(), "5");
}

// Quotes and backslashes are escaped in values and keys.
TEST_F(JsonWriterTest, EscapesQuotesAndBackslashes) {
  w_.begin_object().field("k\"ey\\", R"(say "hi" \ C:\path)").end_object();
  EXPECT_EQ(w_.str(), R"({"k\"ey\\":"say \"hi\" \\ C:\\path"})");
}

// Control characters: the short escapes where JSON has them, \u00XX otherwise.
TEST_F(JsonWriterTest, EscapesControlCharacters) {
  const std::string s = std::string("a\nb\rc\td") + '\0' + "\x01\x08\x0c\x1f" + "\x7f";
  EXPECT_EQ(JsonWriter::quote(s), "\"a\\nb\\rc\\td\\u0000\\u0001\\u0008\\u000c\\u001f\x7f\"");
}

// Bytes of UTF-8 text (>= 0x80) pass through unchanged, not as \u escapes.
TEST_F(JsonWriterTest, Utf8PassesThrough) {
  EXPECT_EQ(JsonWriter::quote("caf\xc3\xa9 \xe2\x86\x92"), "\"caf\xc3\xa9 \xe2\x86\x92\"");
}

// quote() adds the quotes, escapes, and handles the empty string.
TEST_F(JsonWriterTest, Quote) {
  EXPECT_EQ(JsonWriter::quote(""), R"("")");
  EXPECT_EQ(JsonWriter::quote("plain"), R"("plain")");
  EXPECT_EQ(JsonWriter::quote(R"(a"b)"), R"("a\"b")");
  EXPECT_EQ(JsonWriter::quote("a\\b"), R"("a\\b")");
  EXPECT_EQ(JsonWriter::quote("services[0].pools[1].weight: 0 is < 1"),
            R"("services[0].pools[1].weight: 0 is < 1")");
}

// A const char* value is a string, not a bool (overload resolution trap).
TEST_F(JsonWriterTest, CharPointerIsAString) {
  const char* text = "on";
  w_.begin_array().value(text).value("lit").end_array();
  EXPECT_EQ(w_.str(), R"(["on","lit"])");
}

// A std::string field is written as a string.
TEST_F(JsonWriterTest, StdStringField) {
  const std::string name = "canary";
  w_.begin_object().field("pool", std::string_view(name)).field("copy", name).end_object();
  EXPECT_EQ(w_.str(), R"({"pool":"canary","copy":"canary"})");
}

// Whatever it writes, escapes included, passes a strict RFC 8259 checker.
TEST_F(JsonWriterTest, OutputIsStrictJson) {
  std::string ascii(1, '\0');
  for (int c = 1; c < 0x80; ++c) ascii += static_cast<char>(c);  // all of ASCII
  ascii += "\xc3\xa9";  // and a UTF-8 sequence
  w_.begin_object()
      .field("text", std::string_view(ascii))
      .key("list")
      .begin_array()
      .value(uint64_t{1})
      .begin_object()
      .field("nested\n\"key\"", true)
      .end_object()
      .end_array()
      .field("last", uint64_t{0})
      .end_object();
  const config::JsonSyntaxResult r = config::check_json_syntax(w_.str());
  EXPECT_FALSE(r.error.has_value()) << (r.error ? r.error->to_string() : "") << "\n" << w_.str();
  EXPECT_THAT(r.top_level_keys, ::testing::ElementsAre("text", "list", "last"));
}

}  // namespace
}  // namespace sluice::control
