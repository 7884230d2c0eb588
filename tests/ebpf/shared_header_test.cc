// The shared-header invariant, BPF half: flow_hash.h and pool_split.h give
// bit-identical results when compiled as BPF (run by the kernel through
// BPF_PROG_TEST_RUN on shared_header_probe.bpf.c) and as C++ (this file).
// A flow must land on the same pool and backend whichever dataplane sees it.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <random>
#include <string>

#include "dataplane/engine/flow_hash.h"
#include "dataplane/engine/pool_split.h"
#include "tests/ebpf/bpf_test_support.h"
#include "tests/ebpf/shared_header_probe.h"
#include "tests/ebpf/shared_header_probe.skel.h"

namespace {

namespace bpftest = sluice::test::bpf;

constexpr int kRandomInputs = 100000;
constexpr uint64_t kRngSeed = 20261122;

// Edge values for the Q20 logarithm and the mixer, tried with every key kind.
constexpr uint64_t kEdgeX[] = {
    0, 1, 2, 3, (1ULL << 32) - 1, 1ULL << 32, (1ULL << 63) - 1, 1ULL << 63,
    (1ULL << 63) + 1, ~0ULL - 1, ~0ULL,
};

// Edge values for hash_to_range's n and the hash it maps.
constexpr uint32_t kEdgeN[] = {0, 1, 2, 3, 0x7fffffffu, 0x80000000u, 0xfffffffeu, 0xffffffffu};
constexpr uint64_t kEdgeRangeHash[] = {0, 1, 0xffffffffULL, 1ULL << 32, 1ULL << 63, ~0ULL};

// Edge weights: zero (never chosen), one, the maximum, and one past it.
constexpr uint32_t kEdgeWeight[] = {0, 1, 2, 999999, SLUICE_MAX_POOL_WEIGHT,
                                    SLUICE_MAX_POOL_WEIGHT + 1, 0xffffffffu};




std::string hex(const void* p, size_t len) {
  std::string out;
  const auto* b = static_cast<const uint8_t*>(p);
  char buf[4];
  for (size_t i = 0; i < len; ++i) {
    snprintf(buf, sizeof(buf), "%02x", b[i]);
    out += buf;
  }
  return out;
}

// What the C++ build of the headers says for one input.
sluice_probe_out expected_for(const sluice_probe_in& in) {
  sluice_probe_out out{};
  out.flow_hash = sluice_flow_hash(&in.key, &in.seed);
  sluice_flow_key akey{};
  sluice_affinity_key(&in.key, in.affinity, in.prefix_len, &akey);
  out.affinity_hash = sluice_flow_hash(&akey, &in.seed);
  out.pool = sluice_pick_pool(out.affinity_hash, &in.split);
  out.neg_log2_q20 = sluice_neg_log2_q20(in.x);
  out.mix64 = sluice_mix64(in.x);
  for (int i = 0; i < SLUICE_MAX_POOLS; ++i) out.inv_weight[i] = sluice_inv_weight(in.weight[i]);
  out.range = sluice_hash_to_range(in.range_hash, in.n);
  return out;
}

std::string describe(const sluice_probe_in& in, const sluice_probe_out& want,
                     const sluice_probe_out& got) {
  std::string s;
  char buf[256];
  s += "key=" + hex(&in.key, sizeof(in.key));
  snprintf(buf, sizeof(buf), "\nseed=%016" PRIx64 ":%016" PRIx64 " affinity=%u prefix_len=%u",
           in.seed.k0, in.seed.k1, in.affinity, in.prefix_len);
  s += buf;
  snprintf(buf, sizeof(buf), "\nsplit.n_pools=%u x=%016" PRIx64 " range_hash=%016" PRIx64 " n=%u",
           in.split.n_pools, in.x, in.range_hash, in.n);
  s += buf;
  for (int i = 0; i < SLUICE_MAX_POOLS; ++i) {
    snprintf(buf, sizeof(buf), "\n  pool[%d] id=%08x inv_weight=%" PRIu64 " weight=%u", i,
             in.split.pool_id[i], in.split.inv_weight[i], in.weight[i]);
    s += buf;
  }
  auto line = [&](const char* name, uint64_t w, uint64_t g) {
    snprintf(buf, sizeof(buf), "\n%-14s c++=%016" PRIx64 " bpf=%016" PRIx64 "%s", name, w, g,
             w == g ? "" : "   <-- differs");
    s += buf;
  };
  line("flow_hash", want.flow_hash, got.flow_hash);
  line("affinity_hash", want.affinity_hash, got.affinity_hash);
  line("pool", want.pool, got.pool);
  line("neg_log2_q20", want.neg_log2_q20, got.neg_log2_q20);
  line("mix64", want.mix64, got.mix64);
  line("range", want.range, got.range);
  for (int i = 0; i < SLUICE_MAX_POOLS; ++i) line("inv_weight", want.inv_weight[i], got.inv_weight[i]);
  return s;
}

class SharedHeaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!bpftest::can_load_bpf()) {
      GTEST_SKIP() << "needs CAP_BPF (or root) to load the XDP probe; run as root to "
                      "check the BPF build of flow_hash.h/pool_split.h";
    }
    bpftest::libbpf_log().clear();
    previous_print_ = libbpf_set_print(bpftest::collect_libbpf_log);
    skel_ = shared_header_probe::open_and_load();
    ASSERT_NE(skel_, nullptr) << "the verifier or libbpf refused shared_header_probe.bpf.c "
                              << "(errno " << errno << "); end of libbpf's log:\n"
                              << bpftest::libbpf_log_tail();
    prog_fd_ = bpf_program__fd(skel_->progs.shared_header_probe);
    ASSERT_GE(prog_fd_, 0);
  }

  void TearDown() override {
    shared_header_probe::destroy(skel_);
    if (previous_print_ != nullptr) libbpf_set_print(previous_print_);
  }

  // Runs the probe once on `in`; repeat = 1 because a repeated run would
  // reuse the buffer the first run already wrote into.
  ::testing::AssertionResult run_probe(const sluice_probe_in& in, sluice_probe_out* out,
                                       uint32_t* verdict) {
    sluice_probe_record rec{};
    rec.in = in;
    sluice_probe_record back{};
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = &rec, .data_out = &back,
                .data_size_in = sizeof(rec), .data_size_out = sizeof(back), .repeat = 1);
    int err = bpf_prog_test_run_opts(prog_fd_, &opts);
    if (err != 0) return ::testing::AssertionFailure() << "BPF_PROG_TEST_RUN failed: " << err;
    if (opts.data_size_out != sizeof(back)) {
      return ::testing::AssertionFailure() << "probe returned " << opts.data_size_out
                                           << " bytes, want " << sizeof(back);
    }
    if (memcmp(&back.in, &in, sizeof(in)) != 0) {
      return ::testing::AssertionFailure() << "probe modified its input";
    }
    *out = back.out;
    *verdict = opts.retval;
    return ::testing::AssertionSuccess();
  }

  // Random flow keys: IPv4 and IPv6 as the parser builds them, plus raw
  // bytes (padding included) since the hash must agree on any 40 bytes.
  sluice_flow_key random_key() {
    sluice_flow_key k{};
    const uint64_t kind = rng_() % 5;
    if (kind == 4) {
      for (auto& b : k.src) b = static_cast<uint8_t>(rng_());
      for (auto& b : k.dst) b = static_cast<uint8_t>(rng_());
      k.sport = static_cast<uint16_t>(rng_());
      k.dport = static_cast<uint16_t>(rng_());
      k.proto = static_cast<uint8_t>(rng_());
      k.family = static_cast<uint8_t>(rng_());
      k.pad[0] = static_cast<uint8_t>(rng_());
      k.pad[1] = static_cast<uint8_t>(rng_());
      return k;
    }
    k.family = kind < 2 ? SLUICE_AF_INET : SLUICE_AF_INET6;
    const int addr_len = k.family == SLUICE_AF_INET ? 4 : 16;
    for (int i = 0; i < addr_len; ++i) {
      k.src[i] = static_cast<uint8_t>(rng_());
      k.dst[i] = static_cast<uint8_t>(rng_());
    }
    k.sport = static_cast<uint16_t>(rng_());
    k.dport = static_cast<uint16_t>(rng_());
    static constexpr uint8_t kProtos[] = {6, 17, 1, 58};
    k.proto = kProtos[rng_() % 4];
    return k;
  }

  // A split of 1..8 pools (sometimes 0 or more than 8, which the headers must
  // also agree on), with weights that are often zero or at the edges.
  void random_split(sluice_probe_in* in) {
    const uint64_t r = rng_() % 50;
    in->split.n_pools = r == 0 ? 0 : r == 1 ? 9 + rng_() % 100 : 1 + rng_() % SLUICE_MAX_POOLS;
    const bool raw_inv_weights = rng_() % 20 == 0;  // not derived from a weight
    for (int i = 0; i < SLUICE_MAX_POOLS; ++i) {
      uint32_t w;
      switch (rng_() % 4) {
        case 0: w = 0; break;
        case 1: w = kEdgeWeight[rng_() % std::size(kEdgeWeight)]; break;
        case 2: w = 1 + rng_() % 100; break;
        default: w = static_cast<uint32_t>(rng_() % (SLUICE_MAX_POOL_WEIGHT + 1)); break;
      }
      in->weight[i] = w;
      in->split.pool_id[i] = static_cast<uint32_t>(rng_());
      in->split.inv_weight[i] = raw_inv_weights ? rng_() : sluice_inv_weight(w);
    }
    in->split.pad = static_cast<uint32_t>(rng_());
  }

  sluice_probe_in random_input(int index) {
    sluice_probe_in in{};
    in.key = random_key();
    in.seed.k0 = rng_();
    in.seed.k1 = rng_();
    if (rng_() % 100 == 0) in.seed = sluice_hash_seed{0, 0};
    random_split(&in);
    in.affinity = static_cast<uint8_t>(rng_() % 10 == 0 ? rng_() : rng_() % 3);
    const uint64_t p = rng_() % 4;
    in.prefix_len = static_cast<uint8_t>(p == 0 ? rng_() : p == 1 ? rng_() % 33 : rng_() % 129);
    // Every edge x with each of the first inputs, then mostly random.
    const int edges = static_cast<int>(std::size(kEdgeX));
    in.x = index < edges * 4 ? kEdgeX[index % edges] : rng_() >> (rng_() % 64);
    in.range_hash = rng_() % 8 == 0 ? kEdgeRangeHash[rng_() % std::size(kEdgeRangeHash)] : rng_();
    in.n = rng_() % 8 == 0 ? kEdgeN[rng_() % std::size(kEdgeN)]
                           : static_cast<uint32_t>(rng_() >> (rng_() % 64));
    return in;
  }

  shared_header_probe* skel_ = nullptr;
  int prog_fd_ = -1;
  libbpf_print_fn_t previous_print_ = nullptr;
  std::mt19937_64 rng_{kRngSeed};
};

// A short packet is refused instead of read past its end.
TEST_F(SharedHeaderTest, ShortPacketIsAborted) {
  uint8_t frame[sizeof(sluice_probe_record) - 1] = {};
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = sizeof(frame),
              .repeat = 1);
  ASSERT_EQ(bpf_prog_test_run_opts(prog_fd_, &opts), 0);
  EXPECT_EQ(opts.retval, static_cast<uint32_t>(SLUICE_PROBE_SHORT));
}

// One fixed input, so a broken probe shows up before the random sweep.
TEST_F(SharedHeaderTest, FixedInputMatches) {
  sluice_probe_in in{};
  in.key.family = SLUICE_AF_INET;
  const uint8_t src[4] = {192, 0, 2, 1}, dst[4] = {198, 51, 100, 7};
  memcpy(in.key.src, src, 4);
  memcpy(in.key.dst, dst, 4);
  in.key.sport = 0x3930;  // 12345, network order on a little-endian host
  in.key.dport = 0x5000;  // 80
  in.key.proto = 6;
  in.seed = {0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
  in.split.n_pools = 2;
  in.split.pool_id[0] = sluice_pool_id("stable", 6);
  in.split.pool_id[1] = sluice_pool_id("canary", 6);
  in.weight[0] = 90;
  in.weight[1] = 10;
  in.split.inv_weight[0] = sluice_inv_weight(90);
  in.split.inv_weight[1] = sluice_inv_weight(10);
  in.affinity = SLUICE_AFFINITY_CLIENT_PREFIX;
  in.prefix_len = 24;
  in.x = 1ULL << 63;
  in.range_hash = ~0ULL;
  in.n = 65537;

  sluice_probe_out got{};
  uint32_t verdict = 0;
  ASSERT_TRUE(run_probe(in, &got, &verdict));
  EXPECT_EQ(verdict, static_cast<uint32_t>(SLUICE_PROBE_OK));
  const sluice_probe_out want = expected_for(in);
  EXPECT_EQ(memcmp(&want, &got, sizeof(want)), 0) << describe(in, want, got);
  // Literal checks of values whose meaning is known without the headers.
  EXPECT_EQ(got.neg_log2_q20, 1ULL << 20);  // -log2(1/2) = 1
  EXPECT_EQ(got.range, 65536u);             // the top of [0, 65537)
  EXPECT_EQ(got.inv_weight[0], 763549741ULL);   // floor(2^36 / 90)
  EXPECT_EQ(got.inv_weight[1], 6871947673ULL);  // floor(2^36 / 10)
  EXPECT_LT(got.pool, 2u);
}

// Every output agrees between the BPF and C++ builds on random and edge inputs.
TEST_F(SharedHeaderTest, RandomInputsMatchCpp) {
  int mismatches = 0;
  std::string first;
  for (int i = 0; i < kRandomInputs; ++i) {
    const sluice_probe_in in = random_input(i);
    sluice_probe_out got{};
    uint32_t verdict = 0;
    ASSERT_TRUE(run_probe(in, &got, &verdict)) << "input #" << i;
    ASSERT_EQ(verdict, static_cast<uint32_t>(SLUICE_PROBE_OK)) << "input #" << i;
    const sluice_probe_out want = expected_for(in);
    if (memcmp(&want, &got, sizeof(want)) != 0) {
      if (mismatches == 0) first = "input #" + std::to_string(i) + ":\n" + describe(in, want, got);
      ++mismatches;
    }
  }
  EXPECT_EQ(mismatches, 0) << "BPF and C++ builds of the shared headers disagree on "
                           << mismatches << " of " << kRandomInputs
                           << " inputs (rng seed " << kRngSeed << "); first one:\n"
                           << first;
}

// The verifier's work on the probe stays far below its 1M-instruction limit,
// so a header change that makes it explode (a data-dependent branch inside
// a loop) fails here with a number instead of as an unloadable XDP program.
TEST_F(SharedHeaderTest, ReportsVerifierWork) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  ASSERT_EQ(bpf_obj_get_info_by_fd(prog_fd_, &info, &len), 0);
  ASSERT_GT(info.xlated_prog_len, 0u);
  RecordProperty("verified_insns", static_cast<int>(info.verified_insns));
  printf("shared_header_probe: %u BPF instructions, %u verified\n",
         info.xlated_prog_len / 8, info.verified_insns);
  EXPECT_LT(info.verified_insns, 250000u) << "was 78754 on kernel 6.18 when written";
}

}  // namespace
