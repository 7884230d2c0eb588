// SPDX-License-Identifier: Apache-2.0
#include "dataplane/dpdk/hardware_profile.h"

#include <arpa/inet.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "dataplane/engine/engine.h"

namespace sluice::dpdk {
namespace {

namespace po = boost::program_options;

std::string in_quotes(const std::string& text) { return "\"" + text + "\""; }

// "ADDRESS/PREFIXLEN" of IPv4 (0..32) or IPv6 (0..128).
bool is_interface_address(const std::string& text) {
  const size_t slash = text.find('/');
  if (slash == std::string::npos || slash + 1 >= text.size() || slash + 4 < text.size()) return false;
  const std::string address = text.substr(0, slash), length = text.substr(slash + 1);
  if (!std::all_of(length.begin(), length.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  unsigned char bytes[16];
  if (inet_pton(AF_INET, address.c_str(), bytes) == 1) return std::stoi(length) <= 32;
  return inet_pton(AF_INET6, address.c_str(), bytes) == 1 && std::stoi(length) <= 128;
}

std::string range_message(uint64_t value, uint64_t lo, uint64_t hi) {
  return std::to_string(value) + " is out of range " + std::to_string(lo) + ".." +
         std::to_string(hi);
}

// --- Value parsers: each returns an error message, empty when it parsed. ---

std::string parse_uint(const std::string& text, uint64_t lo, uint64_t hi, uint64_t& out) {
  if (text.empty()) return "must have a value";
  if (text.size() > 12 || !std::all_of(text.begin(), text.end(), [](char c) {
        return c >= '0' && c <= '9';
      })) {
    return in_quotes(text) + " is not a whole number";
  }
  const uint64_t value = std::stoull(text);
  if (value < lo || value > hi) return range_message(value, lo, hi);
  out = value;
  return "";
}

template <typename T>
std::string set_uint(const std::string& text, uint64_t lo, uint64_t hi, T& field) {
  uint64_t value = 0;
  std::string error = parse_uint(text, lo, hi, value);
  if (error.empty()) field = static_cast<T>(value);
  return error;
}

std::string set_bool(const std::string& text, bool& field) {
  static const std::set<std::string> kTrue = {"on", "true", "yes", "1"};
  static const std::set<std::string> kFalse = {"off", "false", "no", "0"};
  if (kTrue.count(text)) {
    field = true;
  } else if (kFalse.count(text)) {
    field = false;
  } else {
    return text.empty() ? "must have a value" : in_quotes(text) + " is not on or off";
  }
  return "";
}

// "1,2,5-7" -> {1, 2, 5, 6, 7}, in the order written.
std::string set_lcores(const std::string& text, std::vector<unsigned>& field) {
  if (text.empty()) return "must have a value";
  std::vector<unsigned> lcores;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    const size_t dash = item.find('-');
    uint64_t first = 0, last = 0;
    std::string error = parse_uint(item.substr(0, dash), 0, kMaxLcoreId, first);
    if (error.empty()) {
      last = first;
      if (dash != std::string::npos) error = parse_uint(item.substr(dash + 1), 0, kMaxLcoreId, last);
    }
    if (!error.empty()) return "lcore " + (item.empty() ? in_quotes(item) + " is empty" : error);
    if (last < first) return in_quotes(item) + " is a descending range";
    for (uint64_t l = first; l <= last; ++l) lcores.push_back(static_cast<unsigned>(l));
  }
  if (text.back() == ',') return in_quotes(text) + " ends with a comma";
  field = std::move(lcores);
  return "";
}

std::string set_choice(const std::string& text, const std::vector<std::string>& choices,
                       std::string& field) {
  if (std::find(choices.begin(), choices.end(), text) != choices.end()) {
    field = text;
    return "";
  }
  std::string list;
  for (const std::string& c : choices) list += (list.empty() ? "" : ", ") + c;
  return in_quotes(text) + " is not one of " + list;
}

const std::vector<std::string> kLogLevels = {"emergency", "alert", "critical", "error",
                                             "warning",   "notice", "info",     "debug"};

std::vector<std::string> split_spaces(const std::string& text) {
  std::vector<std::string> words;
  std::stringstream in(text);
  std::string word;
  while (in >> word) words.push_back(word);
  return words;
}

// --- The keys: one table serves the INI file, overrides and documentation. ---

struct Key {
  const char* name;
  bool list;  // repeats accumulate; an override replaces the whole list
  std::function<std::string(HardwareProfile&, const std::string&)> set;
  std::function<void(HardwareProfile&)> clear = nullptr;  // list keys only
};

const std::vector<Key>& keys() {
  using P = HardwareProfile;
  static const std::vector<Key> kKeys = {
      {"profile.name", false, [](P& p, const std::string& v) { p.name = v; return std::string(); }},
      {"profile.description", false,
       [](P& p, const std::string& v) { p.description = v; return std::string(); }},
      {"eal.main_lcore", false,
       [](P& p, const std::string& v) { return set_uint(v, 0, kMaxLcoreId, p.eal.main_lcore); }},
      {"eal.worker_lcores", false,
       [](P& p, const std::string& v) { return set_lcores(v, p.eal.worker_lcores); }},
      {"eal.hugepages", false,
       [](P& p, const std::string& v) {
         std::string choice;
         std::string error = set_choice(v, {"required", "none"}, choice);
         if (error.empty()) p.eal.hugepages = choice == "none" ? Hugepages::kNone : Hugepages::kRequired;
         return error;
       }},
      {"eal.memory_mb", false,
       [](P& p, const std::string& v) { return set_uint(v, 0, 1u << 20, p.eal.memory_mb); }},
      {"eal.file_prefix", false,
       [](P& p, const std::string& v) { p.eal.file_prefix = v; return std::string(); }},
      {"eal.in_memory", false, [](P& p, const std::string& v) { return set_bool(v, p.eal.in_memory); }},
      {"eal.vdev", true,
       [](P& p, const std::string& v) {
         if (v.empty()) return std::string("must have a value");
         p.eal.vdevs.push_back(v);
         return std::string();
       },
       [](P& p) { p.eal.vdevs.clear(); }},
      {"eal.allow", true,
       [](P& p, const std::string& v) {
         if (v.empty()) return std::string("must have a value");
         p.eal.allow.push_back(v);
         return std::string();
       },
       [](P& p) { p.eal.allow.clear(); }},
      {"eal.log_level", false,
       [](P& p, const std::string& v) { return set_choice(v, kLogLevels, p.eal.log_level); }},
      {"eal.extra_args", true,
       [](P& p, const std::string& v) {
         for (std::string& w : split_spaces(v)) p.eal.extra_args.push_back(std::move(w));
         return std::string();
       },
       [](P& p) { p.eal.extra_args.clear(); }},
      {"port.device", false, [](P& p, const std::string& v) { p.port.device = v; return std::string(); }},
      {"port.iface", false, [](P& p, const std::string& v) { p.port.iface = v; return std::string(); }},
      {"port.rx_queues", false,
       [](P& p, const std::string& v) { return set_uint(v, 1, kMaxQueues, p.port.rx_queues); }},
      {"port.rx_descriptors", false,
       [](P& p, const std::string& v) {
         return set_uint(v, kMinDescriptors, kMaxDescriptors, p.port.rx_descriptors);
       }},
      {"port.tx_descriptors", false,
       [](P& p, const std::string& v) {
         return set_uint(v, kMinDescriptors, kMaxDescriptors, p.port.tx_descriptors);
       }},
      {"port.mtu", false, [](P& p, const std::string& v) { return set_uint(v, kMinMtu, kMaxMtu, p.port.mtu); }},
      {"port.rss", false, [](P& p, const std::string& v) { return set_bool(v, p.port.rss); }},
      {"port.promiscuous", false,
       [](P& p, const std::string& v) { return set_bool(v, p.port.promiscuous); }},
      {"mempool.mbufs", false,
       [](P& p, const std::string& v) { return set_uint(v, 1, kMaxMbufs, p.mempool.mbufs); }},
      {"mempool.cache_size", false,
       [](P& p, const std::string& v) { return set_uint(v, 0, kMaxMempoolCache, p.mempool.cache_size); }},
      {"mempool.data_room", false,
       [](P& p, const std::string& v) { return set_uint(v, 1, 65535, p.mempool.data_room); }},
      {"exception.enabled", false,
       [](P& p, const std::string& v) { return set_bool(v, p.exception.enabled); }},
      {"exception.kind", false,
       [](P& p, const std::string& v) { return set_choice(v, {"tap"}, p.exception.kind); }},
      {"exception.interface", false,
       [](P& p, const std::string& v) { p.exception.interface = v; return std::string(); }},
      {"exception.rate_pps", false,
       [](P& p, const std::string& v) { return set_uint(v, 1, 100000000, p.exception.rate_pps); }},
      {"exception.burst", false,
       [](P& p, const std::string& v) { return set_uint(v, 1, 100000000, p.exception.burst); }},
      {"exception.take_addresses", false,
       [](P& p, const std::string& v) { return set_bool(v, p.exception.take_addresses); }},
      {"exception.address", true,
       [](P& p, const std::string& v) {
         if (!is_interface_address(v)) {
           return in_quotes(v) + " is not an address with its prefix length (10.0.0.2/24, "
                                 "fd00::2/64)";
         }
         p.exception.addresses.push_back(v);
         return std::string();
       },
       [](P& p) { p.exception.addresses.clear(); }},
      {"workers.burst_size", false,
       [](P& p, const std::string& v) {
         return set_uint(v, 1, engine::Worker::kMaxBurst, p.workers.burst_size);
       }},
      {"numa.strict", false, [](P& p, const std::string& v) { return set_bool(v, p.numa.strict); }},
  };
  return kKeys;
}

const Key* find_key(const std::string& name) {
  for (const Key& k : keys()) {
    if (name == k.name) return &k;
  }
  return nullptr;
}

// "unknown key" or, when no key has that section, "unknown section [x]".
std::string unknown_key_message(const std::string& name) {
  const size_t dot = name.find('.');
  if (dot == std::string::npos) return "unknown key (keys belong to a [section])";
  const std::string section = name.substr(0, dot + 1);
  for (const Key& k : keys()) {
    if (std::string(k.name).rfind(section, 0) == 0) return "unknown key";
  }
  return "unknown section [" + name.substr(0, dot) + "]";
}

// --- Whole-profile checks. ---

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// "0000:3b:00.0": domain, bus, device, function (lower-case hex, as DPDK
// names PCI ports; the short "3b:00.0" form would not match port.device).
bool is_pci_address(const std::string& text) {
  if (text.size() != 12 || text[4] != ':' || text[7] != ':' || text[10] != '.') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (!is_hex(text[i])) return false;
  }
  return text[11] >= '0' && text[11] <= '7';
}

std::string before_comma(const std::string& text) { return text.substr(0, text.find(',')); }

// The value of "key=" among a vdev's comma-separated arguments, or "".
std::string vdev_arg(const std::string& vdev, const std::string& key) {
  std::stringstream in(vdev);
  std::string item;
  std::getline(in, item, ',');  // the name
  while (std::getline(in, item, ',')) {
    if (item.rfind(key + "=", 0) == 0) return item.substr(key.size() + 1);
  }
  return "";
}

bool is_identifier(const std::string& text, size_t max_length) {
  if (text.empty() || text.size() > max_length) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.';
  });
}

// Kernel interface names: at most IFNAMSIZ - 1 = 15 bytes. ',' and '=' would
// break vdev argument lists.
bool is_interface_name(const std::string& text) {
  return is_identifier(text, 15) && text != "." && text != "..";
}

// EAL options this file generates from a key: an extra argument may not set
// them again (EAL would take one of the two, or refuse both).
const std::map<std::string, std::string>& generated_flags() {
  static const std::map<std::string, std::string> kFlags = {
      {"-l", "eal.main_lcore and eal.worker_lcores"},
      {"-c", "eal.main_lcore and eal.worker_lcores"},
      {"--lcores", "eal.main_lcore and eal.worker_lcores"},
      {"--main-lcore", "eal.main_lcore"},
      {"--master-lcore", "eal.main_lcore"},
      {"--no-huge", "eal.hugepages"},
      {"-m", "eal.memory_mb"},
      {"--file-prefix", "eal.file_prefix"},
      {"--in-memory", "eal.in_memory"},
      {"--vdev", "eal.vdev"},
      {"-a", "eal.allow"},
      {"--allow", "eal.allow"},
      {"-w", "eal.allow"},
      {"--pci-whitelist", "eal.allow"},
      {"--no-pci", "eal.allow"},
      {"--log-level", "eal.log_level"},
  };
  return kFlags;
}

std::string flag_of(const std::string& arg) {
  if (arg.rfind("--", 0) == 0) return arg.substr(0, arg.find('='));
  if (arg.size() >= 2 && arg[0] == '-') return arg.substr(0, 2);
  return "";
}

class Checker {
 public:
  explicit Checker(const HardwareProfile& p) : p_(p) {}

  std::vector<std::string> run() {
    if (!is_identifier(p_.name, 63)) {
      add("profile.name", in_quotes(p_.name) +
                              " must be 1..63 letters, digits, '-', '_' or '.'");
    }
    lcores();
    memory();
    devices();
    port();
    mempool();
    exception();
    return std::move(errors_);
  }

 private:
  void add(const std::string& key, const std::string& message) {
    errors_.push_back(key + ": " + message);
  }

  void lcores() {
    const EalProfile& e = p_.eal;
    if (e.worker_lcores.empty()) {
      add("eal.worker_lcores", "must be set (one lcore per RX queue)");
      return;
    }
    std::set<unsigned> seen;
    for (unsigned l : e.worker_lcores) {
      if (!seen.insert(l).second) add("eal.worker_lcores", "lcore " + std::to_string(l) + " is listed twice");
    }
    if (seen.count(e.main_lcore)) {
      add("eal.main_lcore", "lcore " + std::to_string(e.main_lcore) +
                                " is also a worker lcore (the main lcore runs the control thread)");
    }
    if (e.worker_lcores.size() != p_.port.rx_queues) {
      add("eal.worker_lcores", std::to_string(e.worker_lcores.size()) + " lcore(s) for " +
                                   std::to_string(p_.port.rx_queues) +
                                   " RX queue(s) in port.rx_queues (one worker polls each queue)");
    }
  }

  void memory() {
    const EalProfile& e = p_.eal;
    if (e.hugepages == Hugepages::kNone) {
      if (e.memory_mb < 64) {
        add("eal.memory_mb", e.memory_mb == 0
                                 ? "must be set when hugepages = none (EAL then reserves -m MB)"
                                 : range_message(e.memory_mb, 64, 1u << 20));
      }
      if (e.in_memory) {
        add("eal.in_memory", "cannot be combined with hugepages = none (--no-huge implies "
                             "--legacy-mem, which EAL refuses with --in-memory); set "
                             "file_prefix instead");
      }
    } else if (e.memory_mb != 0 && e.memory_mb < 64) {
      add("eal.memory_mb", range_message(e.memory_mb, 64, 1u << 20) + " (or 0: as needed)");
    }
    if (e.in_memory && !e.file_prefix.empty()) {
      add("eal.file_prefix", "cannot be combined with in_memory (an in-memory EAL keeps no files)");
    }
    if (!e.file_prefix.empty() && !is_identifier(e.file_prefix, 32)) {
      add("eal.file_prefix", in_quotes(e.file_prefix) + " must be 1..32 letters, digits, '-', '_' or '.'");
    }
    for (const std::string& arg : e.extra_args) {
      auto it = generated_flags().find(flag_of(arg));
      if (it != generated_flags().end()) {
        add("eal.extra_args", in_quotes(arg) + " is set by " + it->second + "; use that key");
      }
      if (flag_of(arg) == "--socket-mem" && e.memory_mb != 0) {
        add("eal.extra_args", in_quotes(arg) + " cannot be combined with eal.memory_mb");
      }
    }
  }

  void devices() {
    const EalProfile& e = p_.eal;
    std::set<std::string> names;
    bool uses_iface = false;
    for (const std::string& vdev : e.vdevs) {
      const std::string name = before_comma(vdev);
      if (!is_identifier(name, 63) || name.find('.') != std::string::npos) {
        add("eal.vdev", in_quotes(vdev) + " does not start with a device name (net_af_xdp0,...)");
      } else if (!names.insert(name).second) {
        add("eal.vdev", "two vdevs are named " + name);
      }
      uses_iface |= vdev.find("{iface}") != std::string::npos;
    }
    if (uses_iface && p_.port.iface.empty()) {
      add("port.iface", "must be set: an eal.vdev line uses {iface}");
    }
    if (!p_.port.iface.empty()) {
      if (!is_interface_name(p_.port.iface)) {
        add("port.iface", in_quotes(p_.port.iface) + " is not an interface name (1..15 letters, "
                                                  "digits, '-', '_' or '.')");
      } else if (!uses_iface) {
        add("port.iface", "no eal.vdev line uses {iface}");
      }
    }
    std::set<std::string> addresses;
    for (const std::string& allow : e.allow) {
      const std::string address = before_comma(allow);
      if (!is_pci_address(address)) {
        add("eal.allow", in_quotes(address) + " is not a PCI address (0000:3b:00.0, lower case)");
      } else if (!addresses.insert(address).second) {
        add("eal.allow", address + " is listed twice");
      }
    }
    const std::string& device = p_.port.device;
    if (device.empty()) {
      add("port.device", "must be set (an eal.vdev name or an eal.allow PCI address)");
    } else if (is_pci_address(device)) {
      if (!addresses.count(device)) {
        add("port.device", device + " is not in eal.allow (EAL would not probe it)");
      }
    } else if (!names.count(device)) {
      add("port.device", in_quotes(device) + " is neither an eal.vdev name nor a PCI address in eal.allow");
    } else {
      vdev_queues(device);
    }
  }

  // A vdev PMD opens as many queues as its arguments say; configuring the
  // port with more fails at start-up, with fewer leaves queues unpolled.
  void vdev_queues(const std::string& device) {
    for (const std::string& vdev : p_.eal.vdevs) {
      if (before_comma(vdev) != device) continue;
      std::string arg;
      if (device.rfind("net_af_xdp", 0) == 0) arg = "queue_count";
      if (device.rfind("net_af_packet", 0) == 0) arg = "qpairs";
      if (arg.empty()) return;
      const std::string text = vdev_arg(vdev, arg);
      uint64_t count = 1;  // both PMDs' default
      if (!text.empty() && !parse_uint(text, 1, kMaxQueues, count).empty()) {
        add("eal.vdev", device + ": " + arg + "=" + text + " is not a queue count");
      } else if (count != p_.port.rx_queues) {
        add("eal.vdev", device + " opens " + std::to_string(count) + " queue(s) (" + arg +
                            ") but port.rx_queues is " + std::to_string(p_.port.rx_queues));
      }
    }
  }

  void port() {
    const PortProfile& port = p_.port;
    for (auto [key, value] : {std::pair{"port.rx_descriptors", port.rx_descriptors},
                              std::pair{"port.tx_descriptors", port.tx_descriptors}}) {
      if (value & (value - 1)) {
        // PMDs round or refuse other counts (ice and i40e want multiples of 32).
        add(key, std::to_string(value) + " is not a power of two");
      }
    }
  }

  void mempool() {
    const MempoolProfile& m = p_.mempool;
    const uint32_t needed = min_mbufs(p_);
    if (m.mbufs < needed) {
      add("mempool.mbufs", std::to_string(m.mbufs) + " is too few: the rings, caches and bursts "
                                                     "can hold " +
                               std::to_string(needed) + " at once");
    }
    const uint32_t min_room = kMbufHeadroom + p_.port.mtu + 18;  // Ethernet + one VLAN tag
    if (m.data_room < min_room) {
      add("mempool.data_room", std::to_string(m.data_room) + " cannot hold a " +
                                   std::to_string(p_.port.mtu) + "-byte MTU frame (needs " +
                                   std::to_string(min_room) + ": " +
                                   std::to_string(kMbufHeadroom) + " headroom + MTU + 18)");
    }
    // Each mbuf also carries its rte_mbuf header (128 bytes) and a mempool
    // object header: about data_room + 192 bytes. Leave the other half of
    // -m for rings, the PMDs' own memory and the engine's tables.
    if (p_.eal.memory_mb >= 64) {  // below, memory_mb itself is reported
      const uint64_t pool_mb = (uint64_t{m.mbufs} * (m.data_room + 192u) + (1u << 20) - 1) >> 20;
      if (pool_mb * 2 > p_.eal.memory_mb) {
        add("mempool.mbufs", std::to_string(m.mbufs) + " mbufs take about " +
                                 std::to_string(pool_mb) + " MB, more than half of eal.memory_mb (" +
                                 std::to_string(p_.eal.memory_mb) + ")");
      }
    }
  }

  void exception() {
    const ExceptionProfile& x = p_.exception;
    if (x.enabled && !is_interface_name(x.interface)) {
      add("exception.interface", in_quotes(x.interface) + " is not an interface name (1..15 "
                                                       "letters, digits, '-', '_' or '.')");
    }
    if (x.enabled && !x.interface.empty() && x.interface == p_.port.iface) {
      add("exception.interface", in_quotes(x.interface) + " is port.iface; the TAP needs its own name");
    }
  }

  const HardwareProfile& p_;
  std::vector<std::string> errors_;
};

}  // namespace

uint32_t min_mbufs(const HardwareProfile& p) {
  const uint64_t queues = p.port.rx_queues;
  uint64_t n = queues * (uint64_t{p.port.rx_descriptors} + p.port.tx_descriptors);
  if (p.exception.enabled) n += queues * 2u * kExceptionDescriptors;  // one TAP queue pair per worker
  n += (queues + 1) * p.mempool.cache_size;                            // workers + main lcore
  n += queues * p.workers.burst_size;
  return static_cast<uint32_t>(std::min<uint64_t>(n, UINT32_MAX));
}

std::vector<std::string> validate_hardware_profile(const HardwareProfile& profile) {
  return Checker(profile).run();
}

ProfileLoadResult load_hardware_profile(const std::string& path) {
  ProfileLoadResult result;
  auto error = [&](const std::string& message) { result.errors.push_back(path + ": " + message); };
  std::ifstream in(path);
  if (!in) {
    error(std::string("cannot open: ") + std::strerror(errno));
    return result;
  }
  po::options_description description;
  for (const Key& k : keys()) description.add_options()(k.name, po::value<std::string>());
  po::parsed_options parsed(&description);
  try {
    parsed = po::parse_config_file(in, description, /*allow_unregistered=*/true);
  } catch (const po::error& e) {
    error(e.what());
    return result;
  }
  if (in.bad()) {
    error(std::string("cannot read: ") + std::strerror(errno));
    return result;
  }

  HardwareProfile profile;
  profile.name = std::filesystem::path(path).stem().string();
  std::set<std::string> seen, repeated;
  for (const po::option& option : parsed.options) {
    const std::string& name = option.string_key;
    const Key* key = option.unregistered ? nullptr : find_key(name);
    if (!key) {
      error(name + ": " + unknown_key_message(name));
      continue;
    }
    if (!seen.insert(name).second && !key->list) {
      if (repeated.insert(name).second) error(name + ": set more than once");
      continue;
    }
    const std::string value = option.value.empty() ? "" : option.value.front();
    if (std::string message = key->set(profile, value); !message.empty()) {
      error(name + ": " + message);
    }
  }
  // Cross-key checks only make sense once every key parsed: a bad
  // rx_queues would otherwise also be reported as a worker count mismatch.
  if (!result.errors.empty()) return result;
  for (const std::string& message : validate_hardware_profile(profile)) error(message);
  if (result.errors.empty()) result.profile = std::move(profile);
  return result;
}

void apply_overrides(HardwareProfile& profile, const std::map<std::string, std::string>& key_values,
                     std::vector<std::string>& errors) {
  HardwareProfile changed = profile;
  const size_t before = errors.size();
  for (const auto& [name, value] : key_values) {
    const Key* key = find_key(name);
    if (!key) {
      errors.push_back(name + ": " + unknown_key_message(name));
      continue;
    }
    if (key->list) key->clear(changed);
    if (std::string message = key->set(changed, value); !message.empty()) {
      errors.push_back(name + ": " + message);
    }
  }
  if (errors.size() != before) return;
  std::vector<std::string> problems = validate_hardware_profile(changed);
  if (!problems.empty()) {
    errors.insert(errors.end(), problems.begin(), problems.end());
    return;
  }
  profile = std::move(changed);
}

std::vector<std::string> eal_arguments(const HardwareProfile& p, const std::string& program_name) {
  const EalProfile& e = p.eal;
  std::vector<std::string> args = {program_name};
  std::vector<unsigned> lcores = e.worker_lcores;
  lcores.push_back(e.main_lcore);
  std::sort(lcores.begin(), lcores.end());
  std::string list;
  for (unsigned l : lcores) list += (list.empty() ? "" : ",") + std::to_string(l);
  args.insert(args.end(), {"-l", list, "--main-lcore", std::to_string(e.main_lcore)});
  if (e.hugepages == Hugepages::kNone) args.push_back("--no-huge");
  if (e.memory_mb != 0) args.insert(args.end(), {"-m", std::to_string(e.memory_mb)});
  if (e.in_memory) {
    args.push_back("--in-memory");
  } else {
    args.push_back("--file-prefix=" + (e.file_prefix.empty() ? std::string("sluice") : e.file_prefix));
  }
  for (std::string vdev : e.vdevs) {
    for (size_t at; (at = vdev.find("{iface}")) != std::string::npos;) {
      vdev.replace(at, 7, p.port.iface);
    }
    args.push_back("--vdev=" + vdev);
  }
  if (e.allow.empty()) {
    args.push_back("--no-pci");
  } else {
    for (const std::string& a : e.allow) args.insert(args.end(), {"-a", a});
  }
  args.push_back("--log-level=" + e.log_level);
  args.insert(args.end(), e.extra_args.begin(), e.extra_args.end());
  return args;
}

}  // namespace sluice::dpdk
