// SPDX-License-Identifier: Apache-2.0
// Packets per second of one sluice DPDK worker: the real worker loop
// (dataplane/dpdk/worker_loop.cc, worker_main) with a real engine Worker and
// a published Snapshot, on one worker lcore, fed by a DPDK port that replays
// pre-built frames. perf/dpdk_bench.sh runs it beside dpdk-testpmd's io
// forwarding on the same port and the same core and prints the ratio;
// perf/README.md explains the harness and the numbers.
//
//   dpdk_bench gen established FILE [FLOWS [FIT_CAPACITY]]
//       writes FLOWS ACKs of distinct established flows (random order) to a
//       pcap; the flows are chosen to fit a flow table of FIT_CAPACITY entries
//   dpdk_bench gen new FILE [FRAMES]
//       writes FRAMES SYNs of distinct flows to a pcap
//   dpdk_bench gen flood FILE host|drop [FLOWS [FIT_CAPACITY]]
//       the established capture with a flood frame after every ACK: "host",
//       UDP from random sources to the appliance's own address (handed to
//       the exception path); "drop", UDP to a VIP on a port no service has
//       (dropped by the engine). perf/hardening.md "Host floods".
//   dpdk_bench run EAL-ARGS -- [--warm-pcap FILE] [--flow-capacity N]
//       [--seconds N] [--mbufs N] [--mbuf-size N] [--mbuf-cache N]
//       [--burst N] [--port NAME] [--exception]
//       forwards what the port receives for N seconds (or until SIGINT or
//       SIGTERM) and prints, once a second, "Rx-pps:" and "Tx-pps:" lines
//       like testpmd's, then the engine counters. --warm-pcap sends every
//       frame of FILE as a SYN and then as itself through the engine before
//       the worker starts, so that the flows of an established-flow capture
//       are in the table (its frames that are not TCP are skipped).
//       --exception adds the real exception path (exception_path.h: rings,
//       policer with its default rate, exception thread) with a net_ring
//       port standing in for the TAP.
//
// The port is whatever the EAL arguments create (--vdev); the first port
// unless --port names one. The worker runs on the first worker lcore
// (-l 0,1: lcore 1), the main lcore only samples counters.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/dpdk/exception_path.h"
#include "dataplane/dpdk/snapshot_publisher.h"
#include "dataplane/dpdk/worker_loop.h"
#include "dataplane/engine/engine.h"
#include "perf/bench_traffic.h"
#include "tests/dataplane/dpdk/ring_port.h"
#include "tests/dataplane/engine/frame_builder.h"

namespace sluice::perf {
namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "dpdk_bench: %s\n", what.c_str());
  std::exit(1);
}

// --- pcap files (the classic format: a 24-byte file header, then a 16-byte
// header before each frame), written and read without libpcap.

constexpr uint32_t kPcapMagic = 0xa1b2c3d4;  // microsecond timestamps, host order
constexpr uint32_t kLinkEthernet = 1;

class PcapWriter {
 public:
  explicit PcapWriter(const std::string& path) : file_(std::fopen(path.c_str(), "wb")) {
    if (!file_) die("cannot write " + path);
    const uint32_t header[6] = {kPcapMagic, 2u | (4u << 16), 0, 0, 65535, kLinkEthernet};
    std::fwrite(header, sizeof(header), 1, file_);
  }
  ~PcapWriter() { std::fclose(file_); }
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;

  void write(const uint8_t* frame, uint32_t len) {
    const uint32_t record[4] = {count_ / 1000000, count_ % 1000000, len, len};
    std::fwrite(record, sizeof(record), 1, file_);
    std::fwrite(frame, len, 1, file_);
    ++count_;
  }

 private:
  std::FILE* file_;
  uint32_t count_ = 0;  // also the timestamp: one frame per microsecond
};

// Every frame of a pcap written in host byte order (what PcapWriter writes).
std::vector<std::vector<uint8_t>> read_pcap(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (!file) die("cannot read " + path);
  uint32_t header[6];
  if (std::fread(header, sizeof(header), 1, file.get()) != 1 || header[0] != kPcapMagic ||
      header[5] != kLinkEthernet) {
    die(path + ": not a little-endian Ethernet pcap (as `dpdk_bench gen` writes)");
  }
  std::vector<std::vector<uint8_t>> frames;
  uint32_t record[4];
  while (std::fread(record, sizeof(record), 1, file.get()) == 1) {
    if (record[2] > 65535) die(path + ": corrupt record");
    std::vector<uint8_t> f(record[2]);
    if (std::fread(f.data(), 1, f.size(), file.get()) != f.size()) die(path + ": truncated");
    frames.push_back(std::move(f));
  }
  return frames;
}

// --- Traffic generation.

int gen_established(const std::string& path, uint32_t flows, uint32_t fit_capacity) {
  const auto snapshot = compile_bench_snapshot();
  const EstablishedFlows traffic(*snapshot, flows, fit_capacity);
  PcapWriter out(path);
  for (uint32_t i = 0; i < traffic.size(); ++i) out.write(traffic.frame(i), kFrameLen);
  std::printf("%s: %u ACKs of %u established flows (fitted to %u entries)\n", path.c_str(),
              traffic.size(), flows, fit_capacity);
  return 0;
}

int gen_new(const std::string& path, uint32_t frames) {
  using engine::test::ipv4_header_checksum;
  using engine::test::ipv4_transport_checksum;
  using engine::test::store_be16;
  const NewFlowSource source;
  PcapWriter out(path);
  uint8_t f[kFrameStride];
  for (uint32_t n = 0; n < frames; ++n) {
    source.write(n, f);
    // NewFlowSource patches addresses without fixing checksums (the engine
    // does not check them); a capture on disk should be valid, so fix them.
    uint8_t* ip = f + 14;
    uint8_t* tcp = ip + 20;
    store_be16(ip + 10, 0);
    store_be16(ip + 10, ipv4_header_checksum(ip));
    store_be16(tcp + 16, 0);
    store_be16(tcp + 16, ipv4_transport_checksum(ip, tcp, 20));
    out.write(f, kFrameLen);
  }
  std::printf("%s: %u SYNs of distinct flows\n", path.c_str(), frames);
  return 0;
}

int gen_flood(const std::string& path, const std::string& kind, uint32_t flows,
              uint32_t fit_capacity) {
  if (kind != "host" && kind != "drop") die("gen flood: host or drop, not " + kind);
  const auto snapshot = compile_bench_snapshot();
  const EstablishedFlows traffic(*snapshot, flows, fit_capacity);
  PcapWriter out(path);
  uint32_t rng = 20261207;
  for (uint32_t i = 0; i < traffic.size(); ++i) {
    out.write(traffic.frame(i), kFrameLen);
    rng = rng * 1664525u + 1013904223u;
    const engine::IpAddress source =
        engine::IpAddress::v4(198, 18, static_cast<uint8_t>(rng >> 24), static_cast<uint8_t>(rng >> 16));
    // bench_config(): the appliance is 192.0.2.1, web's VIP 192.0.2.10 (UDP 9: no service).
    const engine::IpAddress dst = kind == "host" ? engine::IpAddress::v4(192, 0, 2, 1)
                                                 : engine::IpAddress::v4(192, 0, 2, 10);
    const std::vector<uint8_t> f = engine::test::FrameBuilder()
                                       .eth()
                                       .ip(source, dst)
                                       .udp(static_cast<uint16_t>(1024 + (rng & 0x7fff)), 9)
                                       .pad_to(kFrameLen)
                                       .build();
    out.write(f.data(), static_cast<uint32_t>(f.size()));
  }
  std::printf("%s: %u ACKs of established flows, each followed by a %s-flood frame\n",
              path.c_str(), traffic.size(), kind.c_str());
  return 0;
}

// --- The run.

struct RunOptions {
  std::string warm_pcap;
  std::string port;
  uint32_t flow_capacity = 1u << 21;
  uint32_t seconds = 10;
  uint32_t mbufs = 16384;
  uint16_t mbuf_size = 2048 + RTE_PKTMBUF_HEADROOM;  // data room, as testpmd's --mbuf-size
  uint32_t mbuf_cache = 256;
  uint16_t burst = 32;
  bool exception = false;
};

uint32_t number(std::string_view flag, const char* value) {
  if (!value) die(std::string(flag) + " needs a value");
  char* end = nullptr;
  const unsigned long v = std::strtoul(value, &end, 0);
  if (*end != '\0' || v > 0xffffffffu) die(std::string(flag) + ": not a number: " + value);
  return static_cast<uint32_t>(v);
}

RunOptions parse_run_options(int argc, char** argv) {
  RunOptions o;
  for (int i = 0; i < argc; ++i) {
    const std::string_view a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "--warm-pcap" && v) o.warm_pcap = argv[++i];
    else if (a == "--port" && v) o.port = argv[++i];
    else if (a == "--flow-capacity") o.flow_capacity = number(a, v), ++i;
    else if (a == "--seconds") o.seconds = number(a, v), ++i;
    else if (a == "--mbufs") o.mbufs = number(a, v), ++i;
    else if (a == "--mbuf-size") o.mbuf_size = static_cast<uint16_t>(number(a, v)), ++i;
    else if (a == "--mbuf-cache") o.mbuf_cache = number(a, v), ++i;
    else if (a == "--burst") o.burst = static_cast<uint16_t>(number(a, v)), ++i;
    else if (a == "--exception") o.exception = true;
    else die("unknown option " + std::string(a));
  }
  if (o.burst == 0 || o.burst > engine::Worker::kMaxBurst) die("--burst: 1..64");
  return o;
}

// Sends every frame of `path` through the engine as a SYN, then as itself
// (an ACK), leaving every flow established. Untimed. Flows are stamped
// with the worker loop's own clock, or it would find them idle for days.
void warm_up(engine::Worker& worker, const engine::Snapshot& snapshot, const std::string& path,
             const dpdk::WorkerClock& clock) {
  const auto frames = read_pcap(path);
  constexpr uint32_t kHeadroom = 128;
  constexpr uint32_t kSlot = 2048;
  std::vector<uint8_t> buffers(size_t{kBurst} * kSlot);
  engine::Packet packets[kBurst];
  engine::Verdict verdicts[kBurst];
  std::vector<const std::vector<uint8_t>*> tcp;  // the flows' frames; others are skipped
  for (const auto& f : frames) {
    if (f.size() >= kTcpFlagsOffset + 1 && f.size() <= kSlot - kHeadroom && f[12] == 0x08 &&
        f[13] == 0x00 && f[14] == 0x45 && f[23] == SLUICE_IPPROTO_TCP) {
      tcp.push_back(&f);
    }
  }
  if (tcp.empty()) die(path + ": no IPv4/TCP frame without options to warm up with");
  for (const bool syn : {true, false}) {
    const uint64_t hits = worker.counters().flow_hits;
    for (size_t at = 0; at < tcp.size(); at += kBurst) {
      const auto n = static_cast<uint32_t>(std::min<size_t>(kBurst, tcp.size() - at));
      for (uint32_t i = 0; i < n; ++i) {
        const std::vector<uint8_t>& f = *tcp[at + i];
        uint8_t* data = buffers.data() + size_t{i} * kSlot + kHeadroom;
        std::memcpy(data, f.data(), f.size());
        if (syn) data[kTcpFlagsOffset] = SLUICE_TCP_SYN;
        packets[i] = {data, static_cast<uint32_t>(f.size()), kHeadroom};
      }
      worker.process_burst(&snapshot, packets, verdicts, n, clock.now_ns());
    }
    if (!syn) {
      const uint64_t missed = tcp.size() - (worker.counters().flow_hits - hits);
      std::printf("warm-up: %zu flows from %s, %llu not found by their second packet\n",
                  tcp.size(), path.c_str(), static_cast<unsigned long long>(missed));
    }
  }
}

uint16_t open_port(const RunOptions& o, rte_mempool* pool) {
  uint16_t port = 0;
  if (!o.port.empty()) {
    if (rte_eth_dev_get_port_by_name(o.port.c_str(), &port) != 0) die("no port " + o.port);
  } else {
    port = static_cast<uint16_t>(rte_eth_find_next(0));
    if (port >= RTE_MAX_ETHPORTS) die("no DPDK port: give one with --vdev");
  }
  // Set up as DpdkRuntime::setup_port does for one queue (runtime.cc).
  rte_eth_conf conf{};
  if (int r = rte_eth_dev_configure(port, 1, 1, &conf); r != 0) die("port configure failed");
  uint16_t rx_desc = 1024, tx_desc = 1024;
  rte_eth_dev_adjust_nb_rx_tx_desc(port, &rx_desc, &tx_desc);
  const int socket = rte_eth_dev_socket_id(port);
  if (int r = rte_eth_rx_queue_setup(port, 0, rx_desc, socket, nullptr, pool); r != 0) {
    die("RX queue setup failed: " + std::string(rte_strerror(-r)) +
        " (a pcap port with infinite_rx needs one mbuf per frame of the file: raise --mbufs)");
  }
  if (int r = rte_eth_tx_queue_setup(port, 0, tx_desc, socket, nullptr); r != 0) {
    die("TX queue setup failed: " + std::string(rte_strerror(-r)));
  }
  rte_eth_dev_set_mtu(port, 1500);  // best effort, as the runtime does
  if (int r = rte_eth_dev_start(port); r != 0) die("port start failed");
  return port;
}

// SIGINT or SIGTERM ends the run early, still printing the counters (the
// script stops both programs this way once it has sampled them).
volatile std::sig_atomic_t g_quit = 0;
void on_signal(int) { g_quit = 1; }

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

int run(int argc, char** argv) {
  const int consumed = rte_eal_init(argc, argv);
  if (consumed < 0) die("EAL initialisation failed: " + std::string(rte_strerror(rte_errno)));
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  // What follows the EAL's arguments (after "--") is ours.
  const RunOptions o = parse_run_options(argc - consumed - 1, argv + consumed + 1);
  const unsigned lcore = rte_get_next_lcore(rte_lcore_id(), /*skip_main=*/1, /*wrap=*/0);
  if (lcore >= RTE_MAX_LCORE) die("no worker lcore: give the EAL two (-l 0,1)");

  rte_mempool* pool = rte_pktmbuf_pool_create("bench_mbufs", o.mbufs, o.mbuf_cache, 0,
                                              o.mbuf_size, static_cast<int>(rte_socket_id()));
  if (!pool) die("cannot create the mbuf pool: " + std::string(rte_strerror(rte_errno)));
  const uint16_t port = open_port(o, pool);

  const auto snapshot = compile_bench_snapshot(1);
  engine::WorkerOptions wo;
  wo.flow_capacity = o.flow_capacity;
  auto worker = std::make_unique<engine::Worker>(wo);
  const dpdk::WorkerClock clock;  // the worker loop's (worker_clock.h)
  if (!o.warm_pcap.empty()) warm_up(*worker, *snapshot, o.warm_pcap, clock);
  const engine::WorkerCounters before = worker->counters();
  const engine::FlowTableStats table_before = worker->flows().stats();

  // Freed before rte_eal_cleanup (its RCU state is EAL memory).
  auto publisher = std::make_unique<dpdk::SnapshotPublisher>(1);
  publisher->publish(snapshot);
  std::atomic<bool> stop{false};
  dpdk::WorkerContext ctx;
  ctx.id = 0;
  ctx.nic_port = port;
  ctx.nic_queue = 0;
  ctx.burst_size = o.burst;
  ctx.engine = worker.get();
  ctx.publisher = publisher.get();
  ctx.stop = &stop;
  ctx.clock = &clock;

  // The exception path, as the runtime builds it, with a ring port for the TAP
  // (nobody reads it: once its ring is full, frames count as host_tx_dropped).
  std::unique_ptr<dpdk::ExceptionPath> exception;
  if (o.exception) {
    const dpdk::test::RingPort tap = dpdk::test::make_ring_port("bench_tap", pool);
    if (tap.port < 0) die(tap.error);
    dpdk::ExceptionPathOptions xo;
    xo.tap_port = static_cast<uint16_t>(tap.port);
    exception = std::make_unique<dpdk::ExceptionPath>(
        xo, std::vector<dpdk::WorkerContext*>{&ctx}, std::vector<int>{static_cast<int>(rte_socket_id())});
    exception->start();
  }

  std::printf("sluice worker_main on lcore %u, port %u, flow table %u entries, burst %u%s\n",
              lcore, port, worker->flows().capacity(), o.burst,
              exception ? ", exception path (policer default)" : "");
  std::fflush(stdout);
  rte_eth_stats_reset(port);
  if (rte_eal_remote_launch(dpdk::worker_main, &ctx, lcore) != 0) die("cannot launch the worker");

  // Once a second: the port's own counters (the ones testpmd reads).
  const uint64_t hz = rte_get_tsc_hz();
  rte_eth_stats last{};
  rte_eth_stats_get(port, &last);
  uint64_t last_tsc = rte_get_tsc_cycles();
  std::vector<double> tx_pps;
  for (uint32_t s = 0; s < o.seconds && !g_quit; ++s) {
    for (int i = 0; i < 10 && !g_quit; ++i) rte_delay_us_sleep(100000);
    rte_eth_stats now{};
    rte_eth_stats_get(port, &now);
    const uint64_t tsc = rte_get_tsc_cycles();
    const double secs = static_cast<double>(tsc - last_tsc) / static_cast<double>(hz);
    const double rx = static_cast<double>(now.ipackets - last.ipackets) / secs;
    const double tx = static_cast<double>(now.opackets - last.opackets) / secs;
    std::printf("  Rx-pps: %12.0f\n  Tx-pps: %12.0f\n", rx, tx);
    std::fflush(stdout);
    tx_pps.push_back(tx);
    last = now;
    last_tsc = tsc;
  }
  stop.store(true);
  rte_eal_wait_lcore(lcore);
  if (exception) exception->stop();

  // Engine counters over the whole run (warm-up excluded).
  const engine::WorkerCounters& after = worker->counters();
  const engine::FlowTableStats table = worker->flows().stats();
  const double rx = static_cast<double>(after.rx_packets - before.rx_packets);
  auto pct = [&](uint64_t a, uint64_t b) {
    return rx > 0 ? 100.0 * static_cast<double>(a - b) / rx : 0.0;
  };
  std::printf("engine: packets %.0f forwarded_pct %.2f flow_hit_pct %.2f new_flow_pct %.2f "
              "evict_pct %.2f untracked_tcp_pct %.2f syn_retry_steered %llu connect_failures %llu "
              "circuit_skips %llu to_host %llu dropped %llu\n",
              rx, pct(after.forwarded, before.forwarded), pct(after.flow_hits, before.flow_hits),
              pct(after.new_flows, before.new_flows), pct(table.evictions, table_before.evictions),
              pct(after.untracked_tcp, before.untracked_tcp),
              static_cast<unsigned long long>(after.syn_retry_steered - before.syn_retry_steered),
              static_cast<unsigned long long>(after.connect_failures - before.connect_failures),
              static_cast<unsigned long long>(after.circuit_skips - before.circuit_skips),
              static_cast<unsigned long long>(after.to_host - before.to_host),
              static_cast<unsigned long long>(after.dropped - before.dropped));
  const dpdk::PortCounters& pc = ctx.counters;
  std::printf("worker: rx %llu tx %llu tx_full_dropped %llu host_to_tap %llu host_policed %llu "
              "host_ring_full %llu; Tx-pps median of %zu s: %.0f\n",
              static_cast<unsigned long long>(pc.rx_packets),
              static_cast<unsigned long long>(pc.tx_packets),
              static_cast<unsigned long long>(pc.tx_full_dropped),
              static_cast<unsigned long long>(pc.host_tx_packets + pc.host_tx_dropped),
              static_cast<unsigned long long>(pc.host_policed),
              static_cast<unsigned long long>(pc.host_ring_full), tx_pps.size(), median(tx_pps));

  rte_eth_dev_stop(port);
  rte_eth_dev_close(port);
  exception.reset();
  publisher.reset();
  worker.reset();
  rte_eal_cleanup();
  return 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: dpdk_bench gen established FILE [FLOWS [FIT_CAPACITY]]\n"
               "       dpdk_bench gen new FILE [FRAMES]\n"
               "       dpdk_bench gen flood FILE host|drop [FLOWS [FIT_CAPACITY]]\n"
               "       dpdk_bench run EAL-ARGS -- [--warm-pcap FILE] [--flow-capacity N]\n"
               "           [--seconds N] [--mbufs N] [--mbuf-size N] [--mbuf-cache N]\n"
               "           [--burst N] [--port NAME] [--exception]\n");
  return 2;
}

}  // namespace
}  // namespace sluice::perf

int main(int argc, char** argv) {
  using namespace sluice::perf;
  if (argc < 2) return usage();
  const std::string_view mode = argv[1];
  if (mode == "gen" && argc >= 4) {
    const std::string_view kind = argv[2];
    if (kind == "established") {
      return gen_established(argv[3], argc > 4 ? number("FLOWS", argv[4]) : 1u << 20,
                             argc > 5 ? number("FIT_CAPACITY", argv[5]) : 1u << 21);
    }
    if (kind == "new") return gen_new(argv[3], argc > 4 ? number("FRAMES", argv[4]) : 1u << 20);
    if (kind == "flood" && argc >= 5) {
      return gen_flood(argv[3], argv[4], argc > 5 ? number("FLOWS", argv[5]) : 1u << 16,
                       argc > 6 ? number("FIT_CAPACITY", argv[6]) : 1u << 17);
    }
    return usage();
  }
  // rte_eal_init sees argv[1..] with argv[0] kept as the program name.
  if (mode == "run") {
    argv[1] = argv[0];
    return run(argc - 1, argv + 1);
  }
  return usage();
}
