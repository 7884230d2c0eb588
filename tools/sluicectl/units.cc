// SPDX-License-Identifier: Apache-2.0
#include "tools/sluicectl/units.h"

#include <cstdio>

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

}  // namespace sluice::sluicectl
