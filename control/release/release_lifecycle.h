// SPDX-License-Identifier: Apache-2.0
// The lifecycle of a release (issue 12), as explicit phases and the
// actions that move between them, in the manner of Flagger's canary
// phases and a configuration centre's gray-release plans:
//
//   DRAFT --start--> ACTIVE <--pause/resume--> PAUSED
//   ACTIVE|PAUSED --promote / last step passed--> COMPLETED
//   ACTIVE --analysis failed (the check named)--> ROLLED_BACK
//   DRAFT|ACTIVE|PAUSED --abort (an operator)--> ABORTED
//   ACTIVE --a forced manual SetWeights on its service--> PAUSED
//
// COMPLETED, ROLLED_BACK and ABORTED are final. A pure table: no clock,
// no dataplane; the release engine that drives it (steps, analysis,
// publication) sits on top and is still to come.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace sluice::control::release {

enum class ReleasePhase : uint8_t { kDraft, kActive, kPaused, kCompleted, kRolledBack, kAborted };

enum class ReleaseAction : uint8_t {
  kStart,           // an operator starts a draft
  kPause,           // an operator pauses
  kResume,          // an operator resumes a paused release
  kPromote,         // an operator promotes, or the last step passed its analysis
  kAnalysisFailed,  // the analysis hit its failure threshold: automatic rollback
  kAbort,           // an operator aborts: back to the baseline
  kManualOverride,  // a forced SetWeights on the release's service
};

const char* phase_name(ReleasePhase phase);    // "DRAFT", "ACTIVE", ...
const char* action_name(ReleaseAction action);  // "start", "pause", ...

// Final phases take no action.
bool is_final(ReleasePhase phase);

struct Transition {
  std::optional<ReleasePhase> to;  // nullopt: refused
  std::string refusal;             // why, for the API's FAILED_PRECONDITION
};

// Where `action` takes a release in `from`, or why it cannot.
Transition transition(ReleasePhase from, ReleaseAction action);

}  // namespace sluice::control::release
