// SPDX-License-Identifier: Apache-2.0
// The invariants the demo claims, printed as it goes and counted, so that
// the demo doubles as a smoke test: any failed check makes it exit 1.
#pragma once

#include <cstdio>
#include <string>

namespace sluice::demo {

class Checks {
 public:
  // Prints "[ ok ] what" or "[FAIL] what"; returns ok.
  bool expect(bool ok, const std::string& what) {
    std::printf("  [%s] %s\n", ok ? " ok " : "FAIL", what.c_str());
    ++total_;
    if (!ok) ++failed_;
    return ok;
  }

  int total() const { return total_; }
  int failed() const { return failed_; }

 private:
  int total_ = 0;
  int failed_ = 0;
};

}  // namespace sluice::demo
