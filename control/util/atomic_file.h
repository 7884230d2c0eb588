// SPDX-License-Identifier: Apache-2.0
// Replacing a small file so that readers and a crash see the old content
// or the new, never half: sluiced's stats file (daemon/stats_report.h) and
// the record of addresses moved onto the DPDK exception TAP
// (host/exception_tap.h). (state.json has its own, stricter save that also
// syncs the directory: state/file_state_store.cc.)
#pragma once

#include <string>

namespace sluice::control {

// Writes `content` to a temporary file beside `path`, fsyncs it, then
// renames it over `path`: readers see the old or the new file, never half.
// On failure the temporary file is removed and *error names the file.
bool write_file_atomically(const std::string& path, const std::string& content,
                           std::string* error);

}  // namespace sluice::control
