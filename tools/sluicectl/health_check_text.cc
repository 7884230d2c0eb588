// SPDX-License-Identifier: Apache-2.0
#include "tools/sluicectl/health_check_text.h"

namespace sluice::sluicectl {
namespace {

// "2000 ms": milliseconds written out, as the rest of `describe`.
std::string ms_text(uint32_t ms) { return std::to_string(ms) + " ms"; }

}  // namespace

bool health_check_enabled(const v1::HealthCheck& h) {
  return h.type() == v1::HEALTH_CHECK_TYPE_TCP || h.type() == v1::HEALTH_CHECK_TYPE_HTTP ||
         h.type() == v1::HEALTH_CHECK_TYPE_HTTPS;
}

std::string health_check_text(const v1::HealthCheck& h, uint32_t service_port) {
  if (!health_check_enabled(h)) return "off";
  std::string out;
  if (h.type() == v1::HEALTH_CHECK_TYPE_TCP) {
    out = "TCP connect";
  } else {
    out = (h.type() == v1::HEALTH_CHECK_TYPE_HTTPS ? "HTTPS GET " : "HTTP GET ") + h.http_path();
    if (!h.http_host().empty()) out += " (Host: " + h.http_host() + ")";
    // The range is [start, end), as Envoy's expected_statuses.
    out += ", status " + std::to_string(h.expected_status_start()) + ".." +
           std::to_string(h.expected_status_end() - 1);
  }
  out += ", port " + std::to_string(h.port() ? h.port() : service_port);
  out += ", every " + ms_text(h.interval_ms());
  std::string jitter;
  if (h.interval_jitter_ms()) jitter = "+0.." + ms_text(h.interval_jitter_ms());
  if (h.interval_jitter_percent()) {
    jitter += (jitter.empty() ? "+0.." : " +0..") + std::to_string(h.interval_jitter_percent()) +
              "%";
  }
  if (!jitter.empty()) out += " (" + jitter + " jitter)";
  return out + ", timeout " + ms_text(h.timeout_ms());
}

std::string unhealthy_text(const v1::HealthCheck& h) {
  return "after " + std::to_string(h.unhealthy_threshold()) +
         " failed checks in a row (healthy again after " +
         std::to_string(h.healthy_threshold()) + " passes); its established flows " +
         (h.unhealthy_flows() == v1::UNHEALTHY_FLOWS_RESCHEDULE ? "move to other backends"
                                                                : "stay");
}

}  // namespace sluice::sluicectl
