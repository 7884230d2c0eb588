// SPDX-License-Identifier: Apache-2.0
// Numbers for people: durations, byte counts and rates, short and aligned
// well in tables.
#pragma once

#include <cstdint>
#include <optional>
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
// A duration: 800 -> "800ms", 1500 -> "1.5s", 30000 -> "30s", 125000 -> "2m5s",
// 86400000 -> "24h" (from a minute on, whole seconds, zero parts left out).
std::string duration_text(uint64_t ms);
// A duration option: a number with its unit, ms, s, m or h ("500ms", "30s",
// "1.5s", "2m", "1h"), parts added up ("1m30s"); "0" alone needs no unit.
// Milliseconds, or nullopt when malformed or above a day (no option here
// needs more, and a typo must not become a week).
std::optional<uint64_t> parse_duration_ms(const std::string& text);

}  // namespace sluice::sluicectl
