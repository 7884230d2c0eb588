// SPDX-License-Identifier: Apache-2.0
#include "dataplane/xdp/map_io.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <algorithm>
#include <cerrno>
#include <string>

namespace sluice::xdp {
namespace {

constexpr int kEnotsupp = 524;  // the kernel's ENOTSUPP, not in userspace errno.h

// Whether a batch call failed because this map type has no batch operation.
bool batch_unsupported(int err) {
  return err == EINVAL || err == kEnotsupp || err == EOPNOTSUPP;
}

[[noreturn]] void fail(const char* what, const char* map, int err) {
  throw XdpError(std::string("cannot ") + what + " the XDP map \"" + map + "\": " +
                 std::strerror(err));
}

const uint8_t* at(const void* base, size_t size, size_t i) {
  return static_cast<const uint8_t*>(base) + size * i;
}

// The kernel takes a batch's count as a 32-bit number.
constexpr size_t kMaxBatch = 1u << 20;

}  // namespace

void update_elements(int fd, const char* map, const void* keys, size_t key_size,
                     const void* values, size_t value_size, size_t count) {
  LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
  size_t done = 0;
  while (done < count) {
    uint32_t n = static_cast<uint32_t>(std::min(count - done, kMaxBatch));
    if (bpf_map_update_batch(fd, at(keys, key_size, done), at(values, value_size, done), &n,
                             &opts) == 0) {
      done += n;
      continue;
    }
    const int err = errno;
    if (!batch_unsupported(err)) fail("write", map, err);
    // One by one: the LPM trie has no batch operations, and an EINVAL from a
    // batch says nothing about which element was refused.
    for (; done < count; ++done) {
      if (bpf_map_update_elem(fd, at(keys, key_size, done), at(values, value_size, done),
                              BPF_ANY) != 0) {
        fail("write", map, errno);
      }
    }
  }
}

void delete_elements(int fd, const char* map, const void* keys, size_t key_size, size_t count) {
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  size_t done = 0;
  while (done < count) {
    uint32_t n = static_cast<uint32_t>(std::min(count - done, kMaxBatch));
    if (bpf_map_delete_batch(fd, at(keys, key_size, done), &n, &opts) == 0) {
      done += n;
      continue;
    }
    const int err = errno;
    if (err == ENOENT) {
      done += n + 1;  // n were deleted, the next one was already absent
      continue;
    }
    if (!batch_unsupported(err)) fail("delete from", map, err);
    for (; done < count; ++done) {
      if (bpf_map_delete_elem(fd, at(keys, key_size, done)) != 0 && errno != ENOENT) {
        fail("delete from", map, errno);
      }
    }
  }
}

void read_array(int fd, const char* map, uint32_t count, size_t value_bytes, void* values) {
  std::vector<uint32_t> keys(count);
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  uint32_t done = 0, token = 0;
  while (done < count) {
    uint32_t n = count - done;
    const int rc = bpf_map_lookup_batch(fd, done == 0 ? nullptr : &token, &token,
                                        keys.data() + done,
                                        static_cast<uint8_t*>(values) + value_bytes * done, &n,
                                        &opts);
    const int err = rc == 0 ? 0 : errno;
    done += n;  // the kernel reports what it copied, also when it stops early
    if (rc == 0 || (err == ENOENT && done == count)) continue;
    if (err == ENOENT) fail("read", map, ERANGE);  // the map is smaller than count
    if (!batch_unsupported(err)) fail("read", map, err);
    for (; done < count; ++done) {
      if (bpf_map_lookup_elem(fd, &done, static_cast<uint8_t*>(values) + value_bytes * done) != 0) {
        fail("read", map, errno);
      }
    }
  }
}

bool lookup_element(int fd, const char* map, const void* key, void* value) {
  if (bpf_map_lookup_elem(fd, key, value) == 0) return true;
  if (errno == ENOENT) return false;
  fail("read", map, errno);
}

bool next_key(int fd, const char* map, const void* key, void* next) {
  if (bpf_map_get_next_key(fd, key, next) == 0) return true;
  if (errno == ENOENT) return false;
  fail("list the keys of", map, errno);
}

}  // namespace sluice::xdp
