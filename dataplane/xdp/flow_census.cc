// SPDX-License-Identifier: Apache-2.0
#include "dataplane/xdp/flow_census.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "dataplane/xdp/map_io.h"
#include "ebpf/xdp/xdp_layout.h"

namespace sluice::xdp {
namespace {

// 40 bytes: with the 40-byte key and the kernel's 48-byte element header, a
// map element is two whole cache lines (xdp_layout.h).
static_assert(sizeof(sluice_xdp_flow) == 40);

constexpr int kEnotsupp = 524;             // the kernel's ENOTSUPP
constexpr uint32_t kBatch = 8192;          // entries per syscall (640 KiB of keys and values)

// Idle time or age: 0 for a time after `now_ms` (written during the walk).
uint32_t since(uint32_t now_ms, uint32_t then_ms) {
  const auto d = static_cast<int32_t>(now_ms - then_ms);
  return d < 0 ? 0 : static_cast<uint32_t>(d);
}

uint32_t timeout_ms(uint8_t state, const engine::FlowTimeouts& t) {
  switch (state) {
    case SLUICE_XDP_FLOW_SYN_SENT: return t.tcp_syn_ms;
    case SLUICE_XDP_FLOW_ESTABLISHED: return t.tcp_established_ms;
    case SLUICE_XDP_FLOW_CLOSING: return t.tcp_closing_ms;
    case SLUICE_XDP_FLOW_UDP: return t.udp_ms;
    case SLUICE_XDP_FLOW_PROBATION: return t.probation_ms;
  }
  return 0;
}

// The census being taken: per-CPU tallies indexed by backend slot
// (allocated for a CPU when it has its first live flow).
class Tally {
 public:
  Tally(const engine::Snapshot& snapshot, uint32_t now_ms, int cpus)
      : snapshot_(snapshot), now_ms_(now_ms), slots_(cpus) {
    for (const engine::CompiledService& s : snapshot.services()) {
      for (const engine::CompiledBackend& b : s.backends) {
        backend_slots_ = std::max(backend_slots_, b.counter_slot + 1);
      }
    }
  }

  // Judges one entry. True when the key is to be deleted (an expired
  // handshake).
  bool judge(const sluice_flow_key& key, const sluice_xdp_flow& e, XdpFlowCensus& out) {
    if (e.state == SLUICE_XDP_FLOW_EMPTY) return false;
    const engine::CompiledService* svc = snapshot_.find_service(key);
    if (svc == nullptr) return false;
    // A CPU beyond the possible ones cannot have written it: CPU 0.
    const uint32_t cpu = e.cpu < slots_.size() ? e.cpu : 0;
    const uint32_t idle = since(now_ms_, e.last_seen_ms);
    const uint16_t index = svc->find_backend(e.backend_fingerprint);
    const engine::CompiledBackend* b =
        index == engine::kNoBackendIndex ? nullptr : &svc->backends[index];
    if (idle < timeout_ms(e.state, svc->config.timeouts)) {
      if (b != nullptr) count_live(cpu, b->counter_slot, e, idle);
      return false;
    }
    if (e.state != SLUICE_XDP_FLOW_SYN_SENT) return false;  // dead: the LRU's to reclaim
    ExpiredHandshake x;
    x.cpu = cpu;
    x.service_slot = svc->counter_slot;
    if (b != nullptr) {
      x.has_backend = true;
      x.pool_slot = svc->pools[b->pool].counter_slot;
      x.backend_slot = b->counter_slot;
    }
    out.expired.push_back(x);
    return true;
  }

  // The tallies as SlotFlows, by CPU, in slot order.
  std::vector<std::vector<engine::SlotFlows>> result() const {
    std::vector<std::vector<engine::SlotFlows>> out(slots_.size());
    for (size_t cpu = 0; cpu < slots_.size(); ++cpu) {
      for (const engine::SlotFlows& s : slots_[cpu]) {
        if (s.flows > 0) out[cpu].push_back(s);
      }
    }
    return out;
  }

 private:
  void count_live(uint32_t cpu, uint32_t slot, const sluice_xdp_flow& e, uint32_t idle) {
    std::vector<engine::SlotFlows>& tally = slots_[cpu];
    if (tally.empty()) {
      tally.resize(backend_slots_);
      for (uint32_t s = 0; s < backend_slots_; ++s) tally[s].backend_slot = s;
    }
    engine::SlotFlows& f = tally[slot];
    const uint32_t age = since(now_ms_, e.first_seen_ms);
    if (f.flows == 0 || age > f.oldest_age_ms) f.oldest_age_ms = age;
    if (f.flows == 0 || idle < f.newest_idle_ms) f.newest_idle_ms = idle;
    ++f.flows;
  }

  const engine::Snapshot& snapshot_;
  const uint32_t now_ms_;
  uint32_t backend_slots_ = 0;
  std::vector<std::vector<engine::SlotFlows>> slots_;  // by CPU, by backend slot
};

bool batch_unsupported(int err) {
  return err == EINVAL || err == kEnotsupp || err == EOPNOTSUPP;
}

[[noreturn]] void fail(const char* what, int err) {
  throw XdpError(std::string("flow census: cannot ") + what + " the XDP flow maps: " +
                 std::strerror(err));
}

// Reads the map in batches, handing each batch to `visit(keys, values, n)`.
// False, having read nothing, when the kernel has no batch lookup for it.
template <typename Visit>
bool walk_batched(int fd, Visit&& visit) {
  uint32_t batch = kBatch;
  std::vector<sluice_flow_key> keys(batch);
  std::vector<sluice_xdp_flow> values(batch);
  uint64_t token = 0;  // the kernel's position: a bucket index
  bool first = true;
  for (;;) {
    uint32_t n = batch;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    const int rc = bpf_map_lookup_batch(fd, first ? nullptr : &token, &token, keys.data(),
                                        values.data(), &n, &opts);
    const int err = rc == 0 ? 0 : errno;
    if (rc != 0 && err == ENOSPC && n == 0) {
      // One bucket holds more keys than a batch: read it with a larger one.
      batch *= 2;
      keys.resize(batch);
      values.resize(batch);
      continue;
    }
    if (rc != 0 && err != ENOENT) {
      if (first && batch_unsupported(err)) return false;
      fail("read", err);
    }
    first = false;
    if (n > 0) visit(keys.data(), values.data(), n);
    if (rc != 0) return true;  // ENOENT: the last bucket was read
  }
}

// The same, one key at a time.
template <typename Visit>
void walk_by_key(int fd, Visit&& visit) {
  sluice_xdp_flow value{};
  sluice_flow_key key{}, next{};
  const sluice_flow_key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    key = next;
    prev = &key;
    if (bpf_map_lookup_elem(fd, &key, &value) != 0) {
      if (errno == ENOENT) continue;  // evicted meanwhile
      fail("read", errno);
    }
    visit(&key, &value, 1);
  }
  if (errno != ENOENT) fail("list the keys of", errno);
}

}  // namespace

uint32_t xdp_now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  const uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
  return static_cast<uint32_t>(ns / 1000000);
}

XdpFlowCensus census_xdp_flows(const XdpMaps& maps, const engine::Snapshot& snapshot,
                               uint32_t now_ms) {
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) throw XdpError("flow census: cannot count the possible CPUs");
  XdpFlowCensus out;
  Tally tally(snapshot, now_ms, cpus);
  std::vector<sluice_flow_key> doomed;
  out.batched = true;  // until a map is read key by key
  // Confirmed flows, then unconfirmed ones (xdp_layout.h); a key is in one
  // of them at a time (a flow confirmed during the walk may be seen in
  // both or in neither: the census is bounded-error).
  for (const auto& [fd, name] : {std::pair{maps.flows, "flows"}, std::pair{maps.flows_new, "flows_new"}}) {
    if (fd < 0) continue;
    auto visit = [&, fd = fd, name = name](const sluice_flow_key* keys,
                                           const sluice_xdp_flow* values, uint32_t n) {
      out.keys += n;
      for (uint32_t i = 0; i < n; ++i) {
        if (tally.judge(keys[i], values[i], out)) {
          doomed.push_back(keys[i]);
        }
      }
      // Deleted batch by batch: the sooner after the read, the smaller the
      // window for a packet to revive the flow in between.
      if (!doomed.empty()) {
        delete_elements(fd, name, doomed.data(), sizeof(sluice_flow_key), doomed.size());
        doomed.clear();
      }
    };
    const bool batched = walk_batched(fd, visit);
    if (!batched) walk_by_key(fd, visit);
    out.batched = out.batched && batched;
  }
  out.cpus = tally.result();
  return out;
}

void ExpiredHandshakeCounts::add(const std::vector<ExpiredHandshake>& expired) {
  std::lock_guard lock(mutex_);
  for (const ExpiredHandshake& x : expired) {
    ++services_[{x.cpu, x.service_slot}];
    if (!x.has_backend) continue;
    ++pools_[{x.cpu, x.pool_slot}];
    ++backends_[{x.cpu, x.backend_slot}];
  }
}

void ExpiredHandshakeCounts::add_to(std::vector<engine::WorkerCounters>& workers) const {
  std::lock_guard lock(mutex_);
  auto add = [&workers](const std::map<Key, uint64_t>& counts,
                        std::vector<engine::TrafficCounter> engine::WorkerCounters::*kind) {
    for (const auto& [at, n] : counts) {
      const auto [cpu, slot] = at;
      if (cpu >= workers.size()) continue;
      std::vector<engine::TrafficCounter>& v = workers[cpu].*kind;
      if (slot < v.size()) v[slot].handshakes_expired += n;
    }
  };
  add(services_, &engine::WorkerCounters::services);
  add(pools_, &engine::WorkerCounters::pools);
  add(backends_, &engine::WorkerCounters::backends);
}

}  // namespace sluice::xdp
