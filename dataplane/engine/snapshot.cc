// SPDX-License-Identifier: Apache-2.0
#include "dataplane/engine/snapshot.h"

#include <algorithm>
#include <cstring>

#include "dataplane/engine/maglev.h"

namespace sluice::engine {
namespace {

// Index hash for (family, address[, port, proto]). VIPs are chosen by the
// operator, not by clients, so an unkeyed mix is enough here.
uint64_t listener_hash(uint8_t family, const uint8_t* addr, uint16_t port, uint8_t proto) {
  uint64_t a, b;
  std::memcpy(&a, addr, 8);
  std::memcpy(&b, addr + 8, 8);
  // One multiply folds the second word in (it is zero for IPv4), one mix
  // spreads the result.
  return sluice_mix64(a ^ (b * 0x9e3779b97f4a7c15ULL) ^
                      (uint64_t{family} << 40 | uint64_t{proto} << 32 | port));
}

bool same_address(const sluice_flow_key& key, const IpAddress& vip) {
  return key.family == vip.family && std::memcmp(key.dst, vip.bytes.data(), 16) == 0;
}

uint16_t network_port(uint16_t host_port) {
  return static_cast<uint16_t>((host_port >> 8) | (host_port << 8));
}

}  // namespace

uint64_t backend_fingerprint(const IpAddress& address, const sluice_hash_seed& seed) {
  sluice_flow_key key{};
  std::memcpy(key.src, address.bytes.data(), 16);
  key.family = address.family;
  key.proto = 0xfd;  // domain separation from flow keys and Maglev permutations
  return sluice_flow_hash(&key, &seed);
}

void PoolMembership::note(const Snapshot& snapshot, uint64_t generation) {
  std::vector<uint64_t> signatures(entries_.size(), 0);
  const auto& services = snapshot.services();
  for (uint32_t s = 0; s < services.size(); ++s) {
    const CompiledService& svc = services[s];
    for (uint32_t p = 0; p < svc.pools.size(); ++p) {
      const CompiledPool& pool = svc.pools[p];
      uint64_t sig = sluice_mix64(0x706f6f6c ^ pool.active_count);  // never 0 in practice
      for (uint32_t k = 0; k < pool.backend_count; ++k) {
        const CompiledBackend& b = svc.backends[pool.first_backend + k];
        if (b.state == BackendState::kActive) sig = sluice_mix64(sig ^ b.fingerprint);
      }
      const uint32_t at = pool_position(s, p);
      if (at >= signatures.size()) {
        signatures.resize(at + 1, 0);
        entries_.resize(at + 1);
      }
      signatures[at] = sig == 0 ? 1 : sig;
    }
  }
  for (size_t at = 0; at < entries_.size(); ++at) {
    Entry& e = entries_[at];
    if (e.signature != signatures[at] || e.signature == 0) e.since = generation;
    e.signature = signatures[at];
  }
}

uint16_t CompiledService::find_backend(uint64_t fingerprint) const {
  auto it = std::lower_bound(by_fingerprint_.begin(), by_fingerprint_.end(),
                             std::make_pair(fingerprint, uint16_t{0}));
  if (it == by_fingerprint_.end() || it->first != fingerprint) return kNoBackendIndex;
  return it->second;
}

const CompiledService* Snapshot::find_service(const sluice_flow_key& key) const {
  if (services_.empty()) return nullptr;
  uint64_t i = listener_hash(key.family, key.dst, key.dport, key.proto);
  for (uint64_t probe = 0; probe <= slot_mask_; ++probe, ++i) {
    const uint32_t v = service_slots_[i & slot_mask_];
    if (v == 0) return nullptr;
    const CompiledService& s = services_[v - 1];
    if (same_address(key, s.config.vip) && network_port(s.config.port) == key.dport &&
        static_cast<uint8_t>(s.config.protocol) == key.proto) {
      return &s;
    }
  }
  return nullptr;
}

bool Snapshot::is_vip(const sluice_flow_key& key) const {
  if (services_.empty()) return false;
  uint64_t i = listener_hash(key.family, key.dst, 0, 0);
  for (uint64_t probe = 0; probe <= slot_mask_; ++probe, ++i) {
    const uint32_t v = vip_slots_[i & slot_mask_];
    if (v == 0) return false;
    if (same_address(key, services_[v - 1].config.vip)) return true;
  }
  return false;
}

std::vector<uint16_t> SnapshotCompiler::maglev_for(const std::string& pool_key,
                                                   const std::vector<MaglevBackend>& active,
                                                   const std::vector<uint16_t>& active_index,
                                                   uint32_t table_size,
                                                   const sluice_hash_seed& seed) {
  // A table depends only on the active backends (address, weight), their
  // index in the service, the size and the seed. Weight changes between
  // pools (a rollout step) leave all of these alone, so the last table of
  // the pool is reused instead of rebuilt (a 65537-entry build is ~2 ms).
  std::string signature;
  signature.reserve(32 + active.size() * 24);
  auto put = [&signature](const void* p, size_t n) {
    signature.append(static_cast<const char*>(p), n);
  };
  put(&table_size, sizeof(table_size));
  put(&seed, sizeof(seed));
  for (size_t i = 0; i < active.size(); ++i) {
    put(&active[i].address.family, 1);
    put(active[i].address.bytes.data(), 16);
    put(&active[i].weight, sizeof(active[i].weight));
    put(&active_index[i], sizeof(active_index[i]));
  }
  maglev_used_.insert(pool_key);
  MaglevCacheEntry& cached = maglev_cache_[pool_key];
  if (cached.signature == signature) {
    ++maglev_reused_;
    return cached.table;
  }
  const std::vector<uint32_t> table = build_maglev_table(active, table_size, seed);
  std::vector<uint16_t> out(table.size());
  for (size_t i = 0; i < table.size(); ++i) out[i] = active_index[table[i]];
  ++maglev_built_;
  cached = {std::move(signature), out};
  return out;
}

uint32_t SnapshotCompiler::slot(std::map<std::string, uint32_t>& registry,
                                const std::string& name) {
  auto [it, fresh] = registry.emplace(name, static_cast<uint32_t>(registry.size()));
  return it->second;
}

SnapshotCompiler::Result SnapshotCompiler::compile(const EngineConfig& config,
                                                   uint64_t generation) {
  Result result;
  result.errors = validate_config(config);
  if (!result.errors.empty()) return result;

  auto snap = std::make_shared<Snapshot>();
  snap->generation_ = generation;
  snap->seed_ = config.seed;
  snap->forwarding_ = config.forwarding;
  snap->services_.reserve(config.services.size());

  for (const ServiceConfig& sc : config.services) {
    CompiledService& svc = snap->services_.emplace_back();
    svc.config = sc;
    svc.counter_slot = slot(service_slot_, sc.name);
    svc.affinity_prefix_len = sc.vip.is_v4() ? sc.client_prefix_v4 : sc.client_prefix_v6;
    svc.split.n_pools = static_cast<uint32_t>(sc.pools.size());
    for (size_t p = 0; p < sc.pools.size(); ++p) {
      const PoolConfig& pc = sc.pools[p];
      CompiledPool& pool = svc.pools.emplace_back();
      pool.name = pc.name;
      pool.id = sluice_pool_id(pc.name.data(), static_cast<uint32_t>(pc.name.size()));
      pool.weight = pc.weight;
      pool.counter_slot = slot(pool_slot_, sc.name + "/" + pc.name);
      svc.split.pool_id[p] = pool.id;
      svc.split.inv_weight[p] = sluice_inv_weight(pc.weight);
      if (pc.name == sc.fallback_pool) svc.fallback_pool = static_cast<uint8_t>(p);

      // Backends sorted by address: the compiled form is independent of the
      // order the operator listed them in.
      std::vector<BackendConfig> sorted = pc.backends;
      std::sort(sorted.begin(), sorted.end(),
                [](const BackendConfig& a, const BackendConfig& b) { return a.address < b.address; });
      pool.first_backend = static_cast<uint32_t>(svc.backends.size());
      pool.backend_count = static_cast<uint32_t>(sorted.size());
      std::vector<MaglevBackend> active;
      std::vector<uint16_t> active_index;
      for (const BackendConfig& bc : sorted) {
        CompiledBackend& b = svc.backends.emplace_back();
        b.address = bc.address;
        b.fingerprint = backend_fingerprint(bc.address, config.seed);
        b.weight = bc.weight;
        b.state = bc.state;
        b.pool = static_cast<uint8_t>(p);
        b.counter_slot = slot(backend_slot_, sc.name + "/" + bc.address.to_string());
        const auto index = static_cast<uint16_t>(svc.backends.size() - 1);
        svc.by_fingerprint_.emplace_back(b.fingerprint, index);
        // Only active backends take new flows; draining ones keep theirs
        // through the flow table, disabled ones lose them.
        if (bc.state == BackendState::kActive) {
          active.push_back({bc.address, bc.weight});
          active_index.push_back(index);
        }
      }
      pool.active_count = static_cast<uint32_t>(active.size());
      if (!active.empty()) {
        pool.maglev = maglev_for(sc.name + "/" + pc.name, active, active_index,
                                 sc.maglev_table_size, config.seed);
      }
    }
    std::sort(svc.by_fingerprint_.begin(), svc.by_fingerprint_.end());
    for (const SourceRule& rule : sc.rules) {
      for (size_t p = 0; p < sc.pools.size(); ++p) {
        if (sc.pools[p].name == rule.pool) svc.rules.insert(rule.source, static_cast<uint32_t>(p));
      }
    }
    svc.has_rules = !sc.rules.empty();
    svc.reschedule_unhealthy = sc.health_check.unhealthy_flows == UnhealthyFlows::kReschedule;
    const FlowTimeouts& t = sc.timeouts;
    for (uint32_t ms :
         {t.tcp_syn_ms, t.tcp_established_ms, t.tcp_closing_ms, t.udp_ms, t.probation_ms}) {
      if (snap->min_flow_timeout_ms_ == 0 || ms < snap->min_flow_timeout_ms_) {
        snap->min_flow_timeout_ms_ = ms;
      }
    }
  }

  // Backends that share an address (fingerprint, and so circuit) across
  // services: link each to the next one (in service order), the last back
  // to the first. Addresses are unique within a service (validation), so a
  // ring has one backend per service at most.
  std::map<uint64_t, std::vector<std::pair<uint32_t, uint16_t>>> by_fingerprint;
  for (uint32_t s = 0; s < snap->services_.size(); ++s) {
    const CompiledService& svc = snap->services_[s];
    for (size_t i = 0; i < svc.backends.size(); ++i) {
      by_fingerprint[svc.backends[i].fingerprint].emplace_back(s, static_cast<uint16_t>(i));
    }
  }
  for (const auto& [fp, ring] : by_fingerprint) {
    for (size_t k = 0; k < ring.size(); ++k) {
      const auto& [s, i] = ring[k];
      const auto& [next_s, next_i] = ring[(k + 1) % ring.size()];
      CompiledBackend& b = snap->services_[s].backends[i];
      b.shared_service = next_s;
      b.shared_backend = next_i;
    }
  }

  // Since when each pool has had its active backends.
  membership_.note(*snap, generation);
  snap->members_since_.assign(snap->services_.size() * kMaxPools, generation);
  for (uint32_t s = 0; s < snap->services_.size(); ++s) {
    for (uint32_t p = 0; p < snap->services_[s].pools.size(); ++p) {
      snap->members_since_[pool_position(s, p)] = membership_.since(pool_position(s, p));
    }
  }

  // Listener and VIP indexes: power-of-two open addressing, at most half full.
  size_t capacity = 16;
  while (capacity < 2 * snap->services_.size()) capacity *= 2;
  snap->slot_mask_ = capacity - 1;
  snap->service_slots_.assign(capacity, 0);
  snap->vip_slots_.assign(capacity, 0);
  for (size_t s = 0; s < snap->services_.size(); ++s) {
    const ServiceConfig& sc = snap->services_[s].config;
    uint64_t i = listener_hash(sc.vip.family, sc.vip.bytes.data(), network_port(sc.port),
                               static_cast<uint8_t>(sc.protocol));
    while (snap->service_slots_[i & snap->slot_mask_] != 0) ++i;
    snap->service_slots_[i & snap->slot_mask_] = static_cast<uint32_t>(s + 1);

    sluice_flow_key vip_key{};
    vip_key.family = sc.vip.family;
    std::memcpy(vip_key.dst, sc.vip.bytes.data(), 16);
    if (snap->is_vip(vip_key)) continue;
    uint64_t j = listener_hash(sc.vip.family, sc.vip.bytes.data(), 0, 0);
    while (snap->vip_slots_[j & snap->slot_mask_] != 0) ++j;
    snap->vip_slots_[j & snap->slot_mask_] = static_cast<uint32_t>(s + 1);
  }
  // Forget the tables of pools that no longer exist.
  for (auto it = maglev_cache_.begin(); it != maglev_cache_.end();) {
    it = maglev_used_.count(it->first) ? std::next(it) : maglev_cache_.erase(it);
  }
  maglev_used_.clear();
  result.snapshot = std::move(snap);
  return result;
}

}  // namespace sluice::engine
