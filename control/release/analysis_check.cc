// SPDX-License-Identifier: Apache-2.0
#include "control/release/analysis_check.h"

#include <cstdio>

namespace sluice::control::release {
namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

}  // namespace

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kPass: return "pass";
    case Verdict::kFail: return "fail";
    case Verdict::kNoData: return "no-data";
  }
  return "?";
}

CheckResult judge(const CheckSpec& spec, const CheckSample& sample) {
  CheckResult r;
  if (!sample.target || (spec.relative_to_baseline && !sample.baseline)) {
    r.why = !sample.target ? "no data for the target" : "no data for the baseline";
    return r;
  }
  r.value = spec.relative_to_baseline ? *sample.target - *sample.baseline : *sample.target;
  const std::string what =
      spec.relative_to_baseline
          ? "target - baseline " + number(r.value) + " (" + number(*sample.target) + " - " +
                number(*sample.baseline) + ")"
          : number(r.value);
  const bool ok = spec.bound == Bound::kMin ? r.value >= spec.threshold : r.value <= spec.threshold;
  r.verdict = ok ? Verdict::kPass : Verdict::kFail;
  const char* relation = spec.bound == Bound::kMin
                             ? (ok ? " at or above the minimum " : " below the minimum ")
                             : (ok ? " at or below the maximum " : " above the maximum ");
  r.why = what + relation + number(spec.threshold);
  return r;
}

CheckResult judge_with_history(const CheckSpec& spec, const CheckSample& sample,
                               uint32_t* no_data_run) {
  CheckResult r = judge(spec, sample);
  if (r.verdict != Verdict::kNoData) {
    *no_data_run = 0;
    return r;
  }
  ++*no_data_run;
  if (spec.no_data_limit != 0 && *no_data_run >= spec.no_data_limit) {
    r.verdict = Verdict::kFail;
    r.why += ", " + std::to_string(*no_data_run) + " intervals in a row (the limit is " +
             std::to_string(spec.no_data_limit) + ")";
  }
  return r;
}

bool FailureCounter::add(Verdict v) {
  if (v == Verdict::kFail) {
    ++count_;
  } else if (v == Verdict::kPass && threshold_.consecutive) {
    count_ = 0;
  }
  return count_ >= threshold_.failures;
}

}  // namespace sluice::control::release
