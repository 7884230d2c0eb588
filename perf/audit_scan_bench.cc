// SPDX-License-Identifier: Apache-2.0
// What the start-up check of the state against the audit log costs
// (control/state/audit_revision.h): writes an audit log of N records in
// the writer's own line format, then times one scan of it.
//
//   audit_scan_bench [LINES [PATH]]     (default 1000000 lines, a temp file)
//
// The file is removed afterwards. Peak memory: run it under
// /usr/bin/time -v (the scan reads 64 KiB blocks whatever the file's size).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "control/state/audit_revision.h"
#include "control/state/file_audit_log.h"

int main(int argc, char** argv) {
  using namespace sluice::control;
  const long lines = argc > 1 ? std::atol(argv[1]) : 1000000;
  const std::string path =
      argc > 2 ? argv[2] : "/tmp/sluice-audit-scan-bench-" + std::to_string(::getpid()) + ".log";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    AuditRecord r;
    r.peer = "unix:uid=0";
    r.method = "SetWeights";
    r.service = "web";
    r.accepted = true;
    r.summary = "weights stable=90 canary=10 -> stable=50 canary=50";
    for (long i = 0; i < lines; ++i) {
      r.revision_before = static_cast<uint64_t>(i);
      r.revision_after = static_cast<uint64_t>(i) + 1;
      out << audit_line(r, 1714566896789);
    }
  }
  const auto start = std::chrono::steady_clock::now();
  const AuditRevisionScan scan = scan_audit_revision(path);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const long bytes = static_cast<long>(std::ifstream(path, std::ios::ate | std::ios::binary).tellg());
  ::unlink(path.c_str());
  if (!scan.error.empty() || scan.highest != static_cast<uint64_t>(lines)) {
    std::fprintf(stderr, "scan failed: %s (highest %llu)\n", scan.error.c_str(),
                 static_cast<unsigned long long>(scan.highest));
    return 1;
  }
  std::printf("%llu lines, %.1f MB: %.3f s (%.0f MB/s, %.0f ns per line)\n",
              static_cast<unsigned long long>(scan.lines), bytes / 1e6, seconds,
              bytes / 1e6 / seconds, seconds * 1e9 / static_cast<double>(scan.lines));
  return 0;
}
