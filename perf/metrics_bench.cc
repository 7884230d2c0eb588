// SPDX-License-Identifier: Apache-2.0
// What one Prometheus scrape of sluiced costs at the size issue 9 names,
// "100 services x 8 pools x 50 backends", read two ways:
//   (a) 100 services, each 8 pools of 50 backends: 40,000 backends;
//   (b) 100 services, each 50 backends spread over 8 pools (7 pools of 6
//       and one of 8): 5,000 backends.
// Every counter, histogram bucket, flow gauge and health counter is
// non-zero (worst case for the text), 2 workers, health checks on.
//
// For each shape, over repeated scrapes (median and p99 of the wall clock,
// median of the process CPU time and of the minor page faults; with fewer
// than 100 scrapes p99 is the maximum):
//   sample copy   the ControlStats copy a MetricsSource returns by value;
// then for each path, /metrics (everything but the per-backend families)
// and /metrics/backends (only those):
//   collect       StatsCollectable::Collect(): copy + build_families();
//   serialize     prometheus::TextSerializer over those families;
//   gzip          zlib over that text, at the level the Exposer uses
//                 (Z_DEFAULT_COMPRESSION) and at level 1 (not selectable in
//                 prometheus-cpp 1.0.1; for comparison);
//   direct        the floor of a hand-written exposition (bench only): the
//                 same families appended to one std::string with
//                 std::to_chars, escaping included;
//   GET           a real GET through MetricsServer (prometheus-cpp Exposer
//                 on 127.0.0.1), whole body read; plain, and with
//                 "Accept-Encoding: gzip" as Prometheus sends it;
// with the text size and series (sample lines) count.
//
//   metrics_bench [--shape a|b|both] [--scrapes N] [--tune-allocator]
// --tune-allocator calls tune_allocator_for_scrapes() first, as sluiced
// does with --metrics-listen (compare the faults column).
// Workers never wait on a scrape: the source hands over a finished sample
// (in sluiced, ControlCore::stats() reads the workers' single-writer
// counter blocks without locking them); here it is a prebuilt copy.
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <prometheus/text_serializer.h>
#include <zlib.h>

#include <charconv>
#include <cmath>

#include "control/metrics/allocator_tuning.h"
#include "control/metrics/metrics_server.h"
#include "control/metrics/stats_collectable.h"
#include "tests/control/metrics/http_get.h"

namespace sluice::control::metrics {
namespace {

using Clock = std::chrono::steady_clock;

// 100 services; pool p of service s holds backends_in_pool(p) backends.
ControlStats make_stats(bool shape_a) {
  constexpr uint32_t kServices = 100, kPools = 8, kWorkers = 2;
  auto backends_in_pool = [&](uint32_t p) -> uint32_t {
    return shape_a ? 50 : (p + 1 < kPools ? 6 : 50 - 6 * (kPools - 1));
  };
  ControlStats s;
  s.uptime_ms = 86'400'000;
  s.revision = s.desired_revision = 1234;
  s.dataplane = "dpdk";
  s.census_age_ms = 400;
  s.census_duration_us = 25'000;
  for (uint32_t w = 0; w < kWorkers; ++w) {
    EngineStats e;
#define SLUICE_X(name, help) e.counters.push_back({#name, 123456789});
    SLUICE_WORKER_COUNTERS(SLUICE_X)
#undef SLUICE_X
    for (int d = 1; d < engine::kDropReasonCount; ++d) {
      e.drops.push_back({"reason_" + std::to_string(d), 42});
    }
    e.dataplane = {{"rx_bursts", 1}, {"rx_packets", 2}, {"tx_packets", 3}};
    s.workers.push_back({w, 1234, "lcore " + std::to_string(w + 1), e});
  }
  engine::TrafficCounter traffic;
#define SLUICE_X(name, help) traffic.name = 987654321;
  SLUICE_SLOT_SIGNALS(SLUICE_X)
#undef SLUICE_X
  engine::HandshakeHistogram hist;
  for (int b = 0; b < SLUICE_HANDSHAKE_BUCKETS; ++b) hist.buckets[b] = 1000 + b;
  hist.sum_ms = 123456789;
  uint32_t address = 0x0a000000;  // 10.0.0.0, one per backend
  for (uint32_t si = 0; si < kServices; ++si) {
    ServiceStats service;
    service.name = "service-" + std::to_string(si);
    service.traffic = traffic;
    for (uint32_t p = 0; p < kPools; ++p) {
      PoolStats pool;
      pool.name = "pool-" + std::to_string(p);
      pool.weight = 100;
      pool.traffic = traffic;
      pool.handshakes = hist;
      pool.active.flows = 5000;
      pool.active.oldest_age_ms = 3'600'000;
      for (uint32_t b = 0; b < backends_in_pool(p); ++b, ++address) {
        BackendStats backend;
        backend.address = engine::IpAddress::v4(address >> 24, address >> 16, address >> 8, address);
        backend.traffic = traffic;
        backend.handshakes = hist;
        backend.circuits.assign(kWorkers, engine::CircuitState::kClosed);
        backend.active.flows = 100;
        backend.active.by_worker = {50, 50};
        backend.active.oldest_age_ms = 3'600'000;
        backend.health = {HealthState::kHealthy, true, "ok", 3, 86400, 12, 0};
        pool.backends.push_back(std::move(backend));
      }
      service.pools.push_back(std::move(pool));
    }
    s.services.push_back(std::move(service));
  }
  return s;
}

class PrebuiltSource : public MetricsSource {
 public:
  explicit PrebuiltSource(ControlStats stats) : stats_(std::move(stats)) {
    status_.dataplane = "dpdk";
    status_.worker_generations = {1234, 1234};
    status_.revision = 1234;
    status_.uptime_ms = 86'400'000;
    status_.version = "0.1.0";
  }
  ControlStats stats() override { return stats_; }
  ControlStatus status() override { return status_; }
  const ControlStats& sample() const { return stats_; }

 private:
  ControlStats stats_;
  ControlStatus status_;
};

struct Timing {
  double median_ms = 0, p99_ms = 0;  // wall clock
  double cpu_median_ms = 0;          // CPU time of the whole process (every thread)
  double faults_median = 0;          // minor page faults (fresh memory touched)
};

double minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_minflt);
}

double resident_mb() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
}

double peak_resident_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024;
}

double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Runs `fn` `n` times (after one untimed warm-up), in milliseconds. The
// process CPU time beside the wall clock tells the cost apart from waiting
// for a CPU on a shared, loaded machine.
Timing time_it(int n, const std::function<void()>& fn) {
  fn();
  std::vector<double> ms, cpu, faults;
  for (int i = 0; i < n; ++i) {
    const double f0 = minor_faults();
    const double c0 = process_cpu_ms();
    const auto t0 = Clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    cpu.push_back(process_cpu_ms() - c0);
    faults.push_back(minor_faults() - f0);
  }
  std::sort(ms.begin(), ms.end());
  const size_t p99 = std::min(ms.size() - 1, static_cast<size_t>(ms.size() * 0.99));
  return {ms[ms.size() / 2], ms[p99], median(cpu), median(faults)};
}

// Bench-only: the text format written straight into one string (the floor
// a hand-written exposition could reach). Not used by the server.
void append_number(std::string& out, double v) {
  char buf[32];
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}

void append_head(std::string& out, const std::string& name, const char* suffix,
                 const prometheus::ClientMetric& m, const char* extra = nullptr, double le = 0) {
  out += name;
  out += suffix;
  if (m.label.empty() && !extra) {
    out += ' ';
    return;
  }
  char sep = '{';
  for (const auto& l : m.label) {
    out += sep;
    out += l.name;
    out += "=\"";
    for (char c : l.value) {
      if (c == '\\' || c == '"') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += '"';
    sep = ',';
  }
  if (extra) {
    out += sep;
    out += extra;
    out += "=\"";
    append_number(out, le);
    out += '"';
  }
  out += "} ";
}

std::string direct_write(const std::vector<prometheus::MetricFamily>& families) {
  std::string out;
  out.reserve(1 << 20);
  for (const auto& f : families) {
    out += "# HELP " + f.name + " " + f.help + "\n# TYPE " + f.name + " ";
    switch (f.type) {
      case prometheus::MetricType::Counter: out += "counter\n"; break;
      case prometheus::MetricType::Gauge: out += "gauge\n"; break;
      case prometheus::MetricType::Histogram: out += "histogram\n"; break;
      default: out += "untyped\n"; break;
    }
    for (const auto& m : f.metric) {
      if (f.type == prometheus::MetricType::Histogram) {
        append_head(out, f.name, "_count", m);
        append_number(out, static_cast<double>(m.histogram.sample_count));
        out += '\n';
        append_head(out, f.name, "_sum", m);
        append_number(out, m.histogram.sample_sum);
        out += '\n';
        for (const auto& b : m.histogram.bucket) {
          append_head(out, f.name, "_bucket", m, "le", b.upper_bound);
          append_number(out, static_cast<double>(b.cumulative_count));
          out += '\n';
        }
        continue;
      }
      append_head(out, f.name, "", m);
      append_number(out, f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value);
      out += '\n';
    }
  }
  return out;
}

// zlib's gzip of `text` at `level`; returns the compressed size.
size_t gzip_size(const std::string& text, int level) {
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY) != Z_OK) return 0;
  std::string out(deflateBound(&zs, text.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  zs.avail_in = static_cast<uInt>(text.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  const size_t n = zs.total_out;
  deflateEnd(&zs);
  return n;
}

size_t count_backends(const ControlStats& s) {
  size_t n = 0;
  for (const auto& service : s.services) {
    for (const auto& pool : service.pools) n += pool.backends.size();
  }
  return n;
}

// Sample lines (not HELP or TYPE) of a text exposition.
size_t count_series(const std::string& text) {
  size_t series = 0;
  for (size_t i = 0; i < text.size();) {
    if (text[i] != '#') ++series;
    const size_t nl = text.find('\n', i);
    if (nl == std::string::npos) break;
    i = nl + 1;
  }
  return series;
}

void print_row(const char* shape, const std::string& what, const Timing& t,
               const std::string& extra) {
  std::printf("%-4s %-26s wall median %7.1f ms p99 %7.1f ms | cpu %7.1f ms | faults %6.0f | %s\n",
              shape, what.c_str(), t.median_ms, t.p99_ms, t.cpu_median_ms, t.faults_median,
              extra.c_str());
}

// Collect, serialize, gzip and the direct writer for one path.
void run_steps(const char* shape, PrebuiltSource& source, Exposition exposition, int scrapes) {
  const std::string path = exposition == Exposition::kMain ? kMainPath : kBackendsPath;
  std::mutex scrape_mutex;
  StatsCollectable collectable(source, exposition, scrape_mutex);
  std::vector<prometheus::MetricFamily> families;
  print_row(shape, path + " collect", time_it(scrapes, [&] { families = collectable.Collect(); }),
            "");
  std::string text;
  const Timing serialize =
      time_it(scrapes, [&] { text = prometheus::TextSerializer().Serialize(families); });
  print_row(shape, path + " serialize", serialize,
            std::to_string(text.size()) + " bytes, " + std::to_string(count_series(text)) +
                " series, " + std::to_string(families.size()) + " families");
  for (const int level : {Z_DEFAULT_COMPRESSION, 1}) {
    size_t bytes = 0;
    const Timing t = time_it(scrapes, [&] { bytes = gzip_size(text, level); });
    print_row(shape, path + (level == 1 ? " gzip level 1" : " gzip default"), t,
              std::to_string(bytes) + " bytes");
  }
  std::string direct;
  const Timing direct_time = time_it(scrapes, [&] { direct = direct_write(families); });
  print_row(shape, path + " direct writer", direct_time, std::to_string(direct.size()) + " bytes");
}

bool run_shape(bool shape_a, int scrapes) {
  const char* shape = shape_a ? "(a)" : "(b)";
  PrebuiltSource source(make_stats(shape_a));
  std::printf("%s 100 services x 8 pools, %zu backends, %d scrapes\n", shape,
              count_backends(source.sample()), scrapes);
  print_row(shape, "sample copy", time_it(scrapes, [&] { ControlStats copy = source.stats(); }),
            "");
  for (const Exposition e : {Exposition::kMain, Exposition::kBackends}) {
    run_steps(shape, source, e, scrapes);
  }

  std::string error;
  auto server = MetricsServer::start("127.0.0.1:0", source, &error);
  if (!server) {
    std::fprintf(stderr, "metrics_bench: %s\n", error.c_str());
    return false;
  }
  for (const char* path : {kMainPath, kBackendsPath}) {
    for (const bool gzip : {false, true}) {
      size_t bytes = 0;
      bool ok = true;
      const Timing t = time_it(scrapes, [&] {
        auto r = http_get(server->port(), path, gzip ? "Accept-Encoding: gzip\r\n" : "");
        ok &= r && r->status == 200;
        bytes = r ? r->body.size() : 0;
      });
      if (!ok) {
        std::fprintf(stderr, "metrics_bench: GET %s failed\n", path);
        return false;
      }
      print_row(shape, std::string("GET ") + path + (gzip ? " gzip" : ""), t,
                "body " + std::to_string(bytes) + " bytes");
    }
  }
  // What the allocator keeps between scrapes (tune_allocator_for_scrapes()
  // trades resident memory for page faults).
  std::printf("%-4s resident after the GETs %.0f MB, peak %.0f MB\n", shape, resident_mb(),
              peak_resident_mb());
  return true;
}

}  // namespace
}  // namespace sluice::control::metrics

int main(int argc, char** argv) {
  std::string shape = "both";
  int scrapes = 20;
  bool tune = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--tune-allocator") == 0) tune = true;
    else if (i + 1 < argc && std::strcmp(argv[i], "--shape") == 0) shape = argv[++i];
    else if (i + 1 < argc && std::strcmp(argv[i], "--scrapes") == 0) scrapes = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr,
                   "usage: metrics_bench [--shape a|b|both] [--scrapes N] [--tune-allocator]\n");
      return 2;
    }
  }
  // Before any thread, as in sluiced.
  if (tune) sluice::control::metrics::tune_allocator_for_scrapes();
  std::printf("allocator: %s\n", tune ? "tune_allocator_for_scrapes()" : "glibc defaults");
  bool ok = true;
  if (shape == "b" || shape == "both") ok &= sluice::control::metrics::run_shape(false, scrapes);
  if (shape == "a" || shape == "both") ok &= sluice::control::metrics::run_shape(true, scrapes);
  return ok ? 0 : 1;
}
