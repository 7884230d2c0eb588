// SPDX-License-Identifier: Apache-2.0
#include "control/release/release_lifecycle.h"

namespace sluice::control::release {

const char* phase_name(ReleasePhase phase) {
  switch (phase) {
    case ReleasePhase::kDraft: return "DRAFT";
    case ReleasePhase::kActive: return "ACTIVE";
    case ReleasePhase::kPaused: return "PAUSED";
    case ReleasePhase::kCompleted: return "COMPLETED";
    case ReleasePhase::kRolledBack: return "ROLLED_BACK";
    case ReleasePhase::kAborted: return "ABORTED";
  }
  return "?";
}

const char* action_name(ReleaseAction action) {
  switch (action) {
    case ReleaseAction::kStart: return "start";
    case ReleaseAction::kPause: return "pause";
    case ReleaseAction::kResume: return "resume";
    case ReleaseAction::kPromote: return "promote";
    case ReleaseAction::kAnalysisFailed: return "roll back";  // what a failed analysis does
    case ReleaseAction::kAbort: return "abort";
    case ReleaseAction::kManualOverride: return "manual override";
  }
  return "?";
}

bool is_final(ReleasePhase phase) {
  return phase == ReleasePhase::kCompleted || phase == ReleasePhase::kRolledBack ||
         phase == ReleasePhase::kAborted;
}

Transition transition(ReleasePhase from, ReleaseAction action) {
  using P = ReleasePhase;
  using A = ReleaseAction;
  auto to = [](P p) { return Transition{p, {}}; };
  auto refuse = [&](const std::string& why) {
    return Transition{std::nullopt, std::string("cannot ") + action_name(action) + " a " +
                                        phase_name(from) + " release: " + why};
  };
  if (is_final(from)) return refuse("it has ended; start a new release");
  switch (action) {
    case A::kStart:
      return from == P::kDraft ? to(P::kActive) : refuse("it has started already");
    case A::kPause:
      return from == P::kActive ? to(P::kPaused)
                                : refuse(from == P::kPaused ? "it is paused already"
                                                            : "it has not started");
    case A::kResume:
      return from == P::kPaused ? to(P::kActive) : refuse("it is not paused");
    case A::kPromote:
      // A draft has moved no traffic: promoting it would skip every check.
      return from == P::kDraft ? refuse("start it first") : to(P::kCompleted);
    case A::kAnalysisFailed:
      // Analysis runs only while the release is active.
      return from == P::kActive ? to(P::kRolledBack) : refuse("its analysis is not running");
    case A::kAbort:
      return to(P::kAborted);
    case A::kManualOverride:
      // An operator who forces weights takes the wheel: the release stops
      // moving them until resumed. A paused release or a draft moves
      // nothing, so it stays as it is.
      return to(from == P::kActive ? P::kPaused : from);
  }
  return refuse("unknown action");
}

}  // namespace sluice::control::release
