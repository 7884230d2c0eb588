// SPDX-License-Identifier: Apache-2.0
// Loading the XDP program (through its bpftool skeleton), attaching it to an
// interface, pinning it and its maps in bpffs, and adopting what an earlier
// sluiced pinned.
//
// The program is attached with bpf_xdp_attach (netlink), which ties it to
// the interface, not to this process, and its maps are pinned: forwarding
// goes on, with every flow, circuit and the configuration, when sluiced
// exits or crashes. The next sluiced finds the pins and adopts them:
//  - the pinned maps are reused (bpf_map__reuse_fd before the load), so the
//    flow table, circuit state, counters and configuration carry over, and
//    the root generation with them (XdpPublisher continues from it); the
//    health table alone is cleared (backend_health.h: health is found out
//    afresh by each sluiced, and unknown backends are served);
//  - the attached program is kept when it is the same program (same
//    instructions and read-only data), or else replaced in one atomic
//    netlink update (XDP_FLAGS_REPLACE; an upgrade), so no packet meets an
//    interface without a program.
// Pins are adopted only when their `layout` map holds this build's
// SLUICE_XDP_LAYOUT_VERSION and every pinned map has the type, key and
// value size the program was built for; otherwise loading fails, says what
// to do, and leaves the running program and its pins alone.
//
// Pin folder: <pin_root>/<interface>/, one file per map (by its name) plus
// "program". The `root` pin is written last: a folder without it is an
// interrupted first start, whose pins are removed before loading afresh.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/xdp/xdp_maps.h"
#include "ebpf/xdp/xdp_layout.h"

struct bpf_object;
struct sluice_xdp;

namespace sluice::xdp {

// The size of "flows_new" (unconfirmed flows) for a "flows" of `flows`
// entries: unconfirmed flows live seconds (tcp_syn_ms, probation_ms) where
// confirmed ones live hours, so a quarter of the room is plenty, and under
// a flood it is this map that churns (README "Flow state under attack").
inline uint32_t unconfirmed_flow_entries(uint32_t flows) {
  return flows / 4 > 1024u ? flows / 4 : 1024u;
}

// Map sizes of a fresh load (pinned maps keep the sizes they were made with).
struct XdpMapSizes {
  uint32_t services = SLUICE_XDP_MAX_SERVICES;         // per slot
  uint32_t backends = SLUICE_XDP_MAX_BACKENDS;         // per slot, all services
  uint32_t maglev_entries = SLUICE_XDP_MAGLEV_ENTRIES; // per slot, all tables
  uint32_t rules = SLUICE_XDP_MAX_RULES;               // per slot, all services
  uint32_t flows = SLUICE_XDP_FLOWS;                   // confirmed, all CPUs together (LRU)
  uint32_t flows_new = SLUICE_XDP_FLOWS_NEW;           // unconfirmed, all CPUs together (LRU)
  uint32_t circuits = SLUICE_XDP_CIRCUITS;             // per CPU (LRU)
  uint32_t counter_slots = SLUICE_XDP_COUNTER_SLOTS;   // per kind
};

struct XdpLoaderOptions {
  std::string interface;                // where the program is attached
  bool generic = false;                 // generic (skb) mode instead of native
  std::string pin_root = "/sys/fs/bpf/sluice";
  XdpMapSizes sizes;
  bool test_clock = false;              // tests only: the program's clock from .bss

  std::string pin_folder() const { return pin_root + "/" + interface; }
};

// What happened to the program on the interface.
enum class XdpProgramAction : uint8_t {
  kAttached,  // none of ours was attached: attached the new one
  kKept,      // the same program was attached: left as it was
  kReplaced,  // another version of ours was attached: replaced atomically
};
const char* xdp_program_action_name(XdpProgramAction action);

class XdpLoader {
 public:
  // Loads or adopts, attaches and pins. Throws XdpError naming the
  // interface or path, with the end of the verifier log when the kernel
  // refuses the program.
  explicit XdpLoader(const XdpLoaderOptions& options);
  // Closes this process's handles only: the program stays attached and
  // pinned, and goes on forwarding.
  ~XdpLoader();
  XdpLoader(const XdpLoader&) = delete;
  XdpLoader& operator=(const XdpLoader&) = delete;

  const XdpMaps& maps() const { return maps_; }
  bpf_object* object() const;

  bool maps_adopted() const { return maps_adopted_; }
  XdpProgramAction program_action() const { return action_; }
  uint32_t program_id() const { return program_id_; }  // the attached program
  uint32_t ifindex() const { return ifindex_; }
  const std::string& pin_folder() const { return pin_folder_; }

 private:
  void open_skeleton();
  void adopt_or_size_maps(bool adopt);
  void load();
  void pin_fresh();
  void attach(bool adopt);

  XdpLoaderOptions options_;
  std::string pin_folder_;
  uint32_t ifindex_ = 0;
  sluice_xdp* skel_ = nullptr;
  XdpMaps maps_;
  bool maps_adopted_ = false;
  XdpProgramAction action_ = XdpProgramAction::kAttached;
  uint32_t program_id_ = 0;
};

// What is attached to an interface in one mode now: the program's id (0:
// none) and name ("" when none, or when it went away meanwhile).
struct XdpAttached {
  uint32_t id = 0;
  std::string name;
};

// One netlink query (bpf_xdp_query) and, when a program is attached, one
// lookup of its name: cheap enough for a few times a second, from
// housekeeping (never from a forwarding path). Throws XdpError naming the
// interface when it cannot be queried (it was deleted, say).
XdpAttached attached_program(uint32_t ifindex, bool generic, const std::string& interface);

// What detach_and_remove() did.
struct XdpRemoval {
  bool detached = false;     // our program was attached and is no more
  uint32_t foreign_program = 0;  // id of another program left attached, 0: none
  size_t pins_removed = 0;
};

// Detaches our program from the interface (one whose id is the pinned
// program's, or named like ours when there is no pin) and removes the pin
// folder: forwarding stops and flows, circuits and configuration are gone.
// A missing interface or pin folder is not an error (nothing to do there).
// Throws XdpError when the kernel refuses.
XdpRemoval detach_and_remove(const XdpLoaderOptions& options);

}  // namespace sluice::xdp
