// SPDX-License-Identifier: Apache-2.0
#include "control/daemon/stats_report.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <rte_cycles.h>

#include "control/daemon/json_writer.h"

namespace sluice::control {
namespace {

const char* circuit_name(engine::CircuitState s) {
  switch (s) {
    case engine::CircuitState::kClosed: return "closed";
    case engine::CircuitState::kOpen: return "open";
    case engine::CircuitState::kHalfOpen: return "half-open";
  }
  return "unknown";
}

// The workers' millisecond clock (worker_loop.cc: TSC converted to ns).
uint32_t worker_now_ms() {
  return static_cast<uint32_t>(static_cast<double>(rte_get_tsc_cycles()) * 1000.0 /
                               static_cast<double>(rte_get_tsc_hz()));
}

void traffic(JsonWriter& w, const std::vector<engine::TrafficCounter>& v, uint32_t slot) {
  const engine::TrafficCounter t = slot < v.size() ? v[slot] : engine::TrafficCounter{};
  w.field("packets", t.packets).field("bytes", t.bytes);
}

}  // namespace

std::string stats_json(const dpdk::DpdkRuntime& runtime, const engine::Snapshot* snapshot,
                       uint64_t uptime_ms) {
  const engine::WorkerCounters c = runtime.engine_counters();
  const std::vector<uint64_t> generations = runtime.publisher().worker_generations();
  const uint32_t now_ms = worker_now_ms();
  JsonWriter w;
  w.begin_object();
  w.field("uptime_ms", uptime_ms);
  w.field("generation", snapshot ? snapshot->generation() : uint64_t{0});
  w.key("workers").begin_array();
  for (uint32_t i = 0; i < runtime.worker_count(); ++i) {
    const dpdk::PortCounters p = runtime.worker_port_counters(i);
    w.begin_object().field("id", uint64_t{i}).field("lcore", uint64_t{runtime.worker_lcore(i)});
    w.field("generation", generations[i]);
#define SLUICE_X(name, help) w.field(#name, p.name);
    SLUICE_PORT_COUNTERS(SLUICE_X)
#undef SLUICE_X
    w.end_object();
  }
  w.end_array();
  w.key("engine").begin_object();
#define SLUICE_X(name, help) w.field(#name, c.name);
  SLUICE_WORKER_COUNTERS(SLUICE_X)
#undef SLUICE_X
  engine::CircuitStats circuits;
  for (uint32_t i = 0; i < runtime.worker_count(); ++i) {
    const engine::CircuitStats cs = runtime.worker_engine(i).circuits().stats();
    circuits.opened += cs.opened;
    circuits.closed += cs.closed;
    circuits.half_opened += cs.half_opened;
    circuits.refused_by_max_ejected += cs.refused_by_max_ejected;
    circuits.untracked += cs.untracked;
  }
  w.key("circuits").begin_object();
  w.field("opened", circuits.opened).field("closed", circuits.closed);
  w.field("half_opened", circuits.half_opened);
  w.field("refused_by_max_ejected", circuits.refused_by_max_ejected);
  w.field("untracked", circuits.untracked);
  w.end_object();
  w.key("drops").begin_object();
  for (int r = 1; r < engine::kDropReasonCount; ++r) {
    w.field(engine::drop_reason_name(static_cast<engine::DropReason>(r)), c.drops[r]);
  }
  w.end_object().end_object();
  w.key("services").begin_array();
  if (snapshot) {
    for (const engine::CompiledService& s : snapshot->services()) {
      w.begin_object().field("name", s.config.name);
      traffic(w, c.services, s.counter_slot);
      w.key("pools").begin_array();
      for (const engine::CompiledPool& p : s.pools) {
        w.begin_object().field("name", p.name).field("weight", uint64_t{p.weight});
        traffic(w, c.pools, p.counter_slot);
        w.key("backends").begin_array();
        for (uint32_t b = p.first_backend; b < p.first_backend + p.backend_count; ++b) {
          const engine::CompiledBackend& be = s.backends[b];
          w.begin_object().field("address", be.address.to_string()).field("state", engine::backend_state_name(be.state));
          traffic(w, c.backends, be.counter_slot);
          // Circuit state as each worker sees it (circuits are per core).
          w.key("circuit").begin_array();
          for (uint32_t i = 0; i < runtime.worker_count(); ++i) {
            w.value(circuit_name(runtime.worker_engine(i).circuits().state(be.fingerprint, now_ms)));
          }
          w.end_array();
          w.end_object();
        }
        w.end_array().end_object();
      }
      w.end_array().end_object();
    }
  }
  w.end_array();
  w.end_object();
  return w.str() + "\n";
}

bool write_file_atomically(const std::string& path, const std::string& content,
                           std::string* error) {
  const std::string tmp = path + ".tmp";
  // On any failure the descriptor is closed and the temporary file removed:
  // a failing disk then neither leaks a descriptor per stats interval nor
  // leaves a half-written *.tmp behind.
  auto fail = [&](const std::string& name, int fd) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    *error = name + ": " + std::strerror(err);
    return false;
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    *error = tmp + ": " + std::strerror(errno);
    return false;
  }
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(tmp, fd);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail(tmp, fd);
  if (::close(fd) != 0) return fail(tmp, -1);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(path, -1);
  return true;
}

}  // namespace sluice::control
