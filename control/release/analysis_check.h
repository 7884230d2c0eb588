// SPDX-License-Identifier: Apache-2.0
// One analysis check of a release (issue 12) judged on one interval, and
// the count of failed checks that triggers a rollback. Pure: the release
// engine gathers the values (sluiced's own signals, PromQL, webhooks) and
// keeps the results; this decides pass, fail or no data.
//
// A check bounds a value of the target pool from below (connect success
// ratio, healthy backends) or above (failures per second, handshake p99,
// reset ratio, ejections). Relative to the baseline, it bounds the
// difference target - baseline measured over the same window instead, so
// an outage of everything fails neither pool's comparison while a bad
// canary is caught even under loose absolute limits (Kayenta's idea, at
// L4). "No data" (too few new flows in the window, a query with no
// result) is never a pass: it holds the release, and fails it after
// `no_data_limit` intervals in a row when that is set.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace sluice::control::release {

enum class Bound : uint8_t { kMin, kMax };
enum class Verdict : uint8_t { kPass, kFail, kNoData };

const char* verdict_name(Verdict v);  // "pass", "fail", "no-data"

struct CheckSpec {
  std::string name;                // "connect_success_ratio", ...
  Bound bound = Bound::kMax;
  double threshold = 0;            // the limit on the value, or on target - baseline
  bool relative_to_baseline = false;
  uint32_t no_data_limit = 0;      // 0: no data holds for ever; N: the Nth in a row fails
};

// An interval's measurement; nullopt: no data for that pool.
struct CheckSample {
  std::optional<double> target;
  std::optional<double> baseline;
};

struct CheckResult {
  Verdict verdict = Verdict::kNoData;
  double value = 0;   // what was compared: the target's value or target - baseline
  std::string why;    // "0.91 below the minimum 0.99", for the monitor table
};

CheckResult judge(const CheckSpec& spec, const CheckSample& sample);

// Flagger's threshold: how many failed checks roll the release back,
// counting consecutive failures (a pass resets the count) or every
// failure since the release started. No data counts as a failure only
// once no_data_limit says so (judge_with_history).
struct FailureThreshold {
  uint32_t failures = 1;   // rollback at this many
  bool consecutive = true;
};

class FailureCounter {
 public:
  explicit FailureCounter(FailureThreshold t) : threshold_(t) {}
  // Takes one interval's verdict of one check (after no-data handling);
  // true when the release must roll back.
  bool add(Verdict v);
  uint32_t count() const { return count_; }

 private:
  FailureThreshold threshold_;
  uint32_t count_ = 0;
};

// judge() with the check's run of no-data intervals: `*no_data_run` is
// the number in a row before this one, updated. A run reaching
// spec.no_data_limit turns the no-data into a failure.
CheckResult judge_with_history(const CheckSpec& spec, const CheckSample& sample,
                               uint32_t* no_data_run);

}  // namespace sluice::control::release
