// SPDX-License-Identifier: Apache-2.0
#include "control/state/state_integrity.h"

#include <algorithm>

namespace sluice::control {
namespace {

std::string rev(uint64_t r) { return "revision " + std::to_string(r); }

// "PATH is at revision 3" / "PATH is missing".
std::string state_text(const StartEvidence& e) {
  return e.state_exists ? e.state_path + " is at " + rev(e.state_revision)
                        : e.state_path + " is missing (revision 0, no services)";
}

// "revision 5 accepted in the audit log P and revision 4 in D", naming only
// the witnesses that saw something; both are named when both did.
std::string witnesses_text(const StartEvidence& e) {
  std::string out;
  if (e.audit_revision > 0) out = rev(e.audit_revision) + " accepted in the audit log " + e.audit_path;
  if (e.dataplane_revision > 0) {
    out += (out.empty() ? "" : " and ") + rev(e.dataplane_revision) + " forwarding in " + e.dataplane;
  }
  return out;
}

}  // namespace

const char* recovery_method(StateRecovery recovery) {
  return recovery == StateRecovery::kReset ? "StartResetState" : "StartAcceptStateRollback";
}

StartDecision decide_start(const StartEvidence& e, StateRecovery recovery) {
  StartDecision d;
  const uint64_t seen = std::max(e.audit_revision, e.dataplane_revision);
  // A missing state reads as revision 0: behind any witness that saw one.
  const bool behind = e.state_revision < seen;
  if (recovery == StateRecovery::kReset) {
    // Explicit intent: always honoured, always above every number used.
    d.action = StartDecision::Action::kRebase;
    d.empty = true;
    d.revision = std::max(seen, e.state_revision) + 1;
    d.message = "--reset-state: starting with no services at " + rev(d.revision) + " (" +
                state_text(e) + (seen > 0 ? "; " + witnesses_text(e) : "") + ")";
    return d;
  }
  if (!behind) {
    d.action = StartDecision::Action::kStart;
    if (e.state_revision > e.audit_revision) {
      d.warnings.push_back(
          state_text(e) + " but the audit log " + e.audit_path + " shows only " +
          rev(e.audit_revision) + " accepted (rotated or lost, or a crash between saving a "
          "change and auditing it): starting from the state");
    }
    if (recovery == StateRecovery::kAcceptRollback) {
      d.warnings.push_back("--accept-state-rollback has nothing to accept: " + state_text(e) +
                           ", not older than the audit log or the dataplane");
    }
    return d;
  }
  if (recovery == StateRecovery::kAcceptRollback) {
    d.action = StartDecision::Action::kRebase;
    d.empty = false;  // a missing state loads as no services anyway
    d.revision = seen + 1;
    d.message = "--accept-state-rollback: " + state_text(e) + ", older than " + witnesses_text(e) +
                "; starting from it as " + rev(d.revision) + " so that no revision number is reused";
    return d;
  }
  d.action = StartDecision::Action::kRefuse;
  d.message =
      state_text(e) + ", older than " + witnesses_text(e) +
      ": the state was rolled back or lost, and starting from it would publish an older " +
      "configuration over the one that was running and reuse revision numbers. Put the newest " +
      "state.json back, or restart with --accept-state-rollback to run this state anyway (as " +
      rev(seen + 1) + "), or with --reset-state to start with no services (as " +
      rev(seen + 1) + ")";
  return d;
}

}  // namespace sluice::control
