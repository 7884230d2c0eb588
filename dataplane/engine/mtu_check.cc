// SPDX-License-Identifier: Apache-2.0
#include "dataplane/engine/mtu_check.h"

#include <algorithm>

#include "dataplane/engine/encap.h"

namespace sluice::engine {
namespace {

const char* encapsulation_name(Encapsulation e) { return e == Encapsulation::kGue ? "GUE" : "IPIP"; }

// The outer family with the most overhead among the service's backends (an
// IPv6 outer header is 20 bytes longer); the VIP's family without backends.
uint8_t widest_outer_family(const ServiceConfig& service) {
  uint8_t family = service.vip.family;
  for (const PoolConfig& pool : service.pools) {
    for (const BackendConfig& b : pool.backends) {
      if (b.address.family == SLUICE_AF_INET6) return SLUICE_AF_INET6;
      family = b.address.family;
    }
  }
  return family;
}

}  // namespace

uint32_t effective_max_frame(uint32_t max_frame_size, uint32_t port_mtu,
                             std::vector<ConfigError>* warnings) {
  if (port_mtu == 0 || max_frame_size <= port_mtu + kEthernetHeaderLen) return max_frame_size;
  const uint32_t limit = port_mtu + kEthernetHeaderLen;
  if (warnings) {
    warnings->push_back({"forwarding.max_frame_size",
                         std::to_string(max_frame_size) + " is more than the port carries (MTU " +
                             std::to_string(port_mtu) + " + 14-byte Ethernet header): frames "
                             "are limited to " + std::to_string(limit)});
  }
  return limit;
}

uint32_t client_mtu(const ServiceConfig& service, uint32_t max_frame_size) {
  const uint32_t overhead = encap_overhead(service.encapsulation, widest_outer_family(service));
  const uint32_t room = max_frame_size > kEthernetHeaderLen ? max_frame_size - kEthernetHeaderLen : 0;
  return room > overhead ? room - overhead : 0;
}

std::vector<ConfigError> check_service_mtu(const ServiceConfig& service, const std::string& path,
                                           uint32_t max_frame_size,
                                           std::vector<ConfigError>* warnings) {
  std::vector<ConfigError> errors;
  const bool v6 = service.vip.family == SLUICE_AF_INET6;
  const uint32_t mtu = client_mtu(service, max_frame_size);
  const uint32_t overhead = encap_overhead(service.encapsulation, widest_outer_family(service));
  const std::string what = std::string(encapsulation_name(service.encapsulation)) + " to IPv" +
                           (widest_outer_family(service) == SLUICE_AF_INET6 ? "6" : "4") +
                           " backends adds " + std::to_string(overhead) + " bytes";
  const uint32_t minimum = v6 ? kMinClientMtuV6 : kMinClientMtuV4;
  if (mtu < minimum) {
    errors.push_back({path + ".encapsulation",
                      what + ", which leaves " + std::to_string(mtu) + " bytes for IPv" +
                          (v6 ? "6" : "4") + " packets under a " + std::to_string(max_frame_size) +
                          "-byte maximum frame (forwarding.max_frame_size or the port's MTU); "
                          "IPv" + (v6 ? "6" : "4") + " needs at least " + std::to_string(minimum)});
    return errors;
  }
  if (warnings && mtu < 1500) {
    // MSS = MTU - IP header - TCP header (20).
    const uint32_t mss = mtu - (v6 ? 40 : 20) - 20;
    warnings->push_back({path + ".encapsulation",
                         what + ": clients' packets may be at most " + std::to_string(mtu) +
                             " bytes; larger ones are answered with ICMP " +
                             (v6 ? "packet-too-big" : "fragmentation-needed") +
                             " (clamp the backends' TCP MSS to " + std::to_string(mss) +
                             " to avoid the round trip; README \"MTU and MSS\")"});
  }
  return errors;
}

std::vector<std::string> mtu_misfits(const Snapshot& snapshot, uint32_t port_mtu) {
  std::vector<std::string> out;
  const uint32_t frame = effective_max_frame(snapshot.forwarding().max_frame_size, port_mtu, nullptr);
  const auto& services = snapshot.services();
  for (size_t i = 0; i < services.size(); ++i) {
    // Named by name: the snapshot's order need not be the operator's.
    const ServiceConfig& c = services[i].config;
    for (const ConfigError& e : check_service_mtu(c, "service \"" + c.name + "\"", frame, nullptr)) {
      out.push_back(e.to_string());
    }
  }
  return out;
}

}  // namespace sluice::engine
