// SPDX-License-Identifier: Apache-2.0
// A sequence counter (seqlock) for records that one writer thread changes
// and other threads read whole: a reader gets a copy that some single write
// left, or is told it could not get one, never a mix of two writes.
//
// Protocol: the writer makes the sequence odd, stores the record, makes it
// even again. A reader notes an even sequence, copies, and checks the
// sequence did not move; else it tries again, a bounded number of times
// (kSeqReadAttempts), then gives up (the caller reports the record as
// skipped: stale, not torn). Nothing on the writer side waits, locks or
// allocates.
//
// Ordering without fences: the record is stored word by word with release
// stores and copied with acquire loads (plain moves on x86-64, like the
// relaxed ones; ThreadSanitizer does not model standalone fences). A
// reader that sees any word of a write in progress therefore also sees the
// odd sequence stored before it, so its check fails; and the final even
// store releases the whole record to a reader that acquires that value.
// Every access to the record from another thread is atomic, so there is no
// data race in the C++ sense either.
#pragma once

#include <cstdint>

#include "dataplane/engine/relaxed.h"

namespace sluice::engine {

// A reader retries this often before reporting a record skipped. A write
// holds the sequence odd for some tens of nanoseconds, so a reader gives up
// only when the writer is descheduled in the middle of one.
inline constexpr uint32_t kSeqReadAttempts = 64;

// Stores src into the shared dst, word by word with release stores
// (between SeqCount::write_begin and write_end).
template <typename T>
inline void seq_store(T& dst, const T& src) {
  store_words<__ATOMIC_RELEASE>(dst, src);
}

// Copies the shared src, word by word with acquire loads (between
// SeqCount::read_begin and read_valid).
template <typename T>
inline T seq_load(const T& src) {
  return load_words<__ATOMIC_ACQUIRE>(src);
}

// The sequence. A plain integer accessed through atomic builtins, so the
// class holding it stays movable (before any reader exists).
class SeqCount {
 public:
  // Writer side: the one owning thread.
  void write_begin() { __atomic_store_n(&seq_, seq_ + 1, __ATOMIC_RELAXED); }
  void write_end() { __atomic_store_n(&seq_, seq_ + 1, __ATOMIC_RELEASE); }

  // Reader side: begin = read_begin(); copy with seq_load; then
  // read_valid(begin) says whether the copy is whole.
  uint32_t read_begin() const { return __atomic_load_n(&seq_, __ATOMIC_ACQUIRE); }
  bool read_valid(uint32_t begin) const {
    return (begin & 1u) == 0 && __atomic_load_n(&seq_, __ATOMIC_RELAXED) == begin;
  }
  // Writes begun so far (tests).
  uint32_t writes() const { return (read_begin() + 1) / 2; }

 private:
  uint32_t seq_ = 0;
};

// Between two read attempts: lets the writer's core finish its write.
inline void seq_pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Reads `src` whole into *out, trying kSeqReadAttempts times; false when
// every attempt overlapped a write.
template <typename T>
inline bool seq_read(const SeqCount& seq, const T& src, T* out) {
  for (uint32_t attempt = 0; attempt < kSeqReadAttempts; ++attempt) {
    const uint32_t begin = seq.read_begin();
    if ((begin & 1u) == 0) {
      *out = seq_load(src);
      if (seq.read_valid(begin)) return true;
    }
    seq_pause();
  }
  return false;
}

}  // namespace sluice::engine
