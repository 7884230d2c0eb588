// SPDX-License-Identifier: Apache-2.0
// spdlog set-up for sluiced: human-readable text, or one JSON object per
// line for log shippers. Only the control thread logs; workers count.
#pragma once

#include <string>

namespace sluice::control {

// format: "text" or "json"; level: trace, debug, info, warn, error.
void setup_logging(const std::string& format, const std::string& level);

}  // namespace sluice::control
