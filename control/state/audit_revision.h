// SPDX-License-Identifier: Apache-2.0
// The highest revision the audit log shows accepted: one of the witnesses
// sluiced compares the saved state with at start (state_integrity.h), so
// that a lost or rolled-back state.json is noticed instead of reusing
// revision numbers.
//
// What this relies on in the audit log's format (file_audit_log.h), and
// nothing more: one JSON object per line; at its top level the keys
// "revision_after" (a non-negative integer), "accepted" and "dry_run"
// (true/false), in any order, among any other keys. An accepted change
// that is not a dry run brought the state to its revision_after. Refused
// calls and dry runs carry the revision they saw and are not counted;
// health records (accepted, the revision in force) are, and can never be
// above what a change reached.
//
// Tolerant: a line that is not a whole object with those keys (the torn
// last line of a killed writer, a fragment left alone on its line, text
// that is not JSON) is skipped and counted, never an error. A missing file
// is an empty log. Bounded memory: the file is read in 64 KiB blocks and
// each line is scanned as it streams by, keeping only the few bytes of the
// key and value being read, so a line of any length (a 4 MiB service name)
// costs nothing but the time to read it. Only the current file is read:
// rotated copies (audit.log.1, ...) are not looked for.
#pragma once

#include <cstdint>
#include <string>

namespace sluice::control {

struct AuditRevisionScan {
  bool found = false;        // the file exists (and is a regular file)
  uint64_t highest = 0;      // highest revision_after of an accepted, non-dry-run line; 0: none
  uint64_t lines = 0;        // lines read (a last line without '\n' included)
  uint64_t skipped = 0;      // of which not a whole record (torn, not JSON, a key missing)
  std::string error;         // non-empty: the file could not be read (what and where)
};

// Scans the audit log at `path` (file_audit_log.h's format).
AuditRevisionScan scan_audit_revision(const std::string& path);

// The same over text already in memory (for tests; the file reader feeds
// the same scanner block by block).
AuditRevisionScan scan_audit_revision_text(const std::string& text);

}  // namespace sluice::control
