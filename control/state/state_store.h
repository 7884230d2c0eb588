// SPDX-License-Identifier: Apache-2.0
// The desired state of sluiced, kept durably, and the audit trail of every
// change to it. Interfaces only: the file implementations are in
// file_state_store.h and file_audit_log.h; tests use fakes.
//
// The desired state is what operators and rollout tools asked for: every
// service with its pools, weights and backends, at a revision number that
// grows by one with each accepted change. sluiced compiles it into engine
// snapshots; because compilation is deterministic, reloading the saved state
// after a restart rebuilds the same tables bit for bit, so no flow moves.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/engine/config.h"

namespace sluice::control {

struct DesiredState {
  uint64_t revision = 0;                        // 0: nothing accepted yet
  std::vector<engine::ServiceConfig> services;  // in the order they were created
};

class StateStore {
 public:
  virtual ~StateStore() = default;
  // The last saved state; with no saved state yet, an empty one at revision
  // 0. A corrupt or unreadable state is an error (nullopt, *error says what
  // and where): sluiced must refuse to start rather than start empty.
  virtual std::optional<DesiredState> load(std::string* error) = 0;
  // Durably replaces the saved state: returns true only once it is on disk.
  virtual bool save(const DesiredState& state, std::string* error) = 0;
};

// One line of the audit log.
struct AuditRecord {
  std::string peer;     // who called: "unix:uid=0", a certificate subject, ...
  // The caller's identity without what changes from call to call (a TCP
  // port, a pid), for rate-limiting refusal lines; empty: the peer.
  std::string peer_key;
  std::string method;   // "ApplyService", "SetWeights", ...
  std::string service;  // the service the call was about ("" for none)
  uint64_t revision_before = 0;
  uint64_t revision_after = 0;  // == before when refused or dry run
  bool accepted = false;
  bool dry_run = false;
  std::string summary;  // "weights stable=90 canary=10 -> stable=50 canary=50", or the error
};

class AuditLog {
 public:
  virtual ~AuditLog() = default;
  // Appends one record (the log adds the time). Returns false if it could
  // not be written; *error says why.
  virtual bool record(const AuditRecord& record, std::string* error) = 0;
};

}  // namespace sluice::control
