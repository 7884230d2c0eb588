// SPDX-License-Identifier: Apache-2.0
// Whether the XDP program sluiced attached is still the one on its
// interface. The program is tied to the interface, not to sluiced, so it
// can be taken away behind sluiced's back: `ip link set dev IF xdp off`,
// another program attached in its place, `sluiced --xdp-detach --force`,
// the interface deleted. sluiced would then go on publishing into maps
// nothing forwards with and answer "applied": this watch asks the kernel
// which program is attached (xdp::attached_program: one netlink query),
// from housekeeping a few times a second and before every "applied", and
// turns a difference into the sink's fault() (control/core/dataplane_sink.h).
//
// sluiced does not re-attach its program. Whoever took it away did so on
// purpose (an operator, another tool, a forced detach), and a daemon that
// silently puts itself back fights them: each would undo the other. It
// stays faulted and says so loudly, once per change, with what to do; the
// fault clears by itself if its own program (the same id) comes back, e.g.
// `bpftool net attach xdp pinned PIN_DIR/IF/program dev IF`, and a restart
// attaches (and adopts the pins, if they are still there) anew.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>

namespace sluice::control {

// What the kernel says is attached: a program id (0: none) and name, or
// an error (the interface cannot be queried).
struct XdpAttachmentProbe {
  uint32_t id = 0;
  std::string name;
  std::string error;
};

class XdpAttachmentWatch {
 public:
  using Probe = std::function<XdpAttachmentProbe()>;

  // `our_id`: the program this sluiced attached or kept.
  XdpAttachmentWatch(std::string interface, uint32_t our_id, Probe probe)
      : interface_(std::move(interface)), our_id_(our_id), probe_(std::move(probe)) {}

  // Asks the kernel now; logs an error when the fault appears or changes
  // and an info line when it clears. Returns the fault ("" when ours is
  // attached). Any thread.
  std::string check() {
    // One query at a time, so that an older answer never overwrites a
    // newer one; fault() readers do not wait for the query.
    std::lock_guard<std::mutex> probing(probe_mutex_);
    const std::string now = fault_of(probe_());
    std::lock_guard<std::mutex> lock(mutex_);
    last_check_ = std::chrono::steady_clock::now();
    if (now != fault_) {
      if (!now.empty()) {
        spdlog::error("XDP FAULT: {}", now);
      } else {
        spdlog::info("XDP program id {} is attached to {} again: sluiced vouches for what it "
                     "forwards again",
                     our_id_, interface_);
      }
      fault_ = now;
    }
    return fault_;
  }

  // check(), unless one ran less than `interval` ago (housekeeping calls
  // this every few milliseconds).
  void check_every(std::chrono::milliseconds interval) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (std::chrono::steady_clock::now() - last_check_ < interval) return;
    }
    check();
  }

  // The fault the latest check found ("" when none). Any thread; no query.
  std::string fault() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return fault_;
  }

 private:
  std::string fault_of(const XdpAttachmentProbe& p) const {
    const std::string ours = "sluiced's XDP program (id " + std::to_string(our_id_) + ")";
    if (!p.error.empty()) {
      return "cannot tell whether " + ours + " is still attached to " + interface_ + ": " +
             p.error + "; sluiced cannot vouch for what " + interface_ + " forwards";
    }
    if (p.id == our_id_) return {};
    const std::string consequence = ": nothing forwards with this sluiced's configuration; ";
    if (p.id == 0) {
      return ours + " was detached from " + interface_ + " behind its back (ip link set dev " +
             interface_ + " xdp off, or sluiced --xdp-detach --force)" + consequence +
             "sluiced does not re-attach it by itself: restart sluiced to attach it again";
    }
    return "another XDP program (id " + std::to_string(p.id) + ", \"" + p.name + "\") replaced " +
           ours + " on " + interface_ + consequence +
           "sluiced does not fight it: detach that one (ip link set dev " + interface_ +
           " xdp off) and restart sluiced";
  }

  const std::string interface_;
  const uint32_t our_id_;
  const Probe probe_;
  std::mutex probe_mutex_;
  mutable std::mutex mutex_;
  std::string fault_;  // guarded by mutex_
  std::chrono::steady_clock::time_point last_check_{};  // guarded by mutex_
};

}  // namespace sluice::control
