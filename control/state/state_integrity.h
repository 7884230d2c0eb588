// SPDX-License-Identifier: Apache-2.0
// Whether sluiced may start from the state it finds (control-plane mode).
//
// A revision number names one configuration for good: clients compare and
// set against it, events and the audit log quote it, and the XDP maps
// forward with it. Two witnesses outlive state.json and say how far the
// revisions already went: the audit log (its highest accepted revision,
// audit_revision.h) and an adopted dataplane (the revision the XDP maps
// pinned by the previous sluiced forward with; DPDK adopts no
// configuration and shows 0). A state.json older than either was rolled
// back (an old copy restored) or lost (missing: it reads as revision 0);
// starting from it would publish an older or empty configuration over what
// forwards and hand out revision numbers a second time. So the start is
// refused, with both ways out named:
//   --accept-state-rollback  run the older state anyway, renumbered above
//                            the highest revision seen;
//   --reset-state            start with no services, above the highest
//                            revision seen.
// Either is audited. A state.json newer than the audit log is accepted with
// a warning: the log may have been rotated or lost, and a crash between
// saving a change and auditing it leaves exactly that.
//
// decide_start is pure: the files are read by the caller, so that every
// combination is tested without a daemon.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::control {

// What the operator asked for on the command line.
enum class StateRecovery { kNone, kAcceptRollback, kReset };

struct StartEvidence {
  bool state_exists = false;       // state.json was there (a missing one reads as revision 0)
  uint64_t state_revision = 0;
  uint64_t audit_revision = 0;     // highest accepted in the audit log; 0: none
  uint64_t dataplane_revision = 0; // what an adopted dataplane forwards with; 0: none
  // For the messages: the files and the dataplane, as an operator finds them.
  std::string state_path;          // ".../state.json"
  std::string audit_path;
  std::string dataplane;           // "the adopted XDP maps in /sys/fs/bpf/sluice/eth0"
};

struct StartDecision {
  enum class Action {
    kStart,   // start from the saved state as it is
    kRefuse,  // refuse to start: `message` says why and what to do
    kRebase,  // start from `empty ? no services : the saved state` at `revision`
  };
  Action action = Action::kStart;
  uint64_t revision = 0;  // kRebase: the revision to save and start at
  bool empty = false;     // kRebase: without any service (--reset-state)
  // kRefuse: the error. kRebase: what was decided and why (logged and
  // audited).
  std::string message;
  std::vector<std::string> warnings;  // logged, never fatal
};

StartDecision decide_start(const StartEvidence& evidence, StateRecovery recovery);

// The audit record's method for a rebase ("StartAcceptStateRollback",
// "StartResetState").
const char* recovery_method(StateRecovery recovery);

}  // namespace sluice::control
