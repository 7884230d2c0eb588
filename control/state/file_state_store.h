// SPDX-License-Identifier: Apache-2.0
// StateStore kept in one file, DIRECTORY/state.json: the protobuf JSON form
// of sluice.v1.DesiredState (proto/sluice/v1/state.proto), services mapped
// with control/config/service_mapping.h like every other way in.
//
// Saving writes state.json.tmp, syncs it, renames it over state.json and
// syncs the directory, so at every moment state.json is either the previous
// state or the new one, whole, even if the process is killed or the machine
// loses power in the middle (given a file system that keeps rename atomic
// across a crash, as ext4 and xfs do). A state.json.tmp left behind is an
// unfinished save: load() ignores it and the next save() replaces it.
//
// save() refuses, changing nothing, a state that load() would refuse
// (services the engine's validation rejects): such a file would keep
// sluiced from starting.
//
// Loading is strict: a state.json that cannot be read, is not JSON, does
// not match the schema or holds services the engine would refuse is an
// error naming the file and the field. It is never treated as empty, and
// never deleted or rewritten, so an operator can look at it and repair it.
//
// One sluiced owns a state directory: two processes saving into the same
// one would overwrite each other's revisions (nothing here locks it).
#pragma once

#include <memory>
#include <string>

#include "control/state/state_store.h"

namespace sluice::control {

// The file names inside the state directory.
inline constexpr const char* kStateFileName = "state.json";
inline constexpr const char* kStateTempFileName = "state.json.tmp";

// A state file larger than this is refused rather than read, so a runaway
// file cannot eat the daemon's memory at start (anything but a regular file
// is refused too). The largest valid state, 4096 services with 8 full pools
// each, is far beyond what anyone runs; real states are a few MiB at most.
inline constexpr size_t kMaxStateFileBytes = 256u << 20;

// The store for `directory`. Nothing is touched until load() or save();
// save() creates the directory (and missing parents) with mode 0750.
std::unique_ptr<StateStore> make_file_state_store(const std::string& directory);

}  // namespace sluice::control
