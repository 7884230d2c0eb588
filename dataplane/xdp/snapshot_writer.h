// SPDX-License-Identifier: Apache-2.0
// Writes compiled engine snapshots into the XDP maps, double-buffered
// (ebpf/xdp/xdp_layout.h): the new configuration goes into the slot no
// packet reads, then one 8-byte update of `root` switches every packet to
// it, then an RCU grace period passes, after which no packet reads the old
// slot any more and every CPU forwards with the new generation.
//
// Only the difference is written. The writer remembers, per slot, what it
// put there (the slot's SlotImage), so a weight change, which alters one
// split, rewrites one service_config entry (and the slot's globals, which
// record the snapshot's generation for a later adopter): unchanged Maglev tables,
// backends and keys are left alone, and keys the new snapshot no longer has
// (services, VIPs, backends, rules of the previous use of the slot) are
// deleted. A slot this writer has not written yet (maps adopted from an
// earlier sluiced) is scanned for its keys, then written in full.
//
// Root generations only ever increase (flow entries cache a backend index
// per generation, so a number must never name two configurations): a
// snapshot whose generation is not above the root's is written as the
// root's generation + 1. Each pool's members_since is the writer's own, in
// root generations (what the program compares with).
//
// Not thread-safe: one writer per set of maps, one caller at a time
// (XdpPublisher serialises its callers).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/engine/snapshot.h"
#include "dataplane/xdp/slot_image.h"
#include "dataplane/xdp/xdp_maps.h"

namespace sluice::xdp {

struct WriterOptions {
  uint32_t tx_ifindex = 0;  // where forwarded frames leave; 0: XDP_TX
};

// What one write did (for logs, tests and benchmarks).
struct WriteStats {
  uint64_t root_generation = 0;  // the generation now in `root`
  uint32_t slot = 0;             // the slot now active
  uint64_t elements_written = 0; // map elements updated (Maglev: values of 4 entries)
  uint64_t keys_deleted = 0;     // stale keys removed from the slot
  uint64_t maglev_values_written = 0;
};

class SnapshotWriter {
 public:
  // Reads `root` (the active slot and generation, possibly left by an
  // earlier process) and waits for one grace period, since that process
  // may have died between a switch and its grace period. Throws XdpError.
  explicit SnapshotWriter(const XdpMaps& maps, WriterOptions options = {});

  // Why `snapshot` does not fit the maps (empty when it does).
  std::vector<std::string> check(const engine::Snapshot& snapshot) const;

  // Writes `snapshot` into the inactive slot, switches `root` to it and
  // waits for the grace period. Throws XdpError: on a capacity error before
  // anything is written; on a refused syscall with the active configuration
  // unchanged (the slot being written is then rewritten in full next time).
  WriteStats write(const engine::Snapshot& snapshot);

  uint64_t root_word() const { return root_; }
  uint64_t root_generation() const { return sluice_xdp_root_generation(root_); }
  const XdpCapacity& capacity() const { return capacity_; }

 private:
  struct Slot {
    bool known = false;  // image is what the maps hold for this slot
    SlotImage image;
  };
  void read_root();
  // Fills a slot's image with the keys (and values) the maps hold for it.
  void scan(uint32_t slot, SlotImage& image) const;
  void write_slot(uint32_t slot, const SlotImage& old_image, bool old_known,
                  const SlotImage& image, WriteStats& stats);

  // Index of a slot's first element in each array map = slot * stride.
  struct Strides {
    uint32_t services = 0;
    uint32_t backends = 0;
    uint32_t maglev_values = 0;
  };

  XdpMaps maps_;
  WriterOptions options_;
  XdpCapacity capacity_;
  Strides strides_;
  uint64_t root_ = 0;
  std::array<Slot, SLUICE_XDP_SLOTS> slots_;
  // Since which root generation each pool position has had its active
  // backends (sluice_xdp_pool.members_since). Starts empty: after a
  // restart every pool's ejected count is counted afresh once.
  engine::PoolMembership membership_;
};

}  // namespace sluice::xdp
