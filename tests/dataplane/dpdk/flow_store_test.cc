// SPDX-License-Identifier: Apache-2.0
// The flow state file (dataplane/dpdk/flow_store.h): created fresh, adopted
// when reopened, refused (and emptied) when any header field differs or the
// file is truncated or garbage, never mapped by two holders at once. No
// DPDK: files in a temporary folder on /dev/shm (tmpfs, as in production).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>

#include "dataplane/dpdk/flow_store.h"

namespace sluice::dpdk {
namespace {

constexpr sluice_hash_seed kSeed{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
const engine::FlowTimeouts kTimeouts{};

sluice_flow_key key_of(uint32_t i) {
  sluice_flow_key k{};
  k.family = SLUICE_AF_INET;
  k.proto = 6;
  std::memcpy(k.src, &i, sizeof i);
  k.sport = static_cast<uint16_t>(i);
  k.dport = 443;
  return k;
}

// Public: the mismatch cases below change the file and the identity.
class FlowStoreTest : public ::testing::Test {
 public:
  void SetUp() override {
    char tmpl[] = "/dev/shm/sluice-flow-store-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/flows";
    id_.buckets = engine::FlowTable::bucket_count(4096);
    id_.worker_count = 2;
    id_.worker_index = 1;
    id_.seed_digest = flow_store_seed_digest(kSeed);
    id_.boot_id = flow_store_boot_id();
    ASSERT_FALSE(id_.boot_id.empty());
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::string path() const { return dir_ + "/" + FlowStoreFile::file_name(id_.worker_index); }

  // A file holding `n` established flows, left as a crash leaves it.
  void make_table(uint32_t n) {
    auto f = FlowStoreFile::open(dir_, id_);
    ASSERT_FALSE(f->adopted());
    engine::FlowTable t(f->memory(), /*keep=*/false);
    for (uint32_t i = 0; i < n; ++i) {
      const sluice_flow_key k = key_of(i);
      engine::FlowEntry* e = t.insert(k, sluice_flow_hash(&k, &kSeed), 1000, kTimeouts);
      ASSERT_NE(e, nullptr);
      e->backend_fingerprint = 0xb0 + i;
      t.set_state(e, engine::FlowState::kEstablished);
    }
    f->set_state(FlowStoreState::kInUse);
  }

  // Reopens and adopts; the number of flows found again.
  uint32_t flows_found(const FlowStoreFile& f, uint32_t n) {
    engine::FlowTable t(f.memory(), /*keep=*/f.adopted());
    if (f.adopted()) t.adopt(1000, kSeed, 60000);
    uint32_t found = 0;
    for (uint32_t i = 0; i < n; ++i) {
      const sluice_flow_key k = key_of(i);
      const engine::FlowEntry* e = t.lookup(k, sluice_flow_hash(&k, &kSeed), 1000, kTimeouts);
      found += e != nullptr && e->backend_fingerprint == 0xb0 + i;
    }
    return found;
  }

  // Overwrites n bytes of the file at `offset`.
  void poke(const void* bytes, size_t n, size_t offset) {
    const int fd = ::open(path().c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, bytes, n, static_cast<off_t>(offset)), static_cast<ssize_t>(n));
    ::close(fd);
  }
  template <typename T>
  void poke_field(size_t offset, T value) {
    poke(&value, sizeof value, offset);
  }

  std::string root_, dir_;
  FlowStoreIdentity id_;
};

// A new file: not adopted, nothing refused, kInitializing until ready.
TEST_F(FlowStoreTest, CreatesAFreshTable) {
  auto f = FlowStoreFile::open(dir_, id_);
  EXPECT_FALSE(f->adopted());
  EXPECT_EQ(f->refusal(), "");
  EXPECT_EQ(f->memory().buckets, id_.buckets);
  EXPECT_EQ(f->incarnation(), 1u);
  EXPECT_EQ(f->warning(), "");  // /dev/shm is tmpfs
  struct stat st {};
  ASSERT_EQ(::stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(flows_found(*f, 1), 0u);
}

// Reopened after a crash (state in use) or a clean stop: adopted, every flow kept.
TEST_F(FlowStoreTest, ReopenAdoptsEveryFlow) {
  make_table(3000);
  {
    auto f = FlowStoreFile::open(dir_, id_);
    ASSERT_TRUE(f->adopted()) << f->refusal();
    EXPECT_EQ(f->previous_state(), FlowStoreState::kInUse);
    EXPECT_EQ(f->incarnation(), 2u);
    EXPECT_EQ(flows_found(*f, 3000), 3000u);
    f->set_state(FlowStoreState::kClean);
  }
  auto f = FlowStoreFile::open(dir_, id_);
  ASSERT_TRUE(f->adopted()) << f->refusal();
  EXPECT_EQ(f->previous_state(), FlowStoreState::kClean);
  EXPECT_EQ(flows_found(*f, 3000), 3000u);
}

// Each header field that differs refuses the file, names the field, and
// leaves an empty table.
struct Mismatch {
  const char* name;    // expected in refusal()
  std::function<void(FlowStoreTest&)> change;  // to the file, or to the identity
};

class FlowStoreMismatchTest : public FlowStoreTest,
                              public ::testing::WithParamInterface<Mismatch> {};

TEST_P(FlowStoreMismatchTest, RefusesAndStartsEmpty) {
  make_table(100);
  GetParam().change(*this);
  auto f = FlowStoreFile::open(dir_, id_);
  EXPECT_FALSE(f->adopted());
  EXPECT_NE(f->refusal().find(GetParam().name), std::string::npos) << f->refusal();
  EXPECT_EQ(flows_found(*f, 100), 0u);
  // Refused once, fresh from then on: the next open adopts the new table.
  f->set_state(FlowStoreState::kInUse);
  f.reset();
  EXPECT_TRUE(FlowStoreFile::open(dir_, id_)->adopted());
}

#define FIELD(f) offsetof(FlowStoreHeader, f)
INSTANTIATE_TEST_SUITE_P(
    EachField, FlowStoreMismatchTest,
    ::testing::Values(
        Mismatch{"magic", [](FlowStoreTest& t) { t.poke("XLUIFLOW", 8, 0); }},
        Mismatch{"layout_version",
                 [](FlowStoreTest& t) { t.poke_field<uint32_t>(FIELD(layout_version), 99); }},
        Mismatch{"header_bytes",
                 [](FlowStoreTest& t) { t.poke_field<uint32_t>(FIELD(header_bytes), 8); }},
        Mismatch{"entry_bytes",
                 [](FlowStoreTest& t) { t.poke_field<uint32_t>(FIELD(entry_bytes), 128); }},
        Mismatch{"ways", [](FlowStoreTest& t) { t.poke_field<uint32_t>(FIELD(ways), 4); }},
        Mismatch{"buckets", [](FlowStoreTest& t) { t.id_.buckets *= 2; }},
        Mismatch{"worker_count", [](FlowStoreTest& t) { t.id_.worker_count = 3; }},
        Mismatch{"worker_index",
                 [](FlowStoreTest& t) { t.poke_field<uint32_t>(FIELD(worker_index), 0); }},
        Mismatch{"clock_kind",
                 [](FlowStoreTest& t) { t.poke_field<uint32_t>(FIELD(clock_kind), 2); }},
        Mismatch{"seed_digest",
                 [](FlowStoreTest& t) { t.id_.seed_digest = flow_store_seed_digest({1, 2}); }},
        Mismatch{"boot_id", [](FlowStoreTest& t) { t.poke("00000000-0000", 13, FIELD(boot_id)); }},
        Mismatch{"entries_offset",
                 [](FlowStoreTest& t) { t.poke_field<uint64_t>(FIELD(entries_offset), 4096); }},
        Mismatch{"file_bytes",
                 [](FlowStoreTest& t) { t.poke_field<uint64_t>(FIELD(file_bytes), 1u << 30); }},
        Mismatch{"initializing",
                 [](FlowStoreTest& t) {
                   t.poke_field<uint32_t>(FIELD(state),
                                          static_cast<uint32_t>(FlowStoreState::kInitializing));
                 }},
        Mismatch{"state is 9", [](FlowStoreTest& t) { t.poke_field<uint32_t>(FIELD(state), 9); }},
        Mismatch{"truncated",
                 [](FlowStoreTest& t) { ASSERT_EQ(::truncate(t.path().c_str(), 3 << 20), 0); }},
        Mismatch{"shorter than a header",
                 [](FlowStoreTest& t) { ASSERT_EQ(::truncate(t.path().c_str(), 17), 0); }},
        Mismatch{"magic", [](FlowStoreTest& t) {
                   char junk[sizeof(FlowStoreHeader)];
                   for (size_t i = 0; i < sizeof junk; ++i) junk[i] = static_cast<char>(i * 37 + 11);
                   t.poke(junk, sizeof junk, 0);
                 }}),
    [](const ::testing::TestParamInfo<Mismatch>& info) {
      std::string n = std::to_string(info.index) + "_" + info.param.name;
      for (char& c : n) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return n;
    });
#undef FIELD

// A second holder of the same file is refused while the first maps it;
// once the first is gone, it opens.
TEST_F(FlowStoreTest, SecondHolderIsRefused) {
  auto first = FlowStoreFile::open(dir_, id_);
  try {
    FlowStoreFile::open(dir_, id_);
    ADD_FAILURE() << "a second open succeeded";
  } catch (const FlowStoreError& e) {
    EXPECT_NE(std::string(e.what()).find("another process holds it"), std::string::npos) << e.what();
  }
  first.reset();
  EXPECT_NO_THROW(FlowStoreFile::open(dir_, id_));
}

// A folder others may write to, or a link, is refused.
TEST_F(FlowStoreTest, RefusesAnUnsafeDirectory) {
  ASSERT_EQ(::mkdir(dir_.c_str(), 0777), 0);
  ASSERT_EQ(::chmod(dir_.c_str(), 0777), 0);
  EXPECT_THROW(FlowStoreFile::open(dir_, id_), FlowStoreError);
  const std::string link = root_ + "/link";
  ASSERT_EQ(::chmod(dir_.c_str(), 0700), 0);
  ASSERT_EQ(::symlink(dir_.c_str(), link.c_str()), 0);
  EXPECT_THROW(FlowStoreFile::open(link, id_), FlowStoreError);
}

// Files of workers beyond the count are removed; held ones are not.
TEST_F(FlowStoreTest, RemovesFilesOfWorkersBeyondTheCount) {
  for (uint32_t w = 0; w < 4; ++w) {
    FlowStoreIdentity id = id_;
    id.worker_count = 4;
    id.worker_index = w;
    FlowStoreFile::open(dir_, id);
  }
  FlowStoreIdentity held = id_;
  held.worker_count = 4;
  held.worker_index = 3;
  auto holder = FlowStoreFile::open(dir_, held);
  EXPECT_EQ(remove_flow_stores_beyond(dir_, 2), 1u);  // worker-2 only
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/worker-2.flows"));
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/worker-3.flows"));
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/worker-1.flows"));
}

// The restart cost with a full-size table: 1M entries (72 MiB), 800k flows.
TEST_F(FlowStoreTest, AdoptsAMillionFlows) {
  id_.buckets = engine::FlowTable::bucket_count(1u << 20);
  constexpr uint32_t kFlows = 800000;
  make_table(kFlows);
  const auto start = std::chrono::steady_clock::now();
  auto f = FlowStoreFile::open(dir_, id_);
  ASSERT_TRUE(f->adopted()) << f->refusal();
  engine::FlowTable t(f->memory(), true);
  const engine::FlowAdoptReport r = t.adopt(1000, kSeed, 60000);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                              start).count();
  EXPECT_EQ(r.kept, kFlows);
  std::printf("adopted %u flows of a %u-entry table in %.1f ms (open, check, map, adopt)\n",
              r.kept, t.capacity(), ms);
}

}  // namespace
}  // namespace sluice::dpdk
