// SPDX-License-Identifier: Apache-2.0
// --dataplane dpdk: the hardware profile, the DPDK runtime (EAL, port, RSS
// queues, one worker per queue, TAP exception path) and its sink.
//
// One owner (interface_lock.h): the kernel interface the port drives
// (port.iface, which the af_xdp/af_packet vdevs name) is locked, so that a
// second sluiced, on either dataplane, cannot drive it too; a port without
// one is locked by its device name when that is a PCI address. A purely
// virtual port (net_null, net_ring) belongs to its process: nothing to lock.
#include <cctype>
#include <fstream>
#include <map>

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "control/daemon/dataplane_host.h"
#include "control/daemon/dpdk_dataplane_sink.h"
#include "control/daemon/interface_lock.h"
#include "control/host/exception_tap.h"
#include "dataplane/dpdk/hardware_profile.h"
#include "dataplane/dpdk/runtime.h"

namespace sluice::control {
namespace {

// Free 2 MB hugepages, for a clear message before EAL fails obscurely.
long free_hugepages() {
  std::ifstream in("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");
  long n = 0;
  in >> n;
  return n;
}

class DpdkHost final : public DataplaneHost {
 public:
  explicit DpdkHost(const DaemonOptions& options) : options_(options) {}

  bool prepare() override {
    dpdk::ProfileLoadResult loaded = dpdk::load_hardware_profile(options_.profile_path);
    if (!loaded.errors.empty()) {
      for (const auto& e : loaded.errors) spdlog::error("{}", e);
      return false;
    }
    std::map<std::string, std::string> overrides;
    for (const std::string& kv : options_.profile_overrides) {
      const size_t eq = kv.find('=');
      // Command-line values come first (Boost stores them before the
      // --config file's), and the command line wins.
      overrides.emplace(kv.substr(0, eq), kv.substr(eq + 1));
    }
    std::vector<std::string> errors;
    dpdk::apply_overrides(*loaded.profile, overrides, errors);
    if (!errors.empty()) {
      for (const auto& e : errors) spdlog::error("--profile-set: {}", e);
      return false;
    }
    profile_ = std::move(loaded.profile);
    if (profile_->hugepages_required() && free_hugepages() <= 0) {
      spdlog::error("profile {} requires hugepages but none are free: reserve some "
                    "(echo 512 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages) "
                    "or use a profile without hugepages",
                    options_.profile_path);
      return false;
    }
    return lock_port();
  }

  bool open() override {
    try {
      runtime_ = std::make_unique<dpdk::DpdkRuntime>(runtime_options(*profile_));
    } catch (const dpdk::RuntimeError& e) {
      spdlog::error("{}", e.what());
      return false;
    }
    for (const std::string& w : runtime_->warnings()) spdlog::warn("{}", w);
    spdlog::info("{}", runtime_->numa_summary());
    for (const std::string& line : runtime_->flow_state_summary()) spdlog::info("{}", line);
    const engine::MacAddress m = runtime_->port_mac();
    spdlog::info("port {} up, MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, {} worker(s){}",
                 profile_->port.device, m[0], m[1], m[2], m[3], m[4], m[5],
                 runtime_->worker_count(),
                 runtime_->tap_name().empty() ? std::string()
                                              : ", exception path " + runtime_->tap_name());
    sink_ = std::make_unique<DpdkDataplaneSink>(*runtime_);
    return set_up_exception_tap();
  }

  bool start() override {
    try {
      runtime_->start();
    } catch (const dpdk::RuntimeError& e) {
      spdlog::error("{}", e.what());
      return false;
    }
    return true;
  }

  engine::MacAddress local_mac() const override { return runtime_->port_mac(); }
  uint32_t port_mtu() const override { return runtime_->port_mtu(); }
  DataplaneSink& sink() override { return *sink_; }
  uint32_t worker_count() const override { return runtime_->worker_count(); }
  void housekeeping() override { runtime_->publisher().reclaim(); }

  void stop() override {
    if (!runtime_) return;
    runtime_->stop();
    if (tap_) tap_->restore();
  }

 private:
  // The TAP at the port's MTU, up, with the host's addresses
  // (control/host/exception_tap.h). A host that cannot be reached is no
  // appliance: a failure stops the start, naming what failed.
  bool set_up_exception_tap() {
    if (runtime_->tap_name().empty()) return true;
    host::ExceptionTapOptions o;
    o.tap = runtime_->tap_name();
    o.nic = profile_->port.iface;
    o.take_addresses = profile_->exception.take_addresses;
    o.addresses = profile_->exception.addresses;
    o.mtu = runtime_->port_mtu();
    try {
      tap_ = host::ExceptionTap::set_up(o);
    } catch (const host::LinkError& e) {
      spdlog::error("exception path {}: {}", o.tap, e.what());
      return false;
    }
    return true;
  }

  dpdk::RuntimeOptions runtime_options(const dpdk::HardwareProfile& p) const {
    dpdk::RuntimeOptions o;
    o.eal_arguments = dpdk::eal_arguments(p, "sluiced");
    o.port.device = p.port.device;
    o.port.queues = p.port.rx_queues;
    o.port.rx_descriptors = p.port.rx_descriptors;
    o.port.tx_descriptors = p.port.tx_descriptors;
    o.port.mtu = p.port.mtu;
    o.port.rss = p.port.rss;
    o.port.promiscuous = p.port.promiscuous;
    o.mbufs = p.mempool.mbufs;
    o.mbuf_cache = p.mempool.cache_size;
    o.mbuf_data_room = p.mempool.data_room;
    o.exception_path = p.exception.enabled;
    o.tap_name = p.exception.interface;
    o.exception_rate_pps = p.exception.rate_pps;
    o.exception_burst = p.exception.burst;
    o.burst_size = p.workers.burst_size;
    o.numa_strict = p.numa.strict;
    o.worker.flow_capacity = options_.flow_capacity;
    o.worker.circuit_capacity = options_.circuit_capacity;
    o.flow_state_dir = flow_state_dir(p);
    o.seed = options_.seed;
    return o;
  }

  // Before EAL touches the port (interface_lock.h).
  bool lock_port() {
    std::vector<LockTarget> targets;
    if (!profile_->port.iface.empty()) {
      targets.push_back(interface_lock_target(profile_->port.iface));
    } else if (profile_->port.device.find(':') != std::string::npos) {
      targets.push_back(dpdk_port_lock_target(profile_->port.device));
    }
    if (targets.empty()) return true;
    std::string error;
    const LockOwner me{static_cast<long>(::getpid()), "dpdk", options_.state_dir};
    lock_ = OwnershipLock::acquire(kDefaultLockFolder, targets, me, &error);
    if (!lock_) {
      spdlog::error("refusing to start: {}", error);
      return false;
    }
    spdlog::info("owner of {} (locks in {})", lock_->summary(), kDefaultLockFolder);
    return true;
  }

  // --flow-state-dir, else one folder per port on tmpfs: /dev/shm is tmpfs
  // on every Linux (POSIX shared memory), where /run may be a disk.
  std::string flow_state_dir(const dpdk::HardwareProfile& p) const {
    if (options_.flow_state_dir == "off") return "";
    if (!options_.flow_state_dir.empty()) return options_.flow_state_dir;
    bool vdev_names_iface = false;
    for (const std::string& v : p.eal.vdevs) vdev_names_iface |= v.find("{iface}") != std::string::npos;
    std::string name = vdev_names_iface && !p.port.iface.empty() ? p.port.iface : p.port.device;
    for (char& c : name) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') c = '_';
    }
    return "/dev/shm/sluice-flows-" + name;
  }

  const DaemonOptions& options_;
  std::optional<dpdk::HardwareProfile> profile_;
  std::unique_ptr<OwnershipLock> lock_;  // held until the process exits
  std::unique_ptr<dpdk::DpdkRuntime> runtime_;
  std::unique_ptr<DpdkDataplaneSink> sink_;
  std::unique_ptr<host::ExceptionTap> tap_;  // after runtime_: restored before the TAP goes
};

}  // namespace

std::unique_ptr<DataplaneHost> make_dpdk_host(const DaemonOptions& options) {
  return std::make_unique<DpdkHost>(options);
}

}  // namespace sluice::control
