// SPDX-License-Identifier: Apache-2.0
// sluiced's start-up check of its saved state against the audit log and
// the adopted dataplane (control/state/state_integrity.h says what and why),
// and the two ways past a refusal, --accept-state-rollback and
// --reset-state. Control-plane mode only.
//
// In two steps, so that what can be refused is refused before the NIC is
// touched: before_open() compares the state with the audit log; after_open()
// adds the revision the dataplane adopted (known only once the XDP maps are
// opened), and carries out a rebase: the decision is audited first, then the
// state is saved at its new revision, so ControlCoreImpl::start() loads and
// publishes it as any saved state. A refusal after open() leaves an adopted
// program forwarding with what it had: nothing has been published.
#pragma once

#include <string>
#include <vector>

#include "control/daemon/daemon_options.h"
#include "control/state/state_integrity.h"
#include "control/state/state_store.h"

namespace sluice::control {

class StateCheck {
 public:
  // `saved`: what the store loaded (a missing state.json loads as revision 0).
  StateCheck(const DaemonOptions& options, const DesiredState& saved);

  // Reads the audit log and decides without the dataplane. False (logged)
  // when the start must be refused.
  bool before_open();

  // Decides with the dataplane's adopted revision (0: none) and, for a
  // rebase, audits it and saves the rebased state. On true, *services is
  // what the daemon starts with. False (logged): refuse.
  bool after_open(uint64_t adopted_revision, const std::string& adopted_description,
                  StateStore& store, AuditLog& audit, std::vector<engine::ServiceConfig>* services);

 private:
  StateRecovery recovery() const;
  bool rebase(const StartDecision& d, StateStore& store, AuditLog& audit,
              std::vector<engine::ServiceConfig>* services);

  const DaemonOptions& options_;
  const DesiredState& saved_;
  StartEvidence evidence_;
};

}  // namespace sluice::control
