// SPDX-License-Identifier: Apache-2.0
// The XDP program's maps as userspace reaches them: one file descriptor per
// map (layout and meaning: ebpf/xdp/xdp_layout.h), from a loaded object (the
// skeleton's, a test's) or from the pins in bpffs. The writer, publisher and
// stats reader take an XdpMaps and never care where it came from.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

struct bpf_object;

namespace sluice::xdp {

// A failure of the XDP dataplane, with a message for the operator (which
// interface, path or map, and what to do where there is something to do).
class XdpError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// X(name, required): every map of the program, by its name in the object
// and in bpffs. "circuits", "pool_ejected" and "counters" are not needed to
// publish (the writer and publisher work without them); the stats reader
// requires "circuits" and "counters".
#define SLUICE_XDP_MAPS(X)  \
  X(root, true)             \
  X(layout, true)           \
  X(globals, true)          \
  X(services, true)         \
  X(vips, true)             \
  X(service_config, true)   \
  X(backends, true)         \
  X(backend_index, true)    \
  X(maglev, true)           \
  X(rules, true)            \
  X(flows, true)            \
  X(flows_new, true)        \
  X(new_flow_buckets, false) \
  X(too_big_buckets, false) \
  X(circuits, false)        \
  X(pool_ejected, false)    \
  X(counters, false)        \
  X(seen_generation, true)  \
  X(service_traffic, true)  \
  X(pool_traffic, true)     \
  X(backend_traffic, true)  \
  X(pool_handshakes, true)  \
  X(backend_handshakes, true) \
  X(backend_health, true)   \
  X(rcu_sync, true)         \
  X(rcu_sync_inner, true)

// File descriptors, not owned; -1 where the object has no such map.
struct XdpMaps {
#define SLUICE_X(name, required) int name = -1;
  SLUICE_XDP_MAPS(SLUICE_X)
#undef SLUICE_X
};

// Names of all maps, in SLUICE_XDP_MAPS order.
const std::vector<std::string>& xdp_map_names();

// What one slot can hold, from the maps' sizes (max_entries / slots).
struct XdpCapacity {
  uint32_t services = 0;
  uint32_t backends = 0;        // all services together
  uint32_t maglev_entries = 0;  // all tables together, in entries (not values)
  uint32_t rules = 0;           // all services together
  uint32_t counter_slots = 0;   // per kind (service, pool, backend)
};

// The maps of a loaded object. Throws XdpError naming a missing required map.
XdpMaps maps_of(const bpf_object* object);

// Reads the sizes of the maps. Throws XdpError if the kernel refuses.
XdpCapacity capacity_of(const XdpMaps& maps);

// max_entries of one map (throws XdpError naming `what` on failure).
uint32_t map_max_entries(int fd, const std::string& what);

// An RCU grace period: returns once every XDP program run that started
// before the call has finished (the rcu_sync map-in-map update,
// xdp_maps.bpf.h). Throws XdpError if the kernel refuses the update.
void wait_grace_period(const XdpMaps& maps);

// The maps pinned under a bpffs folder (one file per map name), opened for
// this process and closed with it.
class PinnedMaps {
 public:
  // Throws XdpError naming the folder and the first required map missing.
  explicit PinnedMaps(const std::string& folder);
  ~PinnedMaps();
  PinnedMaps(const PinnedMaps&) = delete;
  PinnedMaps& operator=(const PinnedMaps&) = delete;

  const XdpMaps& maps() const { return maps_; }

 private:
  void close_all();
  XdpMaps maps_;
};

}  // namespace sluice::xdp
