// SPDX-License-Identifier: Apache-2.0
// Client text made safe to write down: what a caller sends (a name, an
// address, a certificate subject) can reach audit lines, spdlog lines and
// gRPC error messages, so it must never carry a NUL, a newline or another
// control character raw (a forged second log line, a terminal escape), and
// must never be copied whole when it is large (a 4 MB name would cost
// 4 MB of log per refused call).
//
//   printable("a\nb")            a\nb     (a backslash and an 'n')
//   printable("\x1b[2J")         \x1b[2J
//   bounded(name, 256)           the printable form when it fits in 256
//                                bytes, else "<4194304 bytes, sha256 1f2e…>"
//                                (16 hex digits: enough to tell two
//                                payloads apart in an investigation)
//
// Escapes: \\ for a backslash (so that an escape cannot be forged),
// \n \r \t, \xNN for the other C0 bytes and DEL, \u0080..\u009f for C1
// controls, \u2028 and \u2029 (line breaks to some log viewers). Bytes that
// are not well-formed UTF-8 become U+FFFD. The result is plain printable
// UTF-8 that a JSON writer, a terminal or a log shipper takes as one line.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sluice::control {

// Limits of what one audit line records (file_audit_log.h), and of client
// text echoed in error messages and logs.
inline constexpr size_t kMaxAuditField = 256;     // peer, method, service (printable bytes)
inline constexpr size_t kMaxAuditSummary = 1024;  // the summary or refusal reason
inline constexpr size_t kMaxAuditLine = 4096;     // a whole line, '\n' included

// `text` with every byte that is not part of a well-formed UTF-8 sequence
// replaced by U+FFFD.
std::string valid_utf8(std::string_view text);

// `text` escaped as above.
std::string printable(std::string_view text);

// printable(text) when that has at most `limit` bytes, else the size and
// hash of the raw text: never the text itself.
std::string bounded(std::string_view text, size_t limit);

// printable(text) cut to at most `limit` bytes (on a character boundary)
// followed by " ... (N bytes in all, sha256 H)" when it does not fit; for
// messages whose head is worth keeping (an error that names the field).
std::string truncated(std::string_view text, size_t limit);

// "sha256 " and the first 16 hex digits of the SHA-256 of `text`.
std::string short_hash(std::string_view text);

}  // namespace sluice::control
