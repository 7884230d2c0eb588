// SPDX-License-Identifier: Apache-2.0
#include "tools/sluicectl/units.h"

#include <cstdio>
#include <cstring>

namespace sluice::sluicectl {
namespace {

std::string format(const char* pattern, double value, const char* unit) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), pattern, value, unit);
  return buffer;
}

}  // namespace

std::string uptime_text(uint64_t ms) {
  const uint64_t s = ms / 1000;
  const uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;
  std::string out;
  if (d) out += std::to_string(d) + "d";
  if (d || h) out += std::to_string(h) + "h";
  if (d || h || m) out += std::to_string(m) + "m";
  return out + std::to_string(sec) + "s";
}

std::string bytes_text(uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + "B";
  constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  return format("%.1f%s", value, kUnits[unit]);
}

std::string per_second_text(double value) {
  if (value <= 0) return "0";
  return format(value < 100 ? "%.1f%s" : "%.0f%s", value, "");
}

std::string bits_per_second_text(double bits) {
  if (bits <= 0) return "0";
  if (bits < 1000) return format("%.0f%s", bits, "bit/s");
  constexpr const char* kUnits[] = {"kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"};
  double value = bits / 1000;
  size_t unit = 0;
  while (value >= 1000 && unit + 1 < std::size(kUnits)) {
    value /= 1000;
    ++unit;
  }
  return format("%.1f%s", value, kUnits[unit]);
}

std::string duration_text(uint64_t ms) {
  if (ms < 1000) return std::to_string(ms) + "ms";
  if (ms >= 60000) {
    // Whole seconds, zero parts left out: "24h", "10m", "5m2s", "1h0m3s" reads worse than "1h3s".
    const uint64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60;
    return (h ? std::to_string(h) + "h" : "") + (m ? std::to_string(m) + "m" : "") +
           (s ? std::to_string(s) + "s" : "");
  }
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  // Tenths, rounded down: "1.9s" must not read as "2.0s" of a quiet time.
  return std::to_string(ms / 1000) + "." + std::to_string(ms / 100 % 10) + "s";
}

std::optional<uint64_t> parse_duration_ms(const std::string& text) {
  constexpr uint64_t kMaxMs = 86400000;
  if (text == "0") return 0;
  struct Unit {
    const char* name;
    uint64_t ms;
  };
  // "ms" before "m", so that "500ms" is not 500 minutes and a stray "s".
  constexpr Unit kUnits[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
  uint64_t total = 0;
  size_t at = 0;
  if (text.empty()) return std::nullopt;
  while (at < text.size()) {
    // A number: digits, then optionally '.' and more digits.
    uint64_t whole = 0, fraction = 0, scale = 1;
    const size_t start = at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9' && at - start < 9) {
      whole = whole * 10 + static_cast<uint64_t>(text[at++] - '0');
    }
    if (at == start) return std::nullopt;
    if (at < text.size() && text[at] == '.') {
      const size_t digits = ++at;
      while (at < text.size() && text[at] >= '0' && text[at] <= '9' && at - digits < 6) {
        fraction = fraction * 10 + static_cast<uint64_t>(text[at++] - '0');
        scale *= 10;
      }
      if (at == digits) return std::nullopt;
    }
    const Unit* unit = nullptr;
    for (const Unit& u : kUnits) {
      if (text.compare(at, std::strlen(u.name), u.name) == 0) {
        unit = &u;
        break;
      }
    }
    if (!unit) return std::nullopt;
    at += std::strlen(unit->name);
    total += whole * unit->ms + fraction * unit->ms / scale;
    if (total > kMaxMs) return std::nullopt;
  }
  return total;
}

}  // namespace sluice::sluicectl
