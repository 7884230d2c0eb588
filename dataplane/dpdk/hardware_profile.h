// SPDX-License-Identifier: Apache-2.0
// Hardware profiles: how sluiced runs DPDK on one kind of machine and NIC.
//
// A profile is an INI file (hardware-profiles/*.ini) with the sections
// [profile], [eal], [port], [mempool], [exception], [workers] and [numa];
// every key is named "section.key" in errors and overrides. Loading checks
// the whole profile before anything touches DPDK, so a wrong setting is
// reported by name instead of as an obscure EAL or PMD failure. This file
// makes no DPDK call and includes no DPDK header: eal_arguments() only
// builds the argv that rte_eal_init() will get.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sluice::dpdk {

enum class Hugepages { kRequired, kNone };

struct EalProfile {
  unsigned main_lcore = 0;              // runs the control thread, never a worker
  std::vector<unsigned> worker_lcores;  // worker i polls RX/TX queue i
  Hugepages hugepages = Hugepages::kRequired;
  uint32_t memory_mb = 0;  // -m; 0: EAL takes hugepages as it needs (hugepages=required only)
  std::string file_prefix;  // --file-prefix; empty: "sluice" (unless in_memory)
  bool in_memory = false;   // --in-memory: no runtime files, no secondary processes
  std::vector<std::string> vdevs;  // --vdev, "{iface}" replaced by port.iface
  std::vector<std::string> allow;  // -a "0000:3b:00.0[,devargs]"; none: --no-pci
  std::string log_level = "notice";      // --log-level
  std::vector<std::string> extra_args;  // appended as they are
};

struct PortProfile {
  std::string device;  // DPDK port name: a vdev name ("net_af_xdp0") or a PCI address
  std::string iface;   // kernel interface replacing {iface} in eal.vdev lines
  uint16_t rx_queues = 1;  // = TX queues = workers: one worker per queue pair
  uint16_t rx_descriptors = 1024;
  uint16_t tx_descriptors = 1024;
  uint16_t mtu = 1500;
  // The NIC spreads flows over the RX queues by a hash of their addresses
  // and ports (each flow stays on one queue, so on one worker's flow table).
  // Off with several queues only where the device spreads flows itself
  // (virtio-net behind vhost-net multiqueue).
  bool rss = true;
  bool promiscuous = false;
};

struct MempoolProfile {
  uint32_t mbufs = 8191;
  uint32_t cache_size = 256;  // per-lcore cache, 0..512 (RTE_MEMPOOL_CACHE_MAX_SIZE)
  uint16_t data_room = 2048 + 128;  // bytes per mbuf, headroom included (RTE_MBUF_DEFAULT_BUF_SIZE)
};

// The exception path: frames that are not for a VIP (ARP, ICMP to the host,
// routing daemons) go to the kernel through a TAP port, and back.
struct ExceptionProfile {
  bool enabled = true;
  std::string kind = "tap";  // the only kind so far
  std::string interface = "sluice0";  // name of the kernel-side TAP interface
  // The policer of frames to the kernel (dataplane/dpdk/exception_path.h):
  // frames per second from all workers together, and the burst above it.
  uint32_t rate_pps = 200000;  // 1..100000000
  uint32_t burst = 10000;      // 1..100000000
  // The TAP's kernel side (control/host/exception_tap.h): sluiced gives it
  // the port's MTU and brings it up; with take_addresses the addresses of
  // port.iface move onto it while sluiced runs; each `address` line
  // ("10.0.0.2/24", "fd00::2/64") is added to it (a PCI NIC bound to DPDK
  // has no kernel interface to take them from).
  bool take_addresses = true;
  std::vector<std::string> addresses;
};

struct WorkersProfile {
  uint16_t burst_size = 32;  // frames per rte_eth_rx_burst, 1..engine::Worker::kMaxBurst
};

// NUMA placement (numa_placement.h): at start each worker lcore's node is
// compared with the NIC's; a worker on another node is a warning, or with
// strict a refusal to start.
struct NumaProfile {
  bool strict = false;
};

struct HardwareProfile {
  std::string name;  // [profile] name; default: the file name without ".ini"
  std::string description;
  EalProfile eal;
  PortProfile port;
  MempoolProfile mempool;
  ExceptionProfile exception;
  WorkersProfile workers;
  NumaProfile numa;

  bool hugepages_required() const { return eal.hugepages == Hugepages::kRequired; }
};

struct ProfileLoadResult {
  std::optional<HardwareProfile> profile;  // set only when errors is empty
  // Every problem found, as "FILE: section.key: reason", e.g.
  //   hardware-profiles/lab-af-xdp.ini: port.rx_queues: 0 is out of range 1..64
  std::vector<std::string> errors;
};

// Reads and checks a profile. Unknown sections or keys are errors, as is a
// single-valued key given twice; list keys (eal.vdev, eal.allow,
// eal.extra_args) may repeat and accumulate.
ProfileLoadResult load_hardware_profile(const std::string& path);

// Sets "section.key" -> value pairs (from --profile-set) with the same
// parsing as the file, then checks the whole profile again. A list key is
// replaced by the one value (eal.extra_args is split at spaces). Errors are
// "section.key: reason"; on any error the profile is left as it was.
void apply_overrides(HardwareProfile& profile, const std::map<std::string, std::string>& key_values,
                     std::vector<std::string>& errors);

// Checks a profile as loading does; errors are "section.key: reason".
std::vector<std::string> validate_hardware_profile(const HardwareProfile& profile);

// The argv for rte_eal_init(), program name first:
//   -l LCORES --main-lcore N [--no-huge] [-m MB] (--in-memory | --file-prefix=P)
//   --vdev=... (each) (-a PCI (each) | --no-pci) --log-level=L [extra args]
std::vector<std::string> eal_arguments(const HardwareProfile& profile,
                                       const std::string& program_name);

// Mbufs the runtime holds at once in the worst case: every RX and TX ring
// full (the NIC's and the TAP's), every lcore cache full, and one burst in
// flight per worker. mempool.mbufs must be at least this.
uint32_t min_mbufs(const HardwareProfile& profile);

// Limits the checks enforce.
inline constexpr unsigned kMaxLcoreId = 127;  // RTE_MAX_LCORE (128) in Debian's DPDK, minus 1
inline constexpr uint16_t kMaxQueues = 64;
inline constexpr uint16_t kMinDescriptors = 64;
inline constexpr uint16_t kMaxDescriptors = 32768;
inline constexpr uint16_t kMinMtu = 1280;  // IPv6's minimum
inline constexpr uint16_t kMaxMtu = 9600;
inline constexpr uint32_t kMaxMbufs = 1u << 24;
inline constexpr uint32_t kMaxMempoolCache = 512;  // RTE_MEMPOOL_CACHE_MAX_SIZE
inline constexpr uint16_t kMbufHeadroom = 128;     // RTE_PKTMBUF_HEADROOM
// The TAP port's rings per queue, as DpdkRuntime sets them up (runtime.cc).
inline constexpr uint16_t kExceptionDescriptors = 512;

}  // namespace sluice::dpdk
