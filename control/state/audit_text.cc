// SPDX-License-Identifier: Apache-2.0
#include "control/state/audit_text.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>

namespace sluice::control {

std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    size_t length = 0;
    uint32_t min = 0;
    uint32_t code = 0;
    if (lead < 0x80) {
      out += static_cast<char>(lead);
      ++i;
      continue;
    }
    if ((lead & 0xe0) == 0xc0) {
      length = 2, min = 0x80, code = lead & 0x1f;
    } else if ((lead & 0xf0) == 0xe0) {
      length = 3, min = 0x800, code = lead & 0x0f;
    } else if ((lead & 0xf8) == 0xf0) {
      length = 4, min = 0x10000, code = lead & 0x07;
    }
    bool ok = length != 0 && i + length <= text.size();
    for (size_t k = 1; ok && k < length; ++k) {
      const auto c = static_cast<unsigned char>(text[i + k]);
      ok = (c & 0xc0) == 0x80;
      code = (code << 6) | (c & 0x3f);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    ok = ok && code >= min && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff);
    if (ok) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out += "\xef\xbf\xbd";  // U+FFFD, for this one byte; resync on the next
      ++i;
    }
  }
  return out;
}

std::string printable(std::string_view text) {
  const std::string utf8 = valid_utf8(text);
  std::string out;
  out.reserve(utf8.size());
  char buffer[8];
  for (size_t i = 0; i < utf8.size(); ++i) {
    const auto c = static_cast<unsigned char>(utf8[i]);
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      std::snprintf(buffer, sizeof(buffer), "\\x%02x", c);
      out += buffer;
    } else if (c == 0xc2 && i + 1 < utf8.size() &&
               static_cast<unsigned char>(utf8[i + 1]) <= 0x9f) {
      // U+0080..U+009F (C1 controls; 0xc2 0x80..0x9f after valid_utf8)
      std::snprintf(buffer, sizeof(buffer), "\\u%04x", static_cast<unsigned char>(utf8[i + 1]));
      out += buffer;
      ++i;
    } else if (c == 0xe2 && i + 2 < utf8.size() && utf8[i + 1] == '\x80' &&
               (utf8[i + 2] == '\xa8' || utf8[i + 2] == '\xa9')) {
      out += utf8[i + 2] == '\xa8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string short_hash(std::string_view text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  std::string out = "sha256 ";
  char hex[3];
  for (int i = 0; i < 8; ++i) {
    std::snprintf(hex, sizeof(hex), "%02x", digest[i]);
    out += hex;
  }
  return out;
}

std::string bounded(std::string_view text, size_t limit) {
  // printable() never shrinks its input (U+FFFD is 3 bytes, an escape at
  // least 2), so a raw text over the limit cannot fit: no need to escape it.
  if (text.size() <= limit) {
    std::string p = printable(text);
    if (p.size() <= limit) return p;
  }
  return "<" + std::to_string(text.size()) + " bytes, " + short_hash(text) + ">";
}

std::string truncated(std::string_view text, size_t limit) {
  std::string p = text.size() <= limit ? printable(text) : std::string();
  if (text.size() <= limit && p.size() <= limit) return p;
  const std::string tail =
      " ... (" + std::to_string(text.size()) + " bytes in all, " + short_hash(text) + ")";
  if (tail.size() >= limit) return tail.substr(0, limit);
  // Only the head is escaped: the part kept is at most `limit` bytes, and
  // escaping at most quadruples a byte.
  p = printable(text.substr(0, limit));
  size_t keep = std::min(p.size(), limit - tail.size());
  // Back to the start of a UTF-8 character, so that the cut leaves no
  // half a character behind.
  while (keep > 0 && keep < p.size() && (static_cast<unsigned char>(p[keep]) & 0xc0) == 0x80) {
    --keep;
  }
  return p.substr(0, keep) + tail;
}

}  // namespace sluice::control
