// SPDX-License-Identifier: Apache-2.0
#include "control/daemon/daemon_options.h"

#include <boost/program_options.hpp>

#include <fstream>
#include <sstream>
#include <string_view>
#include <tuple>

namespace po = boost::program_options;

namespace sluice::control {
namespace {

constexpr const char* kUsage =
    "Usage: sluiced --profile FILE --hash-seed HEX [options]            (DPDK)\n"
    "       sluiced --dataplane xdp --xdp-interface IF --hash-seed HEX [options]\n"
    "       sluiced --dataplane xdp --xdp-interface IF --xdp-detach [--force]\n"
    "\n"
    "sluiced runs the sluice L4 load balancer: it splits new flows between version\n"
    "pools (canary, blue-green, A/B) and forwards them to backends by IPIP/GUE\n"
    "encapsulation (direct server return), either with DPDK poll-mode workers or\n"
    "with an XDP program attached to an interface. Both make the same decisions:\n"
    "a flow gets the same backend whichever dataplane an appliance runs.\n"
    "\n"
    "Services come from the gRPC API (--state-dir; sluicectl apply) or from a JSON\n"
    "file (--services, see control/config/README.md); send SIGHUP to reload the\n"
    "file: a file with any error is refused, with a message naming the field, and\n"
    "the running configuration stays. SIGTERM or SIGINT stop the daemon cleanly;\n"
    "with --dataplane xdp the program stays attached and pinned and forwards on,\n"
    "and the next sluiced adopts it (--xdp-detach removes it).\n";

// 0..15, or -1 when `c` is not a hex digit.
int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<uint64_t> parse_hex64(const std::string& s) {
  if (s.size() != 16) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    const int d = hex_digit(c);
    if (d < 0) return std::nullopt;
    v = v << 4 | static_cast<uint64_t>(d);
  }
  return v;
}

// "127.0.0.1:7443" or "[::1]:7443": an IP literal (no names: what sluiced
// listens on must not depend on DNS) and a port 1..65535.
bool valid_listen_address(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  std::string host = text.substr(0, colon);
  const std::string port = text.substr(colon + 1);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return false;
    host = host.substr(1, host.size() - 2);
    auto a = engine::IpAddress::parse(host);
    if (!a || a->is_v4()) return false;
  } else {
    auto a = engine::IpAddress::parse(host);
    if (!a || !a->is_v4()) return false;
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  const int n = std::stoi(port);
  return n >= 1 && n <= 65535;
}

// The host part of a listen address that valid_listen_address accepted,
// without brackets.
std::optional<engine::IpAddress> listen_host(const std::string& listen) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
  return engine::IpAddress::parse(host);
}

// An empty string when `path` is readable and holds a PEM `block`, else why not.
std::string check_pem_file(const std::string& path, const std::string& block) {
  std::ifstream in(path);
  if (!in) return "cannot read " + path;
  std::stringstream contents;
  contents << in.rdbuf();
  const std::string pem = contents.str();
  if (pem.find("-----BEGIN ") == std::string::npos || pem.find(block + "-----") == std::string::npos) {
    return path + " holds no PEM " + block;
  }
  return {};
}

}  // namespace

std::optional<sluice_hash_seed> parse_seed(const std::string& hex) {
  if (hex.size() != 32) return std::nullopt;
  auto k0 = parse_hex64(hex.substr(0, 16));
  auto k1 = parse_hex64(hex.substr(16));
  if (!k0 || !k1) return std::nullopt;
  return sluice_hash_seed{*k0, *k1};
}

std::optional<engine::MacAddress> parse_mac(const std::string& text) {
  // Exactly two hex digits per byte, checked by hand: sscanf's %2x would
  // also take " 1", "+1", "-1" (as ff) or "0x" inside a byte.
  if (text.size() != 17) return std::nullopt;
  engine::MacAddress mac{};
  for (size_t i = 0; i < 6; ++i) {
    const int hi = hex_digit(text[3 * i]);
    const int lo = hex_digit(text[3 * i + 1]);
    if (hi < 0 || lo < 0 || (i < 5 && text[3 * i + 2] != ':')) return std::nullopt;
    mac[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return mac;
}

std::optional<std::string> parse_metrics_listen(const std::string& text) {
  constexpr std::string_view kLocalhost = "localhost:";
  std::string listen = text;
  if (listen.rfind(kLocalhost, 0) == 0) listen = "127.0.0.1:" + listen.substr(kLocalhost.size());
  if (!valid_listen_address(listen)) return std::nullopt;
  return listen;
}

std::string metrics_listen_warning(const std::string& listen) {
  const std::optional<engine::IpAddress> host = listen_host(listen);
  if (!host) return {};
  const bool loopback = host->is_v4() ? host->bytes[0] == 127
                                      : *host == *engine::IpAddress::parse("::1");
  if (loopback) return {};
  return "/metrics listens on " + listen +
         " beyond loopback, without authentication or TLS: every counter, service, pool and "
         "backend address is readable by whoever reaches it (--metrics-listen)";
}

namespace {

// Checks the TCP listener's options and parses the identities into `o`;
// returns the error, or an empty string.
std::string check_listener(DaemonOptions& o, const std::vector<std::string>& operator_texts,
                           const std::vector<std::string>& read_only_texts) {
  for (const auto& [texts, identities, option] :
       {std::tuple{&operator_texts, &o.operators, "--operator"},
        std::tuple{&read_only_texts, &o.read_only, "--read-only"}}) {
    for (const std::string& text : *texts) {
      std::string error;
      std::optional<api::Identity> identity = api::parse_identity(text, &error);
      if (!identity) return std::string(option) + ": " + error;
      identities->push_back(*identity);
    }
  }
  for (const api::Identity& identity : o.operators) {
    for (const api::Identity& other : o.read_only) {
      if (identity == other) {
        return "\"" + identity.to_string() + "\" is named by both --operator and --read-only";
      }
    }
  }
  const bool tls_given =
      !o.tls_cert_path.empty() || !o.tls_key_path.empty() || !o.tls_client_ca_path.empty();
  const bool roles_given = !o.operators.empty() || !o.read_only.empty();
  if (o.listen_tcp.empty()) {
    if (o.insecure) return "--insecure needs --listen-tcp";
    if (tls_given) return "--tls-cert, --tls-key and --tls-client-ca need --listen-tcp";
    if (roles_given) return "--operator and --read-only name TLS clients: they need --listen-tcp";
    return {};
  }
  if (o.state_dir.empty()) return "--listen-tcp needs --state-dir (the API runs in control-plane mode)";
  if (!valid_listen_address(o.listen_tcp)) {
    return "--listen-tcp: \"" + o.listen_tcp +
           "\" is not IP:PORT (e.g. 127.0.0.1:7443, [::1]:7443, 0.0.0.0:7443; port 1..65535)";
  }
  if (o.insecure) {
    if (tls_given) return "--insecure means no TLS: it excludes --tls-cert, --tls-key and --tls-client-ca";
    if (roles_given) {
      return "--insecure: without TLS there are no client identities, every caller is an "
             "operator; remove --operator and --read-only";
    }
    return {};
  }
  for (const auto& [path, option, block] :
       {std::tuple{&o.tls_cert_path, "--tls-cert", "CERTIFICATE"},
        std::tuple{&o.tls_key_path, "--tls-key", "PRIVATE KEY"},
        std::tuple{&o.tls_client_ca_path, "--tls-client-ca", "CERTIFICATE"}}) {
    if (path->empty()) {
      return std::string("--listen-tcp needs ") + option +
             " (TLS with client certificates), or --insecure for a plain-TCP lab listener";
    }
    if (const std::string error = check_pem_file(*path, block); !error.empty()) {
      return std::string(option) + ": " + error;
    }
  }
  if (!roles_given) {
    return "--listen-tcp with TLS: name at least one --operator or --read-only identity "
           "(no other client certificate is let in)";
  }
  return {};
}

// A token bucket's --NAME-rate and --NAME-burst out of range, or "".
std::string rate_error(const std::string& name, uint32_t rate, uint32_t burst) {
  if (rate > 100000000) {
    return "--" + name + "-rate: " + std::to_string(rate) +
           " is out of range 0..100000000 (0: no limit)";
  }
  if (rate != 0 && (burst < 1 || burst > 100000000)) {
    return "--" + name + "-burst: " + std::to_string(burst) + " is out of range 1..100000000";
  }
  return {};
}

}  // namespace

ParsedOptions parse_daemon_options(int argc, const char* const* argv) {
  ParsedOptions result;
  std::string config_path, seed_hex, seed_file, source_v4, source_v6, next_hop, xdp_mode;
  std::string metrics_listen;
  std::vector<std::string> operator_texts, read_only_texts;
  DaemonOptions o;
  uint32_t max_frame = o.forwarding.max_frame_size;
  uint32_t new_flow_rate = o.forwarding.new_flow_rate;
  uint32_t new_flow_burst = o.forwarding.new_flow_burst;
  uint32_t too_big_rate = o.forwarding.icmp_too_big_rate;
  uint32_t too_big_burst = o.forwarding.icmp_too_big_burst;

  po::options_description general("General");
  general.add_options()
      ("help,h", "print this help and exit")
      ("version", "print the version and exit")
      ("config,c", po::value(&config_path), "read options from this INI file (same names, "
       "without the leading dashes); the command line wins");
  po::options_description dataplane("Dataplane");
  dataplane.add_options()
      ("dataplane", po::value(&o.dataplane)->default_value("dpdk"),
       "dpdk: poll-mode workers on a NIC described by --profile; xdp: the XDP program "
       "attached to --xdp-interface (hosts without DPDK; same decisions, same backends)")
      ("profile", po::value(&o.profile_path),
       "hardware profile (INI), see hardware-profiles/ (--dataplane dpdk)")
      ("profile-set", po::value(&o.profile_overrides)->composing(),
       "override one profile setting, as section.key=value (repeatable), "
       "e.g. --profile-set eal.file_prefix=lb1")
      ("flow-capacity", po::value(&o.flow_capacity)->default_value(o.flow_capacity),
       "flow-table entries: per worker with DPDK (72 bytes each); with XDP, confirmed "
       "flows of all CPUs together (144 bytes each), plus a quarter as many "
       "unconfirmed ones (README \"Flow state under attack\")")
      ("circuit-capacity", po::value(&o.circuit_capacity)->default_value(o.circuit_capacity),
       "backends with circuit state tracked per worker")
      ("flow-state-dir", po::value(&o.flow_state_dir)->value_name("DIR"),
       "--dataplane dpdk: keep each worker's flow table in DIR/worker-N.flows, a file that "
       "outlives sluiced, so that a restart (crash, upgrade) adopts every flow (README "
       "\"Restart\"); default /dev/shm/sluice-flows-PORT (tmpfs: gone at reboot); "
       "\"off\": flows in memory only, lost at exit")
      ("xdp-interface", po::value(&o.xdp_interface)->value_name("IFNAME"),
       "--dataplane xdp: attach the program to this interface; forwarded frames leave "
       "through it (XDP_TX), everything not for a VIP goes to the kernel (XDP_PASS)")
      ("xdp-mode", po::value(&xdp_mode)->default_value("native"),
       "native (driver) or generic (skb, slower; for drivers without XDP support)")
      ("xdp-pin-dir", po::value(&o.xdp_pin_root)->default_value(o.xdp_pin_root)->value_name("DIR"),
       "bpffs folder; the program and its maps are pinned in DIR/IFNAME/ so that forwarding "
       "goes on when sluiced exits or crashes, and the next sluiced adopts them")
      ("xdp-detach", po::bool_switch(&o.xdp_detach),
       "detach the XDP program from --xdp-interface, remove its pins (flows, circuits and "
       "configuration are lost) and exit; forwarding through it stops. Refused while a "
       "running sluiced owns the interface or pin folder (the error names its PID)")
      ("force", po::bool_switch(&o.force),
       "with --xdp-detach: detach and remove even while a running sluiced owns them; that "
       "sluiced goes on running, reports the fault (its program is gone) and does not "
       "re-attach it: stop it too");
  po::options_description forwarding("Forwarding");
  forwarding.add_options()
      ("services", po::value(&o.services_path),
       "services JSON file, reloaded on SIGHUP (file mode; excludes --state-dir)")
      ("state-dir", po::value(&o.state_dir),
       "control-plane mode: keep the desired state durably in this directory and take "
       "changes through the gRPC API (sluicectl); a corrupt state refuses the start")
      ("socket", po::value(&o.socket_path)->default_value(o.socket_path),
       "unix socket of the gRPC API (mode 0660), with --state-dir")
      ("audit-log", po::value(&o.audit_log_path),
       "append-only JSON-lines audit log of every change (default: STATE_DIR/audit.log)")
      ("accept-state-rollback", po::bool_switch(&o.accept_state_rollback),
       "start even though STATE_DIR/state.json is older than the audit log or the adopted XDP "
       "maps (an old copy restored, or the file lost): its services are run, renumbered above "
       "the highest revision seen so that no revision number is reused; audited. Without it "
       "(or --reset-state) such a start is refused")
      ("reset-state", po::bool_switch(&o.reset_state),
       "start with no services at a revision above the highest one seen in the state, the "
       "audit log and the adopted XDP maps, whatever STATE_DIR/state.json holds (kept as "
       "state.json.before-reset-REVISION); audited. Forwarding through adopted maps stops "
       "until services are applied again. A corrupt state.json is refused with either flag: "
       "repair it, or move it away")
      ("hash-seed", po::value(&seed_hex),
       "128-bit flow-hash secret as 32 hex digits; the same on every appliance of a fleet "
       "(generate one with: head -c16 /dev/urandom | xxd -p)")
      ("hash-seed-file", po::value(&seed_file), "read the hash seed from this file instead")
      ("outer-source-v4", po::value(&source_v4), "source address of IPv4 tunnel headers")
      ("outer-source-v6", po::value(&source_v6), "source address of IPv6 tunnel headers")
      ("next-hop-mac", po::value(&next_hop),
       "Ethernet destination of encapsulated packets (the router toward the backends)")
      ("max-frame-size", po::value(&max_frame)->default_value(max_frame),
       "largest frame sent after encapsulation; bigger ones are dropped and counted")
      ("new-flow-rate", po::value(&new_flow_rate)->default_value(new_flow_rate),
       "new flows each worker (DPDK lcore, XDP CPU) enters in its flow table per second; "
       "above it new flows are forwarded statelessly, to the backend consistent hashing "
       "gives (the same while the configuration is unchanged), counted in "
       "flows_stateless_rate. 0: no limit")
      ("new-flow-burst", po::value(&new_flow_burst)->default_value(new_flow_burst),
       "new flows a worker may enter at once above --new-flow-rate (the token bucket's size)")
      ("icmp-too-big-rate", po::value(&too_big_rate)->default_value(too_big_rate),
       "ICMP fragmentation-needed / packet-too-big answers each worker sends per second to "
       "clients whose packets would exceed the MTU once encapsulated; above it they are "
       "dropped unanswered, counted in too_big_rate_limited. 0: no limit")
      ("icmp-too-big-burst", po::value(&too_big_burst)->default_value(too_big_burst),
       "such answers a worker may send at once above --icmp-too-big-rate");
  po::options_description access("Control API over TCP");
  access.add_options()
      ("listen-tcp", po::value(&o.listen_tcp)->value_name("HOST:PORT"),
       "also serve the gRPC API on this TCP address (an IP literal, IPv6 in brackets), with "
       "--state-dir; needs --tls-cert, --tls-key and --tls-client-ca, or --insecure")
      ("tls-cert", po::value(&o.tls_cert_path)->value_name("FILE"),
       "the TCP listener's certificate (PEM, chain allowed)")
      ("tls-key", po::value(&o.tls_key_path)->value_name("FILE"), "its private key (PEM)")
      ("tls-client-ca", po::value(&o.tls_client_ca_path)->value_name("FILE"),
       "CA certificate(s) (PEM) that sign client certificates; a client without a "
       "certificate signed by one is refused during the handshake")
      ("operator", po::value(&operator_texts)->composing()->value_name("IDENTITY"),
       "a client certificate that may read and change the configuration (repeatable): "
       "subject:CN=NAME, san:DNS:NAME, san:URI:URI, san:email:ADDRESS or san:IP:ADDRESS")
      ("read-only", po::value(&read_only_texts)->composing()->value_name("IDENTITY"),
       "a client certificate that may only read (repeatable; same syntax); certificates "
       "named by neither option are refused every call")
      ("insecure", po::bool_switch(&o.insecure),
       "serve --listen-tcp without TLS: anyone who can reach the port may change the "
       "configuration (a warning is logged); for labs only");
  po::options_description observe("Logging and stats");
  observe.add_options()
      ("log-format", po::value(&o.log_format)->default_value("text"), "text or json")
      ("log-level", po::value(&o.log_level)->default_value("info"),
       "trace, debug, info, warn, error")
      ("stats-file", po::value(&o.stats_path),
       "write aggregated counters as JSON to this file (atomically replaced)")
      ("stats-interval-ms", po::value(&o.stats_interval_ms)->default_value(1000),
       "how often the stats file is rewritten")
      ("metrics-listen", po::value(&metrics_listen)->value_name("ADDR:PORT"),
       "serve Prometheus metrics at http://ADDR:PORT/metrics (per-backend series at "
       "/metrics/backends, to scrape less often): 127.0.0.1:9100, [::1]:9100 or "
       "localhost:9100 (IPv4 loopback); off by default. No authentication: an address beyond "
       "loopback (e.g. 0.0.0.0:9100) exposes every counter to whoever reaches it, and is "
       "logged as a warning");
  po::options_description all;
  all.add(general).add(dataplane).add(forwarding).add(access).add(observe);

  auto fail = [&](const std::string& message) {
    result.exit_code = 2;
    result.output = "sluiced: " + message + "\n(see sluiced --help)\n";
    return result;
  };

  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, all), vm);
    if (vm.count("config")) {
      const std::string path = vm["config"].as<std::string>();
      std::ifstream in(path);
      if (!in) return fail("--config: cannot read " + path);
      po::store(po::parse_config_file(in, all), vm);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    return fail(e.what());
  }
  if (vm.count("help")) {
    std::ostringstream out;
    out << kUsage << "\n" << all;
    result.output = out.str();
    return result;
  }
  if (vm.count("version")) {
    result.output = "sluiced 0.1.0\n";
    return result;
  }
  if (o.dataplane == "xdp") {
    if (o.xdp_interface.empty()) return fail("--dataplane xdp needs --xdp-interface");
    if (xdp_mode != "native" && xdp_mode != "generic") {
      return fail("--xdp-mode: \"" + xdp_mode + "\" is neither native nor generic");
    }
    o.xdp_generic = xdp_mode == "generic";
    if (o.xdp_pin_root.empty() || o.xdp_pin_root[0] != '/') {
      return fail("--xdp-pin-dir: \"" + o.xdp_pin_root + "\" is not an absolute path");
    }
    if (!o.profile_path.empty() || !o.profile_overrides.empty()) {
      return fail("--profile and --profile-set configure DPDK; --dataplane xdp takes --xdp-* options");
    }
    if (o.force && !o.xdp_detach) return fail("--force goes with --xdp-detach");
    // The one-shot removal needs nothing else.
    if (o.xdp_detach) {
      result.options = std::move(o);
      return result;
    }
  } else if (o.dataplane == "dpdk") {
    if (o.xdp_detach || !o.xdp_interface.empty()) {
      return fail("--xdp-interface and --xdp-detach need --dataplane xdp");
    }
    if (o.force) return fail("--force goes with --xdp-detach");
    if (o.profile_path.empty()) return fail("--profile is required with --dataplane dpdk");
  } else {
    return fail("--dataplane: \"" + o.dataplane + "\" is neither dpdk nor xdp");
  }
  if (!o.state_dir.empty() && !o.services_path.empty()) {
    return fail("--services and --state-dir exclude each other: with a state directory, "
                "apply services through the API (sluicectl apply -f FILE)");
  }
  if (o.state_dir.empty() && !o.audit_log_path.empty()) {
    return fail("--audit-log needs --state-dir");
  }
  if (o.state_dir.empty() && (o.accept_state_rollback || o.reset_state)) {
    return fail(std::string(o.reset_state ? "--reset-state" : "--accept-state-rollback") +
                " needs --state-dir");
  }
  if (o.accept_state_rollback && o.reset_state) {
    return fail("--accept-state-rollback and --reset-state exclude each other: run the old "
                "state, or start with none");
  }
  if (!o.state_dir.empty() && o.audit_log_path.empty()) o.audit_log_path = o.state_dir + "/audit.log";
  if (const std::string error = check_listener(o, operator_texts, read_only_texts); !error.empty()) {
    return fail(error);
  }
  if (!seed_file.empty()) {
    std::ifstream in(seed_file);
    if (!in) return fail("--hash-seed-file: cannot read " + seed_file);
    in >> seed_hex;
  }
  if (seed_hex.empty()) return fail("--hash-seed (or --hash-seed-file) is required: a 128-bit secret");
  auto seed = parse_seed(seed_hex);
  if (!seed) return fail("--hash-seed: expected 32 hex digits, got \"" + seed_hex + "\"");
  o.seed = *seed;
  if (!source_v4.empty()) {
    auto a = engine::IpAddress::parse(source_v4);
    if (!a || !a->is_v4()) return fail("--outer-source-v4: \"" + source_v4 + "\" is not an IPv4 address");
    o.forwarding.source_v4 = *a;
  }
  if (!source_v6.empty()) {
    auto a = engine::IpAddress::parse(source_v6);
    if (!a || a->is_v4()) return fail("--outer-source-v6: \"" + source_v6 + "\" is not an IPv6 address");
    o.forwarding.source_v6 = *a;
  }
  if (!next_hop.empty()) {
    auto mac = parse_mac(next_hop);
    if (!mac) return fail("--next-hop-mac: \"" + next_hop + "\" is not a MAC address (aa:bb:cc:dd:ee:ff)");
    o.forwarding.next_hop_mac = *mac;
    o.next_hop_set = true;
  }
  o.forwarding.max_frame_size = max_frame;
  if (std::string e = rate_error("new-flow", new_flow_rate, new_flow_burst); !e.empty()) {
    return fail(e);
  }
  o.forwarding.new_flow_rate = new_flow_rate;
  o.forwarding.new_flow_burst = new_flow_burst;
  if (std::string e = rate_error("icmp-too-big", too_big_rate, too_big_burst); !e.empty()) {
    return fail(e);
  }
  o.forwarding.icmp_too_big_rate = too_big_rate;
  o.forwarding.icmp_too_big_burst = too_big_burst;
  if (o.log_format != "text" && o.log_format != "json") {
    return fail("--log-format: \"" + o.log_format + "\" is neither text nor json");
  }
  static const char* kLevels[] = {"trace", "debug", "info", "warn", "error"};
  bool level_ok = false;
  for (const char* l : kLevels) level_ok |= o.log_level == l;
  if (!level_ok) return fail("--log-level: \"" + o.log_level + "\" is not one of trace, debug, info, warn, error");
  // Boost reads "-1" into an unsigned option as 4294967295: upper bounds too.
  if (o.flow_capacity < 1024 || o.flow_capacity > (1u << 28)) {
    return fail("--flow-capacity: " + std::to_string(o.flow_capacity) +
                " is out of range 1024..268435456");
  }
  if (o.circuit_capacity < 16 || o.circuit_capacity > (1u << 24)) {
    return fail("--circuit-capacity: " + std::to_string(o.circuit_capacity) +
                " is out of range 16..16777216");
  }
  if (o.stats_interval_ms < 10) return fail("--stats-interval-ms: at least 10");
  if (!metrics_listen.empty()) {
    std::optional<std::string> listen = parse_metrics_listen(metrics_listen);
    if (!listen) {
      return fail("--metrics-listen: \"" + metrics_listen +
                  "\" is not ADDR:PORT (e.g. 127.0.0.1:9100, [::1]:9100, localhost:9100, "
                  "0.0.0.0:9100; an IP literal or localhost, port 1..65535)");
    }
    o.metrics_listen = *listen;
  }
  for (const std::string& kv : o.profile_overrides) {
    if (kv.find('=') == std::string::npos || kv.find('.') > kv.find('=')) {
      return fail("--profile-set: \"" + kv + "\" is not section.key=value");
    }
  }
  result.options = std::move(o);
  return result;
}

}  // namespace sluice::control
