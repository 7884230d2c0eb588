// SPDX-License-Identifier: Apache-2.0
// The health of every backend as sluiced's active checks see it, by backend
// counter slot (CompiledBackend::counter_slot): SLUICE_HEALTH_UNKNOWN,
// _HEALTHY or _UNHEALTHY (signal_list.h). One table per dataplane, shared
// by all its workers: the checker writes a slot when a backend's health
// changes; workers read it when they pick a backend for a new flow (an
// UNHEALTHY backend is skipped like an open circuit), and on every packet
// of a tracked flow of a service whose unhealthy_flows is kReschedule.
//
// Why relaxed atomics and nothing more: each slot is an independent byte
// that a worker only needs to see eventually (its next new flow, in
// practice within microseconds) and never in order with anything else. A
// relaxed byte load is a plain load on x86-64 and arm64, so a worker pays
// what reading a bool costs; no lock, no generation, no publication:
// health is the daemon's state, not the configuration's, and changes no
// snapshot.
//
// Fixed size, chosen at start-up like the workers' counter vectors
// (WorkerOptions::backend_counter_slots); set() ignores slots beyond it and
// get() reads them as UNKNOWN (served), so a table too small never takes a
// backend out of service.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "dataplane/engine/signal_list.h"

namespace sluice::engine {

class BackendHealthTable {
 public:
  // Every slot starts UNKNOWN (a restart serves every backend until its
  // checks say otherwise). Allocates now, never afterwards.
  explicit BackendHealthTable(uint32_t slots)
      : slots_(std::make_unique<std::atomic<uint8_t>[]>(slots)), size_(slots) {}

  BackendHealthTable(const BackendHealthTable&) = delete;
  BackendHealthTable& operator=(const BackendHealthTable&) = delete;

  // Marks a slot; out-of-range slots and values other than the three
  // SLUICE_HEALTH_* are ignored.
  void set(uint32_t slot, uint8_t health) {
    if (slot >= size_ || health > SLUICE_HEALTH_UNHEALTHY) return;
    slots_[slot].store(health, std::memory_order_relaxed);
  }

  uint8_t get(uint32_t slot) const {
    return slot < size_ ? slots_[slot].load(std::memory_order_relaxed) : SLUICE_HEALTH_UNKNOWN;
  }

  // The one question the workers ask.
  bool unhealthy(uint32_t slot) const { return get(slot) == SLUICE_HEALTH_UNHEALTHY; }

  // Every slot back to UNKNOWN.
  void reset() {
    for (uint32_t i = 0; i < size_; ++i) slots_[i].store(SLUICE_HEALTH_UNKNOWN, std::memory_order_relaxed);
  }

  uint32_t size() const { return size_; }

 private:
  std::unique_ptr<std::atomic<uint8_t>[]> slots_;
  uint32_t size_;
};

}  // namespace sluice::engine
