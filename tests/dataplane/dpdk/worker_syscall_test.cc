// SPDX-License-Identifier: Apache-2.0
// The DPDK worker makes no system call, also under a flood of frames for
// the host (issue 10, item 4).
//
// The real worker loop (dataplane/dpdk/worker_loop.cc, worker_main) with a
// real engine Worker and the real exception path (exception_path.cc: rings,
// policer, exception thread) runs on ports that make no system calls
// themselves: two net_ring ethdevs (rte_eth_from_rings), one as the NIC and
// one standing in for the TAP. So any system call seen on the worker's
// thread is the worker's own doing, not a PMD's.
//
// How the calls are seen: the worker thread installs a seccomp filter that
// turns every system call into a user notification (SECCOMP_RET_USER_NOTIF)
// on a listener fd; a supervisor thread receives each one, records its
// number and lets it run (SECCOMP_USER_NOTIF_FLAG_CONTINUE). Every call the
// worker makes between installing the filter and the return of worker_main
// is recorded; there must be none.
//
// Traffic, fed into the NIC port's RX ring by the test: 4,000 connections
// to the VIP (SYN, then ACK) interleaved with 200,000 frames for the host
// (UDP to the appliance's address from random sources, ARP, ICMP echo to a
// non-VIP address). Checked besides the system calls: every VIP frame is
// forwarded; every host frame is accounted for (handed to the "TAP",
// policed, or dropped at a full ring); the policer passed no more than its
// burst plus rate x time.
//
// One EAL per process, so this program has its own main(); exits 77
// (skipped) where EAL cannot start or seccomp user notification is missing.
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/dpdk/exception_path.h"
#include "dataplane/dpdk/snapshot_publisher.h"
#include "dataplane/dpdk/worker_loop.h"
#include "dataplane/engine/engine.h"
#include "tests/dataplane/dpdk/eal_test_support.h"
#include "tests/dataplane/dpdk/ring_port.h"
#include "tests/dataplane/engine/frame_builder.h"

namespace sluice::dpdk {
namespace {

using engine::test::FrameBuilder;

constexpr uint32_t kConnections = 4000;
constexpr uint32_t kHostFrames = 200000;
constexpr uint32_t kPolicerRate = 1000;   // frames per second to the "TAP"
constexpr uint32_t kPolicerBurst = 100;

// --- Seeing every system call of one thread --------------------------------

class SyscallRecorder {
 public:
  // The supervisor thread starts here, before the filter exists: once it
  // does, creating a thread from the watched one would wait for a
  // supervisor that is not there yet.
  SyscallRecorder() : supervisor_([this] { supervise(); }) {}
  ~SyscallRecorder() { join(); }

  // Called on the thread to watch: installs the filter (every call becomes
  // a notification) and hands the listener to the supervisor. False (with
  // errno) when the kernel refuses.
  bool watch_this_thread() {
    sock_filter notify_all[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF)};
    sock_fprog prog = {1, notify_all};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
    const long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER,
                            &prog);
    if (fd < 0) return false;
    listener_.store(static_cast<int>(fd));  // a plain store: no system call
    return true;
  }

  // From now on calls are no longer counted (the watched thread is done
  // with the code under test; exiting a thread makes system calls).
  void stop_counting() { counting_.store(false); }

  // Stops the supervisor; call once the watched thread has exited (or never
  // installed its filter).
  void join() {
    done_.store(true);
    if (supervisor_.joinable()) supervisor_.join();
    const int fd = listener_.exchange(-1);
    if (fd >= 0) close(fd);
  }

  std::map<long, uint64_t> calls() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_;
  }

 private:
  void supervise() {
    seccomp_notif req;
    seccomp_notif_resp resp;
    while (!done_.load()) {
      const int fd = listener_.load();
      if (fd < 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      pollfd p = {fd, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0 || !(p.revents & POLLIN)) {
        if (p.revents & (POLLHUP | POLLERR)) return;  // the watched thread is gone
        continue;
      }
      std::memset(&req, 0, sizeof(req));
      if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) continue;
      if (counting_.load()) {
        std::lock_guard<std::mutex> lock(mutex_);
        calls_[req.data.nr]++;
      }
      std::memset(&resp, 0, sizeof(resp));
      resp.id = req.id;
      resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;  // let the call run as if unwatched
      ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
    }
  }

  std::atomic<int> listener_{-1};
  std::atomic<bool> counting_{true};
  std::atomic<bool> done_{false};
  mutable std::mutex mutex_;
  std::map<long, uint64_t> calls_;
  std::thread supervisor_;  // last: starts once the members above exist
};

// --- The configuration: one VIP, the appliance at 10.0.0.2 ------------------

engine::IpAddress ip(const char* text) { return *engine::IpAddress::parse(text); }

std::shared_ptr<const engine::Snapshot> compile_config() {
  engine::EngineConfig c;
  c.seed = {0x1111222233334444ULL, 0x5555666677778888ULL};
  c.forwarding.source_v4 = ip("10.0.0.2");
  c.forwarding.source_v6 = ip("fd00::2");
  c.forwarding.local_mac = {0x02, 0, 0, 0, 0, 0x02};
  c.forwarding.next_hop_mac = {0x02, 0, 0, 0, 0, 0x01};
  engine::ServiceConfig s;
  s.name = "web";
  s.vip = ip("192.0.2.10");
  s.port = 80;
  s.protocol = engine::Protocol::kTcp;
  s.maglev_table_size = 1021;
  s.pools = {{"stable", 100, {{ip("10.1.0.1")}, {ip("10.1.0.2")}}}};
  c.services = {s};
  engine::SnapshotCompiler compiler;
  auto result = compiler.compile(c, 1);
  if (!result.errors.empty()) {
    ADD_FAILURE() << result.errors[0].to_string();
    return nullptr;
  }
  return result.snapshot;
}

std::vector<uint8_t> host_frame(std::mt19937& rng, uint32_t i) {
  char src[32];
  const uint32_t r = static_cast<uint32_t>(rng());
  std::snprintf(src, sizeof(src), "%u.%u.%u.%u", 1 + (r >> 24) % 223, (r >> 16) & 0xff,
                (r >> 8) & 0xff, 1 + (r & 0xff) % 254);
  switch (i % 8) {
    case 0:
      return FrameBuilder().eth().arp().build();
    case 1:
      return FrameBuilder().eth().ipv4(src, "198.51.100.7").icmp_echo(1, 1).build();
    default:
      return FrameBuilder().eth().ipv4(src, "10.0.0.2").udp(static_cast<uint16_t>(rng()), 53).build();
  }
}

// Copies `frame` into a fresh mbuf.
rte_mbuf* to_mbuf(rte_mempool* pool, const std::vector<uint8_t>& frame) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool);
  if (!m) return nullptr;
  std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size())), frame.data(),
              frame.size());
  return m;
}

TEST(WorkerSyscallTest, HostFloodWithVipTrafficMakesNoSystemCallOnTheWorker) {
  rte_mempool* pool = rte_pktmbuf_pool_create("wsys_pool", 16383, 256, 0, 2048, SOCKET_ID_ANY);
  ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);
  const test::RingPort nic = test::make_ring_port("wsys_nic", pool);
  const test::RingPort tap = test::make_ring_port("wsys_tap", pool);
  ASSERT_GE(nic.port, 0) << nic.error;
  ASSERT_GE(tap.port, 0) << tap.error;

  auto snapshot = compile_config();
  ASSERT_NE(snapshot, nullptr);
  SnapshotPublisher publisher(1);
  publisher.publish(snapshot);
  engine::WorkerOptions wo;
  wo.flow_capacity = 1 << 16;
  wo.circuit_capacity = 1024;
  wo.service_counter_slots = 16;
  wo.pool_counter_slots = 64;
  wo.backend_counter_slots = 256;
  engine::Worker engine_worker(wo);
  std::atomic<bool> stop{false};
  WorkerContext w;
  w.id = 0;
  w.nic_port = static_cast<uint16_t>(nic.port);
  w.nic_queue = 0;
  w.engine = &engine_worker;
  w.publisher = &publisher;
  w.stop = &stop;
  const WorkerClock clock;
  w.clock = &clock;

  ExceptionPathOptions xo;
  xo.tap_port = static_cast<uint16_t>(tap.port);
  xo.rate_pps = kPolicerRate;
  xo.burst = kPolicerBurst;
  ExceptionPath exception(xo, {&w}, {0});
  exception.start();

  SyscallRecorder recorder;
  std::atomic<int> watch_errno{0};
  std::thread worker([&] {
    if (!recorder.watch_this_thread()) {
      watch_errno.store(errno ? errno : -1);
      return;
    }
    worker_main(&w);
    recorder.stop_counting();
  });
  while (!w.running.load() && watch_errno.load() == 0) std::this_thread::yield();
  if (watch_errno.load() != 0) {
    stop.store(true);
    worker.join();
    exception.stop();
    GTEST_SKIP() << "seccomp user notification unavailable: " << std::strerror(watch_errno.load());
  }

  // Feed: per connection a SYN and an ACK, and 50 host frames in between.
  std::mt19937 rng(7);
  uint64_t vip_sent = 0, host_sent = 0, forwarded = 0, to_tap = 0;
  std::vector<uint8_t> bad_forward;
  auto drain = [&] {
    rte_mbuf* out[64];
    unsigned n;
    while ((n = rte_ring_dequeue_burst(nic.tx, reinterpret_cast<void**>(out), 64, nullptr)) > 0) {
      forwarded += n;
      rte_pktmbuf_free_bulk(out, n);
    }
    while ((n = rte_ring_dequeue_burst(tap.tx, reinterpret_cast<void**>(out), 64, nullptr)) > 0) {
      to_tap += n;
      rte_pktmbuf_free_bulk(out, n);
    }
  };
  auto feed = [&](const std::vector<uint8_t>& frame) {
    rte_mbuf* m;
    while ((m = to_mbuf(pool, frame)) == nullptr) drain();
    while (rte_ring_enqueue(nic.rx, m) != 0) drain();
  };
  const auto start = std::chrono::steady_clock::now();
  const uint32_t host_per_connection = kHostFrames / kConnections;
  for (uint32_t c = 0; c < kConnections; ++c) {
    char client[32];
    std::snprintf(client, sizeof(client), "203.0.%u.%u", c / 250, 1 + c % 250);
    const uint16_t sport = static_cast<uint16_t>(10000 + c);
    feed(FrameBuilder().eth().ipv4(client, "192.0.2.10").tcp(sport, 80, SLUICE_TCP_SYN).build());
    for (uint32_t h = 0; h < host_per_connection / 2; ++h) feed(host_frame(rng, host_sent++));
    feed(FrameBuilder().eth().ipv4(client, "192.0.2.10").tcp(sport, 80, SLUICE_TCP_ACK).build());
    for (uint32_t h = 0; h < host_per_connection - host_per_connection / 2; ++h) {
      feed(host_frame(rng, host_sent++));
    }
    vip_sent += 2;
    drain();
  }
  // Until the worker has taken everything and the exception thread is idle.
  const uint64_t total = vip_sent + host_sent;
  for (int i = 0; i < 2000 && w.counters.rx_packets < total; ++i) {
    drain();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  drain();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  stop.store(true);
  worker.join();
  recorder.join();
  exception.stop();
  drain();

  std::string calls;
  uint64_t call_count = 0;
  for (const auto& [nr, count] : recorder.calls()) {
    calls += " nr " + std::to_string(nr) + " x" + std::to_string(count);
    call_count += count;
  }
  EXPECT_EQ(call_count, 0u) << "the worker made system calls:" << calls;

  const PortCounters& pc = w.counters;
  EXPECT_EQ(pc.rx_packets, total);
  EXPECT_EQ(forwarded, vip_sent) << "every VIP frame is forwarded";
  EXPECT_EQ(pc.tx_packets, vip_sent);
  EXPECT_EQ(to_tap, pc.host_tx_packets);
  EXPECT_EQ(pc.host_tx_packets + pc.host_policed + pc.host_ring_full, host_sent)
      << "every host frame is handed over, policed or dropped at a full ring";
  EXPECT_GT(pc.host_policed, 0u);
  EXPECT_LE(pc.host_tx_packets, kPolicerBurst + kPolicerRate * (seconds + 1))
      << "the policer let through more than burst + rate x " << seconds << " s";
  std::printf("worker: %lu VIP frames forwarded, %lu host frames: %lu to the TAP, %lu policed, "
              "%lu ring full; %.2f s; system calls on the worker: %lu\n",
              static_cast<unsigned long>(forwarded), static_cast<unsigned long>(host_sent),
              static_cast<unsigned long>(pc.host_tx_packets),
              static_cast<unsigned long>(pc.host_policed),
              static_cast<unsigned long>(pc.host_ring_full), seconds,
              static_cast<unsigned long>(call_count));
}

}  // namespace
}  // namespace sluice::dpdk

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const std::string prefix = "sluice-wsys-" + std::to_string(getpid());
  const std::string lcores = "0@(" + sluice::dpdk::test::allowed_cpu_list() + ")";
  std::vector<std::string> args = {"worker_syscall_test", "--no-huge",  "-m",  "512",
                                   "--no-pci",            "--lcores",   lcores, "--file-prefix",
                                   prefix,                "--log-level", "warning"};
  std::vector<char*> argv_eal;
  for (auto& a : args) argv_eal.push_back(a.data());
  if (rte_eal_init(static_cast<int>(argv_eal.size()), argv_eal.data()) < 0) {
    std::fprintf(stderr, "EAL did not start (%s): skipped\n", rte_strerror(rte_errno));
    return 77;
  }
  const int rc = RUN_ALL_TESTS();
  rte_eal_cleanup();
  // EAL leaves its runtime folder behind; this run's is named by its PID.
  std::error_code ignored;
  std::filesystem::remove_all("/var/run/dpdk/" + prefix, ignored);
  return rc;
}
