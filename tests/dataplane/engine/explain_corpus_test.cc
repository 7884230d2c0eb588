// SPDX-License-Identifier: Apache-2.0
// The explanation of a flow held to real forwarding on the parity corpus
// (tests/ebpf/xdp_parity_corpus.h: rules, splits, drained and removed
// backends, empty pools, fallback pools, health marks, circuits opened by
// dead backends). Before each frame, the worker that will forward it
// explains its key (Worker::explain); every frame the worker then places
// as a new flow must have gone exactly where the explanation said: pool,
// backend, fallback, or the drop. The snapshot-only explanation that the
// control API serves (explain_flow with the health table) must agree too
// wherever no circuit passed a backend over. xdp_parity_test holds the XDP
// program to the same worker on the same corpus, so the explanation agrees
// with both dataplanes.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "dataplane/engine/engine.h"
#include "dataplane/engine/explain.h"
#include "tests/ebpf/xdp_parity_corpus.h"

namespace sluice::engine::test::parity {
namespace {

constexpr uint64_t kCorpusSeed = 20260501;  // the parity test's
constexpr uint32_t kPackets = 120000;
constexpr uint64_t kStartNs = 1'000'000'000'000ULL;

bool is_placement(const Decision& d) {
  if (d.flow_hit || d.steered) return false;
  if (d.verdict.action == Action::kForward) return d.service != nullptr;
  return d.verdict.reason == DropReason::kNoPool || d.verdict.reason == DropReason::kNoBackend;
}

std::string describe(const FlowExplanation& e) {
  return "pool " + std::to_string(e.pool) + " backend " + std::to_string(e.backend) +
         (e.fallback ? " (fallback)" : "") + " drop " + std::string(drop_reason_name(e.drop)) + ": " + e.reason;
}

class ExplainCorpusTest : public ::testing::Test {
 protected:
  ExplainCorpusTest() : worker_(options()), health_(options().backend_counter_slots) {
    worker_.set_health_table(&health_);
  }

  static WorkerOptions options() {
    WorkerOptions o;
    o.flow_capacity = 1u << 18;
    o.circuit_capacity = 1u << 14;
    return o;
  }

  void publish(uint32_t step, uint64_t generation) {
    SnapshotCompiler::Result r = compiler_.compile(scenario_config(step), generation);
    ASSERT_TRUE(r.errors.empty()) << r.errors.front().field << ": " << r.errors.front().message;
    snapshot_ = r.snapshot;
  }

  void apply_health(uint32_t step, bool late) {
    health_.reset();
    for (const HealthMark& m : scenario_health(step, late)) {
      for (const CompiledService& s : snapshot_->services()) {
        if (s.config.name != m.service) continue;
        for (const CompiledBackend& b : s.backends) {
          if (b.address == m.backend) health_.set(b.counter_slot, m.health);
        }
      }
    }
  }

  Worker worker_;
  BackendHealthTable health_;
  SnapshotCompiler compiler_;
  std::shared_ptr<const Snapshot> snapshot_;
};

TEST_F(ExplainCorpusTest, ExplanationIsWhereTheWorkerSendsNewFlows) {
  Corpus corpus(kCorpusSeed);
  uint64_t now_ns = kStartNs;
  uint32_t step = 0;
  uint64_t generation = 0;
  bool late = false;
  const uint32_t per_step = kPackets / kSteps;
  std::map<std::string, uint64_t> placed;  // what the corpus covered
  uint64_t snapshot_only_compared = 0;

  for (uint32_t i = 0; i < kPackets; ++i) {
    const uint32_t due = 1 + i * kSteps / kPackets;
    if (due > generation) {
      step = due - 1;
      publish(step, ++generation);
      if (HasFatalFailure()) return;
      corpus.set_step(step);
      late = false;
      apply_health(step, late);
    } else if (!late && i % per_step >= per_step / 2) {
      late = true;
      apply_health(step, late);
    }
    now_ns += corpus.uniform(3000) * 1000ULL;
    if (corpus.chance(1) && corpus.chance(100)) now_ns += 25'000'000'000ULL;
    const auto now_ms = static_cast<uint32_t>(now_ns / 1000000);

    Corpus::Item item = corpus.next(now_ns);
    ParsedPacket parsed;
    parse_packet(item.frame.data(), static_cast<uint32_t>(item.frame.size()), &parsed);
    const bool l4 = parsed.status == ParseStatus::kOk && !parsed.is_fragment &&
                    (parsed.key.proto == SLUICE_IPPROTO_TCP || parsed.key.proto == SLUICE_IPPROTO_UDP);
    FlowExplanation worker_view, snapshot_view;
    if (l4) {
      worker_view = worker_.explain(*snapshot_, parsed.key, now_ms);
      snapshot_view = explain_flow(*snapshot_, parsed.key, &health_);
    }

    std::vector<uint8_t> buffer(128 + item.frame.size());
    std::copy(item.frame.begin(), item.frame.end(), buffer.begin() + 128);
    Packet packet{buffer.data() + 128, static_cast<uint32_t>(item.frame.size()), 128};
    const Decision d = worker_.process_one(snapshot_.get(), packet, now_ns);
    corpus.observe(d);
    if (!l4 || !is_placement(d)) continue;

    const std::string where = "frame " + std::to_string(i) + " (" + item.kind + ", step " +
                              std::to_string(step) + (late ? " late" : "") + ")";
    ASSERT_NE(worker_view.service, nullptr) << where;
    const DropReason dropped =
        d.verdict.action == Action::kForward ? DropReason::kNone : d.verdict.reason;
    ASSERT_EQ(worker_view.drop, dropped) << where << ": " << describe(worker_view);
    if (dropped != DropReason::kNoPool) {
      ASSERT_EQ(worker_view.pool, d.pool) << where << ": " << describe(worker_view);
      ASSERT_EQ(worker_view.backend, d.backend) << where << ": " << describe(worker_view);
      ASSERT_EQ(worker_view.fallback, d.fallback) << where << ": " << describe(worker_view);
      ASSERT_EQ(worker_view.rule_matched, d.rule_matched) << where;
    }
    placed[std::string(dropped == DropReason::kNone ? "forwarded" : "dropped") +
           (d.fallback ? " by the fallback" : "")]++;
    placed["with a circuit refusal"] += worker_view.circuit_skipped;
    placed["with an unhealthy Maglev slot"] += worker_view.unhealthy_skipped;

    // The snapshot-only view knows health, not this core's circuits.
    if (!worker_view.circuit_skipped && worker_view.reason == snapshot_view.reason) {
      ++snapshot_only_compared;
    } else if (!worker_view.circuit_skipped) {
      ADD_FAILURE() << where << ": worker " << describe(worker_view) << "\nsnapshot "
                    << describe(snapshot_view);
    }
  }
  for (const auto& [k, n] : placed) std::printf("%-32s %llu\n", k.c_str(), (unsigned long long)n);
  std::printf("%-32s %llu\n", "snapshot-only view compared", (unsigned long long)snapshot_only_compared);
  // The corpus reaches every kind of placement the explanation words.
  EXPECT_GT(placed["forwarded"], 1000u);
  EXPECT_GT(placed["forwarded by the fallback"], 100u);
  EXPECT_GT(placed["dropped"], 100u);
  EXPECT_GT(placed["dropped by the fallback"], 100u);
  EXPECT_GT(placed["with a circuit refusal"], 100u);
  EXPECT_GT(placed["with an unhealthy Maglev slot"], 100u);
  EXPECT_GT(snapshot_only_compared, 1000u);
}

}  // namespace
}  // namespace sluice::engine::test::parity
