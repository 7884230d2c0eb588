// SPDX-License-Identifier: Apache-2.0
// A service's or pool's active health check (service.proto HealthCheck,
// every field written out as GetService returns it) as `describe` prints it.
#pragma once

#include <cstdint>
#include <string>

#include "sluice/v1/service.pb.h"

namespace sluice::sluicectl {

// Whether it checks at all (type TCP, HTTP or HTTPS).
bool health_check_enabled(const v1::HealthCheck& h);

// What is probed and when, or "off":
// "HTTP GET /healthz (Host: web), status 200..399, port 8080, every 2000 ms
// (+0..10% jitter), timeout 1000 ms". Port 0 is the service's, `service_port`.
std::string health_check_text(const v1::HealthCheck& h, uint32_t service_port);

// When a backend turns unhealthy and back, and what happens to its flows:
// "after 3 failed checks in a row (healthy again after 2 passes); its
// established flows stay".
std::string unhealthy_text(const v1::HealthCheck& h);

}  // namespace sluice::sluicectl
