// SPDX-License-Identifier: Apache-2.0
// Element reads and writes on BPF maps, in batches where the kernel takes
// them (one syscall for thousands of elements), one by one where it does not
// (the LPM trie). Every failure throws XdpError naming the map.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "dataplane/xdp/xdp_maps.h"

namespace sluice::xdp {

// Writes count (key, value) pairs: keys and values are packed arrays.
void update_elements(int fd, const char* map, const void* keys, size_t key_size,
                     const void* values, size_t value_size, size_t count);

// Deletes count keys; a key already absent is not an error.
void delete_elements(int fd, const char* map, const void* keys, size_t key_size, size_t count);

// Reads one element; false when the key is absent.
bool lookup_element(int fd, const char* map, const void* key, void* value);

// Elements [0, count) of an array map into `values`, `value_bytes` each as
// the kernel copies them (for a per-CPU map: the value size rounded up to 8,
// times the possible CPUs). Batched; count must not exceed the map's size.
void read_array(int fd, const char* map, uint32_t count, size_t value_bytes, void* values);

// Every key of a map (in the kernel's iteration order).
template <typename Key>
std::vector<Key> all_keys(int fd, const char* map);

// --- implementation ---
bool next_key(int fd, const char* map, const void* key, void* next);

template <typename Key>
std::vector<Key> all_keys(int fd, const char* map) {
  std::vector<Key> keys;
  Key k;
  std::memset(&k, 0, sizeof(k));
  const Key* prev = nullptr;  // null: the first key
  while (next_key(fd, map, prev, &k)) {
    keys.push_back(k);
    prev = &keys.back();
  }
  return keys;
}

}  // namespace sluice::xdp
