// SPDX-License-Identifier: Apache-2.0
// The reader's decision (dataplane/xdp/circuit_read.h) on crafted per-CPU
// copies: a CPU's copy is taken only when two copies in a row carry the
// same even sequence; one mid-change (odd) or changed between the copies
// is read again, and after kCircuitReadTries more copies it is skipped,
// never returned torn.
#include "dataplane/xdp/circuit_read.h"

#include <gtest/gtest.h>

#include <vector>

namespace sluice::xdp {
namespace {

sluice_circuit circuit(uint32_t seq, uint32_t failures, uint8_t phase = SLUICE_CIRCUIT_CLOSED) {
  sluice_circuit c{};
  c.seq = seq;
  c.consecutive_failures = failures;
  c.ejections = failures;  // a writer keeps these equal: unequal means torn
  c.phase = phase;
  return c;
}

// A lookup that returns the given copies in turn (the last one repeated),
// counting the calls.
struct Copies {
  std::vector<std::vector<sluice_circuit>> copies;
  size_t calls = 0;
  CircuitLookup lookup() {
    return [this](sluice_circuit* values) {
      const std::vector<sluice_circuit>& c = copies[std::min(calls, copies.size() - 1)];
      ++calls;
      std::copy(c.begin(), c.end(), values);
      return true;
    };
  }
};

TEST(CircuitCopyConsistent, SameEvenSequenceOnly) {
  EXPECT_TRUE(circuit_copy_consistent(circuit(4, 1), circuit(4, 1)));
  EXPECT_TRUE(circuit_copy_consistent(circuit(0, 0), circuit(0, 0)));  // never changed
  EXPECT_FALSE(circuit_copy_consistent(circuit(5, 1), circuit(5, 1)));  // mid-change both times
  EXPECT_FALSE(circuit_copy_consistent(circuit(4, 1), circuit(6, 2)));  // changed between
  EXPECT_FALSE(circuit_copy_consistent(circuit(4, 1), circuit(5, 2)));  // change began
  EXPECT_FALSE(circuit_copy_consistent(circuit(3, 1), circuit(4, 2)));  // change ended during
}

// Quiet values: two copies, every CPU taken from the second.
TEST(ReadCircuitConsistent, QuietValuesTakeTwoCopies) {
  Copies c{{{circuit(2, 1), circuit(0, 0, SLUICE_CIRCUIT_FREE)}}};
  std::vector<sluice_circuit> out;
  std::vector<uint8_t> skipped;
  ASSERT_TRUE(read_circuit_consistent(c.lookup(), 2, out, skipped));
  EXPECT_EQ(c.calls, 2u);
  EXPECT_EQ(skipped, (std::vector<uint8_t>{0, 0}));
  EXPECT_EQ(out[0].consecutive_failures, 1u);
  EXPECT_EQ(out[1].phase, SLUICE_CIRCUIT_FREE);
}

// The second copy looks whole (fields agree) but was copied during a change
// on CPU 0 that began after the first copy: its sequence moved, so it is
// read again, and the third copy (same even sequence) is taken. CPU 1 is
// taken from the second copy.
TEST(ReadCircuitConsistent, ChangedSequenceIsReadAgain) {
  Copies c{{{circuit(2, 1), circuit(8, 3)},
            {circuit(3, 7), circuit(8, 3)},   // CPU 0 mid-change, data plausible
            {circuit(4, 2), circuit(8, 3)},   // CPU 0 change done: 3 -> 4, taken next time
            {circuit(4, 2), circuit(8, 3)}}};
  std::vector<sluice_circuit> out;
  std::vector<uint8_t> skipped;
  ASSERT_TRUE(read_circuit_consistent(c.lookup(), 2, out, skipped));
  EXPECT_EQ(skipped, (std::vector<uint8_t>{0, 0}));
  EXPECT_EQ(c.calls, 4u);
  EXPECT_EQ(out[0].seq, 4u);
  EXPECT_EQ(out[0].consecutive_failures, 2u);
  EXPECT_EQ(out[0].ejections, 2u);
  EXPECT_EQ(out[1].consecutive_failures, 3u);
}

// The data is taken from the later copy: the earlier one had no sequence
// read before it, so it may be torn even when both sequences agree (here
// its fields disagree, as a torn copy's would).
TEST(ReadCircuitConsistent, DataComesFromTheLaterCopy) {
  sluice_circuit torn = circuit(6, 1);
  torn.ejections = 9;
  Copies c{{{torn}, {circuit(6, 2)}}};
  std::vector<sluice_circuit> out;
  std::vector<uint8_t> skipped;
  ASSERT_TRUE(read_circuit_consistent(c.lookup(), 1, out, skipped));
  EXPECT_EQ(skipped, std::vector<uint8_t>{0});
  EXPECT_EQ(out[0].consecutive_failures, 2u);
  EXPECT_EQ(out[0].ejections, 2u);
}

// Equal odd sequences are never taken, however whole the data looks.
TEST(ReadCircuitConsistent, OddSequenceIsNeverTaken) {
  Copies c{{{circuit(5, 1)}}};
  std::vector<sluice_circuit> out;
  std::vector<uint8_t> skipped;
  ASSERT_TRUE(read_circuit_consistent(c.lookup(), 1, out, skipped));
  EXPECT_EQ(skipped, std::vector<uint8_t>{1});
  EXPECT_EQ(c.calls, 1u + kCircuitReadTries);
}

// A value that changes between every pair of copies is skipped after
// kCircuitReadTries copies beyond the first; the other CPU is still read.
TEST(ReadCircuitConsistent, BusyValueIsSkippedAfterBoundedTries) {
  Copies c;
  for (uint32_t i = 0; i <= kCircuitReadTries + 4; ++i) {
    c.copies.push_back({circuit(2 * i, i), circuit(6, 1)});
  }
  std::vector<sluice_circuit> out;
  std::vector<uint8_t> skipped;
  ASSERT_TRUE(read_circuit_consistent(c.lookup(), 2, out, skipped));
  EXPECT_EQ(skipped, (std::vector<uint8_t>{1, 0}));
  EXPECT_EQ(c.calls, 1u + kCircuitReadTries);
  EXPECT_EQ(out[1].seq, 6u);
}

// The key evicted between copies: reported gone, nothing taken.
TEST(ReadCircuitConsistent, KeyGoneMeanwhile) {
  size_t calls = 0;
  const CircuitLookup lookup = [&](sluice_circuit* values) {
    values[0] = circuit(1, 1);
    return calls++ == 0;
  };
  std::vector<sluice_circuit> out;
  std::vector<uint8_t> skipped;
  EXPECT_FALSE(read_circuit_consistent(lookup, 1, out, skipped));
}

}  // namespace
}  // namespace sluice::xdp
