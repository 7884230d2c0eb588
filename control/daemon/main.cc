// SPDX-License-Identifier: Apache-2.0
// sluiced: the sluice load-balancer daemon.
//
// Start-up checks everything before touching the NIC: options, the
// dataplane's own settings (the hardware profile for DPDK, the interface for
// XDP), the desired state (a services file, or the state directory, checked
// against the audit log: state_check.h), then the whole engine
// configuration. Only then is the dataplane brought up (DPDK: EAL, port,
// workers; XDP: the program loaded, attached or adopted;
// control/daemon/dataplane_host.h); an adopted XDP configuration newer than
// the state refuses the start before anything is published. Afterwards the
// main thread does the dataplane's housekeeping and writes the stats file,
// and configuration changes arrive either by SIGHUP (file mode: the
// services file is re-read) or through the gRPC API
// (control-plane mode, --state-dir: ControlCoreImpl validates, saves,
// audits and publishes each change, its Reconciler thread retries
// publications the dataplane refused and sets gRPC health, and a
// DataplaneWatcher thread turns the workers' generations and circuit
// states into WatchEvents events).
// No thread but the workers (or the XDP program) touches packets.
#include <cerrno>
#include <csignal>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <map>
#include <thread>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <grpc/grpc.h>
#include <spdlog/spdlog.h>

#include "control/api/control_service.h"
#include "control/api/server.h"
#include "control/config/service_json.h"
#include "control/core/control_core_impl.h"
#include "control/core/dataplane_watcher.h"
#include "control/core/health_monitor.h"
#include "control/core/stats_summary.h"
#include "control/daemon/daemon_options.h"
#include "control/daemon/dataplane_host.h"
#include "control/daemon/state_check.h"
#include "control/state/file_audit_log.h"
#include "control/state/file_state_store.h"
#include "control/daemon/logging.h"
#include "control/daemon/stats_report.h"
#include "control/util/atomic_file.h"
#include "control/health/health_checker.h"
#include "control/metrics/allocator_tuning.h"
#include "control/metrics/metrics_server.h"
#include "dataplane/engine/mtu_check.h"
#include "dataplane/engine/snapshot.h"

namespace sluice::control {
namespace {

// How often the watcher compares generations and circuit states: fast
// enough that a rollout tool sees "applied" promptly, cheap for the workers
// (it only reads).
constexpr std::chrono::milliseconds kWatchInterval{100};

// How often the live flows of every worker are counted (drain status,
// active-flow metrics): the census backs off by itself when tables are large.
constexpr std::chrono::milliseconds kCensusInterval{1000};

// /metrics reads the core, which never makes a worker wait.
class CoreMetricsSource final : public metrics::MetricsSource {
 public:
  explicit CoreMetricsSource(const ControlCore& core) : core_(core) {}
  ControlStats stats() override { return core_.stats("").stats; }
  ControlStatus status() override { return core_.status(); }

 private:
  const ControlCore& core_;
};

volatile std::sig_atomic_t g_stop = 0;
volatile std::sig_atomic_t g_reload = 0;

void on_signal(int sig) {
  if (sig == SIGHUP) {
    g_reload = 1;
  } else {
    g_stop = 1;
  }
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaction(sig, &sa, nullptr);
}

template <typename Errors>
void log_errors(const std::string& what, const Errors& errors) {
  for (const auto& e : errors) spdlog::error("{}: {}", what, e.to_string());
}

class Daemon {
 public:
  explicit Daemon(DaemonOptions options) : options_(std::move(options)) {}

  int run() {
    host_ = options_.dataplane == "xdp" ? make_xdp_host(options_) : make_dpdk_host(options_);
    if (!host_->prepare()) return 2;
    std::vector<engine::ServiceConfig> services;
    const bool control_plane = !options_.state_dir.empty();
    if (control_plane) {
      if (!lock_state_dir()) return 2;
      store_ = make_file_state_store(options_.state_dir);
      std::string error;
      std::optional<DesiredState> saved = store_->load(&error);
      if (!saved) {
        spdlog::error("refusing to start: {}", error);
        return 2;
      }
      spdlog::info("state {}: revision {}, {} service(s)", options_.state_dir, saved->revision,
                   saved->services.size());
      saved_ = std::move(*saved);
      services = saved_.services;
      // Is it the newest? The audit log says before the NIC is touched.
      state_check_ = std::make_unique<StateCheck>(options_, saved_);
      if (!state_check_->before_open()) return 2;
    } else if (!load_services(&services)) {
      return 2;
    }
    if ((control_plane || !services.empty()) && !options_.next_hop_set) {
      spdlog::error("--next-hop-mac is required to forward to backends");
      return 2;
    }
    // The whole configuration is checked once more as the engine sees it,
    // before the dataplane starts, with a placeholder MAC (the port's comes
    // later).
    engine::EngineConfig config = engine_config(services, engine::MacAddress{});
    if (auto check = engine::validate_config(config); !check.empty()) {
      log_errors(control_plane ? options_.state_dir + "/state.json" : options_.services_path, check);
      return 2;
    }
    if (!host_->open()) return 1;
    mac_ = host_->local_mac();
    std::unique_ptr<AuditLog> audit;
    if (control_plane) {
      // The adopted dataplane's word, then the start (or rebase) for good.
      audit = make_file_audit_log(options_.audit_log_path);
      if (!state_check_->after_open(host_->adopted_revision(), host_->adopted_description(),
                                    *store_, *audit, &services)) {
        return 2;
      }
    }
    if (!check_mtu(services)) return 2;
    DataplaneSink& sink = host_->sink();
    std::unique_ptr<ControlCoreImpl> core;
    if (control_plane) {
      ControlCoreOptions core_options;
      core_options.seed = options_.seed;
      core_options.forwarding = options_.forwarding;
      core_options.forwarding.local_mac = mac_;
      core = std::make_unique<ControlCoreImpl>(core_options, *store_, *audit, sink);
      std::string error;
      if (!core->start(&error)) {
        spdlog::error("refusing to start: {}", error);
        return 2;
      }
      core_ = core.get();
      generation_ = core->status().revision;
    } else if (!publish(services)) {
      return 2;
    }
    if (!host_->start()) return 1;
    wait_applied();
    std::unique_ptr<api::ControlServiceImpl> service;
    std::unique_ptr<grpc::Server> server;
    std::unique_ptr<DataplaneWatcher> watcher;
    std::unique_ptr<health::HealthChecker> checker;
    std::unique_ptr<HealthMonitor> health_monitor;
    std::unique_ptr<CoreMetricsSource> metrics_source;
    std::unique_ptr<metrics::MetricsServer> metrics_server;
    if (control_plane) {
      watcher = std::make_unique<DataplaneWatcher>(sink, core->events(),
                                                   [c = core.get()] { return c->snapshot(); });
      watcher->start(kWatchInterval);
      core->reconciler().start();
      core->census().start(kCensusInterval);
      checker = health::HealthChecker::create();
      health_monitor = std::make_unique<HealthMonitor>(
          *checker, sink, core->events(), *audit, [c = core.get()] { return c->status().revision; });
      core->set_health_tracker(health_monitor.get());
      // Passive suspicions (circuit_logic.h) confirmed by a check now; the
      // watcher is stopped before the monitor goes (stop_background).
      watcher->set_suspect_listener(
          [m = health_monitor.get()](const std::string& service, const engine::IpAddress& address) {
            m->suspect(service, address);
          });
      checker->start();
      if (!options_.metrics_listen.empty()) {
        metrics_source = std::make_unique<CoreMetricsSource>(*core);
        std::string error;
        metrics_server = metrics::MetricsServer::start(options_.metrics_listen, *metrics_source, &error);
        if (!metrics_server) {
          spdlog::error("--metrics-listen {}: {}", options_.metrics_listen, error);
          stop_background(core.get(), checker.get(), watcher.get());
          host_->stop();
          return 1;
        }
        spdlog::info("Prometheus metrics on http://{0}/metrics (per backend: http://{0}/metrics/backends)",
                     options_.metrics_listen);
        if (const std::string w = metrics_listen_warning(options_.metrics_listen); !w.empty()) {
          spdlog::warn("{}", w);
        }
      }
      api::AccessPolicy policy;
      policy.operators = options_.operators;
      policy.read_only = options_.read_only;
      policy.insecure_tcp_allowed = options_.insecure;
      service = std::make_unique<api::ControlServiceImpl>(*core, std::move(policy));
      if (!make_parent_directory(options_.socket_path)) return 1;
      api::ServerOptions server_options;
      server_options.unix_socket_path = options_.socket_path;
      if (!options_.listen_tcp.empty()) {
        server_options.tcp.emplace();
        server_options.tcp->address = options_.listen_tcp;
        if (!options_.insecure) {
          server_options.tcp->tls = api::ServerOptions::TlsFiles{
              options_.tls_cert_path, options_.tls_key_path, options_.tls_client_ca_path};
        }
      }
      std::string error;
      server = api::start_control_server(*service, server_options, &error);
      if (!server) {
        spdlog::error("control API: {}", error);
        metrics_server.reset();
        stop_background(core.get(), checker.get(), watcher.get());
        host_->stop();
        return 1;
      }
      // NOT_SERVING while the dataplane has a fault or lags the desired
      // revision (reconciler.h); set at once to the current state.
      core->reconciler().set_serving_listener(
          [s = server.get()](bool serving, const std::string&) { api::set_serving(*s, serving); });
      spdlog::info("control API listening on unix:{} (audit log {})", options_.socket_path,
                   options_.audit_log_path);
      log_tcp_listener();
    }
    main_loop();
    metrics_server.reset();
    stop_background(core.get(), checker.get(), watcher.get());
    // Closing the hub ends every WatchEvents stream, so that Shutdown does
    // not wait for them.
    if (core) core->events().close();
    if (server) server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    spdlog::info("stopping");
    write_stats();
    host_->stop();
    engine::WorkerCounters c;
    for (const WorkerSample& w : host_->sink().stats(nullptr).workers) c.add(w.counters);
    spdlog::info("stopped: {} frames in, {} forwarded, {} to host, {} dropped", c.rx_packets,
                 c.forwarded, c.to_host, c.dropped);
    return 0;
  }

 private:
  // Stops the control plane's threads (any may be null): health checks
  // first, so that no verdict reaches a stopping dataplane.
  static void stop_background(ControlCoreImpl* core, health::HealthChecker* checker,
                              DataplaneWatcher* watcher) {
    if (checker) checker->stop();
    if (core) {
      core->set_health_tracker(nullptr);
      core->census().stop();
      core->reconciler().set_serving_listener(nullptr);  // before the server goes
      core->reconciler().stop();
    }
    if (watcher) watcher->stop();
  }

  // One sluiced per state directory: two would overwrite each other's
  // revisions. The lock lives as long as the process.
  bool lock_state_dir() {
    if (::mkdir(options_.state_dir.c_str(), 0750) != 0 && errno != EEXIST) {
      spdlog::error("--state-dir {}: {}", options_.state_dir, std::strerror(errno));
      return false;
    }
    state_dir_fd_ = ::open(options_.state_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (state_dir_fd_ < 0 || ::flock(state_dir_fd_, LOCK_EX | LOCK_NB) != 0) {
      spdlog::error("--state-dir {}: {}", options_.state_dir,
                    errno == EWOULDBLOCK ? "another sluiced is using it" : std::strerror(errno));
      return false;
    }
    return true;
  }

  void log_tcp_listener() const {
    if (options_.listen_tcp.empty()) return;
    if (options_.insecure) {
      spdlog::warn("control API listening on {} WITHOUT TLS (--insecure): anyone who can reach "
                   "this port may change the configuration",
                   options_.listen_tcp);
      return;
    }
    spdlog::info("control API listening on {} (TLS, client certificates from {}; {} operator "
                 "and {} read-only identit{})",
                 options_.listen_tcp, options_.tls_client_ca_path, options_.operators.size(),
                 options_.read_only.size(), options_.read_only.size() == 1 ? "y" : "ies");
  }

  bool make_parent_directory(const std::string& path) {
    const size_t slash = path.rfind('/');
    if (slash == std::string::npos || slash == 0) return true;
    const std::string dir = path.substr(0, slash);
    if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
      spdlog::error("--socket: cannot create {}: {}", dir, std::strerror(errno));
      return false;
    }
    return true;
  }

  // The maximum frame against the port's MTU (the smaller wins, from here
  // on), and the services against both (mtu_check.h): errors refuse the
  // start, warnings are logged. Later changes meet the same check in
  // DataplaneSink::check.
  bool check_mtu(const std::vector<engine::ServiceConfig>& services) {
    std::vector<engine::ConfigError> warnings, errors;
    const uint32_t port_mtu = host_->port_mtu();
    options_.forwarding.max_frame_size =
        engine::effective_max_frame(options_.forwarding.max_frame_size, port_mtu, &warnings);
    for (size_t i = 0; i < services.size(); ++i) {
      for (engine::ConfigError& e :
           engine::check_service_mtu(services[i], "services[" + std::to_string(i) + "]",
                                     options_.forwarding.max_frame_size, &warnings)) {
        errors.push_back(std::move(e));
      }
    }
    for (const engine::ConfigError& w : warnings) spdlog::warn("{}", w.to_string());
    spdlog::info("port MTU {}, maximum frame after encapsulation {}", port_mtu,
                 options_.forwarding.max_frame_size);
    if (errors.empty()) return true;
    log_errors(options_.state_dir.empty() ? options_.services_path : options_.state_dir + "/state.json",
               errors);
    return false;
  }

  bool load_services(std::vector<engine::ServiceConfig>* out) {
    if (options_.services_path.empty()) return true;
    config::ServicesLoadResult loaded = config::load_services_json_file(options_.services_path);
    if (!loaded.errors.empty()) {
      // These already name the file ("PATH: services[0].port: ...").
      for (const auto& e : loaded.errors) spdlog::error("{}", e.to_string());
      return false;
    }
    *out = std::move(loaded.services);
    return true;
  }

  engine::EngineConfig engine_config(const std::vector<engine::ServiceConfig>& services,
                                     const engine::MacAddress& local_mac) const {
    engine::EngineConfig c;
    c.seed = options_.seed;
    c.forwarding = options_.forwarding;
    c.forwarding.local_mac = local_mac;
    c.services = services;
    return c;
  }

  // Compiles and publishes the next generation; false if it was refused.
  bool publish(const std::vector<engine::ServiceConfig>& services) {
    engine::SnapshotCompiler::Result r =
        compiler_.compile(engine_config(services, mac_), generation_ + 1);
    if (!r.errors.empty()) {
      log_errors(options_.services_path, r.errors);
      return false;
    }
    if (const auto misfits = host_->sink().check(*r.snapshot); !misfits.empty()) {
      for (const std::string& m : misfits) spdlog::error("{}: {}", options_.services_path, m);
      return false;
    }
    // File mode has no saved state to converge on: a refusal refuses the
    // start or the reload (SIGHUP again retries), and the generation in
    // force stays the previous one.
    std::string error;
    if (!host_->sink().publish(r.snapshot, &error)) {
      spdlog::error("configuration generation {} not published: {}", generation_ + 1, error);
      return false;
    }
    ++generation_;
    snapshot_ = r.snapshot;
    spdlog::info("configuration generation {} published: {} service(s)", generation_,
                 services.size());
    return true;
  }

  // Says "applied" only when it is: every worker moved, and the dataplane
  // reports no fault (in control-plane mode the reconciler keeps retrying a
  // refused start-up publication and health says NOT_SERVING meanwhile).
  void wait_applied() {
    DataplaneSink& sink = host_->sink();
    const bool moved =
        sink.wait_applied(generation_, std::chrono::steady_clock::now() + std::chrono::seconds(5));
    if (const std::string fault = sink.fault(); !fault.empty()) {
      spdlog::error("generation {} not applied: the dataplane has a fault: {}", generation_, fault);
    } else if (moved) {
      spdlog::info("generation {} applied on all {} worker(s)", generation_, host_->worker_count());
    } else {
      spdlog::warn("generation {} not applied on every worker within 5 s", generation_);
    }
  }

  void reload() {
    spdlog::info("SIGHUP: reloading {}", options_.services_path);
    std::vector<engine::ServiceConfig> services;
    if (!load_services(&services)) {
      spdlog::error("reload refused; generation {} stays in force", generation_);
      return;
    }
    if (!publish(services)) {
      spdlog::error("reload refused; generation {} stays in force", generation_);
      return;
    }
    wait_applied();
  }

  void write_stats() {
    if (options_.stats_path.empty()) return;
    const auto uptime = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started_);
    // With a control core, the same figures GetStats gives (active flows
    // and health included).
    StatsResult stats = core_ ? core_->stats("")
                              : summarize_stats(host_->sink().stats(snapshot_.get()), snapshot_.get());
    stats.stats.uptime_ms = static_cast<uint64_t>(uptime.count());
    stats.stats.dataplane = host_->sink().kind();
    std::string error;
    if (!write_file_atomically(options_.stats_path, stats_json(stats.stats), &error)) {
      spdlog::warn("stats file: {}", error);
    }
  }

  void main_loop() {
    auto next_stats = std::chrono::steady_clock::now();
    while (!g_stop) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      host_->housekeeping();
      if (g_reload) {
        g_reload = 0;
        if (core_) {
          spdlog::info("SIGHUP ignored: with --state-dir, changes come through the API");
        } else {
          reload();
        }
      }
      if (std::chrono::steady_clock::now() >= next_stats) {
        write_stats();
        next_stats += std::chrono::milliseconds(options_.stats_interval_ms);
      }
    }
  }

  DaemonOptions options_;
  engine::SnapshotCompiler compiler_;
  std::shared_ptr<const engine::Snapshot> snapshot_;
  uint64_t generation_ = 0;
  engine::MacAddress mac_{};
  int state_dir_fd_ = -1;                 // holds the state directory's lock
  std::unique_ptr<StateStore> store_;     // control-plane mode only
  DesiredState saved_;                    // control-plane mode: the state as loaded
  std::unique_ptr<StateCheck> state_check_;  // control-plane mode only
  std::unique_ptr<DataplaneHost> host_;
  ControlCoreImpl* core_ = nullptr;       // control-plane mode only
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace
}  // namespace sluice::control

int main(int argc, char** argv) {
  using namespace sluice::control;
  ParsedOptions parsed = parse_daemon_options(argc, argv);
  if (!parsed.options) {
    std::fputs(parsed.output.c_str(), parsed.exit_code == 0 ? stdout : stderr);
    return parsed.exit_code;
  }
  // Before any thread starts (spdlog, gRPC, the dataplane): the one-arena
  // setting applies only to threads that have not allocated yet
  // (control/metrics/allocator_tuning.cc says why and what it saves).
  if (!parsed.options->metrics_listen.empty()) metrics::tune_allocator_for_scrapes();
  setup_logging(parsed.options->log_format, parsed.options->log_level);
  install_signal_handlers();
  // Holds gRPC's library until the process exits: otherwise destroying the
  // API server at shutdown runs gRPC's global shutdown, which (gRPC 1.51)
  // can wait up to 10 s for an internal executor thread and hold the exit.
  grpc_init();
  if (parsed.options->xdp_detach) return detach_xdp(*parsed.options);
  Daemon daemon(std::move(*parsed.options));
  return daemon.run();
}
