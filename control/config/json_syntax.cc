// SPDX-License-Identifier: Apache-2.0
#include "control/config/json_syntax.h"

#include <cctype>
#include <map>

namespace sluice::control::config {
namespace {

// A recursive-descent reader that only checks: values are not kept, only
// the keys of each object (to find repeats) and the path for messages.
class Checker {
 public:
  explicit Checker(std::string_view text) : text_(text) {}

  JsonSyntaxResult run() {
    skip_space();
    if (at_end()) {
      result_.error = engine::ConfigError{"document", "is empty"};
    } else {
      result_.root_is_object = peek() == '{';
      value("", 0);
      if (!result_.error) {
        skip_space();
        if (!at_end()) fail("unexpected text after the end of the document");
      }
    }
    return std::move(result_);
  }

 private:
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }
  bool failed() const { return result_.error.has_value(); }

  std::string where(size_t offset) const {
    size_t line = 1, column = 1;
    for (size_t i = 0; i < offset && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    return "line " + std::to_string(line) + ", column " + std::to_string(column);
  }

  void fail(std::string message) { fail_at(pos_, std::move(message)); }
  void fail_at(size_t offset, std::string message) {
    if (!failed()) result_.error = engine::ConfigError{where(offset), std::move(message)};
  }

  std::string found() const {
    if (at_end()) return "end of input";
    const unsigned char c = static_cast<unsigned char>(peek());
    if (c < 0x20 || c >= 0x7f) return "byte 0x" + hex(c);
    return std::string("'") + peek() + "'";
  }
  static std::string hex(unsigned char c) {
    const char* digits = "0123456789abcdef";
    return {digits[c >> 4], digits[c & 15]};
  }

  void skip_space() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) {
      ++pos_;
    }
  }

  void value(const std::string& path, int depth) {
    if (depth > kMaxJsonDepth) {
      fail("nesting deeper than " + std::to_string(kMaxJsonDepth) + " levels");
      return;
    }
    skip_space();
    if (at_end()) {
      fail("expected a value, found end of input");
      return;
    }
    switch (peek()) {
      case '{': object(path, depth); return;
      case '[': array(path, depth); return;
      case '"': string(nullptr); return;
      case 't': literal("true"); return;
      case 'f': literal("false"); return;
      case 'n': literal("null"); return;
      default:
        if (peek() == '-' || (peek() >= '0' && peek() <= '9')) {
          number();
        } else {
          fail("expected a value, found " + found());
        }
    }
  }

  void object(const std::string& path, int depth) {
    ++pos_;  // '{'
    std::map<std::string, size_t> keys;  // key -> offset of its first use
    skip_space();
    if (!at_end() && peek() == '}') {
      ++pos_;
      return;
    }
    while (!failed()) {
      skip_space();
      if (at_end() || peek() != '"') {
        fail("expected a quoted key, found " + found());
        return;
      }
      const size_t key_offset = pos_;
      std::string key;
      string(&key);
      if (failed()) return;
      const std::string key_path = path.empty() ? key : path + "." + key;
      auto [it, fresh] = keys.emplace(key, key_offset);
      if (!fresh) {
        result_.error = engine::ConfigError{
            key_path, "repeated key (" + where(key_offset) + "; first at " + where(it->second) + ")"};
        return;
      }
      if (depth == 0) result_.top_level_keys.push_back(key);
      skip_space();
      if (at_end() || peek() != ':') {
        fail("expected ':' after a key, found " + found());
        return;
      }
      ++pos_;
      value(key_path, depth + 1);
      if (failed()) return;
      skip_space();
      if (!at_end() && peek() == ',') {
        ++pos_;
        skip_space();
        if (!at_end() && peek() == '}') {
          fail("trailing comma before '}'");
          return;
        }
        continue;
      }
      if (!at_end() && peek() == '}') {
        ++pos_;
        return;
      }
      fail("expected ',' or '}', found " + found());
    }
  }

  void array(const std::string& path, int depth) {
    ++pos_;  // '['
    skip_space();
    if (!at_end() && peek() == ']') {
      ++pos_;
      return;
    }
    for (size_t i = 0; !failed(); ++i) {
      value(path + "[" + std::to_string(i) + "]", depth + 1);
      if (failed()) return;
      skip_space();
      if (!at_end() && peek() == ',') {
        ++pos_;
        skip_space();
        if (!at_end() && peek() == ']') {
          fail("trailing comma before ']'");
          return;
        }
        continue;
      }
      if (!at_end() && peek() == ']') {
        ++pos_;
        return;
      }
      fail("expected ',' or ']', found " + found());
    }
  }

  // Checks a string; its raw (still escaped) text goes to `out` if given.
  // Keys are compared in this raw form: "a" and "\u0061" count as two keys.
  void string(std::string* out) {
    const size_t start = ++pos_;  // after '"'
    while (!at_end()) {
      const unsigned char c = static_cast<unsigned char>(peek());
      if (c == '"') {
        if (out) *out = std::string(text_.substr(start, pos_ - start));
        ++pos_;
        return;
      }
      if (c < 0x20) {
        fail("control character (byte 0x" + hex(c) + ") inside a string; escape it");
        return;
      }
      if (c == '\\') {
        escape();
      } else if (c >= 0x80) {
        utf8_sequence();
      } else {
        ++pos_;
      }
      if (failed()) return;
    }
    fail_at(start - 1, "string is not terminated");
  }

  void escape() {
    ++pos_;  // '\'
    if (at_end()) {
      fail("string is not terminated");
      return;
    }
    const char c = peek();
    if (c == 'u') {
      ++pos_;
      for (int i = 0; i < 4; ++i, ++pos_) {
        if (at_end() || !std::isxdigit(static_cast<unsigned char>(peek()))) {
          fail("\\u needs four hexadecimal digits");
          return;
        }
      }
      return;
    }
    if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' ||
        c == 't') {
      ++pos_;
      return;
    }
    fail("unknown escape \\" + std::string(1, c));
  }

  // One well-formed UTF-8 sequence (no overlongs, surrogates or > U+10FFFF).
  void utf8_sequence() {
    const unsigned char lead = static_cast<unsigned char>(peek());
    int length = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // range of the second byte
    if (lead >= 0xc2 && lead <= 0xdf) {
      length = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      length = 3;
      if (lead == 0xe0) lo = 0xa0;
      if (lead == 0xed) hi = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      length = 4;
      if (lead == 0xf0) lo = 0x90;
      if (lead == 0xf4) hi = 0x8f;
    } else {
      fail("invalid UTF-8 (byte 0x" + hex(lead) + ")");
      return;
    }
    const size_t start = pos_;
    for (int i = 1; i < length; ++i) {
      if (start + i >= text_.size()) {
        fail_at(start, "invalid UTF-8 (truncated sequence)");
        return;
      }
      const unsigned char c = static_cast<unsigned char>(text_[start + i]);
      const unsigned char min = i == 1 ? lo : 0x80, max = i == 1 ? hi : 0xbf;
      if (c < min || c > max) {
        fail_at(start, "invalid UTF-8 (byte 0x" + hex(lead) + " then 0x" + hex(c) + ")");
        return;
      }
    }
    pos_ = start + length;
  }

  void literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) {
      fail("expected a value, found " + found());
      return;
    }
    pos_ += word.size();
  }

  bool digits() {
    const size_t start = pos_;
    while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_;
    return pos_ > start;
  }

  void number() {
    const size_t start = pos_;
    if (peek() == '-') ++pos_;
    if (!at_end() && peek() == '0') {
      ++pos_;
      if (!at_end() && peek() >= '0' && peek() <= '9') {
        fail_at(start, "numbers must not have leading zeros");
        return;
      }
    } else if (!digits()) {
      fail("expected a digit, found " + found());
      return;
    }
    if (!at_end() && peek() == '.') {
      ++pos_;
      if (!digits()) {
        fail("expected a digit after '.', found " + found());
        return;
      }
    }
    if (!at_end() && (peek() == 'e' || peek() == 'E')) {
      ++pos_;
      if (!at_end() && (peek() == '+' || peek() == '-')) ++pos_;
      if (!digits()) {
        fail("expected a digit in the exponent, found " + found());
        return;
      }
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
  JsonSyntaxResult result_;
};

}  // namespace

JsonSyntaxResult check_json_syntax(std::string_view text) {
  constexpr std::string_view kBom = "\xef\xbb\xbf";
  if (text.substr(0, kBom.size()) == kBom) text.remove_prefix(kBom.size());
  return Checker(text).run();
}

}  // namespace sluice::control::config
