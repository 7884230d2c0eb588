// SPDX-License-Identifier: Apache-2.0
#include "dataplane/xdp/xdp_loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "dataplane/xdp/backend_health.h"
#include "dataplane/xdp/bpffs.h"
#include "dataplane/xdp/map_io.h"
#include "ebpf/xdp/sluice_xdp.skel.h"

namespace sluice::xdp {
namespace {

constexpr const char* kProgramPin = "program";
constexpr const char* kProgramName = "sluice_xdp";  // as the kernel reports it
constexpr const char* kRootPin = "root";

// An owned file descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// libbpf's messages while loading, for the error when the kernel refuses
// the program (the verifier log comes as one warning). libbpf's print
// callback is process-wide: one capture at a time, and the previous
// callback still gets every message.
class LogCapture {
 public:
  LogCapture() : lock_(mutex()) {
    sink() = &text_;
    previous() = libbpf_set_print(&LogCapture::print);
  }
  ~LogCapture() {
    libbpf_set_print(previous());
    sink() = nullptr;
  }
  // The end of the log: the verifier's reason is at the end.
  std::string tail(size_t max = 4000) const {
    return text_.size() <= max ? text_ : "..." + text_.substr(text_.size() - max);
  }

 private:
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  static std::string*& sink() {
    static std::string* s = nullptr;
    return s;
  }
  static libbpf_print_fn_t& previous() {
    static libbpf_print_fn_t p = nullptr;
    return p;
  }
  static int print(enum libbpf_print_level level, const char* format, va_list args) {
    if (previous()) {
      va_list copy;
      va_copy(copy, args);
      previous()(level, format, copy);
      va_end(copy);
    }
    if (level == LIBBPF_DEBUG || !sink()) return 0;
    va_list again;
    va_copy(again, args);
    const int n = vsnprintf(nullptr, 0, format, args);
    if (n > 0) {
      std::string text(static_cast<size_t>(n) + 1, '\0');
      vsnprintf(text.data(), text.size(), format, again);
      text.resize(static_cast<size_t>(n));
      *sink() += text;
    }
    va_end(again);
    return n;
  }

  std::lock_guard<std::mutex> lock_;
  std::string text_;
};

// What identifies a loaded program's behaviour: its instructions (the tag,
// computed without map addresses) and its read-only data, plus the maps it
// uses (to tell whether it forwards with the pinned ones).
struct ProgramInfo {
  uint32_t id = 0;
  std::string name;
  std::array<uint8_t, BPF_TAG_SIZE> tag{};
  std::vector<uint32_t> map_ids;
  std::string rodata;
};

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

ProgramInfo program_info(int fd, const std::string& what) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) {
    throw XdpError("cannot inspect " + what + ": " + std::strerror(errno));
  }
  ProgramInfo out;
  out.map_ids.resize(info.nr_map_ids);
  const uint32_t nr_map_ids = info.nr_map_ids;
  info = bpf_prog_info{};
  info.nr_map_ids = nr_map_ids;
  info.map_ids = reinterpret_cast<uint64_t>(out.map_ids.data());
  len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) {
    throw XdpError("cannot inspect " + what + ": " + std::strerror(errno));
  }
  out.id = info.id;
  out.name = info.name;
  std::memcpy(out.tag.data(), info.tag, BPF_TAG_SIZE);
  out.map_ids.resize(std::min(nr_map_ids, info.nr_map_ids));
  for (uint32_t map_id : out.map_ids) {
    Fd map(bpf_map_get_fd_by_id(map_id));
    bpf_map_info m{};
    uint32_t mlen = sizeof(m);
    if (map.get() < 0 || bpf_obj_get_info_by_fd(map.get(), &m, &mlen) != 0) continue;
    if (!ends_with(m.name, ".rodata")) continue;
    out.rodata.assign(m.value_size, '\0');
    const uint32_t zero = 0;
    lookup_element(map.get(), ".rodata", &zero, out.rodata.data());
  }
  return out;
}

uint32_t map_id(int fd) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

// The programs attached to an interface, by mode.
struct AttachedPrograms {
  uint32_t native = 0;
  uint32_t generic = 0;
};

AttachedPrograms attached_programs(uint32_t ifindex, const std::string& interface) {
  LIBBPF_OPTS(bpf_xdp_query_opts, query);
  const int err = bpf_xdp_query(static_cast<int>(ifindex), 0, &query);
  if (err != 0) {
    throw XdpError("cannot query the XDP programs of " + interface + ": " + std::strerror(-err));
  }
  return {query.drv_prog_id, query.skb_prog_id};
}

const char* mode_name(bool generic) { return generic ? "generic" : "native"; }
uint32_t mode_flag(bool generic) { return generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE; }

uint32_t resolve_interface(const std::string& interface) {
  if (interface.empty()) throw XdpError("no interface given for the XDP program");
  const unsigned ifindex = if_nametoindex(interface.c_str());
  if (ifindex == 0) {
    throw XdpError("no network interface named \"" + interface + "\" (in this network namespace)");
  }
  return ifindex;
}

// The layout version the pinned maps were made for (0: none readable).
uint32_t pinned_layout(const std::string& folder) {
  Fd layout(bpf_obj_get((folder + "/layout").c_str()));
  uint32_t version = 0;
  const uint32_t zero = 0;
  if (layout.get() >= 0 && bpf_map_lookup_elem(layout.get(), &zero, &version) != 0) version = 0;
  return version;
}

void pin(int fd, const std::string& path) {
  if (bpf_obj_pin(fd, path.c_str()) != 0) {
    throw XdpError("cannot pin " + path + ": " + std::strerror(errno));
  }
}

// A pinned map must be of the type, key and value size this program was
// built for. The layout version should have said so already; this catches
// a layout change that forgot to bump it, before bpf_map__reuse_fd (which
// takes whatever the fd is) lets the program read, say, one CPU's value of
// a per-CPU map as if it were the whole entry.
void check_pinned_shape(const bpf_map* map, int fd, const std::string& path) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) {
    throw XdpError("cannot inspect the pinned XDP map " + path + ": " + std::strerror(errno));
  }
  const auto want = bpf_map__type(map);
  if (info.type == static_cast<uint32_t>(want) && info.key_size == bpf_map__key_size(map) &&
      info.value_size == bpf_map__value_size(map)) {
    return;
  }
  auto shape = [](uint32_t type, uint32_t key, uint32_t value) {
    const char* name = libbpf_bpf_map_type_str(static_cast<bpf_map_type>(type));
    return std::string(name ? name : "map type " + std::to_string(type)) + " (key " +
           std::to_string(key) + " B, value " + std::to_string(value) + " B)";
  };
  throw XdpError("the pinned XDP map " + path + " is " +
                 shape(info.type, info.key_size, info.value_size) + ", this sluiced needs " +
                 shape(want, bpf_map__key_size(map), bpf_map__value_size(map)) +
                 ": it cannot be adopted. Either run the sluiced that made it, or remove the "
                 "pins with `sluiced --xdp-detach` (forwarding stops; flows and configuration "
                 "are lost) and start again");
}

// Entries of a fresh map, from the per-slot sizes of the options.
uint32_t fresh_size(const std::string& map, const XdpMapSizes& s) {
  if (map == "services" || map == "vips" || map == "service_config") return SLUICE_XDP_SLOTS * s.services;
  if (map == "backends" || map == "backend_index") return SLUICE_XDP_SLOTS * s.backends;
  if (map == "maglev") return SLUICE_XDP_SLOTS * (s.maglev_entries / SLUICE_XDP_MAGLEV_PER_VALUE);
  if (map == "rules") return SLUICE_XDP_SLOTS * s.rules;
  if (map == "flows") return s.flows;
  if (map == "flows_new") return s.flows_new;
  if (map == "circuits") return s.circuits;
  // Per service and pool of one configuration (indexed like service_config,
  // without the slot).
  if (map == "pool_ejected") return s.services * SLUICE_MAX_POOLS;
  // Counters, histograms and health are indexed by counter slot.
  if (ends_with(map, "_traffic") || ends_with(map, "_handshakes") || map == "backend_health") {
    return s.counter_slots;
  }
  return 0;  // keep the object's size
}

void check_sizes(const XdpMapSizes& s) {
  auto in_range = [](uint64_t value, uint64_t max, const char* what) {
    if (value == 0 || value > max) {
      throw XdpError(std::string("XDP map size ") + what + " = " + std::to_string(value) +
                     " is out of range 1.." + std::to_string(max));
    }
  };
  in_range(s.services, 1u << 24, "services");  // slot << 24 | service in backend keys
  in_range(s.backends, UINT32_MAX / SLUICE_XDP_SLOTS, "backends");
  in_range(s.maglev_entries, 1u << 30, "maglev_entries");
  if (s.maglev_entries % SLUICE_XDP_MAGLEV_PER_VALUE != 0) {
    throw XdpError("XDP map size maglev_entries = " + std::to_string(s.maglev_entries) +
                   " is not a multiple of " + std::to_string(SLUICE_XDP_MAGLEV_PER_VALUE));
  }
  in_range(s.rules, UINT32_MAX / SLUICE_XDP_SLOTS, "rules");
  in_range(s.flows, UINT32_MAX, "flows");
  in_range(s.flows_new, UINT32_MAX, "flows_new");
  in_range(s.circuits, UINT32_MAX, "circuits");
  in_range(s.counter_slots, UINT32_MAX, "counter_slots");
}

}  // namespace

const char* xdp_program_action_name(XdpProgramAction action) {
  switch (action) {
    case XdpProgramAction::kAttached: return "attached";
    case XdpProgramAction::kKept: return "kept";
    case XdpProgramAction::kReplaced: return "replaced";
  }
  return "unknown";
}

XdpLoader::XdpLoader(const XdpLoaderOptions& options)
    : options_(options), pin_folder_(options.pin_folder()) {
  check_sizes(options_.sizes);
  ifindex_ = resolve_interface(options_.interface);
  prepare_pin_folder(pin_folder_);
  const bool adopt = pin_exists(pin_folder_ + "/" + kRootPin);
  if (adopt) {
    const uint32_t version = pinned_layout(pin_folder_);
    if (version != SLUICE_XDP_LAYOUT_VERSION) {
      throw XdpError("the XDP maps pinned in " + pin_folder_ + " have layout version " +
                     std::to_string(version) + ", this sluiced uses " +
                     std::to_string(SLUICE_XDP_LAYOUT_VERSION) +
                     ": they cannot be adopted. Either run the sluiced that made them, or remove "
                     "them with `sluiced --xdp-detach` for " + options_.interface +
                     " (forwarding stops; flows and configuration are lost) and start again");
    }
  } else {
    remove_pins(pin_folder_, false);  // left by an interrupted first start
  }
  try {
    open_skeleton();
    adopt_or_size_maps(adopt);
    load();
    maps_ = maps_of(skel_->obj);
    if (!adopt) {
      const uint32_t zero = 0, version = SLUICE_XDP_LAYOUT_VERSION;
      update_elements(maps_.layout, "layout", &zero, sizeof(zero), &version, sizeof(version), 1);
    }
    // Health is this sluiced's to find out: every backend starts unknown
    // (served), also those an earlier sluiced had marked in adopted maps.
    clear_backend_health(maps_);
    pin_fresh();
    attach(adopt);
    if (!pin_exists(pin_folder_ + "/" + kRootPin)) pin(maps_.root, pin_folder_ + "/" + kRootPin);
  } catch (...) {
    sluice_xdp__destroy(skel_);
    // A failed first start leaves nothing behind; adopted pins stay as found.
    if (!adopt) remove_pins(pin_folder_, true);
    throw;
  }
}

XdpLoader::~XdpLoader() { sluice_xdp__destroy(skel_); }

bpf_object* XdpLoader::object() const { return skel_->obj; }

void XdpLoader::open_skeleton() {
  LogCapture log;
  skel_ = sluice_xdp__open();
  if (!skel_) {
    throw XdpError("cannot open the XDP program built into sluiced: " + log.tail());
  }
}

void XdpLoader::adopt_or_size_maps(bool adopt) {
  maps_adopted_ = adopt;
  bpf_map* map = nullptr;
  bpf_object__for_each_map(map, skel_->obj) {
    if (bpf_map__is_internal(map)) continue;  // .rodata, .bss: the program's own
    const std::string name = bpf_map__name(map);
    const std::string path = pin_folder_ + "/" + name;
    if (adopt && pin_exists(path)) {
      Fd pinned(bpf_obj_get(path.c_str()));
      if (pinned.get() < 0) {
        throw XdpError("cannot open the pinned XDP map " + path + ": " + std::strerror(errno));
      }
      check_pinned_shape(map, pinned.get(), path);
      const int err = bpf_map__reuse_fd(map, pinned.get());  // takes its own copy
      if (err != 0) {
        throw XdpError("cannot reuse the pinned XDP map " + path + ": " + std::strerror(-err));
      }
    } else if (const uint32_t entries = fresh_size(name, options_.sizes)) {
      bpf_map__set_max_entries(map, entries);
    }
  }
  // The program finds slot 1 of the array maps at these strides.
  skel_->rodata->sluice_max_services =
      bpf_map__max_entries(skel_->maps.service_config) / SLUICE_XDP_SLOTS;
  skel_->rodata->sluice_max_backends = bpf_map__max_entries(skel_->maps.backends) / SLUICE_XDP_SLOTS;
  skel_->rodata->sluice_maglev_entries =
      bpf_map__max_entries(skel_->maps.maglev) * SLUICE_XDP_MAGLEV_PER_VALUE / SLUICE_XDP_SLOTS;
  skel_->rodata->sluice_test_clock = options_.test_clock;
}

void XdpLoader::load() {
  LogCapture log;
  const int err = sluice_xdp__load(skel_);
  if (err != 0) {
    throw XdpError("the kernel refused the XDP program for " + options_.interface + ": " +
                   std::strerror(-err) + "\n" + log.tail());
  }
}

void XdpLoader::pin_fresh() {
  // Every map without a pin (all of them on a first start; a map new in
  // this version on an adoption), except root, which is pinned last.
  bpf_map* map = nullptr;
  bpf_object__for_each_map(map, skel_->obj) {
    if (bpf_map__is_internal(map)) continue;
    const std::string name = bpf_map__name(map);
    const std::string path = pin_folder_ + "/" + name;
    if (name != kRootPin && !pin_exists(path)) pin(bpf_map__fd(map), path);
  }
}

void XdpLoader::attach(bool adopt) {
  const std::string& ifname = options_.interface;
  const bool generic = options_.generic;
  const AttachedPrograms attached = attached_programs(ifindex_, ifname);
  const uint32_t other_mode = generic ? attached.native : attached.generic;
  if (other_mode != 0) {
    throw XdpError(ifname + " has an XDP program (id " + std::to_string(other_mode) +
                   ") attached in " + mode_name(!generic) + " mode, and " + mode_name(generic) +
                   " mode was asked for: start in " + mode_name(!generic) +
                   " mode, or detach it first (sluiced --xdp-detach, or ip link set dev " +
                   ifname + " xdp off if it is not sluice's)");
  }
  const uint32_t current = generic ? attached.generic : attached.native;
  const int new_fd = bpf_program__fd(skel_->progs.sluice_xdp);
  const ProgramInfo fresh = program_info(new_fd, "the loaded XDP program");
  const std::string program_pin = pin_folder_ + "/" + kProgramPin;

  if (current == 0) {
    const int err = bpf_xdp_attach(static_cast<int>(ifindex_), new_fd,
                                   mode_flag(generic) | XDP_FLAGS_UPDATE_IF_NOEXIST, nullptr);
    if (err != 0) {
      throw XdpError("cannot attach the XDP program to " + ifname + " in " + mode_name(generic) +
                     " mode: " + std::strerror(-err) +
                     (generic ? "" : " (a driver without native XDP needs --xdp-generic)"));
    }
    action_ = XdpProgramAction::kAttached;
    program_id_ = fresh.id;
  } else {
    Fd old(bpf_prog_get_fd_by_id(current));
    if (old.get() < 0) {
      throw XdpError("cannot open the XDP program attached to " + ifname + " (id " +
                     std::to_string(current) + "): " + std::strerror(errno));
    }
    const ProgramInfo running = program_info(old.get(), "the XDP program attached to " + ifname);
    if (running.name != kProgramName) {
      throw XdpError(ifname + " already has another XDP program attached (id " +
                     std::to_string(current) + ", \"" + running.name +
                     "\"); sluiced does not replace it: detach it first (ip link set dev " +
                     ifname + " xdp off)");
    }
    const uint32_t root_id = map_id(maps_.root);
    const bool uses_our_maps = std::find(running.map_ids.begin(), running.map_ids.end(),
                                         root_id) != running.map_ids.end();
    if (adopt && uses_our_maps && running.tag == fresh.tag && running.rodata == fresh.rodata) {
      action_ = XdpProgramAction::kKept;
      program_id_ = current;
      if (!pin_exists(program_pin)) pin(old.get(), program_pin);
      return;
    }
    LIBBPF_OPTS(bpf_xdp_attach_opts, replace, .old_prog_fd = old.get());
    const int err = bpf_xdp_attach(static_cast<int>(ifindex_), new_fd,
                                   mode_flag(generic) | XDP_FLAGS_REPLACE, &replace);
    if (err != 0) {
      throw XdpError("cannot replace the XDP program attached to " + ifname + " (id " +
                     std::to_string(current) + "): " + std::strerror(-err));
    }
    action_ = XdpProgramAction::kReplaced;
    program_id_ = fresh.id;
  }
  if (unlink(program_pin.c_str()) != 0 && errno != ENOENT) {
    throw XdpError("cannot replace the pin " + program_pin + ": " + std::strerror(errno));
  }
  pin(new_fd, program_pin);
}

XdpAttached attached_program(uint32_t ifindex, bool generic, const std::string& interface) {
  // bpf_xdp_query filters a dump of every link by index: a deleted
  // interface reads as one without a program. Ask for it by index first.
  char name[IF_NAMESIZE];
  if (!if_indextoname(ifindex, name)) {
    throw XdpError("cannot query the XDP programs of " + interface + ": its interface index " +
                   std::to_string(ifindex) + " is gone (" + std::strerror(errno) +
                   "; deleted, or recreated with another index)");
  }
  const AttachedPrograms attached = attached_programs(ifindex, interface);
  XdpAttached out;
  out.id = generic ? attached.generic : attached.native;
  if (out.id == 0) return out;
  Fd program(bpf_prog_get_fd_by_id(out.id));
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (program.get() >= 0 && bpf_obj_get_info_by_fd(program.get(), &info, &len) == 0) {
    out.name = info.name;
  }
  return out;
}

XdpRemoval detach_and_remove(const XdpLoaderOptions& options) {
  XdpRemoval removal;
  const std::string folder = options.pin_folder();
  uint32_t pinned_id = 0;
  if (pin_exists(folder + "/" + kProgramPin)) {
    Fd pinned(bpf_obj_get((folder + "/" + kProgramPin).c_str()));
    if (pinned.get() >= 0) pinned_id = program_info(pinned.get(), folder + "/program").id;
  }
  const unsigned ifindex = options.interface.empty() ? 0 : if_nametoindex(options.interface.c_str());
  if (ifindex != 0) {
    const AttachedPrograms attached = attached_programs(ifindex, options.interface);
    for (const bool generic : {false, true}) {
      const uint32_t id = generic ? attached.generic : attached.native;
      if (id == 0) continue;
      Fd program(bpf_prog_get_fd_by_id(id));
      if (program.get() < 0) continue;  // gone meanwhile
      const ProgramInfo info = program_info(program.get(), "the XDP program of " + options.interface);
      if (id != pinned_id && info.name != kProgramName) {
        removal.foreign_program = id;
        continue;
      }
      LIBBPF_OPTS(bpf_xdp_attach_opts, expected, .old_prog_fd = program.get());
      const int err = bpf_xdp_detach(static_cast<int>(ifindex), mode_flag(generic) | XDP_FLAGS_REPLACE,
                                     &expected);
      if (err != 0) {
        throw XdpError("cannot detach the XDP program from " + options.interface + ": " +
                       std::strerror(-err));
      }
      removal.detached = true;
    }
  }
  removal.pins_removed = remove_pins(folder, true);
  return removal;
}

}  // namespace sluice::xdp
