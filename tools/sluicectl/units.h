// SPDX-License-Identifier: Apache-2.0
// Numbers for people: durations, byte counts and rates, short and aligned
// well in tables.
#pragma once

#include <cstdint>
#include <string>

namespace sluice::sluicectl {

// 3723000 -> "1h2m3s"; below a minute, "42s".
std::string uptime_text(uint64_t ms);
// 1536 -> "1.5KiB"; below 1024, "512B".
std::string bytes_text(uint64_t bytes);
// Events per second: "0", "12.5", "1234" (one decimal below 100).
std::string per_second_text(double value);
// Bits per second, SI: "0", "950bit/s", "1.2kbit/s", "3.4Mbit/s", "10.0Gbit/s".
std::string bits_per_second_text(double bits);

}  // namespace sluice::sluicectl
