// SPDX-License-Identifier: Apache-2.0
// Statistics with one writer thread (a worker, the only one that counts)
// and readers on other threads (sluiced's stats, metrics and watcher).
//
// Why atomics at all, with one writer: a plain increment on one thread and
// a plain read on another is a data race (undefined behaviour, and what
// ThreadSanitizer reports). Relaxed atomic loads and stores are enough for
// numbers read approximately: each 64-bit value is read whole (never
// half-updated), in no particular order with the others. The writer does a
// load and a store, not a read-modify-write: it is the only writer, so no
// increment is lost, and on x86-64 both are plain moves (no lock prefix,
// no fence), so the hot path costs what it did (perf/README.md
// "Race-free reads of worker state").
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace sluice::engine {

// 64-bit words that may alias a record of any type (GCC's may_alias:
// reading a record's bytes as words is then defined).
using SharedWord = uint64_t __attribute__((may_alias));

// Adds d to a value only this thread writes.
template <typename T>
inline void relaxed_add(T& v, uint64_t d) {
  __atomic_store_n(&v, static_cast<T>(__atomic_load_n(&v, __ATOMIC_RELAXED) + d),
                   __ATOMIC_RELAXED);
}

template <typename T>
inline void relaxed_inc(T& v) {
  relaxed_add(v, 1);
}

// Reads a value another thread writes with relaxed_add/relaxed_store.
template <typename T>
inline T relaxed_load(const T& v) {
  return __atomic_load_n(&v, __ATOMIC_RELAXED);
}

template <typename T>
inline void relaxed_store(T& v, T value) {
  __atomic_store_n(&v, value, __ATOMIC_RELAXED);
}

// Records copied word by word with atomic loads and stores of the given
// memory order (relaxed here; release and acquire for seqlock.h): whole
// aligned 64-bit words, so each word is read or written whole.
template <typename T>
constexpr bool word_record_ok = std::is_trivially_copyable_v<T> &&
                                sizeof(T) % sizeof(uint64_t) == 0 &&
                                alignof(T) >= alignof(uint64_t);

template <int Order, typename T>
inline T load_words(const T& src) {
  static_assert(word_record_ok<T>, "a shared record is whole aligned 64-bit words");
  T out;
  SharedWord* d = reinterpret_cast<SharedWord*>(&out);
  const SharedWord* s = reinterpret_cast<const SharedWord*>(&src);
  for (size_t i = 0; i < sizeof(T) / sizeof(uint64_t); ++i) d[i] = __atomic_load_n(&s[i], Order);
  return out;
}

template <int Order, typename T>
inline void store_words(T& dst, const T& src) {
  static_assert(word_record_ok<T>, "a shared record is whole aligned 64-bit words");
  SharedWord* d = reinterpret_cast<SharedWord*>(&dst);
  const SharedWord* s = reinterpret_cast<const SharedWord*>(&src);
  for (size_t i = 0; i < sizeof(T) / sizeof(uint64_t); ++i) __atomic_store_n(&d[i], s[i], Order);
}

// A copy of a record of 64-bit statistics (CircuitStats, PortCounters) that
// its one writer updates with relaxed_add: each value whole, as relaxed_load.
template <typename T>
inline T relaxed_copy(const T& src) {
  return load_words<__ATOMIC_RELAXED>(src);
}

}  // namespace sluice::engine
