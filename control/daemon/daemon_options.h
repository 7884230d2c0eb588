// SPDX-License-Identifier: Apache-2.0
// sluiced's options: command line and an optional INI file (--config), both
// read by Boost.Program_options; the command line wins. Everything is
// checked here, before any DPDK call, so a mistake ends with one clear
// message and exit code 2.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "control/api/access_policy.h"
#include "dataplane/engine/config.h"

namespace sluice::control {

struct DaemonOptions {
  std::string profile_path;                  // hardware profile (INI)
  std::vector<std::string> profile_overrides;  // "section.key=value"
  std::string services_path;                 // JSON services; empty: start with none
  // Control-plane mode: the desired state lives in state_dir (durable,
  // versioned), changes come through the gRPC API on socket_path, every
  // change is appended to audit_log_path. Excludes services_path.
  std::string state_dir;
  std::string socket_path = "/run/sluice/sluiced.sock";
  std::string audit_log_path;                // default: state_dir/audit.log
  // When the saved state is older than the audit log or the adopted
  // dataplane (control/state/state_integrity.h): start from it anyway,
  // renumbered above the highest revision seen, or start with no services
  // above it. Without either such a start is refused. Exclusive.
  bool accept_state_rollback = false;
  bool reset_state = false;
  // An optional TCP listener of the gRPC API, "HOST:PORT" (IP literal,
  // IPv6 in brackets); empty: the unix socket only. It takes TLS with a
  // required, verified client certificate, or insecure (no TLS at all).
  std::string listen_tcp;
  std::string tls_cert_path;                 // server certificate (PEM)
  std::string tls_key_path;                  // its key (PEM)
  std::string tls_client_ca_path;            // CA of client certificates (PEM)
  bool insecure = false;                     // TCP without TLS: everyone is an operator
  // Client identities (control/api/access_policy.h syntax) and their roles.
  std::vector<api::Identity> operators;
  std::vector<api::Identity> read_only;
  sluice_hash_seed seed{};                   // 128-bit secret
  engine::ForwardingConfig forwarding;       // local_mac filled from the port later
  bool next_hop_set = false;
  uint32_t flow_capacity = 1u << 20;         // per worker (DPDK), all CPUs together (XDP)
  uint32_t circuit_capacity = 1u << 16;      // per worker
  // DPDK: where the flow tables' files live (dataplane/dpdk/flow_store.h);
  // empty: derived from the port (dpdk_flow_state_dir), "off": none.
  std::string flow_state_dir;
  std::string log_format = "text";           // text | json
  std::string log_level = "info";
  std::string stats_path;                    // empty: no stats file
  uint32_t stats_interval_ms = 1000;
  // --metrics-listen: serve Prometheus /metrics on this address, as
  // "IPV4:PORT" or "[IPV6]:PORT" ("localhost" is read as 127.0.0.1);
  // empty (the default): no metrics endpoint. It has no authentication: a
  // non-loopback address exposes every counter to whoever reaches it and
  // is the operator's explicit choice (metrics_listen_warning).
  std::string metrics_listen;
  std::string dataplane = "dpdk";             // dpdk | xdp
  // --dataplane xdp: the interface the XDP program is attached to, generic
  // (skb) mode instead of native, the bpffs folder whose <interface>/
  // subfolder holds the pins, and the one-shot "detach and remove" command.
  std::string xdp_interface;
  bool xdp_generic = false;
  std::string xdp_pin_root = "/sys/fs/bpf/sluice";
  bool xdp_detach = false;
  // --force with --xdp-detach: detach even while a running sluiced owns
  // the interface (control/daemon/interface_lock.h).
  bool force = false;
};

struct ParsedOptions {
  std::optional<DaemonOptions> options;  // set when the daemon should run
  int exit_code = 0;                     // otherwise: exit with this
  std::string output;                    // help/version text, or the error
};

// Parses argv (and the --config file it names).
ParsedOptions parse_daemon_options(int argc, const char* const* argv);

// "00112233445566778899aabbccddeeff" -> seed; nullopt unless 32 hex digits.
std::optional<sluice_hash_seed> parse_seed(const std::string& hex);
// "02:00:00:00:00:01" -> MAC; nullopt when malformed.
std::optional<engine::MacAddress> parse_mac(const std::string& text);

// --metrics-listen: "127.0.0.1:9100", "[::1]:9100" or "localhost:9100" ->
// the address to bind ("localhost" becomes 127.0.0.1: no name lookup);
// nullopt unless an IP literal (IPv6 in brackets) or localhost, and a port
// 1..65535.
std::optional<std::string> parse_metrics_listen(const std::string& text);
// The warning sluiced logs when /metrics listens on `listen` (as returned
// by parse_metrics_listen) beyond loopback; "" for a loopback address.
std::string metrics_listen_warning(const std::string& listen);

}  // namespace sluice::control
