// SPDX-License-Identifier: Apache-2.0
// The compiled, immutable configuration the hot path reads.
//
// A Snapshot is built off the forwarding path by SnapshotCompiler from a
// validated EngineConfig, then published to the workers (RCU-style in the
// DPDK runtime, an atomic map switch in XDP). Workers only ever read it: no
// lock, and building the next one never blocks forwarding. Each snapshot
// carries a generation number; a worker reports the generation it forwards
// with, and flow-table entries remember the generation their cached backend
// index belongs to.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "dataplane/engine/cidr_table.h"
#include "dataplane/engine/config.h"
#include "dataplane/engine/config_validate.h"
#include "dataplane/engine/maglev.h"
#include "dataplane/engine/pool_split.h"

namespace sluice::engine {

inline constexpr uint16_t kNoBackendIndex = 0xffff;

struct CompiledBackend {
  IpAddress address;
  // Keyed hash of the address: how flow entries and circuit state recognise
  // this backend across snapshots, whatever its index there.
  uint64_t fingerprint = 0;
  uint32_t weight = 1;
  BackendState state = BackendState::kActive;
  uint8_t pool = 0;           // index of its pool in the service
  // The next backend with the same address in the snapshot (services may
  // share backend addresses, and with them one circuit breaker per core):
  // backend shared_backend of services()[shared_service]. Following the
  // links goes round every service that lists the address, one backend each,
  // and back to this one (itself when no other service lists it). An
  // ejection that begins or ends counts in each of their pools
  // (Worker::count_ejection). (Placed in what was padding: the struct the
  // hot path indexes keeps its size.)
  uint16_t shared_backend = 0;
  uint32_t counter_slot = 0;  // WorkerCounters::backends index
  uint32_t shared_service = 0;
};

struct CompiledPool {
  std::string name;
  uint32_t id = 0;  // sluice_pool_id(name)
  uint32_t weight = 0;
  uint32_t first_backend = 0;  // its backends are [first, first + count) of the service
  uint32_t backend_count = 0;
  // Weighted Maglev table over the pool's ACTIVE backends; entries are
  // service backend indices. Empty when no backend of the pool is active.
  std::vector<uint16_t> maglev;
  uint32_t counter_slot = 0;
  uint32_t active_count = 0;  // kActive backends (what max_ejected_percent is of)
};

struct CompiledService {
  ServiceConfig config;  // the settings the hot path reads (circuit, timeouts, encap)
  uint32_t counter_slot = 0;
  // config.health_check.unhealthy_flows == kReschedule, kept beside the
  // counter slot that every forwarded packet reads (one cache line).
  bool reschedule_unhealthy = false;
  sluice_pool_split split{};
  uint8_t fallback_pool = 0;
  uint8_t affinity_prefix_len = 0;  // of the VIP's family, for kClientPrefix
  std::vector<CompiledPool> pools;
  std::vector<CompiledBackend> backends;  // grouped by pool, sorted by address inside
  CidrTable rules;                        // source prefix -> pool index
  bool has_rules = false;

  // Index of the backend with this fingerprint, or kNoBackendIndex.
  uint16_t find_backend(uint64_t fingerprint) const;

 private:
  friend class SnapshotCompiler;
  std::vector<std::pair<uint64_t, uint16_t>> by_fingerprint_;  // sorted
};

class Snapshot {
 public:
  uint64_t generation() const { return generation_; }
  const sluice_hash_seed& seed() const { return seed_; }
  const ForwardingConfig& forwarding() const { return forwarding_; }
  const std::vector<CompiledService>& services() const { return services_; }

  // The service for a client->VIP key (dst, dport, proto, family), or null.
  const CompiledService* find_service(const sluice_flow_key& key) const;
  // Whether the key's destination address is any service's VIP.
  bool is_vip(const sluice_flow_key& key) const;
  // The shortest flow idle timeout of any service: a flow idle for less is
  // alive whatever its service (lets the flow-table sweep skip young flows).
  uint32_t min_flow_timeout_ms() const { return min_flow_timeout_ms_; }

  // The index of one of services() in it.
  uint32_t service_index(const CompiledService& svc) const {
    return static_cast<uint32_t>(&svc - services_.data());
  }
  // The generation since which the pool at `position` (pool_position()) has
  // had the same active backends (PoolMembership): a count of their
  // ejected circuits kept up to date since then is still right. Kept here,
  // not in CompiledPool, which the hot path indexes.
  uint64_t members_since(uint32_t position) const { return members_since_[position]; }

 private:
  friend class SnapshotCompiler;
  uint64_t generation_ = 0;
  sluice_hash_seed seed_{};
  ForwardingConfig forwarding_;
  std::vector<CompiledService> services_;
  // Open-addressing indexes built once; lookups probe a few slots.
  std::vector<uint32_t> service_slots_;  // service index + 1, 0 = empty
  std::vector<uint32_t> vip_slots_;      // service index + 1 of one service on that VIP
  uint64_t slot_mask_ = 0;
  uint32_t min_flow_timeout_ms_ = 0;
  std::vector<uint64_t> members_since_;  // by pool position
};

// The backend fingerprint: SipHash of the address under the fleet seed.
uint64_t backend_fingerprint(const IpAddress& address, const sluice_hash_seed& seed);

// Where per-pool state of a snapshot's pools is kept (Worker's ejected
// counts, the XDP map "pool_ejected"): service index * kMaxPools + pool.
inline uint32_t pool_position(uint32_t service_index, uint32_t pool) {
  return service_index * static_cast<uint32_t>(kMaxPools) + pool;
}

// For each pool position, the generation since which it has had the same
// active backends (fingerprints), through every snapshot noted: a count of
// those backends' ejected circuits kept up to date since that generation is
// still right now, and need not be counted again. A position that was
// empty in between starts afresh (its count missed what happened then).
// The snapshot compiler notes its snapshots (Snapshot::members_since, in
// snapshot generations); the XDP snapshot writer notes what it writes, in
// its root generations.
class PoolMembership {
 public:
  // Notes the pools of `snapshot`, as generation `generation` (at least
  // that of the previous note).
  void note(const Snapshot& snapshot, uint64_t generation);
  // For a pool of the snapshot last noted.
  uint64_t since(uint32_t position) const { return entries_[position].since; }

 private:
  struct Entry {
    uint64_t signature = 0;  // of the active backends; 0: no pool here
    uint64_t since = 0;
  };
  std::vector<Entry> entries_;
};

// Compiles configurations into snapshots. Keeps the counter-slot registry,
// so a service, pool or backend keeps its counters across compilations.
class SnapshotCompiler {
 public:
  struct Result {
    std::shared_ptr<const Snapshot> snapshot;  // null when errors is non-empty
    std::vector<ConfigError> errors;
  };

  // Validates, then builds every table. Deterministic: the same config and
  // generation give bit-identical tables.
  Result compile(const EngineConfig& config, uint64_t generation);

  // Slots handed out so far (size the workers' counter vectors at least so).
  uint32_t service_slots() const { return static_cast<uint32_t>(service_slot_.size()); }
  uint32_t pool_slots() const { return static_cast<uint32_t>(pool_slot_.size()); }
  uint32_t backend_slots() const { return static_cast<uint32_t>(backend_slot_.size()); }
  // Maglev tables built, and reused from the previous compilation because
  // their pool's active backends did not change.
  uint64_t maglev_built() const { return maglev_built_; }
  uint64_t maglev_reused() const { return maglev_reused_; }

 private:
  struct MaglevCacheEntry {
    std::string signature;  // everything the table depends on
    std::vector<uint16_t> table;
  };
  std::vector<uint16_t> maglev_for(const std::string& pool_key,
                                   const std::vector<MaglevBackend>& active,
                                   const std::vector<uint16_t>& active_index, uint32_t table_size,
                                   const sluice_hash_seed& seed);
  uint32_t slot(std::map<std::string, uint32_t>& registry, const std::string& name);
  std::map<std::string, uint32_t> service_slot_;
  std::map<std::string, uint32_t> pool_slot_;
  std::map<std::string, uint32_t> backend_slot_;
  std::map<std::string, MaglevCacheEntry> maglev_cache_;  // by "service/pool"
  std::set<std::string> maglev_used_;                     // during one compile
  PoolMembership membership_;
  uint64_t maglev_built_ = 0;
  uint64_t maglev_reused_ = 0;
};

}  // namespace sluice::engine
