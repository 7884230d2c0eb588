// SPDX-License-Identifier: Apache-2.0
// Address and prefix parsing for the engine's configuration types.
#include "dataplane/engine/config.h"

#include <arpa/inet.h>

#include <cstring>

namespace sluice::engine {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  // inet_pton needs a NUL-terminated string; addresses are short.
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  // inet_pton would stop at an embedded NUL and accept the prefix.
  if (text.find('\0') != std::string_view::npos) return std::nullopt;
  char buf[INET6_ADDRSTRLEN] = {};
  std::memcpy(buf, text.data(), text.size());
  IpAddress a;
  if (text.find(':') == std::string_view::npos) {
    a.family = SLUICE_AF_INET;
    if (inet_pton(AF_INET, buf, a.bytes.data()) != 1) return std::nullopt;
  } else {
    a.family = SLUICE_AF_INET6;
    if (inet_pton(AF_INET6, buf, a.bytes.data()) != 1) return std::nullopt;
  }
  return a;
}

IpAddress IpAddress::v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  IpAddress ip;
  ip.bytes[0] = a;
  ip.bytes[1] = b;
  ip.bytes[2] = c;
  ip.bytes[3] = d;
  return ip;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes.data(), buf, sizeof(buf));
  return buf;
}

namespace {

// True when a bit at or beyond `length` is set in `a`.
bool has_host_bits(const IpAddress& a, int length) {
  for (int bit = length; bit < a.bit_length(); ++bit) {
    if (a.bytes[bit / 8] & (0x80 >> (bit % 8))) return true;
  }
  return false;
}

}  // namespace

std::optional<Cidr> Cidr::parse(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto address = IpAddress::parse(text.substr(0, slash));
  if (!address) return std::nullopt;
  const std::string_view len_text = text.substr(slash + 1);
  if (len_text.empty() || len_text.size() > 3) return std::nullopt;
  int length = 0;
  for (char c : len_text) {
    if (c < '0' || c > '9') return std::nullopt;
    length = length * 10 + (c - '0');
  }
  if (length > address->bit_length()) return std::nullopt;
  if (has_host_bits(*address, length)) return std::nullopt;
  return Cidr{*address, static_cast<uint8_t>(length)};
}

bool Cidr::contains(const IpAddress& a) const {
  if (a.family != address.family) return false;
  for (int bit = 0; bit < length; ++bit) {
    const uint8_t mask = 0x80 >> (bit % 8);
    if ((a.bytes[bit / 8] & mask) != (address.bytes[bit / 8] & mask)) return false;
  }
  return true;
}

std::string Cidr::to_string() const {
  return address.to_string() + "/" + std::to_string(length);
}

}  // namespace sluice::engine
