// SPDX-License-Identifier: Apache-2.0
// Worker flow tables in files that outlive sluiced, so that a DPDK restart
// (crash, kill -9, upgrade) keeps every flow on its backend, as the XDP
// dataplane keeps its pinned maps.
//
// One file per worker, DIR/worker-<i>.flows, mapped MAP_SHARED: the
// worker's FlowTable lives in it (engine::FlowTableMemory), so when the
// process dies the table stays in the page cache, and the next sluiced
// maps the same file and adopts the table if, and only if, every field of
// the header says it can be read the same way (flow_store_mismatch):
// layout version and sizes of this build, bucket count, worker count and
// index (RSS sends a flow to the same queue only with the same queues), a
// digest of the hash seed (the seed places flows and fingerprints
// backends), and the clock (flows keep wrapping CLOCK_MONOTONIC
// milliseconds, meaningful only within one boot: boot_id). Otherwise the
// file is emptied and the table starts empty, and refusal() names the
// field. The default directory is on tmpfs (/dev/shm): it survives the
// process, not a reboot, after which no timestamp would mean anything.
//
// Lifecycle word (FlowStoreHeader::state): kInitializing while a fresh
// table is being zeroed (a start interrupted there leaves a file that is
// refused), kInUse while a process runs (what a crash leaves: adopted),
// kClean after a clean stop (adopted too). incarnation counts the
// processes that mapped the file.
//
// Each file is locked (flock) for as long as it is mapped: a second
// process cannot map a table a running one writes; the lock goes with the
// process, however it ends.
//
// Nothing here uses DPDK: the runtime opens the files on the main thread,
// and each worker's lcore then zeroes or adopts its table (first touch
// places a fresh table's pages on the worker's NUMA node).
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "dataplane/engine/flow_hash.h"
#include "dataplane/engine/flow_table.h"

namespace sluice::dpdk {

// A file that cannot be made, locked or mapped.
class FlowStoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class FlowStoreState : uint32_t {
  kNone = 0,          // no file before (or an unreadable header)
  kInitializing = 1,  // a fresh table being zeroed
  kInUse = 2,         // a process runs on it (or crashed on it)
  kClean = 3,         // its process stopped cleanly
};

// What a file must agree with to be adopted.
struct FlowStoreIdentity {
  uint32_t buckets = 0;       // FlowTable::bucket_count(capacity)
  uint32_t worker_count = 0;
  uint32_t worker_index = 0;
  uint64_t seed_digest = 0;   // flow_store_seed_digest(seed)
  std::string boot_id;        // flow_store_boot_id()
};

// The first bytes of a file. Fixed-width fields; the table's two arrays
// follow at offsets aligned to the filesystem's (huge) page.
struct FlowStoreHeader {
  char magic[8];                  // kFlowStoreMagic
  uint32_t layout_version;        // engine::kFlowTableLayoutVersion
  uint32_t header_bytes;          // sizeof(FlowStoreHeader)
  uint32_t entry_bytes;           // sizeof(engine::FlowEntry)
  uint32_t ways;                  // engine::FlowTable::kWays
  uint32_t buckets;
  uint32_t worker_count;
  uint32_t worker_index;
  uint32_t clock_kind;            // kFlowStoreClockMonotonicMs
  uint64_t seed_digest;
  uint64_t signatures_offset;
  uint64_t entries_offset;
  uint64_t file_bytes;
  char boot_id[40];               // NUL-terminated
  uint32_t state;                 // FlowStoreState
  uint32_t reserved;
  uint64_t incarnation;           // processes that mapped the file
};

inline constexpr char kFlowStoreMagic[8] = {'S', 'L', 'U', 'I', 'F', 'L', 'O', 'W'};
// Flow times are CLOCK_MONOTONIC milliseconds, truncated to 32 bits
// (dataplane/dpdk/worker_clock.h).
inline constexpr uint32_t kFlowStoreClockMonotonicMs = 1;

// This boot's id (/proc/sys/kernel/random/boot_id); "" if unreadable, which
// no header matches.
std::string flow_store_boot_id();
// A keyed digest of the seed: tells seeds apart without storing the secret.
uint64_t flow_store_seed_digest(const sluice_hash_seed& seed);

// The header a file for `id` has, with arrays aligned to `align` bytes.
FlowStoreHeader flow_store_expected_header(const FlowStoreIdentity& id, uint64_t align);
// "" when `found` (read from a file of file_bytes bytes) can be adopted
// by a process whose header is `expected`; else the first field that
// differs, with both values ("buckets is 4096 in the file, 8192 now").
std::string flow_store_mismatch(const FlowStoreHeader& found, uint64_t file_bytes,
                                const FlowStoreHeader& expected);

class FlowStoreFile {
 public:
  // Opens, locks and maps DIR/worker-<index>.flows, making DIR (mode 0700)
  // if it is missing. DIR must be a directory of this user that no one else
  // may write to. Throws FlowStoreError naming the path and the problem.
  static std::unique_ptr<FlowStoreFile> open(const std::string& dir, const FlowStoreIdentity& id);
  ~FlowStoreFile();  // unmaps and closes (the lock goes); the file stays
  FlowStoreFile(const FlowStoreFile&) = delete;
  FlowStoreFile& operator=(const FlowStoreFile&) = delete;

  engine::FlowTableMemory memory() const;
  // The file held a table this process adopts (keep its contents).
  bool adopted() const { return adopted_; }
  // Why an existing file was not adopted ("" when adopted or when there
  // was none).
  const std::string& refusal() const { return refusal_; }
  // The state the previous process left (kInUse: it crashed).
  FlowStoreState previous_state() const { return previous_; }
  uint64_t incarnation() const;
  const std::string& path() const { return path_; }
  // Not tmpfs or hugetlbfs: the table's writes would go to a disk.
  const std::string& warning() const { return warning_; }
  // kInUse once the table is zeroed or adopted; kClean at a clean stop.
  void set_state(FlowStoreState s);

  static std::string file_name(uint32_t worker_index);

 private:
  FlowStoreFile() = default;

  int fd_ = -1;
  void* base_ = nullptr;
  uint64_t bytes_ = 0;
  FlowStoreHeader* header_ = nullptr;
  bool adopted_ = false;
  FlowStoreState previous_ = FlowStoreState::kNone;
  std::string refusal_;
  std::string path_;
  std::string warning_;
};

// Removes DIR/worker-<i>.flows for i >= worker_count that no process holds
// (left by a run with more workers: memory for nothing). Returns how many.
uint32_t remove_flow_stores_beyond(const std::string& dir, uint32_t worker_count);

}  // namespace sluice::dpdk
