// SPDX-License-Identifier: Apache-2.0
#include "control/state/audit_revision.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string_view>

namespace sluice::control {
namespace {

// The top-level keys this reader needs; every other key is passed over.
enum class Key { kOther, kRevisionAfter, kAccepted, kDryRun };

// A short word (key or bare value) seen at the top level of a line: its
// first bytes only, so that memory stays bounded whatever the line holds.
// Anything longer than the longest word looked for cannot match anyway.
class Word {
 public:
  void clear() { size_ = 0, overflow_ = false; }
  void add(char c) {
    if (size_ < sizeof(bytes_)) {
      bytes_[size_++] = c;
    } else {
      overflow_ = true;
    }
  }
  void spoil() { overflow_ = true; }  // an escape: never one of our words
  bool empty() const { return size_ == 0 && !overflow_; }
  std::optional<std::string_view> text() const {
    if (overflow_) return std::nullopt;
    return std::string_view(bytes_, size_);
  }

 private:
  char bytes_[24];  // "revision_after" and any uint64 (20 digits) fit
  size_t size_ = 0;
  bool overflow_ = false;
};

Key key_of(const Word& w) {
  const std::optional<std::string_view> t = w.text();
  if (!t) return Key::kOther;
  if (*t == "revision_after") return Key::kRevisionAfter;
  if (*t == "accepted") return Key::kAccepted;
  if (*t == "dry_run") return Key::kDryRun;
  return Key::kOther;
}

std::optional<uint64_t> number_of(const Word& w) {
  const std::optional<std::string_view> t = w.text();
  if (!t || t->empty()) return std::nullopt;
  uint64_t value = 0;
  for (const char c : *t) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;  // overflow: not ours
    value = value * 10 + digit;
  }
  return value;
}

std::optional<bool> bool_of(const Word& w) {
  const std::optional<std::string_view> t = w.text();
  if (t && *t == "true") return true;
  if (t && *t == "false") return false;
  return std::nullopt;
}

// Scans lines as bytes stream by: a JSON-shaped walk that follows strings
// (escapes included) and nesting just enough to know which bytes are the
// line's own top-level keys and values. A key's name inside a string (a
// summary quoting "revision_after":99) is therefore never taken for one.
// It does not validate JSON beyond that: the writer's lines are JSON, and
// the only damage it has to expect is a line cut short.
class LineScanner {
 public:
  explicit LineScanner(AuditRevisionScan* out) : out_(out) {}

  void feed(std::string_view block) {
    for (const char c : block) {
      if (c == '\n') {
        end_line();
      } else {
        byte(c);
      }
    }
  }
  // End of input: a last line without its '\n' counts if it is whole.
  void finish() { end_line(); }

 private:
  void byte(char c) {
    if (in_string_) {
      string_byte(c);
      return;
    }
    const bool space = c == ' ' || c == '\t' || c == '\r';
    if (space) {
      end_word();
      return;
    }
    seen_ = true;
    if (closed_) {
      broken_ = true;  // bytes after the closing brace
      return;
    }
    switch (c) {
      case '"':
        end_word();
        in_string_ = true;
        word_.clear();
        return;
      case '{':
      case '[':
        end_word();
        if (depth_ == 0 && (c != '{' || started_)) broken_ = true;
        started_ = true;
        if (depth_ == 0) expect_key_ = true;
        ++depth_;
        return;
      case '}':
      case ']':
        end_word();
        if (--depth_ < 0) broken_ = true;
        if (depth_ == 0) closed_ = true;
        return;
      case ',':
        end_word();
        if (depth_ == 1) expect_key_ = true;
        return;
      case ':':
        end_word();
        return;
      default:
        if (!started_) broken_ = true;
        if (depth_ == 1) {
          if (!in_word_) word_.clear();
          in_word_ = true;
          word_.add(c);
        }
        return;
    }
  }

  void string_byte(char c) {
    if (escape_) {
      escape_ = false;
      return;
    }
    if (c == '\\') {
      escape_ = true;
      word_.spoil();
      return;
    }
    if (c != '"') {
      if (depth_ == 1) word_.add(c);
      return;
    }
    in_string_ = false;
    if (depth_ != 1) return;
    if (expect_key_) {
      key_ = key_of(word_);
      expect_key_ = false;
    } else {
      key_ = Key::kOther;  // a string value: none of ours is a string
    }
  }

  // A bare value (number, true, false, null) at the top level ended.
  void end_word() {
    if (!in_word_) return;
    in_word_ = false;
    switch (key_) {
      case Key::kRevisionAfter:
        revision_ = number_of(word_);
        break;
      case Key::kAccepted:
        accepted_ = bool_of(word_);
        break;
      case Key::kDryRun:
        dry_run_ = bool_of(word_);
        break;
      case Key::kOther:
        break;
    }
    key_ = Key::kOther;
  }

  void end_line() {
    end_word();
    if (seen_ || in_string_) {
      ++out_->lines;
      const bool whole = closed_ && !broken_ && !in_string_ && revision_ && accepted_ && dry_run_;
      if (!whole) {
        ++out_->skipped;
      } else if (*accepted_ && !*dry_run_) {
        out_->highest = std::max(out_->highest, *revision_);
      }
    }
    *this = LineScanner(out_);
  }

  AuditRevisionScan* out_;
  int depth_ = 0;
  bool seen_ = false;     // anything but white space on this line
  bool started_ = false;  // the line's opening brace
  bool closed_ = false;   // its closing brace
  bool broken_ = false;   // not shaped like one object
  bool in_string_ = false;
  bool escape_ = false;
  bool expect_key_ = false;
  bool in_word_ = false;
  Word word_;
  Key key_ = Key::kOther;  // the key whose value comes next
  std::optional<uint64_t> revision_;
  std::optional<bool> accepted_;
  std::optional<bool> dry_run_;
};

}  // namespace

AuditRevisionScan scan_audit_revision_text(const std::string& text) {
  AuditRevisionScan out;
  out.found = true;
  LineScanner scanner(&out);
  scanner.feed(text);
  scanner.finish();
  return out;
}

AuditRevisionScan scan_audit_revision(const std::string& path) {
  AuditRevisionScan out;
  // O_NONBLOCK: a FIFO in its place must not hang the start.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int e = errno;
    if (e != ENOENT) out.error = path + ": cannot open: " + std::strerror(e);
    return out;  // ENOENT: no log yet, nothing accepted
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    out.error = path + ": cannot read: not a regular file";
    return out;
  }
  out.found = true;
  LineScanner scanner(&out);
  static constexpr size_t kBlock = 64 * 1024;
  std::string block(kBlock, '\0');
  while (true) {
    const ssize_t n = ::read(fd, block.data(), kBlock);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      out.error = path + ": cannot read: " + std::strerror(e);
      return out;
    }
    if (n == 0) break;
    scanner.feed(std::string_view(block.data(), static_cast<size_t>(n)));
  }
  scanner.finish();
  return out;
}

}  // namespace sluice::control
