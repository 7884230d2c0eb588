// SPDX-License-Identifier: Apache-2.0
// One engine worker: the per-packet pipeline of a single core.
//
//   parse -> VIP? -> service -> flow table -> (new flow: rule | split ->
//   Maglev + circuit state) -> encapsulate -> verdict
//
// A Worker owns all its mutable state (flow table, circuit table, counters)
// and is used by exactly one thread, so nothing on the hot path locks or
// waits. What other threads read while it runs is written with relaxed or
// release atomic stores (plain moves on x86-64): counters (relaxed.h; copy
// them with read_counters) and circuit slots (a sequence counter,
// circuit.h: CircuitTable::read_state). It also loads bytes of the shared
// BackendHealthTable (relaxed). The configuration arrives as an immutable Snapshot pointer
// per burst; the caller (the DPDK runtime) decides when a new one is safe.
// After construction nothing allocates.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "dataplane/engine/backend_health.h"
#include "dataplane/engine/circuit.h"
#include "dataplane/engine/counters.h"
#include "dataplane/engine/flow_table.h"
#include "dataplane/engine/token_bucket.h"
#include "dataplane/engine/packet.h"
#include "dataplane/engine/parse.h"
#include "dataplane/engine/placement.h"
#include "dataplane/engine/pool_probe.h"
#include "dataplane/engine/snapshot.h"
#include "dataplane/engine/verdict.h"

namespace sluice::engine {

// Counter slots cost memory per worker: 64 bytes of golden signals each
// (TrafficCounter), plus a 112-byte handshake histogram per pool and
// backend slot: about 28 MiB with these defaults. (Besides: 512 KiB of
// per-pool ejected counts, 16 bytes for each of kMaxServices * kMaxPools.)
struct WorkerOptions {
  uint32_t flow_capacity = 1u << 20;     // flow-table entries (72 bytes each)
  // Where the flow table lives: null, on the heap (flow_capacity); else in
  // this caller-placed memory (a file that outlives the process,
  // dataplane/dpdk/flow_store.h), zeroed, or kept as it is with keep_flows
  // (then adopt_flows must run before the first packet).
  const FlowTableMemory* flow_memory = nullptr;
  bool keep_flows = false;
  uint32_t circuit_capacity = 1u << 16;  // backends with non-default circuit state
  uint32_t service_counter_slots = 4096;
  uint32_t pool_counter_slots = 4096 * 8;     // also sizes the pool handshake histograms
  uint32_t backend_counter_slots = 1u << 17;  // and the backend ones, and the health table
};

// Why a packet went where it went (tests, `explain` tooling).
struct Decision {
  Verdict verdict;
  const CompiledService* service = nullptr;
  uint8_t pool = SLUICE_NO_POOL;
  uint16_t backend = kNoBackendIndex;  // index into service->backends
  bool flow_hit = false;      // an existing flow-table entry decided
  bool rule_matched = false;  // a source-CIDR rule chose the pool
  bool fallback = false;      // the chosen pool was unavailable
  bool steered = false;       // a SYN retry moved the flow to another backend
};

struct FlowExplanation;  // explain.h

class Worker {
 public:
  static constexpr uint32_t kMaxBurst = 64;
  // Backends tried in one pool for a new flow (pool_probe.h): Maglev slots,
  // then evenly spread samples of the pool.
  static constexpr uint32_t kMaxCircuitProbes = SLUICE_MAX_CIRCUIT_PROBES;
  static constexpr uint32_t kPoolSamples = SLUICE_POOL_SAMPLES;

  explicit Worker(const WorkerOptions& options = {});

  // Decides every packet of a burst (any n; kMaxBurst at a time), rewriting forwarded
  // frames in place. `snapshot` may be null (nothing configured yet: all
  // traffic goes to the host). now_ns is a monotonic clock.
  void process_burst(const Snapshot* snapshot, Packet* packets, Verdict* verdicts, uint32_t n,
                     uint64_t now_ns);

  // One packet, with the reasons (same code path as process_burst).
  Decision process_one(const Snapshot* snapshot, Packet& packet, uint64_t now_ns);

  // The backends' health (backend_health.h), shared with the other workers
  // and written by sluiced; nullptr (the default): every backend is usable.
  // Set before the worker runs; the table must outlive it.
  void set_health_table(const BackendHealthTable* table) { health_ = table; }
  const BackendHealthTable* health_table() const { return health_; }

  // Generation of the last snapshot this worker used (0 before any).
  uint64_t generation() const { return generation_; }
  // The live counters: for the owning thread; others copy them with
  // read_counters(counters()).
  const WorkerCounters& counters() const { return counters_; }
  const FlowTable& flows() const { return flows_; }
  // Takes over a kept flow table (WorkerOptions::keep_flows): FlowTable::adopt.
  FlowAdoptReport adopt_flows(uint32_t now_ms, const sluice_hash_seed& seed,
                              uint32_t max_ahead_ms) {
    return flows_.adopt(now_ms, seed, max_ahead_ms);
  }
  const CircuitTable& circuits() const { return circuits_; }

  // This worker's count of the ejected (open or half-open) active backends
  // of pool `pool` of service `svc` of `snapshot`, as kept for
  // max_ejected_percent; nullopt while it has no count that holds for the
  // pool's active backends in that snapshot (one is made on the pool's next
  // connect failure).
  std::optional<uint32_t> pool_ejected(const Snapshot& snapshot, const CompiledService& svc,
                                       uint8_t pool) const;

  // Where this worker would place a new flow with this key now: its
  // health table and circuits as they stand, the very steps of a real new
  // flow (placement.h). Changes nothing: no half-open trial is taken, no
  // counter moves. An existing flow-table entry is not consulted. For tests
  // and tooling (explain.h), not the hot path.
  FlowExplanation explain(const Snapshot& snapshot, const sluice_flow_key& key, uint32_t now_ms);

 private:
  // Per-burst scratch filled by the first pass (parse, service, hash).
  struct Scratch {
    ParsedPacket parsed;
    const CompiledService* service;
    uint64_t flow_hash;
  };

  void adopt(const Snapshot* snapshot);
  void classify(const Snapshot& snap, const Packet& pkt, Scratch& s);
  Decision decide(const Snapshot& snap, Packet& pkt, Scratch& s, uint32_t now_ms);
  Decision handle_icmp(const Snapshot& snap, Packet& pkt, const ParsedPacket& p, uint32_t now_ms);
  Decision handle_flow(const Snapshot& snap, Packet& pkt, Scratch& s, uint32_t now_ms);
  Decision new_flow(const Snapshot& snap, Packet& pkt, Scratch& s, uint32_t now_ms);
  // Chooses pool and backend for a new flow; consume = take half-open trials.
  Decision schedule(const Snapshot& snap, const CompiledService& svc, const sluice_flow_key& key,
                    uint64_t flow_hash, uint32_t now_ms, bool consume);
  uint16_t pick_backend(const CompiledService& svc, uint8_t pool, uint64_t hash, uint32_t now_ms,
                        bool consume, uint64_t exclude_fp, uint8_t* skips);
  uint8_t refusal(const CompiledService& svc, const CompiledBackend& b, uint32_t now_ms,
                  bool consume, uint64_t exclude_fp);
  bool unhealthy(const CompiledBackend& b) const {
    return health_ != nullptr && health_->unhealthy(b.counter_slot);
  }
  // SLUICE_HEALTH_* of b (UNKNOWN without a table).
  uint8_t health_of(const CompiledBackend& b) const {
    return health_ != nullptr ? health_->get(b.counter_slot) : uint8_t{SLUICE_HEALTH_UNKNOWN};
  }
  void retry_syn(const Snapshot& snap, const CompiledService& svc, const Scratch& s, FlowEntry& e,
                 Decision& d, uint32_t now_ms);
  // `source`: the client's source prefix (sluice_source_tag).
  void record_connect_failure(const Snapshot& snap, const CompiledService& svc, uint16_t backend,
                              uint32_t source, uint32_t now_ms);
  // The ejected count of pool `pool` of services()[service], counted afresh
  // if the pool's active backends changed since it was last kept.
  uint32_t ejected_count(const Snapshot& snap, uint32_t service, uint8_t pool, uint32_t now_ms);
  // Backend `backend` of services()[service] was ejected (delta +1) or
  // readmitted (-1): counted in every pool that lists its address.
  void count_ejection(const Snapshot& snap, uint32_t service, uint16_t backend, int delta);
  // The golden signals (signal_list.h) of a flow's service, pool and backend.
  template <uint64_t TrafficCounter::*Event>
  void count_event(const CompiledService& svc, const CompiledBackend& b);
  void count_handshake(const CompiledService& svc, const CompiledBackend& b, uint32_t ms);
  void count_expired(const Snapshot& snap, const FlowEntry& e);
  Decision forward(const Snapshot& snap, Packet& pkt, const ParsedPacket& p, Decision d,
                   uint64_t flow_hash, uint32_t now_ms);
  // A packet encapsulate() found too big: answered with ICMP (rate
  // permitting) or dropped (README "MTU and MSS").
  Decision too_big(const Snapshot& snap, Packet& pkt, const ParsedPacket& p, Decision d,
                   uint32_t max_frame_size, uint32_t overhead, uint32_t now_ms);
  void count(const Decision& d, uint32_t bytes);

  FlowTable flows_;
  CircuitTable circuits_;
  WorkerCounters counters_;
  const BackendHealthTable* health_ = nullptr;
  FlowEntry reclaimed_;  // what insert reclaimed (a member: no 64-byte-aligned stack frame)
  sluice_token_bucket new_flow_bucket_{};  // token_bucket.h
  sluice_token_bucket too_big_bucket_{};   // ICMP answers to too-big packets
  uint64_t generation_ = 0;
  // Per pool of the current snapshot, at its pool_position(): how many of
  // its active backends have a circuit that is not closed on this core
  // (what max_ejected_percent is judged on). Kept up to date by
  // count_ejection on every ejection and readmission, through configuration
  // changes that leave the pool's active backends as they were
  // (Snapshot::members_since); counted afresh (one walk of the pool)
  // the first time a connect failure needs it after they changed. Sized
  // for kMaxServices at construction.
  struct PoolEjected {
    uint64_t generation = 0;  // last brought up to date under
    uint32_t ejected = 0;
    bool valid = false;
    bool current(uint64_t members_since, uint64_t now_generation) const;
  };
  std::vector<PoolEjected> pool_ejected_;
  std::array<Scratch, kMaxBurst> scratch_;
};

}  // namespace sluice::engine
