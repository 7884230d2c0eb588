// SPDX-License-Identifier: Apache-2.0
#include "control/daemon/state_check.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <spdlog/spdlog.h>

#include "control/state/audit_revision.h"
#include "control/state/file_state_store.h"

namespace sluice::control {

StateCheck::StateCheck(const DaemonOptions& options, const DesiredState& saved)
    : options_(options), saved_(saved) {
  evidence_.state_path = options_.state_dir + "/" + kStateFileName;
  evidence_.audit_path = options_.audit_log_path;
  // The store loads a missing file as revision 0; the message must tell
  // "missing" from "at revision 0".
  struct stat st {};
  evidence_.state_exists = ::stat(evidence_.state_path.c_str(), &st) == 0;
  evidence_.state_revision = saved_.revision;
}

StateRecovery StateCheck::recovery() const {
  if (options_.reset_state) return StateRecovery::kReset;
  if (options_.accept_state_rollback) return StateRecovery::kAcceptRollback;
  return StateRecovery::kNone;
}

bool StateCheck::before_open() {
  const AuditRevisionScan scan = scan_audit_revision(options_.audit_log_path);
  if (!scan.error.empty()) {
    // Unreadable, it cannot vouch for the state; and sluiced could not
    // append to it either.
    spdlog::error("refusing to start: cannot check the state against the audit log: {}",
                  scan.error);
    return false;
  }
  evidence_.audit_revision = scan.highest;
  if (scan.skipped > 0) {
    spdlog::warn("audit log {}: {} of {} line(s) are not whole records (a torn last line is "
                 "normal after a crash); skipped",
                 options_.audit_log_path, scan.skipped, scan.lines);
  }
  spdlog::info("audit log {}: highest accepted revision {}", options_.audit_log_path,
               scan.highest);
  const StartDecision d = decide_start(evidence_, recovery());
  if (d.action == StartDecision::Action::kRefuse) {
    spdlog::error("refusing to start: {}", d.message);
    return false;
  }
  return true;  // warnings and rebases wait for the dataplane's word
}

bool StateCheck::after_open(uint64_t adopted_revision, const std::string& adopted_description,
                            StateStore& store, AuditLog& audit,
                            std::vector<engine::ServiceConfig>* services) {
  evidence_.dataplane_revision = adopted_revision;
  evidence_.dataplane = adopted_description;
  const StartDecision d = decide_start(evidence_, recovery());
  for (const std::string& w : d.warnings) spdlog::warn("{}", w);
  switch (d.action) {
    case StartDecision::Action::kRefuse:
      spdlog::error("refusing to start: {}", d.message);
      if (adopted_revision > 0) {
        spdlog::info("nothing was published: revision {} goes on forwarding in {}",
                     adopted_revision, adopted_description);
      }
      return false;
    case StartDecision::Action::kStart:
      *services = saved_.services;
      return true;
    case StartDecision::Action::kRebase:
      return rebase(d, store, audit, services);
  }
  return false;
}

bool StateCheck::rebase(const StartDecision& d, StateStore& store, AuditLog& audit,
                        std::vector<engine::ServiceConfig>* services) {
  // Audited before anything changes: if the record cannot be written the
  // start is refused with the state untouched; if the save below fails
  // after it, the log merely shows a revision the state never reached, and
  // the next start refuses until the operator decides again (a higher one).
  AuditRecord r;
  r.peer = "sluiced start, uid=" + std::to_string(::getuid());
  r.method = recovery_method(recovery());
  r.revision_before = saved_.revision;
  r.revision_after = d.revision;
  r.accepted = true;
  r.summary = d.message;
  std::string error;
  if (!audit.record(r, &error)) {
    spdlog::error("refusing to start: cannot audit {}: {}", r.method, error);
    return false;
  }
  // --reset-state keeps what it replaces, for the operator to look at.
  if (d.empty && evidence_.state_exists) {
    const std::string kept =
        evidence_.state_path + ".before-reset-" + std::to_string(saved_.revision);
    if (std::rename(evidence_.state_path.c_str(), kept.c_str()) != 0) {
      const int e = errno;
      spdlog::error("refusing to start: --reset-state cannot move {} to {}: {}",
                    evidence_.state_path, kept, std::strerror(e));
      return false;
    }
    spdlog::info("--reset-state: the previous state is kept as {}", kept);
  }
  DesiredState next;
  next.revision = d.revision;
  if (!d.empty) next.services = saved_.services;
  if (!store.save(next, &error)) {
    spdlog::error("refusing to start: {}: {}", r.method, error);
    return false;
  }
  spdlog::warn("{}", d.message);
  *services = next.services;
  return true;
}

}  // namespace sluice::control
