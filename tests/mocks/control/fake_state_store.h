// SPDX-License-Identifier: Apache-2.0
// A state store and an audit log in memory, for tests of the control core:
// the store can refuse to load or to save, and both count what they got.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "control/state/state_store.h"

namespace sluice::control::fakes {

class FakeStore : public StateStore {
 public:
  std::optional<DesiredState> load(std::string* error) override {
    if (!load_error.empty()) {
      *error = load_error;
      return std::nullopt;
    }
    return saved;
  }
  bool save(const DesiredState& state, std::string* error) override {
    if (fail_saves) {
      *error = "disk full";
      return false;
    }
    saved = state;
    ++saves;
    return true;
  }
  DesiredState saved;
  std::string load_error;
  bool fail_saves = false;
  int saves = 0;
};

class FakeAudit : public AuditLog {
 public:
  bool record(const AuditRecord& r, std::string*) override {
    records.push_back(r);
    return true;
  }
  std::vector<AuditRecord> records;
};

}  // namespace sluice::control::fakes
