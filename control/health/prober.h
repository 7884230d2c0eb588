// SPDX-License-Identifier: Apache-2.0
// How the health checker runs one check of a backend. The checker owns the
// schedule, the timeouts and the thresholds; a prober only carries probes
// out and reports how each ended. SocketProber is the real one (TCP, HTTP,
// HTTPS over non-blocking sockets); tests use a fake.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "control/health/health_target.h"

namespace sluice::control::health {

struct ProbeResult {
  bool ok = false;
  // "ok", or why it failed: "connect refused", "status 503",
  // "tls handshake failed: ...", "no HTTP status line in the response".
  std::string detail;
};

// Driven by one thread (the checker's loop): start, cancel and poll are never
// called concurrently; only wake() comes from other threads.
class Prober {
 public:
  using Done = std::function<void(uint64_t probe_id, ProbeResult result)>;

  virtual ~Prober() = default;

  // Starts one check of `target` under `probe_id` (unique, chosen by the
  // caller). Its result comes exactly once from a later poll(), unless
  // cancel() comes first; start() never reports it itself.
  virtual void start(uint64_t probe_id, const HealthTarget& target) = 0;
  // Abandons a probe (timed out, or its target went away): its resources are
  // released and no result is reported. Unknown ids are ignored.
  virtual void cancel(uint64_t probe_id) = 0;
  // Waits up to timeout_ms (0: only what is ready now) for probes to make
  // progress and calls `done` for each one that finished. Returns early
  // when a result is ready or wake() was called.
  virtual void poll(int timeout_ms, const Done& done) = 0;
  // Makes a poll() in progress, or the next one, return promptly. Any thread.
  virtual void wake() = 0;
  // How many probes may run at once; the checker starts no more.
  virtual size_t capacity() const = 0;
};

}  // namespace sluice::control::health
