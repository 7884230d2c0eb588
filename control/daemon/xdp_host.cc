// SPDX-License-Identifier: Apache-2.0
// --dataplane xdp: the XDP program attached to one interface, loaded or
// adopted from its bpffs pins (dataplane/xdp/xdp_loader.h), published to
// through its double-buffered maps (xdp_publisher.h).
//
// The program forwards on its own: it is attached before the first
// publication (with an adopted configuration it goes on forwarding as
// before; a fresh one hands every frame to the kernel until the first
// snapshot lands), and it stays attached and pinned when sluiced stops or
// crashes, so a restart or an upgrade moves no flow and drops no packet.
//
// One owner (interface_lock.h): sluiced locks the interface and the pin
// folder before it reads a pin, and --xdp-detach refuses while they are
// locked unless forced. The owner checks from housekeeping that its
// program is still the attached one (xdp_attachment_watch.h).
#include <chrono>
#include <cstring>

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "control/daemon/dataplane_host.h"
#include "control/daemon/interface_lock.h"
#include "control/daemon/xdp_attachment_watch.h"
#include "control/daemon/xdp_dataplane_sink.h"
#include "dataplane/xdp/xdp_loader.h"
#include "dataplane/xdp/xdp_publisher.h"

namespace sluice::control {
namespace {

// How often housekeeping asks the kernel whether our program is still
// attached: a detach is noticed within this (and before any "applied").
constexpr std::chrono::milliseconds kAttachmentCheckInterval{250};

xdp::XdpLoaderOptions loader_options(const DaemonOptions& o) {
  xdp::XdpLoaderOptions l;
  l.interface = o.xdp_interface;
  l.generic = o.xdp_generic;
  l.pin_root = o.xdp_pin_root;
  l.sizes.flows = o.flow_capacity;
  l.sizes.flows_new = xdp::unconfirmed_flow_entries(o.flow_capacity);
  l.sizes.circuits = o.circuit_capacity;
  return l;
}

// One SIOCGIF* request about interface `name`; false with *error if refused.
bool interface_ioctl(const std::string& name, unsigned long request, ifreq* req,
                     std::string* error) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::strerror(errno);
    return false;
  }
  std::strncpy(req->ifr_name, name.c_str(), IFNAMSIZ - 1);
  const int rc = ::ioctl(fd, request, req);
  const int saved = errno;
  ::close(fd);
  if (rc != 0) {
    *error = std::strerror(saved);
    return false;
  }
  return true;
}

// The interface's Ethernet address (the source of forwarded frames).
bool interface_mac(const std::string& name, engine::MacAddress* mac, std::string* error) {
  ifreq req{};
  if (!interface_ioctl(name, SIOCGIFHWADDR, &req, error)) return false;
  std::memcpy(mac->data(), req.ifr_hwaddr.sa_data, mac->size());
  return true;
}

// The interface's MTU now (it may change while the program runs; the
// program also checks each packet against it: ebpf/xdp/lib/too_big.h); 0
// if it cannot be read.
uint32_t interface_mtu(const std::string& name) {
  ifreq req{};
  std::string error;
  return interface_ioctl(name, SIOCGIFMTU, &req, &error) ? static_cast<uint32_t>(req.ifr_mtu) : 0;
}

// What one sluiced on this interface owns: the interface and the pin folder.
std::vector<LockTarget> lock_targets(const DaemonOptions& o) {
  return {interface_lock_target(o.xdp_interface),
          pin_folder_lock_target(loader_options(o).pin_folder())};
}

class XdpHost final : public DataplaneHost {
 public:
  explicit XdpHost(const DaemonOptions& options) : options_(options) {}

  bool prepare() override {
    if (::if_nametoindex(options_.xdp_interface.c_str()) == 0) {
      spdlog::error("--xdp-interface {}: no such interface in this network namespace",
                    options_.xdp_interface);
      return false;
    }
    std::string error;
    if (!interface_mac(options_.xdp_interface, &mac_, &error)) {
      spdlog::error("--xdp-interface {}: cannot read its MAC address: {}", options_.xdp_interface,
                    error);
      return false;
    }
    // Before any pin is read: a second sluiced must not adopt (and then
    // overwrite) the maps of a running one.
    const LockOwner me{static_cast<long>(::getpid()), "xdp", options_.state_dir};
    lock_ = OwnershipLock::acquire(kDefaultLockFolder, lock_targets(options_), me, &error);
    if (!lock_) {
      spdlog::error("refusing to start: {}", error);
      return false;
    }
    spdlog::info("owner of {} (locks in {})", lock_->summary(), kDefaultLockFolder);
    return true;
  }

  bool open() override {
    try {
      loader_ = std::make_unique<xdp::XdpLoader>(loader_options(options_));
      publisher_ = std::make_unique<xdp::XdpPublisher>(loader_->maps());
      attachment_ = std::make_unique<XdpAttachmentWatch>(
          options_.xdp_interface, loader_->program_id(),
          [ifindex = loader_->ifindex(), generic = options_.xdp_generic,
           name = options_.xdp_interface] {
            XdpAttachmentProbe p;
            try {
              const xdp::XdpAttached a = xdp::attached_program(ifindex, generic, name);
              p.id = a.id;
              p.name = a.name;
            } catch (const xdp::XdpError& e) {
              p.error = e.what();
            }
            return p;
          });
      sink_ = std::make_unique<XdpDataplaneSink>(
          *publisher_, loader_->maps(), [name = options_.xdp_interface] { return interface_mtu(name); },
          *attachment_);
    } catch (const xdp::XdpError& e) {
      spdlog::error("{}", e.what());
      return false;
    }
    const engine::MacAddress& m = mac_;
    spdlog::info("XDP program {} on {} ({} mode, program id {}), MAC "
                 "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, pins in {}",
                 xdp::xdp_program_action_name(loader_->program_action()), options_.xdp_interface,
                 options_.xdp_generic ? "generic" : "native", loader_->program_id(), m[0], m[1],
                 m[2], m[3], m[4], m[5], loader_->pin_folder());
    if (loader_->maps_adopted()) {
      spdlog::info("adopted the pinned maps: flows, circuits and counters carry over; the "
                   "program forwards with configuration generation {} (the state revision, with "
                   "--state-dir; root generation {}) until the next publication",
                   publisher_->found_snapshot_generation(), publisher_->published_generation());
    }
    spdlog::info("XDP health table cleared: every backend is unknown (served) until its "
                 "checks say otherwise");
    return true;
  }

  bool start() override {
    spdlog::info("{} CPU(s) run the XDP program", worker_count());
    return true;
  }

  engine::MacAddress local_mac() const override { return mac_; }
  uint32_t port_mtu() const override { return interface_mtu(options_.xdp_interface); }
  DataplaneSink& sink() override { return *sink_; }
  uint32_t worker_count() const override {
    return static_cast<uint32_t>(publisher_->worker_generations().size());
  }
  void housekeeping() override {
    if (attachment_) attachment_->check_every(kAttachmentCheckInterval);
  }

  uint64_t adopted_revision() const override {
    return loader_->maps_adopted() ? publisher_->found_snapshot_generation() : 0;
  }
  std::string adopted_description() const override {
    return "the adopted XDP maps in " + loader_->pin_folder();
  }

  void stop() override {
    if (!loader_) return;
    if (const std::string fault = attachment_->check(); !fault.empty()) {
      spdlog::warn("stopping with the XDP fault unresolved; what {} forwards is not this "
                   "sluiced's program", options_.xdp_interface);
      return;
    }
    // The hint names the pin root actually used: a detach run without it
    // would look in the default one and leave these pins behind.
    const std::string pin_dir = options_.xdp_pin_root == DaemonOptions{}.xdp_pin_root
                                    ? std::string()
                                    : " --xdp-pin-dir " + options_.xdp_pin_root;
    spdlog::info("the XDP program stays attached to {} and forwards on (pins in {}); "
                 "`sluiced --dataplane xdp --xdp-interface {}{} --xdp-detach` removes it",
                 options_.xdp_interface, loader_->pin_folder(), options_.xdp_interface, pin_dir);
  }

 private:
  const DaemonOptions& options_;
  engine::MacAddress mac_{};
  std::unique_ptr<OwnershipLock> lock_;  // held until the process exits
  std::unique_ptr<xdp::XdpLoader> loader_;
  std::unique_ptr<xdp::XdpPublisher> publisher_;
  std::unique_ptr<XdpAttachmentWatch> attachment_;
  std::unique_ptr<XdpDataplaneSink> sink_;
};

}  // namespace

std::unique_ptr<DataplaneHost> make_xdp_host(const DaemonOptions& options) {
  return std::make_unique<XdpHost>(options);
}

int detach_xdp(const DaemonOptions& options) {
  // Held while detaching, so that no sluiced starts halfway through.
  std::string error;
  long owner = 0;
  const LockOwner me{static_cast<long>(::getpid()), "xdp-detach", ""};
  const std::unique_ptr<OwnershipLock> lock =
      OwnershipLock::acquire(kDefaultLockFolder, lock_targets(options), me, &error, &owner);
  if (!lock && !options.force) {
    spdlog::error("--xdp-detach {}: refused: {}; stop that sluiced first (SIGTERM), or add "
                  "--force to detach anyway",
                  options.xdp_interface, error);
    return 1;
  }
  if (!lock && owner != 0) {
    spdlog::warn("--xdp-detach {} --force: {}; detaching anyway: sluiced PID {} stays running "
                 "and reports the fault until it is stopped",
                 options.xdp_interface, error, owner);
  } else if (!lock) {
    spdlog::warn("--xdp-detach {} --force: {}; detaching anyway", options.xdp_interface, error);
  }
  try {
    const xdp::XdpRemoval r = xdp::detach_and_remove(loader_options(options));
    spdlog::info("--xdp-detach {}: {}; {} pin(s) removed from {}/{}", options.xdp_interface,
                 r.detached ? "program detached" : "none of ours was attached", r.pins_removed,
                 options.xdp_pin_root, options.xdp_interface);
    if (r.foreign_program != 0) {
      spdlog::warn("--xdp-detach {}: left program id {} attached: it is not sluice's",
                   options.xdp_interface, r.foreign_program);
    }
    return 0;
  } catch (const xdp::XdpError& e) {
    spdlog::error("--xdp-detach: {}", e.what());
    return 1;
  }
}

}  // namespace sluice::control
