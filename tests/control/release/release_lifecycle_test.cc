// SPDX-License-Identifier: Apache-2.0
// Tests of control/release/release_lifecycle.h: every (phase, action)
// pair against the table the issue gives, so that a transition added or
// lost by mistake fails here.
#include "control/release/release_lifecycle.h"

#include <gtest/gtest.h>

#include <map>
#include <utility>

namespace sluice::control::release {
namespace {

using P = ReleasePhase;
using A = ReleaseAction;

constexpr P kPhases[] = {P::kDraft,     P::kActive,     P::kPaused,
                         P::kCompleted, P::kRolledBack, P::kAborted};
constexpr A kActions[] = {A::kStart, A::kPause,  A::kResume,        A::kPromote,
                          A::kAnalysisFailed, A::kAbort, A::kManualOverride};

// The allowed transitions; every other pair is refused.
const std::map<std::pair<P, A>, P>& allowed() {
  static const std::map<std::pair<P, A>, P> table = {
      {{P::kDraft, A::kStart}, P::kActive},
      {{P::kDraft, A::kAbort}, P::kAborted},
      {{P::kDraft, A::kManualOverride}, P::kDraft},
      {{P::kActive, A::kPause}, P::kPaused},
      {{P::kActive, A::kPromote}, P::kCompleted},
      {{P::kActive, A::kAnalysisFailed}, P::kRolledBack},
      {{P::kActive, A::kAbort}, P::kAborted},
      {{P::kActive, A::kManualOverride}, P::kPaused},
      {{P::kPaused, A::kResume}, P::kActive},
      {{P::kPaused, A::kPromote}, P::kCompleted},
      {{P::kPaused, A::kAbort}, P::kAborted},
      {{P::kPaused, A::kManualOverride}, P::kPaused},
  };
  return table;
}

TEST(ReleaseLifecycleTest, EveryPairFollowsTheTable) {
  int refused = 0;
  for (P from : kPhases) {
    for (A action : kActions) {
      const Transition t = transition(from, action);
      const auto it = allowed().find({from, action});
      if (it == allowed().end()) {
        EXPECT_FALSE(t.to.has_value()) << phase_name(from) << " + " << action_name(action);
        EXPECT_NE(t.refusal.find(std::string("cannot ") + action_name(action) + " a " +
                                 phase_name(from) + " release: "),
                  std::string::npos)
            << t.refusal;
        ++refused;
      } else {
        ASSERT_TRUE(t.to.has_value()) << phase_name(from) << " + " << action_name(action)
                                      << ": " << t.refusal;
        EXPECT_EQ(*t.to, it->second) << phase_name(from) << " + " << action_name(action);
        EXPECT_TRUE(t.refusal.empty());
      }
    }
  }
  EXPECT_EQ(refused, 6 * 7 - static_cast<int>(allowed().size()));
}

// Final phases take nothing, and say why.
TEST(ReleaseLifecycleTest, FinalPhasesEndIt) {
  for (P p : {P::kCompleted, P::kRolledBack, P::kAborted}) {
    EXPECT_TRUE(is_final(p));
    const Transition t = transition(p, A::kResume);
    EXPECT_FALSE(t.to.has_value());
    EXPECT_NE(t.refusal.find("it has ended; start a new release"), std::string::npos);
  }
  for (P p : {P::kDraft, P::kActive, P::kPaused}) EXPECT_FALSE(is_final(p));
}

// The refusals an operator meets most, worded for them.
TEST(ReleaseLifecycleTest, RefusalsSayWhy) {
  EXPECT_EQ(transition(P::kDraft, A::kPromote).refusal,
            "cannot promote a DRAFT release: start it first");
  EXPECT_EQ(transition(P::kPaused, A::kPause).refusal,
            "cannot pause a PAUSED release: it is paused already");
  EXPECT_EQ(transition(P::kPaused, A::kAnalysisFailed).refusal,
            "cannot roll back a PAUSED release: its analysis is not running");
  EXPECT_STREQ(phase_name(P::kRolledBack), "ROLLED_BACK");
}

}  // namespace
}  // namespace sluice::control::release
