// SPDX-License-Identifier: Apache-2.0
#include "dataplane/xdp/snapshot_writer.h"

#include <bpf/bpf.h>

#include <cerrno>
#include <cstring>

#include "dataplane/xdp/map_io.h"

namespace sluice::xdp {
namespace {

template <typename T>
bool same_bytes(const T& a, const T& b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

// Brings a hash map's part of a slot from `old` to `now` (both sorted by
// key): deletes the keys `now` lacks, writes the new and changed ones.
template <typename Key>
void write_hash(int fd, const char* map, const HashImage<Key>& old, const HashImage<Key>& now,
                WriteStats& stats) {
  std::vector<Key> stale, keys;
  std::vector<uint32_t> values;
  size_t i = 0, j = 0;
  while (i < old.size() || j < now.size()) {
    if (j == now.size() || (i < old.size() && key_less(old[i].first, now[j].first))) {
      stale.push_back(old[i++].first);
    } else if (i == old.size() || key_less(now[j].first, old[i].first)) {
      keys.push_back(now[j].first);
      values.push_back(now[j++].second);
    } else {
      if (old[i].second != now[j].second) {
        keys.push_back(now[j].first);
        values.push_back(now[j].second);
      }
      ++i, ++j;
    }
  }
  // Deletions first: they make room for the new keys in a full map.
  delete_elements(fd, map, stale.data(), sizeof(Key), stale.size());
  update_elements(fd, map, keys.data(), sizeof(Key), values.data(), sizeof(uint32_t), keys.size());
  stats.keys_deleted += stale.size();
  stats.elements_written += keys.size();
}

// Writes the entries of an array map's slot (starting at `base`) that differ
// from `old` (entries beyond old's end always). Returns how many.
template <typename Value>
uint64_t write_array(int fd, const char* map, uint32_t base, const std::vector<Value>& old,
                     const std::vector<Value>& now) {
  std::vector<uint32_t> keys;
  std::vector<Value> values;
  for (size_t i = 0; i < now.size(); ++i) {
    if (i < old.size() && same_bytes(old[i], now[i])) continue;
    keys.push_back(base + static_cast<uint32_t>(i));
    values.push_back(now[i]);
  }
  update_elements(fd, map, keys.data(), sizeof(uint32_t), values.data(), sizeof(Value),
                  keys.size());
  return keys.size();
}

// The keys of `slot` in a hash map, with their values.
template <typename Key>
HashImage<Key> scan_hash(int fd, const char* map, uint32_t slot) {
  HashImage<Key> image;
  for (const Key& k : all_keys<Key>(fd, map)) {
    uint32_t value = 0;
    if (slot_of(k) == slot && lookup_element(fd, map, &k, &value)) image.emplace_back(k, value);
  }
  sort_by_key(image);
  return image;
}

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += (out.empty() ? "" : "; ") + l;
  return out;
}

}  // namespace

SnapshotWriter::SnapshotWriter(const XdpMaps& maps, WriterOptions options)
    : maps_(maps), options_(options), capacity_(capacity_of(maps)) {
  // The program finds slot 1 at these offsets through its read-only data
  // (sluice_max_services, ...), which the loader sets from the same sizes.
  strides_.services = map_max_entries(maps_.service_config, "service_config") / SLUICE_XDP_SLOTS;
  strides_.backends = map_max_entries(maps_.backends, "backends") / SLUICE_XDP_SLOTS;
  strides_.maglev_values = map_max_entries(maps_.maglev, "maglev") / SLUICE_XDP_SLOTS;
  read_root();
  wait_grace_period(maps_);
}

void SnapshotWriter::read_root() {
  const uint32_t zero = 0;
  sluice_xdp_root root{};
  if (!lookup_element(maps_.root, "root", &zero, &root)) {
    throw XdpError("the XDP map \"root\" has no entry 0");
  }
  root_ = root.word;
}

std::vector<std::string> SnapshotWriter::check(const engine::Snapshot& snapshot) const {
  return capacity_errors(snapshot, capacity_);
}

void SnapshotWriter::scan(uint32_t slot, SlotImage& image) const {
  image = SlotImage{};
  image.services = scan_hash<sluice_xdp_service_key>(maps_.services, "services", slot);
  image.vips = scan_hash<sluice_xdp_vip_key>(maps_.vips, "vips", slot);
  image.backend_index =
      scan_hash<sluice_xdp_backend_key>(maps_.backend_index, "backend_index", slot);
  image.rules = scan_hash<sluice_xdp_rule_key>(maps_.rules, "rules", slot);
}

void SnapshotWriter::write_slot(uint32_t slot, const SlotImage& old, bool old_known,
                                const SlotImage& now, WriteStats& stats) {
  if (!old_known || !same_bytes(old.globals, now.globals)) {
    update_elements(maps_.globals, "globals", &slot, sizeof(slot), &now.globals,
                    sizeof(now.globals), 1);
    ++stats.elements_written;
  }
  write_hash(maps_.services, "services", old.services, now.services, stats);
  write_hash(maps_.vips, "vips", old.vips, now.vips, stats);
  write_hash(maps_.backend_index, "backend_index", old.backend_index, now.backend_index, stats);
  write_hash(maps_.rules, "rules", old.rules, now.rules, stats);
  stats.elements_written += write_array(maps_.service_config, "service_config",
                                        slot * strides_.services, old.service_config,
                                        now.service_config);
  stats.elements_written +=
      write_array(maps_.backends, "backends", slot * strides_.backends, old.backends, now.backends);
  stats.maglev_values_written =
      write_array(maps_.maglev, "maglev", slot * strides_.maglev_values, old.maglev, now.maglev);
  stats.elements_written += stats.maglev_values_written;
}

WriteStats SnapshotWriter::write(const engine::Snapshot& snapshot) {
  const std::vector<std::string> errors = check(snapshot);
  if (!errors.empty()) {
    throw XdpError("configuration generation " + std::to_string(snapshot.generation()) +
                   " does not fit the XDP maps: " + join(errors));
  }
  // Before the first publish (root 0) no packet reads any slot.
  const uint32_t slot = root_ == 0 ? 0 : 1 - sluice_xdp_root_slot(root_);
  const uint64_t generation = std::max(snapshot.generation(), root_generation() + 1);
  WriteStats stats;
  stats.slot = slot;
  stats.root_generation = generation;

  Slot& target = slots_[slot];
  SlotImage image = build_slot_image(snapshot, slot, options_.tx_ifindex);
  membership_.note(snapshot, generation);
  for (uint32_t s = 0; s < snapshot.services().size(); ++s) {
    for (uint32_t p = 0; p < snapshot.services()[s].pools.size(); ++p) {
      image.service_config[s].pools[p].members_since =
          membership_.since(engine::pool_position(s, p));
    }
  }
  const bool was_known = target.known;
  target.known = false;  // until every write below has succeeded
  if (!was_known) scan(slot, target.image);
  write_slot(slot, target.image, was_known, image, stats);

  const uint32_t zero = 0;
  const sluice_xdp_root root{generation << 1 | slot};
  if (bpf_map_update_elem(maps_.root, &zero, &root, BPF_ANY) != 0) {
    throw XdpError(std::string("cannot switch the XDP map \"root\" to slot ") +
                   std::to_string(slot) + ": " + std::strerror(errno));
  }
  root_ = root.word;
  target.image = std::move(image);
  target.known = true;
  wait_grace_period(maps_);
  return stats;
}

}  // namespace sluice::xdp
