// SPDX-License-Identifier: Apache-2.0
// What the audit log's fdatasync costs a change: N records through
// make_file_audit_log, as accepted changes (each written and synced
// before record() returns, as the core needs before it acknowledges) and
// as refusals (written, not synced; the refusal rate limit switched off
// here), on the disk of the directory given (default: the current one).
//
//   audit_log_bench [DIR] [N]
//
// Prints, for each kind, the mean, median and 99th percentile of one
// record() in microseconds. README "Audit log" has this machine's numbers.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>
#include <vector>

#include "control/state/file_audit_log.h"

namespace {

using sluice::control::AuditRecord;

void run(const std::string& dir, int n, bool accepted) {
  const std::string path = dir + "/audit_log_bench." + std::to_string(::getpid()) + ".log";
  sluice::control::AuditLogOptions options;
  options.refusals.per_peer_rate = 0;  // 0: no limit (token_bucket.h)
  options.refusals.all_rate = 0;
  auto log = sluice::control::make_file_audit_log(path, options);
  AuditRecord r;
  r.peer = "unix:uid=0,pid=1";
  r.method = "SetWeights";
  r.service = "web";
  r.accepted = accepted;
  r.summary = "weights stable=90 canary=10 -> stable=50 canary=50";
  std::vector<double> us;
  us.reserve(static_cast<size_t>(n));
  std::string error;
  for (int i = 0; i < n; ++i) {
    r.revision_before = static_cast<uint64_t>(i);
    r.revision_after = accepted ? r.revision_before + 1 : r.revision_before;
    const auto start = std::chrono::steady_clock::now();
    if (!log->record(r, &error)) {
      std::fprintf(stderr, "%s\n", error.c_str());
      std::exit(1);
    }
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  log.reset();
  ::unlink(path.c_str());
  double sum = 0;
  for (double x : us) sum += x;
  std::sort(us.begin(), us.end());
  std::printf("%-28s n=%d mean %8.1f us  p50 %8.1f us  p99 %8.1f us\n",
              accepted ? "accepted (fdatasync)" : "refused (no sync)", n, sum / n,
              us[us.size() / 2], us[us.size() * 99 / 100]);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : ".";
  const int n = argc > 2 ? std::atoi(argv[2]) : 1000;
  if (n <= 0) {
    std::fprintf(stderr, "usage: audit_log_bench [DIR] [N > 0]\n");
    return 2;
  }
  run(dir, n, true);
  run(dir, n, false);
  return 0;
}
