// SPDX-License-Identifier: Apache-2.0
// The engine's input: services as an operator describes them.
//
// These are plain value types with defaults an operator would expect. They
// are checked by validate_config() (config_validate.h) and compiled into an
// immutable Snapshot (snapshot.h) that the hot path reads. The control plane
// maps its protobuf messages onto these types.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/engine/flow_hash.h"

namespace sluice::engine {

// An IPv4 or IPv6 address; IPv4 uses bytes[0..3], the rest stay zero.
struct IpAddress {
  uint8_t family = SLUICE_AF_INET;  // SLUICE_AF_INET or SLUICE_AF_INET6
  std::array<uint8_t, 16> bytes{};

  bool is_v4() const { return family == SLUICE_AF_INET; }
  int bit_length() const { return is_v4() ? 32 : 128; }
  // Parses "10.0.0.1" or "2001:db8::1"; nullopt when it is neither.
  static std::optional<IpAddress> parse(std::string_view text);
  static IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d);
  std::string to_string() const;
  auto operator<=>(const IpAddress&) const = default;
};

// A prefix such as 10.1.0.0/16. Host bits beyond the length must be zero.
struct Cidr {
  IpAddress address;
  uint8_t length = 0;

  // Parses "10.1.0.0/16" or "2001:db8::/32"; nullopt when malformed.
  // Host bits set beyond the length are an error (it is usually a typo).
  static std::optional<Cidr> parse(std::string_view text);
  bool contains(const IpAddress& a) const;
  std::string to_string() const;
  auto operator<=>(const Cidr&) const = default;
};

using MacAddress = std::array<uint8_t, 6>;

enum class Protocol : uint8_t { kTcp = 6, kUdp = 17 };

enum class BackendState : uint8_t {
  kActive,    // receives new flows and keeps its flows
  kDraining,  // keeps its established flows, receives no new ones
  kDisabled,  // receives nothing; its flows are moved on their next packet
};

// "active", "draining", "disabled": how logs, stats and the audit name states.
inline const char* backend_state_name(BackendState s) {
  switch (s) {
    case BackendState::kActive: return "active";
    case BackendState::kDraining: return "draining";
    case BackendState::kDisabled: return "disabled";
  }
  return "unknown";
}

enum class Affinity : uint8_t {
  kFlow = SLUICE_AFFINITY_FLOW,
  kClientAddress = SLUICE_AFFINITY_CLIENT_ADDR,
  kClientPrefix = SLUICE_AFFINITY_CLIENT_PREFIX,
};

enum class Encapsulation : uint8_t { kIpip, kGue };

struct BackendConfig {
  IpAddress address;
  uint32_t weight = 1;  // relative share inside its pool, 1..kMaxBackendWeight
  BackendState state = BackendState::kActive;
};

// Active health checking of a service's backends, run by sluiced (control/
// health/), never by the workers. Field names and meanings follow Envoy's
// HealthCheck where it has them (interval, timeout, thresholds, jitter,
// expected statuses); times are milliseconds. Health is the daemon's state,
// not the configuration's: results mark backends in the dataplane's health
// table (signal_list.h) and never change a revision.
enum class HealthCheckType : uint8_t {
  kNone,   // no active checking: every backend is served (health "unknown")
  kTcp,    // a TCP connect to the backend's address and the check port
  kHttp,   // HTTP/1.1 GET of `http_path`; the status must be in the range
  kHttps,  // the same over TLS (the certificate is not verified: a probe
           // judges the backend's health, not its identity)
};

// What happens to the established flows of a backend that turns unhealthy.
enum class UnhealthyFlows : uint8_t {
  kKeep,        // they stay, as on a draining backend (the default)
  kReschedule,  // they move on their next packet, as on a disabled backend
};

struct HealthCheckConfig {
  HealthCheckType type = HealthCheckType::kNone;
  uint32_t interval_ms = 2000;           // between the starts of two checks of a backend
  uint32_t timeout_ms = 1000;            // a check not finished by then fails
  uint32_t interval_jitter_ms = 0;       // + uniform random 0..jitter to each interval
  uint32_t interval_jitter_percent = 0;  // + uniform random 0..interval*percent/100
  uint32_t unhealthy_threshold = 3;      // consecutive failures that mark unhealthy
  uint32_t healthy_threshold = 2;        // consecutive successes that mark healthy again
  uint16_t port = 0;                     // 0: the service's port
  std::string http_path = "/";           // HTTP(S): the request target
  std::string http_host;                 // HTTP(S): Host header; empty: the backend address
  // HTTP(S): accepted status codes, [start, end) as Envoy's expected_statuses.
  uint32_t expected_status_start = 200;
  uint32_t expected_status_end = 400;
  UnhealthyFlows unhealthy_flows = UnhealthyFlows::kKeep;

  auto operator<=>(const HealthCheckConfig&) const = default;
};

struct PoolConfig {
  std::string name;     // unique in its service; its hash is the pool's identity
  uint32_t weight = 0;  // relative share of new flows, 0..SLUICE_MAX_POOL_WEIGHT
  std::vector<BackendConfig> backends;
  // Overrides the service's health check for this pool's backends.
  std::optional<HealthCheckConfig> health_check = std::nullopt;
};

// Clients whose source address falls in `source` go to `pool`, ahead of the
// weighted split. The longest matching prefix wins.
struct SourceRule {
  Cidr source;
  std::string pool;
};

// Circuit breaking as a direct-server-return balancer can observe it: it sees
// only client-to-server packets, so a handshake completing (the client's
// first non-SYN packet) is a success and a retransmitted SYN is a failure.
// Both can be forged blind, so they count per client source prefix, and a
// backend with passing active checks is only suspected, never ejected, by
// them (circuit_logic.h).
struct CircuitPolicy {
  bool enabled = true;
  // Failures, each from a different client source prefix (/24, /48) within
  // failure_window_ms, that open the circuit (or, with passing active
  // checks, mark the backend suspected).
  uint32_t consecutive_failures = 3;
  uint32_t syn_retry_min_ms = 500;      // a SYN repeated sooner is not a failure
  uint32_t base_ejection_ms = 5000;     // first ejection; doubles on each repeat
  uint32_t max_ejection_ms = 300000;    // cap on the doubled ejection time
  uint32_t half_open_trials = 3;        // new flows let through when half-open
  uint32_t max_ejected_percent = 50;    // of a pool's backends, per core
  // 10 s: a client's SYN retries come 1, 3, 7 s after its first, so real
  // clients of a dead backend fill a window quickly, while a spoofer needs
  // that many prefixes again every 10 s.
  uint32_t failure_window_ms = 10000;
};

// Idle timeouts of flow-table entries, by state (flow_table.h FlowState).
// Established: 3 hours. Why hours: an idle connection forgotten by the
// balancer is rescheduled by its next packet, and after a weight change or
// on a draining backend that is a reset; pools, websockets and database
// sessions sit idle for long. 3 h outlasts Linux's default TCP keepalive
// (tcp_keepalive_time 7200 s), so a connection with keepalive on is never
// forgotten. Others chose: conntrack 5 days (nf_conntrack_tcp_timeout_
// established), IPVS 15 min, Katran none (its LRU forgets the least
// recently used flow when full). The cost is memory: a flow that ends
// without a FIN or RST from its client (the client vanished) holds its
// entry (72 B in the engine) for 3 h; flows that close properly leave
// after tcp_closing_ms. README "Flow state under attack" sizes tables.
struct FlowTimeouts {
  uint32_t tcp_syn_ms = 10000;          // SYN seen, handshake not completed (unconfirmed)
  uint32_t tcp_established_ms = 10800000;  // 3 h
  uint32_t tcp_closing_ms = 10000;      // after FIN or RST seen
  uint32_t udp_ms = 30000;              // a confirmed UDP flow
  // Probation: the first packet of a flow that is not a TCP SYN (a UDP
  // flow's first datagram; mid-stream TCP: a flow placed before a restart
  // or by another balancer, or an ACK flood) waits this long for a second
  // packet that confirms it. Short, since spoofed packets never get one.
  uint32_t probation_ms = 5000;
};

struct ServiceConfig {
  std::string name;
  IpAddress vip;
  uint16_t port = 0;  // host byte order, 1..65535
  Protocol protocol = Protocol::kTcp;
  Affinity affinity = Affinity::kFlow;
  uint8_t client_prefix_v4 = 24;  // for Affinity::kClientPrefix
  uint8_t client_prefix_v6 = 64;
  Encapsulation encapsulation = Encapsulation::kIpip;
  uint16_t gue_port = 6080;  // UDP destination port of GUE packets
  uint32_t maglev_table_size = 65537;
  std::vector<PoolConfig> pools;
  std::vector<SourceRule> rules;
  std::string fallback_pool;  // empty: the first pool
  CircuitPolicy circuit;
  FlowTimeouts timeouts;
  HealthCheckConfig health_check{};  // type kNone: no active checks
};

// How encapsulated packets leave the appliance.
struct ForwardingConfig {
  IpAddress source_v4;     // outer source for IPv4 outer headers
  IpAddress source_v6{SLUICE_AF_INET6, {}};  // outer source for IPv6 outer headers
  MacAddress local_mac{};     // Ethernet source of forwarded frames
  MacAddress next_hop_mac{};  // Ethernet destination (the router toward backends)
  uint32_t max_frame_size = 1514 + 40;  // Ethernet frame limit after encapsulation
  // New flows a worker (DPDK lcore, XDP CPU) enters in its flow table per
  // second, with bursts of new_flow_burst; above it a new flow is forwarded
  // statelessly (consistent hashing gives it the same backend while the
  // configuration is unchanged) and counted in flows_stateless_rate.
  // 0: no limit. README "Flow state under attack".
  uint32_t new_flow_rate = 250000;
  uint32_t new_flow_burst = 250000;
  // ICMP fragmentation-needed / packet-too-big answers a worker sends per
  // second to clients whose packets would be too big once encapsulated,
  // with bursts of icmp_too_big_burst; above it such packets are dropped
  // unanswered (too_big_rate_limited). 0: no limit. README "MTU and MSS".
  uint32_t icmp_too_big_rate = 1000;
  uint32_t icmp_too_big_burst = 100;
};

struct EngineConfig {
  sluice_hash_seed seed{};  // 128-bit secret; the same on every appliance
  ForwardingConfig forwarding;
  std::vector<ServiceConfig> services;
};

// Limits enforced by validation (documented in README).
inline constexpr size_t kMaxServices = 4096;
inline constexpr size_t kMaxPools = 8;  // SLUICE_MAX_POOLS
inline constexpr size_t kMaxBackendsPerPool = 4096;
inline constexpr size_t kMaxRulesPerService = 4096;
inline constexpr uint32_t kMaxBackendWeight = 1000000;
inline constexpr uint32_t kMinMaglevTableSize = 7;
inline constexpr uint32_t kMaxMaglevTableSize = 655373;

}  // namespace sluice::engine
