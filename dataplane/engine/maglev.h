// SPDX-License-Identifier: Apache-2.0
// Weighted Maglev lookup tables (Eisenbud et al., "Maglev: A Fast and
// Reliable Software Network Load Balancer", NSDI 2016, section 3.4).
//
// A pool's table has M slots (M prime); each slot holds a backend index.
// Callers look a flow up as
//     table[sluice_hash_to_range(hash, M)]
// with the helper from flow_hash.h. That formula is shared with the XDP
// program, so both dataplanes must index the table exactly this way: never
// `hash % M`.
//
// Why Maglev: a table lookup costs one load whatever the number of backends,
// every backend gets within one slot of its share, and removing one backend
// moves little more than that backend's own slots (the paper measures about
// 0.6% extra at N = 1000, M = 65537).
//
// The weighted variant. Every backend i walks its own preference list
// (offset_i + j * skip_i) mod M, as in the paper. Instead of the paper's
// plain round robin, backend i is given a quota q_i of slots proportional to
// its weight, and turns go to the backend that is furthest behind its quota
// (smallest filled_i / q_i). With equal weights the quotas differ by at most
// one and the extra slots go to the lowest indices, so the turn order is
// exactly the paper's round robin and its Table 1 comes out unchanged.
// Compared with repeating a backend w times in the round robin, this keeps
// the count of each backend exact (q_i, not "about") and needs no weight
// normalisation.
//
// Cost: a counting sort of the M turns (linear in practice), then the fill,
// whose preference walks take about M ln M probes as in the paper. N = 1000,
// M = 65537 builds in about 1.3-1.5 ms on the 2-vCPU dev VM
// (the paper reports 1.8 ms); M = 655373 in about 16 ms.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "dataplane/engine/config.h"
#include "dataplane/engine/flow_hash.h"

namespace sluice::engine {

// A table slot that belongs to no backend (only when every weight is 0).
inline constexpr uint32_t kMaglevEmpty = 0xffffffff;

// One backend's preference list and weight, in canonical order.
struct MaglevPermutation {
  uint32_t offset;  // 0..M-1: first preferred slot
  uint32_t skip;    // 1..M-1: step between preferred slots
  uint32_t weight;  // relative share; 0 gets no slot
};

// Fills a table of `table_size` slots from the backends' preference lists.
// Entries are indices into `perms`.
//
// Quotas: q_i = floor(M * w_i / W), and the M - sum(q_i) slots left over go
// one each to the backends with the largest remainders (M * w_i mod W; ties
// to the lower index). So sum(q_i) = M exactly and each q_i is within one of
// M * w_i / W (largest-remainder rounding). A backend whose share is below
// one slot may get a quota of 0, and weight 0 always gets 0.
//
// Turns: the backend with the smallest filled_i / q_i (ties to the lower
// index) takes the next still-empty slot of its preference list; backends
// that reached their quota take no more turns.
//
// Preconditions: table_size is prime, offset < M and 1 <= skip < M, so every
// preference list visits every slot. (If they are broken the function still
// terminates; slots nobody could reach stay kMaglevEmpty.)
//
// Returns a vector of exactly table_size entries. When every weight is 0 (or
// `perms` is empty) every entry is kMaglevEmpty, so a lookup stays in bounds
// and the caller sees "no backend".
std::vector<uint32_t> maglev_populate(std::span<const MaglevPermutation> perms,
                                      uint32_t table_size);

// A backend as the table builder sees it.
struct MaglevBackend {
  IpAddress address;
  uint32_t weight;
};

// Builds the table of a pool from its backends.
//
// The backends are put in canonical order (by address: family, then bytes)
// before anything else, so the same set in any input order gives the same
// table, and every appliance of a fleet builds the same table. Each backend's
// permutation comes from the seeded flow hash of a sluice_flow_key holding
// its address in src[] and its family, all other fields zero, and proto set
// to 0xfe for h1 and 0xff for h2 (two keys that differ only there give two
// independent hashes; 254 and 255 are IANA's experimental and reserved
// protocol numbers, so no client flow key looks like them):
//     offset = h1 % M,   skip = h2 % (M - 1) + 1.
// Keying with the fleet's secret seed stops an outsider who knows the
// backend addresses from predicting which slots each backend owns.
// Entries are indices into the caller's `backends` span (not canonical
// order).
//
// Preconditions: addresses are unique (validation rejects duplicates; with
// duplicates the result depends on input order) and table_size is prime.
std::vector<uint32_t> build_maglev_table(std::span<const MaglevBackend> backends,
                                         uint32_t table_size,
                                         const sluice_hash_seed& seed);

// True when n is prime (trial division by 6k +- 1: at most ~22k divisions for
// any uint32_t, which is nothing next to building a table).
bool is_prime(uint32_t n);

}  // namespace sluice::engine
