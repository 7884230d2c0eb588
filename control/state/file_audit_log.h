// SPDX-License-Identifier: Apache-2.0
// AuditLog as a file of JSON lines, one per record:
//   {"time":"2024-05-01T12:34:56.789Z","peer":"unix:uid=0","method":"SetWeights",
//    "service":"web","revision_before":7,"revision_after":8,"accepted":true,
//    "dry_run":false,"summary":"weights stable=90 canary=10 -> stable=50 canary=50"}
// (on one line). Times are UTC, RFC 3339 with milliseconds.
//
// Each line goes out in a single write() on a file opened O_APPEND, then
// fdatasync(), and record() returns true only after both. A process killed
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
// Strings are escaped for JSON; bytes that are not valid UTF-8 (a peer name
// from a certificate can hold anything) become U+FFFD, so every line stays
// valid JSON.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "control/state/state_store.h"

namespace sluice::control {

// The log at `path` (created with mode 0640 on the first record; its
// directory must exist). Safe to call record() from several threads.
std::unique_ptr<AuditLog> make_file_audit_log(const std::string& path);

// The JSON line for `record` at `unix_ms` (milliseconds since the epoch),
// ending in '\n'. Exposed for tests.
std::string audit_line(const AuditRecord& record, int64_t unix_ms);

}  // namespace sluice::control
