// SPDX-License-Identifier: Apache-2.0
#include "control/state/state_integrity.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sluice::control {
namespace {

using ::testing::HasSubstr;
using Action = StartDecision::Action;

StartEvidence evidence(bool exists, uint64_t state, uint64_t audit, uint64_t dataplane) {
  StartEvidence e;
  e.state_exists = exists;
  e.state_revision = state;
  e.audit_revision = audit;
  e.dataplane_revision = dataplane;
  e.state_path = "/var/lib/sluice/state.json";
  e.audit_path = "/var/lib/sluice/audit.log";
  e.dataplane = "the adopted XDP maps in /sys/fs/bpf/sluice/eth0";
  return e;
}

// The usual starts: a fresh directory, and a state as new as its witnesses.
TEST(StateIntegrityTest, ConsistentStateStarts) {
  for (const StartEvidence& e : {evidence(false, 0, 0, 0), evidence(true, 7, 7, 7),
                                 evidence(true, 7, 7, 0), evidence(true, 7, 0, 7),
                                 evidence(true, 7, 6, 5)}) {
    const StartDecision d = decide_start(e, StateRecovery::kNone);
    EXPECT_EQ(d.action, Action::kStart) << e.state_revision << " " << e.audit_revision << " "
                                        << e.dataplane_revision << ": " << d.message;
  }
}

// A state ahead of the audit log starts, with a warning (rotated log, or a
// crash between saving and auditing); ahead of the dataplane, silently.
TEST(StateIntegrityTest, StateFromTheFutureWarns) {
  StartDecision d = decide_start(evidence(true, 9, 4, 0), StateRecovery::kNone);
  EXPECT_EQ(d.action, Action::kStart);
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_THAT(d.warnings[0], HasSubstr("/var/lib/sluice/state.json is at revision 9 but the audit "
                                       "log /var/lib/sluice/audit.log shows only revision 4"));
  d = decide_start(evidence(true, 9, 9, 3), StateRecovery::kNone);
  EXPECT_EQ(d.action, Action::kStart);
  EXPECT_TRUE(d.warnings.empty());
}

// The case: state.json gone, the audit log at 190. Refused, naming
// both revisions, both files and both ways out.
TEST(StateIntegrityTest, MissingStateIsRefused) {
  const StartDecision d = decide_start(evidence(false, 0, 190, 0), StateRecovery::kNone);
  EXPECT_EQ(d.action, Action::kRefuse);
  EXPECT_EQ(d.message,
            "/var/lib/sluice/state.json is missing (revision 0, no services), older than revision "
            "190 accepted in the audit log /var/lib/sluice/audit.log: the state was rolled back or "
            "lost, and starting from it would publish an older configuration over the one that "
            "was running and reuse revision numbers. Put the newest state.json back, or restart "
            "with --accept-state-rollback to run this state anyway (as revision 191), or with "
            "--reset-state to start with no services (as revision 191)");
  // Missing, with only the dataplane to say so.
  EXPECT_EQ(decide_start(evidence(false, 0, 0, 31), StateRecovery::kNone).action, Action::kRefuse);
}

// An older copy put back: refused by either witness, both named when both
// saw more.
TEST(StateIntegrityTest, RolledBackStateIsRefused) {
  StartDecision d = decide_start(evidence(true, 3, 5, 0), StateRecovery::kNone);
  EXPECT_EQ(d.action, Action::kRefuse);
  EXPECT_THAT(d.message, HasSubstr("/var/lib/sluice/state.json is at revision 3, older than "
                                   "revision 5 accepted in the audit log /var/lib/sluice/audit.log:"));
  d = decide_start(evidence(true, 3, 0, 4), StateRecovery::kNone);
  EXPECT_EQ(d.action, Action::kRefuse);
  EXPECT_THAT(d.message, HasSubstr("older than revision 4 forwarding in the adopted XDP maps in "
                                   "/sys/fs/bpf/sluice/eth0:"));
  EXPECT_THAT(d.message, HasSubstr("(as revision 5)"));
  d = decide_start(evidence(true, 3, 5, 8), StateRecovery::kNone);
  EXPECT_EQ(d.action, Action::kRefuse);
  EXPECT_THAT(d.message, HasSubstr("older than revision 5 accepted in the audit log "
                                   "/var/lib/sluice/audit.log and revision 8 forwarding in the "
                                   "adopted XDP maps"));
  EXPECT_THAT(d.message, HasSubstr("(as revision 9)"));
  // One revision behind is behind.
  EXPECT_EQ(decide_start(evidence(true, 4, 5, 0), StateRecovery::kNone).action, Action::kRefuse);
}

// --accept-state-rollback: the older state, renumbered above everything
// seen, so no revision number is used twice.
TEST(StateIntegrityTest, AcceptRollbackRenumbers) {
  StartDecision d = decide_start(evidence(true, 3, 5, 8), StateRecovery::kAcceptRollback);
  EXPECT_EQ(d.action, Action::kRebase);
  EXPECT_EQ(d.revision, 9u);
  EXPECT_FALSE(d.empty);
  EXPECT_THAT(d.message, HasSubstr("--accept-state-rollback: /var/lib/sluice/state.json is at "
                                   "revision 3, older than revision 5 accepted"));
  d = decide_start(evidence(false, 0, 190, 0), StateRecovery::kAcceptRollback);
  EXPECT_EQ(d.action, Action::kRebase);
  EXPECT_EQ(d.revision, 191u);
  // Nothing rolled back: an ordinary start, and a word that the flag did nothing.
  d = decide_start(evidence(true, 5, 5, 0), StateRecovery::kAcceptRollback);
  EXPECT_EQ(d.action, Action::kStart);
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_THAT(d.warnings[0], HasSubstr("--accept-state-rollback has nothing to accept"));
}

// --reset-state: always empty, always above the highest revision anywhere
// (the state's own included when it is the newest).
TEST(StateIntegrityTest, ResetStartsEmptyAboveEverything) {
  struct Case {
    StartEvidence e;
    uint64_t revision;
  };
  for (const Case& c : {Case{evidence(false, 0, 0, 0), 1}, Case{evidence(true, 3, 5, 8), 9},
                        Case{evidence(true, 12, 5, 8), 13}, Case{evidence(false, 0, 190, 0), 191},
                        Case{evidence(true, 7, 7, 7), 8}}) {
    const StartDecision d = decide_start(c.e, StateRecovery::kReset);
    EXPECT_EQ(d.action, Action::kRebase);
    EXPECT_TRUE(d.empty);
    EXPECT_EQ(d.revision, c.revision) << c.e.state_revision;
    EXPECT_THAT(d.message, HasSubstr("--reset-state: starting with no services at revision " +
                                     std::to_string(c.revision)));
  }
  EXPECT_STREQ(recovery_method(StateRecovery::kReset), "StartResetState");
  EXPECT_STREQ(recovery_method(StateRecovery::kAcceptRollback), "StartAcceptStateRollback");
}

}  // namespace
}  // namespace sluice::control
