// SPDX-License-Identifier: Apache-2.0
#include "dataplane/engine/maglev.h"

#include <algorithm>
#include <numeric>

namespace sluice::engine {
namespace {

// Largest-remainder rounding of M * w_i / W; sum of the result is M when
// some weight is nonzero.
std::vector<uint32_t> compute_quotas(std::span<const MaglevPermutation> perms,
                                     uint32_t table_size) {
  uint64_t total_weight = 0;
  for (const MaglevPermutation& p : perms) total_weight += p.weight;

  std::vector<uint32_t> quota(perms.size(), 0);
  if (total_weight == 0) return quota;

  // M * w < 2^64 since both are 32-bit; the remainder is below W.
  std::vector<uint64_t> remainder(perms.size(), 0);
  uint64_t assigned = 0;
  for (size_t i = 0; i < perms.size(); ++i) {
    uint64_t share = uint64_t{table_size} * perms[i].weight;
    quota[i] = static_cast<uint32_t>(share / total_weight);
    remainder[i] = share % total_weight;
    assigned += quota[i];
  }
  uint64_t leftover = table_size - assigned;  // < number of backends
  if (leftover == 0) return quota;

  std::vector<uint32_t> order;
  order.reserve(perms.size());
  for (size_t i = 0; i < perms.size(); ++i) {
    // Weight 0 has remainder 0 and can never be among the largest (the
    // remainders sum to leftover * W), but say so explicitly.
    if (perms[i].weight > 0) order.push_back(static_cast<uint32_t>(i));
  }
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    if (remainder[a] != remainder[b]) return remainder[a] > remainder[b];
    return a < b;
  });
  for (uint64_t k = 0; k < leftover && k < order.size(); ++k) ++quota[order[k]];
  return quota;
}

// One turn: backend `backend` takes its k-th slot, at start tag k / q.
struct Turn {
  uint32_t backend;
  uint32_t k;
};

// Calls emit(backend, k, bucket) for every turn, with bucket = floor(k * M / q)
// computed without a division per turn: k * M / q = k * (M / q) + k * (M % q) / q,
// and the second part is carried incrementally.
template <typename Emit>
void for_each_turn(const std::vector<uint32_t>& quota, uint32_t table_size, Emit emit) {
  for (uint32_t i = 0; i < quota.size(); ++i) {
    const uint32_t q = quota[i];
    if (q == 0) continue;
    const uint32_t whole = table_size / q;
    const uint32_t part = table_size % q;
    uint32_t bucket = 0;
    uint64_t carry = 0;  // below 2q, which may pass 2^32 for huge M
    for (uint32_t k = 0; k < q; ++k) {
      emit(i, k, bucket);
      bucket += whole;
      carry += part;
      if (carry >= q) {
        carry -= q;
        ++bucket;
      }
    }
  }
}

// The order in which backends take their turns: every turn (i, k) sorted by
// start tag k / q_i, ties to the lower index.
//
// Why not a heap of backends keyed by filled_i / q_i: a backend's tag moves
// only on its own turns, so the heap merely merges N sorted streams, and that
// merge does not depend on the table. Doing it as a counting sort on
// floor(k * M / q_i) (which keeps the order of the tags, and lands each
// backend at most once per bucket since M / q_i >= 1) is linear, instead of
// M sift-downs of depth log N that cost about three quarters of the build.
// Equal tags in one bucket come out in index order because turns are emitted
// backend by backend; only distinct tags sharing a bucket need sorting.
std::vector<Turn> turn_order(const std::vector<uint32_t>& quota, uint32_t table_size) {
  std::vector<uint32_t> bucket_end(size_t{table_size} + 1, 0);
  for_each_turn(quota, table_size,
                [&](uint32_t, uint32_t, uint32_t bucket) { ++bucket_end[bucket + 1]; });
  for (size_t b = 0; b < table_size; ++b) bucket_end[b + 1] += bucket_end[b];
  // bucket_end[b] is now where bucket b starts; it advances to where b ends.
  std::vector<Turn> turns(bucket_end[table_size]);
  for_each_turn(quota, table_size, [&](uint32_t i, uint32_t k, uint32_t bucket) {
    turns[bucket_end[bucket]++] = Turn{i, k};
  });

  auto before = [&quota](const Turn& a, const Turn& b) {
    // k_a / q_a < k_b / q_b, cross-multiplied: the factors are 32-bit.
    uint64_t lhs = uint64_t{a.k} * quota[b.backend];
    uint64_t rhs = uint64_t{b.k} * quota[a.backend];
    if (lhs != rhs) return lhs < rhs;
    return a.backend < b.backend;
  };
  size_t begin = 0;
  for (size_t b = 0; b < table_size; ++b) {
    const size_t end = bucket_end[b];
    // Most buckets hold zero or one turn, or turns of equal tags already in
    // order; insertion sort is linear on those. Large buckets (many weights
    // with nearly equal tags) go to std::sort to bound the worst case.
    if (end - begin > 32) {
      // Bucket 0 holds every backend's first turn (tag 0), already sorted.
      if (!std::is_sorted(turns.begin() + begin, turns.begin() + end, before)) {
        std::sort(turns.begin() + begin, turns.begin() + end, before);
      }
    } else {
      for (size_t j = begin + 1; j < end; ++j) {
        Turn t = turns[j];
        size_t pos = j;
        for (; pos > begin && before(t, turns[pos - 1]); --pos) turns[pos] = turns[pos - 1];
        turns[pos] = t;
      }
    }
    begin = end;
  }
  return turns;
}

// A backend's walk along its preference list.
struct Walker {
  uint32_t next;   // next slot of the list to try
  uint32_t skip;
  uint32_t tried;  // slots of the list consumed; bounds the walk
};

}  // namespace

std::vector<uint32_t> maglev_populate(std::span<const MaglevPermutation> perms,
                                      uint32_t table_size) {
  std::vector<uint32_t> table(table_size, kMaglevEmpty);
  if (table_size == 0) return table;

  const std::vector<uint32_t> quota = compute_quotas(perms, table_size);
  const std::vector<Turn> turns = turn_order(quota, table_size);

  std::vector<Walker> walkers(perms.size());
  for (size_t i = 0; i < perms.size(); ++i) {
    // The reductions only matter when the preconditions are broken; they
    // keep the walk inside the table.
    walkers[i] = Walker{perms[i].offset % table_size, perms[i].skip % table_size, 0};
  }
  // Which slots are taken, one bit each: M / 8 bytes stay in L1 cache, where
  // the table itself would not, and most probes late in the fill hit taken
  // slots.
  std::vector<uint64_t> taken((size_t{table_size} + 63) / 64, 0);

  for (const Turn& turn : turns) {
    Walker& w = walkers[turn.backend];
    // With M prime and 1 <= skip < M the list visits every slot, so an
    // empty one is always found before tried reaches M. Otherwise the turn
    // is lost and slots nobody reaches stay kMaglevEmpty.
    while (w.tried < table_size) {
      const uint32_t slot = w.next;
      w.next += w.skip;
      if (w.next >= table_size) w.next -= table_size;
      ++w.tried;
      uint64_t& word = taken[slot >> 6];
      const uint64_t bit = uint64_t{1} << (slot & 63);
      if (!(word & bit)) {
        word |= bit;
        table[slot] = turn.backend;
        break;
      }
    }
  }
  return table;
}

std::vector<uint32_t> build_maglev_table(std::span<const MaglevBackend> backends,
                                         uint32_t table_size,
                                         const sluice_hash_seed& seed) {
  // Canonical order: by address, so input order cannot change the table.
  std::vector<uint32_t> order(backends.size());
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return backends[a].address < backends[b].address;
  });

  std::vector<MaglevPermutation> perms(backends.size());
  for (size_t k = 0; k < order.size(); ++k) {
    const MaglevBackend& b = backends[order[k]];
    sluice_flow_key key{};
    std::copy(b.address.bytes.begin(), b.address.bytes.end(), key.src);
    key.family = b.address.family;
    key.proto = 0xfe;
    uint64_t h1 = sluice_flow_hash(&key, &seed);
    key.proto = 0xff;
    uint64_t h2 = sluice_flow_hash(&key, &seed);
    // table_size < 2 has no valid skip; those sizes are rejected by
    // validation, the guards only avoid dividing by zero.
    uint32_t offset = table_size > 0 ? static_cast<uint32_t>(h1 % table_size) : 0;
    uint32_t skip = table_size > 1 ? static_cast<uint32_t>(h2 % (table_size - 1)) + 1 : 1;
    perms[k] = MaglevPermutation{offset, skip, b.weight};
  }

  std::vector<uint32_t> table = maglev_populate(perms, table_size);
  for (uint32_t& entry : table) {
    if (entry != kMaglevEmpty) entry = order[entry];
  }
  return table;
}

bool is_prime(uint32_t n) {
  if (n < 2) return false;
  if (n < 4) return true;
  if (n % 2 == 0 || n % 3 == 0) return false;
  // Every prime above 3 is 6k +- 1; 64-bit i keeps i * i from overflowing.
  for (uint64_t i = 5; i * i <= n; i += 6) {
    if (n % i == 0 || n % (i + 2) == 0) return false;
  }
  return true;
}

}  // namespace sluice::engine
