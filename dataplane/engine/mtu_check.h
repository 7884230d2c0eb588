// SPDX-License-Identifier: Apache-2.0
// Whether the egress carries what the configured services need once their
// packets are encapsulated (README "MTU and MSS"). Run by sluiced at start
// (against the port's MTU: DPDK rte_eth_dev_get_mtu, XDP the link's) and
// by each dataplane's DataplaneSink::check on every configuration change.
//
// Errors refuse the configuration; warnings are logged at start:
//  - error: a service whose tunnel leaves less than an IP version's
//    minimum for the client's packets: 1280 for IPv6 (RFC 8200 5: every
//    IPv6 link carries 1280), 576 for IPv4 (RFC 791: every host takes 576,
//    and the fragmentation-needed answer quotes 548 bytes of the packet);
//    its clients could not get through at any packet size worth using;
//  - warning: forwarding.max_frame_size larger than the port carries (the
//    port's MTU wins: frames are limited to it);
//  - warning: a service whose clients on 1500-byte paths will need the
//    ICMP answers or an MSS clamp (the numbers to clamp to are in the
//    message).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/engine/config.h"
#include "dataplane/engine/config_validate.h"
#include "dataplane/engine/snapshot.h"

namespace sluice::engine {

inline constexpr uint32_t kEthernetHeaderLen = 14;
inline constexpr uint32_t kMinClientMtuV4 = 576;
inline constexpr uint32_t kMinClientMtuV6 = 1280;

// The max frame the dataplane uses: forwarding.max_frame_size, at most what
// a port of MTU port_mtu carries (port_mtu + 14); port_mtu 0: unknown, the
// configured one. Adds a warning when the port's MTU wins.
uint32_t effective_max_frame(uint32_t max_frame_size, uint32_t port_mtu,
                             std::vector<ConfigError>* warnings);

// The largest client packet of `service` that fits in max_frame_size once
// encapsulated toward its backend family with the most overhead.
uint32_t client_mtu(const ServiceConfig& service, uint32_t max_frame_size);

// Errors (and, when `warnings` is not null, warnings) of one service,
// fields under `path` ("services[2]").
std::vector<ConfigError> check_service_mtu(const ServiceConfig& service, const std::string& path,
                                           uint32_t max_frame_size,
                                           std::vector<ConfigError>* warnings);

// The errors of every service of `snapshot` under a port of MTU port_mtu,
// as DataplaneSink::check reports them ("services[0].encapsulation: ...").
std::vector<std::string> mtu_misfits(const Snapshot& snapshot, uint32_t port_mtu);

}  // namespace sluice::engine
