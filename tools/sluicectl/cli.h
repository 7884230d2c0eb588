// SPDX-License-Identifier: Apache-2.0
// sluicectl's command line: global options (anywhere on the line), the
// command, its own options and arguments; help; exit statuses.
#pragma once

#include <ostream>

namespace sluice::sluicectl {

// The socket when neither --socket nor SLUICECTL_SOCKET says otherwise.
inline constexpr char kDefaultSocket[] = "/run/sluice/sluiced.sock";

// Runs the command line; returns the exit status (kExitOk, kExitFailed,
// kExitUsage of context.h).
int run_cli(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace sluice::sluicectl
