// SPDX-License-Identifier: Apache-2.0
#include "dataplane/xdp/xdp_maps.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "ebpf/xdp/xdp_layout.h"

namespace sluice::xdp {
namespace {

struct MapSlot {
  const char* name;
  bool required;
  int XdpMaps::*fd;
};

const std::vector<MapSlot>& map_slots() {
  static const std::vector<MapSlot> slots = {
#define SLUICE_X(name, required) {#name, required, &XdpMaps::name},
      SLUICE_XDP_MAPS(SLUICE_X)
#undef SLUICE_X
  };
  return slots;
}

}  // namespace

const std::vector<std::string>& xdp_map_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const MapSlot& s : map_slots()) out.emplace_back(s.name);
    return out;
  }();
  return names;
}

XdpMaps maps_of(const bpf_object* object) {
  XdpMaps maps;
  for (const MapSlot& s : map_slots()) {
    const bpf_map* map = bpf_object__find_map_by_name(object, s.name);
    const int fd = map ? bpf_map__fd(map) : -1;
    if (fd < 0 && s.required) {
      throw XdpError(std::string("the XDP object has no loaded map \"") + s.name +
                     "\" (built from another ebpf/xdp/xdp_maps.bpf.h?)");
    }
    maps.*s.fd = fd;
  }
  return maps;
}

uint32_t map_max_entries(int fd, const std::string& what) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) {
    throw XdpError("cannot read the size of the XDP map \"" + what + "\": " + std::strerror(errno));
  }
  return info.max_entries;
}

XdpCapacity capacity_of(const XdpMaps& maps) {
  // Hash maps and the trie hold both slots in one table; each slot may use
  // half, so the publisher can fill one while the other is still full.
  auto per_slot = [](int fd, const char* what) {
    return map_max_entries(fd, what) / SLUICE_XDP_SLOTS;
  };
  XdpCapacity c;
  c.services = std::min({per_slot(maps.service_config, "service_config"),
                         per_slot(maps.services, "services"), per_slot(maps.vips, "vips")});
  c.backends = std::min(per_slot(maps.backends, "backends"),
                        per_slot(maps.backend_index, "backend_index"));
  const uint64_t maglev = uint64_t{per_slot(maps.maglev, "maglev")} * SLUICE_XDP_MAGLEV_PER_VALUE;
  c.maglev_entries = static_cast<uint32_t>(std::min<uint64_t>(maglev, UINT32_MAX));
  c.rules = per_slot(maps.rules, "rules");
  c.counter_slots = std::min({map_max_entries(maps.service_traffic, "service_traffic"),
                              map_max_entries(maps.pool_traffic, "pool_traffic"),
                              map_max_entries(maps.backend_traffic, "backend_traffic")});
  return c;
}

void wait_grace_period(const XdpMaps& maps) {
  // Updating a map-in-map makes the kernel call synchronize_rcu() before the
  // syscall returns, and XDP programs run inside RCU read-side sections.
  const uint32_t key = 0;
  const uint32_t inner = static_cast<uint32_t>(maps.rcu_sync_inner);
  if (bpf_map_update_elem(maps.rcu_sync, &key, &inner, BPF_ANY) != 0) {
    throw XdpError(std::string("cannot wait for the XDP grace period (update of rcu_sync): ") +
                   std::strerror(errno));
  }
}

PinnedMaps::PinnedMaps(const std::string& folder) {
  for (const MapSlot& s : map_slots()) {
    const std::string path = folder + "/" + s.name;
    const int fd = bpf_obj_get(path.c_str());
    if (fd < 0 && (s.required || errno != ENOENT)) {
      const std::string why = std::strerror(errno);
      close_all();
      throw XdpError("cannot open the pinned XDP map " + path + ": " + why);
    }
    maps_.*s.fd = fd;
  }
}

PinnedMaps::~PinnedMaps() { close_all(); }

void PinnedMaps::close_all() {
  for (const MapSlot& s : map_slots()) {
    if (maps_.*s.fd >= 0) close(maps_.*s.fd);
    maps_.*s.fd = -1;
  }
}

}  // namespace sluice::xdp
