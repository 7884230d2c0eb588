// SPDX-License-Identifier: Apache-2.0
#include "control/health/http_probe.h"

namespace sluice::control::health {

std::string http_host_header(const HealthTarget& target) {
  if (!target.config.http_host.empty()) return target.config.http_host;
  std::string host =
      target.address.is_v4() ? target.address.to_string() : "[" + target.address.to_string() + "]";
  const uint16_t default_port = target.config.type == engine::HealthCheckType::kHttps ? 443 : 80;
  if (target.port != default_port) host += ":" + std::to_string(target.port);
  return host;
}

std::string http_request(const HealthTarget& target) {
  // The path and host were validated (config_validate.cc): printable ASCII,
  // no spaces, so neither can end the request line or add a header.
  return "GET " + target.config.http_path + " HTTP/1.1\r\nHost: " + http_host_header(target) +
         "\r\nUser-Agent: sluice-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n";
}

std::optional<ProbeResult> judge_http_response(std::string_view received, bool eof,
                                               const engine::HealthCheckConfig& config) {
  const size_t end = received.find('\n');
  if (end == std::string_view::npos) {
    if (received.size() >= kMaxStatusLineBytes) {
      return ProbeResult{false, "no HTTP status line in the first " +
                                    std::to_string(kMaxStatusLineBytes) + " bytes"};
    }
    if (eof) {
      return ProbeResult{false, received.empty() ? "connection closed without a response"
                                                 : "connection closed inside the status line"};
    }
    return std::nullopt;
  }
  // "HTTP/1.1 200 OK": a version, one space, three digits, then a space or
  // the end of the line (the reason phrase may be empty).
  std::string_view line = received.substr(0, end);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const bool version_ok = line.size() >= 12 && line.substr(0, 7) == "HTTP/1." && line[7] >= '0' &&
                          line[7] <= '9' && line[8] == ' ';
  bool digits_ok = version_ok;
  uint32_t status = 0;
  for (size_t i = 9; digits_ok && i < 12; ++i) {
    digits_ok = line[i] >= '0' && line[i] <= '9';
    status = status * 10 + static_cast<uint32_t>(line[i] - '0');
  }
  if (!digits_ok || (line.size() > 12 && line[12] != ' ')) {
    return ProbeResult{false, "no HTTP status line in the response"};
  }
  if (status < config.expected_status_start || status >= config.expected_status_end) {
    return ProbeResult{false, "status " + std::to_string(status)};
  }
  return ProbeResult{true, "ok"};
}

}  // namespace sluice::control::health
