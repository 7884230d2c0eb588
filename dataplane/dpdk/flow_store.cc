// SPDX-License-Identifier: Apache-2.0
#include "dataplane/dpdk/flow_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace sluice::dpdk {
namespace {

constexpr uint64_t kMinAlign = uint64_t{2} << 20;  // a transparent huge page
constexpr long kTmpfsMagic = 0x01021994;
constexpr long kHugetlbfsMagic = 0x958458f6;

uint64_t round_up(uint64_t n, uint64_t align) { return (n + align - 1) / align * align; }

std::string errno_text() { return std::strerror(errno); }

// The directory exists (made if missing), is a real directory, ours, and
// not writable by group or others: the files hold every client's address,
// and a directory others can write to would let them plant a table.
void check_directory(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    throw FlowStoreError("flow state directory " + dir + ": cannot create it: " + errno_text());
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    throw FlowStoreError("flow state directory " + dir + ": " + errno_text());
  }
  if (!S_ISDIR(st.st_mode)) {
    throw FlowStoreError("flow state directory " + dir + ": not a directory (a link or a file)");
  }
  if (st.st_uid != ::geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    throw FlowStoreError("flow state directory " + dir +
                         ": must belong to this user and be writable by no one else");
  }
}

template <typename T>
std::string differs(const char* field, T in_file, T now) {
  return std::string(field) + " is " + std::to_string(in_file) + " in the file, " +
         std::to_string(now) + " now";
}

}  // namespace

std::string flow_store_boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id.size() < sizeof(FlowStoreHeader::boot_id) ? id : std::string();
}

uint64_t flow_store_seed_digest(const sluice_hash_seed& seed) {
  // Eight fixed bytes ("flowseed"), hashed under the seed.
  const uint64_t m[1] = {0x64656573776f6c66ULL};
  return sluice_siphash13_words(m, 1, 8, &seed);
}

FlowStoreHeader flow_store_expected_header(const FlowStoreIdentity& id, uint64_t align) {
  FlowStoreHeader h{};
  std::memcpy(h.magic, kFlowStoreMagic, sizeof h.magic);
  h.layout_version = engine::kFlowTableLayoutVersion;
  h.header_bytes = sizeof(FlowStoreHeader);
  h.entry_bytes = sizeof(engine::FlowEntry);
  h.ways = engine::FlowTable::kWays;
  h.buckets = id.buckets;
  h.worker_count = id.worker_count;
  h.worker_index = id.worker_index;
  h.clock_kind = kFlowStoreClockMonotonicMs;
  h.seed_digest = id.seed_digest;
  h.signatures_offset = align;
  h.entries_offset = h.signatures_offset +
                     round_up(engine::FlowTable::signature_bytes(id.buckets), align);
  h.file_bytes = h.entries_offset + round_up(engine::FlowTable::entry_bytes(id.buckets), align);
  std::snprintf(h.boot_id, sizeof h.boot_id, "%s", id.boot_id.c_str());
  h.state = static_cast<uint32_t>(FlowStoreState::kInitializing);
  return h;
}

std::string flow_store_mismatch(const FlowStoreHeader& f, uint64_t file_bytes,
                                const FlowStoreHeader& e) {
  if (file_bytes < sizeof(FlowStoreHeader)) {
    return differs("the file's size", file_bytes, uint64_t{e.file_bytes}) + " (shorter than a header)";
  }
  if (std::memcmp(f.magic, e.magic, sizeof f.magic) != 0) return "magic: not a sluice flow table";
  if (f.layout_version != e.layout_version) {
    return differs("layout_version", f.layout_version, e.layout_version);
  }
  if (f.header_bytes != e.header_bytes) return differs("header_bytes", f.header_bytes, e.header_bytes);
  if (f.entry_bytes != e.entry_bytes) return differs("entry_bytes", f.entry_bytes, e.entry_bytes);
  if (f.ways != e.ways) return differs("ways", f.ways, e.ways);
  if (f.buckets != e.buckets) {
    return differs("buckets", f.buckets, e.buckets) + " (another --flow-capacity)";
  }
  if (f.worker_count != e.worker_count) return differs("worker_count", f.worker_count, e.worker_count);
  if (f.worker_index != e.worker_index) return differs("worker_index", f.worker_index, e.worker_index);
  if (f.clock_kind != e.clock_kind) return differs("clock_kind", f.clock_kind, e.clock_kind);
  if (f.seed_digest != e.seed_digest) return "seed_digest: another --hash-seed";
  if (std::memcmp(f.boot_id, e.boot_id, sizeof f.boot_id) != 0 || e.boot_id[0] == '\0') {
    return "boot_id: written before the last reboot (its times mean nothing now)";
  }
  if (f.signatures_offset != e.signatures_offset || f.entries_offset != e.entries_offset) {
    return differs("entries_offset", f.entries_offset, e.entries_offset) +
           " (another filesystem page size)";
  }
  if (f.file_bytes != e.file_bytes) return differs("file_bytes", f.file_bytes, e.file_bytes);
  if (file_bytes != e.file_bytes) {
    return differs("the file's size", file_bytes, uint64_t{e.file_bytes}) + " (truncated or grown)";
  }
  if (f.state == static_cast<uint32_t>(FlowStoreState::kInitializing)) {
    return "state: initializing (a start was interrupted before its table was ready)";
  }
  if (f.state != static_cast<uint32_t>(FlowStoreState::kInUse) &&
      f.state != static_cast<uint32_t>(FlowStoreState::kClean)) {
    return "state is " + std::to_string(f.state) + ", not in-use (2) or clean (3)";
  }
  return "";
}

std::string FlowStoreFile::file_name(uint32_t worker_index) {
  return "worker-" + std::to_string(worker_index) + ".flows";
}

std::unique_ptr<FlowStoreFile> FlowStoreFile::open(const std::string& dir,
                                                   const FlowStoreIdentity& id) {
  check_directory(dir);
  std::unique_ptr<FlowStoreFile> f(new FlowStoreFile);
  f->path_ = dir + "/" + file_name(id.worker_index);
  const std::string& path = f->path_;
  f->fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (f->fd_ < 0) throw FlowStoreError("flow state " + path + ": cannot open: " + errno_text());
  if (::flock(f->fd_, LOCK_EX | LOCK_NB) != 0) {
    throw FlowStoreError("flow state " + path + ": " +
                         (errno == EWOULDBLOCK ? std::string("another process holds it (a second "
                                                             "sluiced on the same port?)")
                                               : errno_text()));
  }
  struct stat st {};
  struct statfs fs {};
  if (::fstat(f->fd_, &st) != 0 || ::fstatfs(f->fd_, &fs) != 0) {
    throw FlowStoreError("flow state " + path + ": " + errno_text());
  }
  if (!S_ISREG(st.st_mode)) throw FlowStoreError("flow state " + path + ": not a regular file");
  if (fs.f_type != kTmpfsMagic && fs.f_type != kHugetlbfsMagic) {
    f->warning_ = "flow state " + dir + " is not on tmpfs or hugetlbfs: the flow tables' writes "
                  "will be written back to its disk (use /dev/shm, a tmpfs /run, or a hugetlbfs "
                  "mount)";
  }
  // Huge pages where the filesystem has them (hugetlbfs: its block size).
  const uint64_t align = std::max<uint64_t>(kMinAlign, static_cast<uint64_t>(st.st_blksize));
  const FlowStoreHeader expected = flow_store_expected_header(id, align);
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > 0) {
    FlowStoreHeader found{};
    const ssize_t n = ::pread(f->fd_, &found, sizeof found, 0);
    const uint64_t readable = n < 0 ? 0 : std::min<uint64_t>(size, static_cast<uint64_t>(n));
    f->refusal_ = flow_store_mismatch(found, readable < sizeof found ? readable : size, expected);
    f->adopted_ = f->refusal_.empty();
    if (readable >= sizeof found && found.state <= static_cast<uint32_t>(FlowStoreState::kClean)) {
      f->previous_ = static_cast<FlowStoreState>(found.state);
    }
  }
  if (!f->adopted_) {
    // Emptied, then sized: every byte reads as zero (a fresh table).
    if (::ftruncate(f->fd_, 0) != 0 ||
        ::ftruncate(f->fd_, static_cast<off_t>(expected.file_bytes)) != 0) {
      throw FlowStoreError("flow state " + path + ": cannot size it to " +
                           std::to_string(expected.file_bytes) + " bytes: " + errno_text());
    }
  }
  f->bytes_ = expected.file_bytes;
  f->base_ = ::mmap(nullptr, f->bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd_, 0);
  if (f->base_ == MAP_FAILED) {
    f->base_ = nullptr;
    throw FlowStoreError("flow state " + path + ": cannot map " + std::to_string(f->bytes_) +
                         " bytes: " + errno_text());
  }
  // Where shmem THP is "advise" (or on hugetlbfs, where it is moot).
  (void)::madvise(static_cast<char*>(f->base_) + align, f->bytes_ - align, MADV_HUGEPAGE);
  f->header_ = static_cast<FlowStoreHeader*>(f->base_);
  if (f->adopted_) {
    f->header_->incarnation++;
  } else {
    *f->header_ = expected;  // kInitializing until set_state(kInUse)
    f->header_->incarnation = 1;
  }
  return f;
}

FlowStoreFile::~FlowStoreFile() {
  if (base_ != nullptr) ::munmap(base_, bytes_);
  if (fd_ >= 0) ::close(fd_);
}

engine::FlowTableMemory FlowStoreFile::memory() const {
  char* base = static_cast<char*>(base_);
  return {base + header_->signatures_offset, base + header_->entries_offset, header_->buckets};
}

uint64_t FlowStoreFile::incarnation() const { return header_->incarnation; }

void FlowStoreFile::set_state(FlowStoreState s) {
  // Table writes before the word: a reader that sees "in use" sees a
  // complete table (same process here; the order matters for a crash).
  __atomic_store_n(&header_->state, static_cast<uint32_t>(s), __ATOMIC_RELEASE);
}

uint32_t remove_flow_stores_beyond(const std::string& dir, uint32_t worker_count) {
  uint32_t removed = 0;
  for (uint32_t i = worker_count;; ++i) {
    const std::string path = dir + "/" + FlowStoreFile::file_name(i);
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) break;
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0 && ::unlink(path.c_str()) == 0) ++removed;
    ::close(fd);
  }
  return removed;
}

}  // namespace sluice::dpdk
