// SPDX-License-Identifier: Apache-2.0
// AuditLog as a file of JSON lines, one per record:
//   {"time":"2024-05-01T12:34:56.789Z","peer":"unix:uid=0","method":"SetWeights",
//    "service":"web","revision_before":7,"revision_after":8,"accepted":true,
//    "dry_run":false,"summary":"weights stable=90 canary=10 -> stable=50 canary=50"}
// (on one line). Times are UTC, RFC 3339 with milliseconds.
//
// Each line goes out in a single write() on a file opened O_APPEND. A line
// of an accepted change (dry runs included) is then fdatasync()ed, and
// record() returns true only after both: the core acknowledges a change
// only after its line is on disk (the cost, measured: README "Audit log").
// Refusals are written but not synced: losing the last refusals in a
// power cut is acceptable, letting a refused caller buy a disk flush per
// call is not. A process killed
// between records leaves only whole lines. Linux can stop a write() to a
// regular file between two pages when the process gets SIGKILL, so a kill
// in the middle of one can leave a torn last line, as can a kernel crash or
// power loss (the size may reach the disk before all of the data). The next
// record then starts with a '\n' of its own, so the fragment stays alone on
// its line and every later record parses: readers skip lines that do not.
// A short write (disk full) is cut back off the file before record()
// reports it, so a refused record leaves no fragment.
//
// The file is opened for each record and closed after it: rotation by
// renaming the file (logrotate without copytruncate) needs no signal, the
// next record simply creates a new file.
//
// What a line holds is bounded (audit_text.h): peer, method and service
// at most kMaxAuditField (256) printable bytes each, else recorded as
// "<SIZE bytes, sha256 HASH>", never raw; the summary at most
// kMaxAuditSummary (1024), its head kept and the rest replaced by size and
// hash; a whole line at most kMaxAuditLine (4096). Control characters are
// escaped (printable()) and bytes that are not valid UTF-8 (a peer name
// from a certificate can hold anything) become U+FFFD, so every line stays
// one line of valid JSON.
//
// Refusal lines are rate-limited per peer (refusal_limiter.h: the key is
// AuditRecord::peer_key, else the peer); those held back are counted and
// summarised in one line per peer and interval:
//   {"peer":"tls:CN=viewer (read-only)","method":"(suppressed refusals)",...,
//    "summary":"suppressed 9800 refusal lines from tls:CN=viewer (read-only) in 60 s"}
// Accepted changes are always written.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "control/state/refusal_limiter.h"
#include "control/state/state_store.h"

namespace sluice::control {

// The method of the line that summarises suppressed refusals.
inline constexpr char kSuppressedMethod[] = "(suppressed refusals)";

struct AuditLogOptions {
  RefusalLimits refusals;
  // Wrapping milliseconds of a monotonic clock, for the rate limit; the
  // default is CLOCK_MONOTONIC. Tests pass their own.
  std::function<uint32_t()> clock_ms;
  // Flushes a line's data to disk; the default is fdatasync(2). Tests
  // count the calls.
  std::function<int(int)> sync_fd;
};

// The log at `path` (created with mode 0640 on the first record; its
// directory must exist). Safe to call record() from several threads.
// Pending summaries of suppressed refusals are written when it is destroyed.
std::unique_ptr<AuditLog> make_file_audit_log(const std::string& path,
                                              AuditLogOptions options = {});

// The JSON line for `record` at `unix_ms` (milliseconds since the epoch),
// ending in '\n'. Exposed for tests.
std::string audit_line(const AuditRecord& record, int64_t unix_ms);

}  // namespace sluice::control
