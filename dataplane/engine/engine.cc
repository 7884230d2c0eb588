// SPDX-License-Identifier: Apache-2.0
#include "dataplane/engine/engine.h"

#include "dataplane/engine/circuit_source.h"
#include "dataplane/engine/encap.h"
#include "dataplane/engine/explain.h"
#include "dataplane/engine/icmp_too_big.h"
#include "dataplane/engine/too_big.h"
#include "dataplane/engine/wire.h"

namespace sluice::engine {
namespace {

// Packets ahead whose data is prefetched while the current one is parsed.
constexpr uint32_t kPrefetchOffset = 4;
// Flow-table buckets swept per burst: 4 x 8 ways keeps up with a burst of 32
// new flows.
constexpr uint32_t kSweepBuckets = 4;

bool is_icmp(const ParsedPacket& p) {
  return p.key.proto == (p.key.family == SLUICE_AF_INET ? SLUICE_IPPROTO_ICMP
                                                        : SLUICE_IPPROTO_ICMPV6);
}

bool is_echo_request(const ParsedPacket& p) {
  return p.icmp_type == (p.key.family == SLUICE_AF_INET ? SLUICE_ICMP_ECHO_REQUEST
                                                        : SLUICE_ICMPV6_ECHO_REQUEST);
}

// Path-MTU errors are the ICMP errors a VIP must pass on: the backend, not
// the balancer, owns the connection whose segments were too big.
bool is_pmtu_error(const ParsedPacket& p) {
  if (p.key.family == SLUICE_AF_INET) {
    return p.icmp_type == SLUICE_ICMP_DEST_UNREACH && p.icmp_code == SLUICE_ICMP_FRAG_NEEDED;
  }
  return p.icmp_type == SLUICE_ICMPV6_PACKET_TOO_BIG;
}

Decision drop(DropReason reason) {
  Decision d;
  d.verdict = {Action::kDrop, reason};
  return d;
}

// One more `event` in counter slot `slot`; slots beyond the sizes chosen at
// start-up are not counted (bounded memory), as in Worker::count.
inline void bump(std::vector<TrafficCounter>& v, uint32_t slot, uint64_t TrafficCounter::*event) {
  if (slot < v.size()) relaxed_inc(v[slot].*event);
}

}  // namespace

// One more `Event` on the service, pool and backend slots of backend b
// (a template: the field's offset is a constant, and it inlines).
template <uint64_t TrafficCounter::*Event>
inline void Worker::count_event(const CompiledService& svc, const CompiledBackend& b) {
  bump(counters_.services, svc.counter_slot, Event);
  bump(counters_.pools, svc.pools[b.pool].counter_slot, Event);
  bump(counters_.backends, b.counter_slot, Event);
}

Worker::Worker(const WorkerOptions& options)
    : flows_(options.flow_memory ? FlowTable(*options.flow_memory, options.keep_flows)
                                 : FlowTable(options.flow_capacity)),
      circuits_(options.circuit_capacity),
      pool_ejected_(kMaxServices * kMaxPools) {
  counters_.services.resize(options.service_counter_slots);
  counters_.pools.resize(options.pool_counter_slots);
  counters_.backends.resize(options.backend_counter_slots);
  counters_.pool_handshakes.resize(options.pool_counter_slots);
  counters_.backend_handshakes.resize(options.backend_counter_slots);
}

void Worker::adopt(const Snapshot* snapshot) {
  if (snapshot && snapshot->generation() != generation_) {
    generation_ = snapshot->generation();
    relaxed_inc(counters_.snapshot_switches);
  }
}

void Worker::process_burst(const Snapshot* snapshot, Packet* packets, Verdict* verdicts,
                           uint32_t n, uint64_t now_ns) {
  // The scratch space holds kMaxBurst packets; longer bursts go in chunks.
  while (n > kMaxBurst) {
    process_burst(snapshot, packets, verdicts, kMaxBurst, now_ns);
    packets += kMaxBurst;
    verdicts += kMaxBurst;
    n -= kMaxBurst;
  }
  adopt(snapshot);
  const uint32_t now_ms = static_cast<uint32_t>(now_ns / 1000000);

  // Pass 1: parse, find the service, hash the flow and prefetch its bucket,
  // so that pass 2's flow-table reads hit the cache. Packet data is
  // prefetched a few packets ahead (the l3fwd pattern).
  for (uint32_t i = 0; i < n && i < kPrefetchOffset; ++i) __builtin_prefetch(packets[i].data);
  for (uint32_t i = 0; i < n; ++i) {
    if (i + kPrefetchOffset < n) __builtin_prefetch(packets[i + kPrefetchOffset].data);
    relaxed_inc(counters_.rx_packets);
    if (snapshot) {
      classify(*snapshot, packets[i], scratch_[i]);
    } else {
      parse_packet(packets[i].data, packets[i].len, &scratch_[i].parsed);
    }
  }
  // Pass 1.5: the signature lines prefetched by pass 1 have landed by now;
  // start loading the flow entry each packet will touch in pass 2 (without
  // this, every hit would be two serialized cache misses).
  for (uint32_t i = 0; i < n; ++i) {
    if (scratch_[i].service) flows_.prefetch_entry(scratch_[i].flow_hash, now_ms);
  }
  // Pass 2: decide and rewrite.
  for (uint32_t i = 0; i < n; ++i) {
    Decision d;
    const uint32_t rx_len = packets[i].len;  // counted as received, before encapsulation
    if (snapshot) {
      d = decide(*snapshot, packets[i], scratch_[i], now_ms);
    } else if (scratch_[i].parsed.status == ParseStatus::kMalformed) {
      d = drop(scratch_[i].parsed.drop_reason);
    } else {
      d.verdict = {Action::kHost, DropReason::kNone};
    }
    count(d, rx_len);
    verdicts[i] = d.verdict;
  }
  // Expiry is lazy; sweeping a few buckets per burst frees dead flows before
  // they crowd live ones into eviction. Bounded: kSweepBuckets lines.
  if (snapshot) {
    flows_.sweep(
        now_ms, kSweepBuckets, snapshot->min_flow_timeout_ms(),
        [snapshot](const sluice_flow_key& k) -> const FlowTimeouts* {
          const CompiledService* s = snapshot->find_service(k);
          return s ? &s->config.timeouts : nullptr;
        },
        [this, snapshot](const FlowEntry& e) { count_expired(*snapshot, e); });
  }
}

Decision Worker::process_one(const Snapshot* snapshot, Packet& packet, uint64_t now_ns) {
  adopt(snapshot);
  relaxed_inc(counters_.rx_packets);
  Scratch& s = scratch_[0];
  const uint32_t rx_len = packet.len;
  Decision d;
  if (snapshot) {
    classify(*snapshot, packet, s);
    d = decide(*snapshot, packet, s, static_cast<uint32_t>(now_ns / 1000000));
  } else {
    parse_packet(packet.data, packet.len, &s.parsed);
    d = s.parsed.status == ParseStatus::kMalformed ? drop(s.parsed.drop_reason) : Decision{};
    if (s.parsed.status != ParseStatus::kMalformed) d.verdict = {Action::kHost, DropReason::kNone};
  }
  count(d, rx_len);
  return d;
}

void Worker::classify(const Snapshot& snap, const Packet& pkt, Scratch& s) {
  parse_packet(pkt.data, pkt.len, &s.parsed);
  s.service = nullptr;
  s.flow_hash = 0;
  const ParsedPacket& p = s.parsed;
  if (p.status != ParseStatus::kOk || p.is_fragment) return;
  if (p.key.proto != SLUICE_IPPROTO_TCP && p.key.proto != SLUICE_IPPROTO_UDP) return;
  s.service = snap.find_service(p.key);
  if (!s.service) return;
  s.flow_hash = sluice_flow_hash(&p.key, &snap.seed());
  flows_.prefetch(s.flow_hash);
}

Decision Worker::decide(const Snapshot& snap, Packet& pkt, Scratch& s, uint32_t now_ms) {
  const ParsedPacket& p = s.parsed;
  if (p.status == ParseStatus::kMalformed) return drop(p.drop_reason);
  Decision host;
  host.verdict = {Action::kHost, DropReason::kNone};
  if (p.status == ParseStatus::kNotIp) return host;
  if (s.service) return handle_flow(snap, pkt, s, now_ms);
  // Anything else not addressed to a VIP belongs to the appliance's kernel.
  if (!snap.is_vip(p.key)) return host;
  if (p.is_fragment) return drop(DropReason::kFragment);
  if (is_icmp(p)) return handle_icmp(snap, pkt, p, now_ms);
  if (p.key.proto == SLUICE_IPPROTO_TCP || p.key.proto == SLUICE_IPPROTO_UDP) {
    return drop(DropReason::kNoService);
  }
  return drop(DropReason::kUnsupportedProtocol);
}

// ICMP and ICMPv6 addressed to a VIP (README "Packet policies"):
//  - an echo request is answered here (`replied`): the VIP has no host of
//    its own to answer it, and ping is how operators check a VIP;
//  - a path-MTU error (IPv4 frag-needed, ICMPv6 packet-too-big) goes to the
//    backend that owns the quoted flow (`icmp_errors_forwarded`); one whose
//    quote names no service is dropped (icmp-no-flow): no backend of ours
//    sent that packet;
//  - everything else goes to the host (`icmp_to_host`): neighbour discovery
//    (ICMPv6 133..137: an on-link IPv6 VIP whose unicast neighbour probes
//    were dropped would be declared unreachable and flap), other errors
//    (time exceeded, unreachable codes), echo replies, informational types.
// Why the host and not a drop: these are the host's business (its
// neighbour cache, its view of the network), and the kernel is the careful
// party on an internet edge: it validates ND (hop limit 255, RFC 4861),
// never answers an ICMP error with one (RFC 1122 3.2.2, RFC 4443 2.4),
// rate-limits the ICMP it sends (icmp_ratelimit, icmp_msgs_per_sec,
// net.ipv6.icmp.ratelimit) and ignores errors quoting flows it has no
// socket for. None of it is amplified: the kernel receives no more than
// anyone could already send to the host's own address. Why not forward
// other errors to backends: no backend needs them to keep a connection
// working, and a forged one could abort a backend's connection attempt.
// Malformed ICMP never gets here: the parser drops it with its reason
// (truncated-l4, truncated-icmp-inner, bad-ip-version, ...).
Decision Worker::handle_icmp(const Snapshot& snap, Packet& pkt, const ParsedPacket& p,
                             uint32_t now_ms) {
  if (is_echo_request(p)) {
    const DropReason r = make_echo_reply(pkt, p);
    if (r != DropReason::kNone) return drop(r);
    relaxed_inc(counters_.replied);
    Decision d;
    d.verdict = {Action::kForward, DropReason::kNone};
    return d;
  }
  if (!is_pmtu_error(p)) {
    relaxed_inc(counters_.icmp_to_host);
    Decision host;
    host.verdict = {Action::kHost, DropReason::kNone};
    return host;
  }
  // The parser quotes every PMTU error it accepts; kept for safety.
  if (!p.has_inner) return drop(DropReason::kBadIcmp);
  // The quoted packet is the backend's reply (VIP -> client); `inner` reads
  // it back as the client -> VIP flow, which is how it was scheduled.
  const CompiledService* svc = snap.find_service(p.inner);
  if (!svc) return drop(DropReason::kNoFlowForIcmp);
  const uint64_t h = sluice_flow_hash(&p.inner, &snap.seed());
  Decision d;
  if (const FlowEntry* e = flows_.lookup(p.inner, h, now_ms, svc->config.timeouts)) {
    const uint16_t idx = svc->find_backend(e->backend_fingerprint);
    if (idx != kNoBackendIndex) {
      d.service = svc;
      d.backend = idx;
      d.pool = svc->backends[idx].pool;
      d.flow_hit = true;
    }
  }
  if (d.backend == kNoBackendIndex) {
    // Not tracked on this core: the stateless choice is what this core
    // would pick for the flow, which is where it went unless weights moved.
    d = schedule(snap, *svc, p.inner, h, now_ms, /*consume=*/false);
    if (d.verdict.action == Action::kDrop) return drop(DropReason::kNoFlowForIcmp);
  }
  d = forward(snap, pkt, p, d, h, now_ms);
  if (d.verdict.action == Action::kForward) relaxed_inc(counters_.icmp_errors_forwarded);
  return d;
}

Decision Worker::handle_flow(const Snapshot& snap, Packet& pkt, Scratch& s, uint32_t now_ms) {
  const ParsedPacket& p = s.parsed;
  const CompiledService& svc = *s.service;
  const FlowTimeouts& timeouts = svc.config.timeouts;
  const CircuitPolicy& policy = svc.config.circuit;
  const auto gen32 = static_cast<uint32_t>(snap.generation());
  const bool tcp = p.key.proto == SLUICE_IPPROTO_TCP;
  const bool syn = tcp && (p.tcp_flags & (SLUICE_TCP_SYN | SLUICE_TCP_ACK)) == SLUICE_TCP_SYN;

  Decision d;
  FlowEntry* expired = nullptr;
  FlowEntry* e = flows_.lookup(p.key, s.flow_hash, now_ms, timeouts, &expired);
  if (e) {
    relaxed_inc(counters_.flow_hits);
    // Re-find the backend when the configuration changed since the entry
    // last cached its index; draining backends keep their flows, removed or
    // disabled ones do not.
    if (e->generation != gen32) {
      const uint16_t idx = svc.find_backend(e->backend_fingerprint);
      if (idx == kNoBackendIndex || svc.backends[idx].state == BackendState::kDisabled) {
        relaxed_inc(counters_.flows_rescheduled);
        e = nullptr;
      } else {
        e->backend_index = idx;
        e->pool = svc.backends[idx].pool;
        e->generation = gen32;
      }
    }
  } else if (expired) [[unlikely]] {
    // This flow's entry expired: it leaves now, so a handshake that never
    // completed is counted here exactly once (see count_expired).
    count_expired(snap, *expired);
    flows_.erase(expired);
  }
  if (e && syn && e->state != FlowState::kSynSent) {
    e = nullptr;  // a new connection reusing the 5-tuple: schedule it afresh
  }
  // A service with health_check.unhealthy_flows = kReschedule moves a flow
  // off its backend once that fails its checks. Only such services read
  // the health table here, so a tracked flow of any other costs nothing.
  if (e && svc.reschedule_unhealthy && unhealthy(svc.backends[e->backend_index])) [[unlikely]] {
    relaxed_inc(counters_.unhealthy_rescheduled);
    e = nullptr;
  }

  if (e) {
    d.service = &svc;
    d.backend = e->backend_index;
    d.pool = e->pool;
    d.flow_hit = true;
    if (syn) {
      // A SYN again, at least syn_retry_min_ms after the flow's previous
      // packet: the backend did not answer the last one.
      if (policy.enabled && now_ms - e->last_seen_ms >= policy.syn_retry_min_ms) {
        retry_syn(snap, svc, s, *e, d, now_ms);
      }
    } else if (e->state == FlowState::kSynSent) {
      // The client's first non-SYN packet: the handshake completed, in the
      // time since the flow's first SYN (retries and steering included),
      // and the flow is confirmed.
      flows_.set_state(e, FlowState::kEstablished);
      relaxed_inc(counters_.handshakes_completed);
      count_handshake(svc, svc.backends[e->backend_index], now_ms - e->first_seen_ms);
      if (policy.enabled &&
          circuits_.record_success(e->backend_fingerprint, now_ms, policy,
                                   sluice_source_tag(&p.key, &snap.seed()),
                                   health_of(svc.backends[e->backend_index])) ==
              CircuitTransition::kClosed) {
        count_ejection(snap, snap.service_index(svc), e->backend_index, -1);  // half-open -> closed
      }
    } else if (e->state == FlowState::kProbation) {
      // The second packet of a flow first seen mid-stream (TCP) or of a UDP
      // flow: confirmed (flow_table.h FlowState).
      flows_.set_state(e, tcp ? FlowState::kEstablished : FlowState::kUdp);
      relaxed_inc(counters_.flows_confirmed);
    }
    if (tcp && (p.tcp_flags & (SLUICE_TCP_FIN | SLUICE_TCP_RST)) && e->state != FlowState::kClosing) {
      flows_.set_state(e, FlowState::kClosing);
      if (p.tcp_flags & SLUICE_TCP_RST) {
        count_event<&TrafficCounter::client_resets>(svc, svc.backends[e->backend_index]);
      }
    }
    e->last_seen_ms = now_ms;
    return forward(snap, pkt, p, d, s.flow_hash, now_ms);
  }
  return new_flow(snap, pkt, s, now_ms);
}

// A flow this core has not seen (or must reschedule): scheduled, and
// entered in the table unless the per-core new-flow rate is exceeded or
// its two buckets hold only confirmed flows; then it is forwarded
// statelessly to the same backend, which is where its next packet goes too
// while the configuration is unchanged (README "Flow state under attack").
// A stateless flow takes no half-open trial and is no new flow in the
// signals: it is counted per packet in flows_stateless_rate/_full.
Decision Worker::new_flow(const Snapshot& snap, Packet& pkt, Scratch& s, uint32_t now_ms) {
  const ParsedPacket& p = s.parsed;
  const CompiledService& svc = *s.service;
  const bool tcp = p.key.proto == SLUICE_IPPROTO_TCP;
  const bool syn = tcp && (p.tcp_flags & (SLUICE_TCP_SYN | SLUICE_TCP_ACK)) == SLUICE_TCP_SYN;
  const ForwardingConfig& fwd = snap.forwarding();
  const bool admitted =
      sluice_token_bucket_take(&new_flow_bucket_, now_ms, fwd.new_flow_rate, fwd.new_flow_burst);
  if (!admitted) relaxed_inc(counters_.flows_stateless_rate);
  // Scheduled before the entry is taken, so that a flow with no backend
  // (dropped) leaves the table as it was: the XDP program does the same.
  // A flow then refused by a full pair of buckets has taken a half-open
  // trial it cannot report on; that needs a table full of confirmed flows.
  Decision d = schedule(snap, svc, p.key, s.flow_hash, now_ms,
                        /*consume=*/admitted && (syn || !tcp));
  if (d.verdict.action == Action::kDrop) return d;
  FlowEntry* e = nullptr;
  if (admitted) {
    e = flows_.insert(p.key, s.flow_hash, now_ms, svc.config.timeouts, &reclaimed_);
    // The slot may have held another flow's expired entry (a full bucket).
    if (reclaimed_.state == FlowState::kSynSent) [[unlikely]] count_expired(snap, reclaimed_);
    if (e == nullptr) relaxed_inc(counters_.flows_stateless_full);
  }
  if (e == nullptr) return forward(snap, pkt, p, d, s.flow_hash, now_ms);
  const CompiledBackend& b = svc.backends[d.backend];
  relaxed_inc(counters_.new_flows);
  count_event<&TrafficCounter::new_flows>(svc, b);
  if (tcp && !syn) relaxed_inc(counters_.untracked_tcp);
  e->backend_fingerprint = b.fingerprint;
  e->backend_index = d.backend;
  e->pool = d.pool;
  e->generation = static_cast<uint32_t>(snap.generation());
  e->last_seen_ms = now_ms;
  e->first_seen_ms = now_ms;
  if (syn) {
    flows_.set_state(e, FlowState::kSynSent);
  } else if (tcp && (p.tcp_flags & (SLUICE_TCP_FIN | SLUICE_TCP_RST))) {
    flows_.set_state(e, FlowState::kClosing);
    if (p.tcp_flags & SLUICE_TCP_RST) count_event<&TrafficCounter::client_resets>(svc, b);
  } else {
    flows_.set_state(e, FlowState::kProbation);  // UDP, or TCP first seen mid-stream
  }
  return forward(snap, pkt, p, d, s.flow_hash, now_ms);
}

// A retransmitted SYN on an entry still waiting for its handshake: a
// connect failure of its backend. The retry is steered to the next usable
// backend of the same pool in Maglev order (else of the fallback pool), so
// that the client's next SYN gets an answer. first_seen_ms stays: the
// handshake time runs from the flow's first SYN.
void Worker::retry_syn(const Snapshot& snap, const CompiledService& svc, const Scratch& s,
                       FlowEntry& e, Decision& d, uint32_t now_ms) {
  const CompiledBackend& failed = svc.backends[e.backend_index];
  record_connect_failure(snap, svc, e.backend_index, sluice_source_tag(&s.parsed.key, &snap.seed()),
                         now_ms);
  uint8_t skips = 0;  // not counted: this is no new flow
  const uint64_t ah = affinity_hash(svc, s.parsed.key, s.flow_hash, snap.seed());
  uint16_t next = pick_backend(svc, e.pool, ah, now_ms, /*consume=*/true, failed.fingerprint,
                               &skips);
  if (next == kNoBackendIndex && e.pool != svc.fallback_pool) {
    // The pool has no other usable backend: retry in the fallback pool.
    next = pick_backend(svc, svc.fallback_pool, ah, now_ms, /*consume=*/true, failed.fingerprint,
                        &skips);
    if (next != kNoBackendIndex) {
      e.pool = svc.fallback_pool;
      d.pool = e.pool;
      d.fallback = true;
    }
  }
  if (next != kNoBackendIndex) {
    e.backend_index = next;
    e.backend_fingerprint = svc.backends[next].fingerprint;
    d.backend = next;
    d.steered = true;
    relaxed_inc(counters_.syn_retry_steered);
  }
}

Decision Worker::schedule(const Snapshot& snap, const CompiledService& svc,
                          const sluice_flow_key& key, uint64_t flow_hash, uint32_t now_ms,
                          bool consume) {
  const Placement p = place_new_flow(snap, svc, key, flow_hash, [&](const CompiledBackend& b) {
    return refusal(svc, b, now_ms, consume, /*exclude_fp=*/0);
  });
  if (consume) {
    if (p.rule_matched) relaxed_inc(counters_.rule_matches);
    // Once per new flow, for what its own pool's Maglev probes passed over.
    if (p.skips != 0) [[unlikely]] {
      relaxed_add(counters_.circuit_skips, (p.skips & kSkipCircuit) != 0);
      relaxed_add(counters_.health_skips, (p.skips & kSkipHealth) != 0);
    }
    if (p.fallback && p.backend != kNoBackendIndex) relaxed_inc(counters_.fallback_used);
  }
  if (p.drop == DropReason::kNoPool) return drop(DropReason::kNoPool);
  if (p.drop == DropReason::kNoBackend) {
    Decision none = drop(DropReason::kNoBackend);
    none.service = &svc;
    none.pool = p.pool;
    none.rule_matched = p.rule_matched;
    none.fallback = p.fallback;
    return none;
  }
  Decision d;
  d.verdict = {Action::kForward, DropReason::kNone};
  d.service = &svc;
  d.pool = p.pool;
  d.backend = p.backend;
  d.rule_matched = p.rule_matched;
  d.fallback = p.fallback;
  return d;
}

// 0 when backend b may take a new flow now, else why not (a kSkip* bit).
// Health comes before the circuit: an unhealthy backend must not use up a
// half-open trial, and skipping it is a health skip, not a circuit skip.
[[gnu::always_inline]] inline uint8_t Worker::refusal(const CompiledService& svc,
                                                      const CompiledBackend& b, uint32_t now_ms,
                                                      bool consume, uint64_t exclude_fp) {
  if (b.fingerprint == exclude_fp && exclude_fp != 0) return kSkipExcluded;
  const uint8_t health = health_of(b);
  if (health == SLUICE_HEALTH_UNHEALTHY) return kSkipHealth;
  const CircuitPolicy& policy = svc.config.circuit;
  if (!policy.enabled) return 0;
  const bool admitted = consume ? circuits_.admit(b.fingerprint, now_ms, policy, health)
                                : circuits_.available(b.fingerprint, now_ms, health);
  return admitted ? 0 : kSkipCircuit;
}

// Here, beside refusal() (inlined into the hot path, so not callable from
// another file). consume = false: circuits are only asked
// (CircuitTable::available), so nothing on this worker changes.
FlowExplanation Worker::explain(const Snapshot& snapshot, const sluice_flow_key& key,
                                uint32_t now_ms) {
  return explain_flow_with(
      snapshot, key,
      [&, svc = snapshot.find_service(key)](const CompiledBackend& b) {
        return refusal(*svc, b, now_ms, /*consume=*/false, /*exclude_fp=*/0);
      },
      health_);
}


// Bounded: at most kMaxCircuitProbes + kPoolSamples backends, whatever the
// pool's size (placement.h; the XDP program follows pool_probe.h too).
uint16_t Worker::pick_backend(const CompiledService& svc, uint8_t pool_index, uint64_t hash,
                              uint32_t now_ms, bool consume, uint64_t exclude_fp,
                              uint8_t* skips) {
  return pick_in_pool(svc, pool_index, hash, [&](const CompiledBackend& b) {
    return refusal(svc, b, now_ms, consume, exclude_fp);
  }, skips);
}

// Bounded: the pool's ejected count is kept, not counted; one walk of the
// pool (up to kMaxBackendsPerPool circuit lookups) only on the first
// failure in the pool after its active backends changed.
void Worker::record_connect_failure(const Snapshot& snap, const CompiledService& svc,
                                    uint16_t backend, uint32_t source, uint32_t now_ms) {
  const CompiledBackend& b = svc.backends[backend];
  relaxed_inc(counters_.connect_failures);
  count_event<&TrafficCounter::connect_failures>(svc, b);
  const uint32_t service = snap.service_index(svc);
  const uint32_t ejected = ejected_count(snap, service, b.pool, now_ms);
  const CircuitTransition t =
      circuits_.record_failure(b.fingerprint, now_ms, svc.config.circuit,
                               svc.pools[b.pool].active_count, ejected, source, health_of(b));
  // Evidence a spoofer can forge blind, kept from ejecting (circuit_logic.h).
  relaxed_add(counters_.circuit_repeat_sources, t == CircuitTransition::kRepeatSource);
  relaxed_add(counters_.circuit_suspected, t == CircuitTransition::kSuspected);
  // An ejection: the circuit opened, or reopened after a failed trial
  // (circuit_logic.h events SLUICE_CIRCUIT_EV_OPENED | _REOPENED). Only an
  // opening changes the pool's count: a half-open backend was ejected
  // already.
  if (t == CircuitTransition::kOpened || t == CircuitTransition::kReopened) {
    bump(counters_.backends, b.counter_slot, &TrafficCounter::ejections);
  }
  if (t == CircuitTransition::kOpened) count_ejection(snap, service, backend, +1);
}

// Whether pe, last brought up to date under pe.generation, is right for a
// pool that has had its active backends since members_since: every
// ejection of those backends since then has been counted in it.
inline bool Worker::PoolEjected::current(uint64_t members_since, uint64_t now_generation) const {
  return valid && generation >= members_since && generation <= now_generation;
}

uint32_t Worker::ejected_count(const Snapshot& snap, uint32_t service, uint8_t pool_index,
                               uint32_t now_ms) {
  const CompiledService& svc = snap.services()[service];
  const CompiledPool& pool = svc.pools[pool_index];
  const uint32_t at = pool_position(service, pool_index);
  PoolEjected& pe = pool_ejected_[at];
  if (!pe.current(snap.members_since(at), generation_)) [[unlikely]] {
    uint32_t ejected = 0;
    for (uint32_t k = 0; k < pool.backend_count; ++k) {
      const CompiledBackend& peer = svc.backends[pool.first_backend + k];
      // Half-open backends are still ejected: they only take trial flows.
      if (peer.state == BackendState::kActive &&
          circuit_ejected(circuits_.state(peer.fingerprint, now_ms))) {
        ++ejected;
      }
    }
    pe.ejected = ejected;
    pe.valid = true;
  }
  pe.generation = generation_;
  return pe.ejected;
}

// Ejected means open or half-open, and only record_failure (closed -> open)
// and record_success (half-open -> closed) move a circuit in or out of it:
// open -> half-open when time passes, half-open -> open, and the forgetting
// of a closed circuit's slot leave it as it was. (A disabled policy also
// forgets state, but the worker never calls the table for a service whose
// policy is disabled.) Bounded: one backend per service that lists the
// address (one, unless services share backend addresses).
// Out of line: rare, and kept out of handle_flow's hot path.
[[gnu::noinline]] void Worker::count_ejection(const Snapshot& snap, uint32_t service,
                                              uint16_t backend, int delta) {
  uint32_t s = service;
  uint16_t i = backend;
  const auto& services = snap.services();
  for (size_t n = 0; n < services.size(); ++n) {
    const CompiledBackend& b = services[s].backends[i];
    const uint32_t at = pool_position(s, b.pool);
    PoolEjected& pe = pool_ejected_[at];
    // A pool whose count is not current is counted in full when it is
    // needed, this ejection included.
    if (b.state == BackendState::kActive && pe.current(snap.members_since(at), generation_)) {
      pe.generation = generation_;
      if (delta > 0) {
        ++pe.ejected;
      } else if (pe.ejected > 0) {
        --pe.ejected;
      }
    }
    s = b.shared_service;
    i = b.shared_backend;
    if (s == service && i == backend) break;
  }
}

std::optional<uint32_t> Worker::pool_ejected(const Snapshot& snapshot, const CompiledService& svc,
                                             uint8_t pool) const {
  const uint32_t at = pool_position(snapshot.service_index(svc), pool);
  const PoolEjected& pe = pool_ejected_[at];
  if (!pe.current(snapshot.members_since(at), snapshot.generation())) return std::nullopt;
  return pe.ejected;
}

void Worker::count_handshake(const CompiledService& svc, const CompiledBackend& b, uint32_t ms) {
  count_event<&TrafficCounter::handshakes_completed>(svc, b);
  const uint32_t pool_slot = svc.pools[b.pool].counter_slot;
  if (pool_slot < counters_.pool_handshakes.size()) counters_.pool_handshakes[pool_slot].record(ms);
  if (b.counter_slot < counters_.backend_handshakes.size()) {
    counters_.backend_handshakes[b.counter_slot].record(ms);
  }
}

// A flow-table entry leaving the table expired (lookup of its own key,
// sweep, or insert reclaiming its slot): if it was still waiting for its
// handshake, that handshake expired. Counted on the service the key belongs
// to in `snap`, and on the entry's backend (and its pool) if the service
// still has it; a key no service listens on any more counts nowhere.
void Worker::count_expired(const Snapshot& snap, const FlowEntry& e) {
  if (e.state != FlowState::kSynSent) return;
  const CompiledService* svc = snap.find_service(e.key);
  if (!svc) return;
  uint16_t idx = e.backend_index;
  if (e.generation != static_cast<uint32_t>(snap.generation()) || idx >= svc->backends.size()) {
    idx = svc->find_backend(e.backend_fingerprint);
  }
  if (idx == kNoBackendIndex) {
    bump(counters_.services, svc->counter_slot, &TrafficCounter::handshakes_expired);
    return;
  }
  count_event<&TrafficCounter::handshakes_expired>(*svc, svc->backends[idx]);
}

Decision Worker::forward(const Snapshot& snap, Packet& pkt, const ParsedPacket& p, Decision d,
                         uint64_t flow_hash, uint32_t now_ms) {
  const CompiledBackend& b = d.service->backends[d.backend];
  const ForwardingConfig& fwd = snap.forwarding();
  EncapParams params;
  params.kind = d.service->config.encapsulation;
  params.gue_port = d.service->config.gue_port;
  params.outer_source = b.address.is_v4() ? &fwd.source_v4 : &fwd.source_v6;
  params.backend = &b.address;
  params.flow_hash = flow_hash;
  params.local_mac = &fwd.local_mac;
  params.next_hop_mac = &fwd.next_hop_mac;
  params.max_frame_size = fwd.max_frame_size;
  const DropReason r = encapsulate(pkt, p, params);
  if (r == DropReason::kTooBig) [[unlikely]] {
    return too_big(snap, pkt, p, d, params.max_frame_size,
                   encap_overhead(params.kind, b.address.family), now_ms);
  }
  if (r != DropReason::kNone) {
    d.verdict = {Action::kDrop, r};
    return d;
  }
  d.verdict = {Action::kForward, DropReason::kNone};
  return d;
}

// The client learns the path MTU from the answer (RFC 1191, RFC 8201) and
// sends smaller packets; its flow keeps its backend meanwhile. The answer
// goes back out of the port it came in on, like an echo reply, and is no
// traffic of the service (d.service cleared: not counted as forwarded).
// The XDP program does the same (ebpf/xdp/lib/too_big.h).
Decision Worker::too_big(const Snapshot& snap, Packet& pkt, const ParsedPacket& p, Decision d,
                         uint32_t max_frame_size, uint32_t overhead, uint32_t now_ms) {
  d.verdict = {Action::kDrop, DropReason::kTooBig};
  const bool v6 = p.key.family == SLUICE_AF_INET6;
  const uint32_t inner_len = uint32_t{p.l3_end} - p.l3_offset;
  // The largest outer IP packet the egress takes (the frame less its L2
  // header); a packet within it overflowed a 16-bit length field instead.
  const uint32_t limit = max_frame_size > p.l3_offset ? max_frame_size - p.l3_offset : 0;
  if (inner_len + overhead <= limit) return d;
  switch (sluice_too_big_answer(v6, p.dont_fragment, p.is_fragment, p.key.proto, p.icmp_type,
                                p.key.src, inner_len)) {
    case SLUICE_TOO_BIG_ANSWER: break;
    case SLUICE_TOO_BIG_NO_DF: relaxed_inc(counters_.too_big_no_df); return d;
    default: return d;
  }
  const ForwardingConfig& fwd = snap.forwarding();
  if (!sluice_token_bucket_take(&too_big_bucket_, now_ms, fwd.icmp_too_big_rate,
                                fwd.icmp_too_big_burst)) {
    relaxed_inc(counters_.too_big_rate_limited);
    return d;
  }
  const DropReason r = make_too_big_reply(pkt, p, sluice_too_big_mtu(v6, limit, overhead));
  if (r != DropReason::kNone) {
    d.verdict.reason = r;
    return d;
  }
  relaxed_inc(counters_.too_big_icmp_sent);
  Decision answer;
  answer.verdict = {Action::kForward, DropReason::kNone};
  return answer;
}

void Worker::count(const Decision& d, uint32_t bytes) {
  switch (d.verdict.action) {
    case Action::kHost:
      relaxed_inc(counters_.to_host);
      return;
    case Action::kDrop:
      relaxed_inc(counters_.dropped);
      relaxed_inc(counters_.drops[static_cast<int>(d.verdict.reason)]);
      return;
    case Action::kForward:
      break;
  }
  if (!d.service) return;  // an echo reply
  relaxed_inc(counters_.forwarded);
  // Slots beyond the sizes chosen at start-up are not counted (bounded memory).
  auto add = [bytes](std::vector<TrafficCounter>& v, uint32_t slot) {
    if (slot < v.size()) {
      relaxed_inc(v[slot].packets);
      relaxed_add(v[slot].bytes, bytes);
    }
  };
  add(counters_.services, d.service->counter_slot);
  add(counters_.pools, d.service->pools[d.pool].counter_slot);
  add(counters_.backends, d.service->backends[d.backend].counter_slot);
}

}  // namespace sluice::engine
