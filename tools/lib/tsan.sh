# shellcheck shell=bash
# The ThreadSanitizer stage of tools/test: a second build dir compiled with
# -fsanitize=thread (gcc, ccache) that builds and runs only the unit tests
# in which more than one thread touches the same state. Sourced after
# common.sh; expects `set -euo pipefail`.
#
# Included: the engine read by another thread while it forwards
# (worker_state_reads), the health table written by sluiced and read by
# workers (backend_health), the XDP publisher's reclaim thread
# (xdp_publisher), and the control plane's threads: event hub, dataplane
# watcher, flow census cache, health checker and monitor, socket probes,
# audit log, metrics server, and the control core with its waiters.
# Excluded, and why:
#  - single-threaded tests (most of engine, xdp, state, config): TSan finds
#    nothing there and runs them 5-20 times slower (pool_split, maglev);
#  - DPDK EAL tests (snapshot_publisher, worker_syscall,
#    dpdk_dataplane_sink): DPDK is not instrumented, so TSan cannot see the
#    ordering its RCU and rings provide and would report false races; and
#    worker_syscall traces every system call of a thread, TSan's included;
#  - gRPC tests (api, control_integration, daemon/sluiced_cli): the same
#    for gRPC's and abseil's uninstrumented synchronisation, and their build
#    would double this stage's time;
#  - ebpf, e2e, fuzz: BPF programs, whole processes, another build.
# A name here that no longer names a test fails the stage, so the list
# cannot rot silently.

SLUICE_TSAN_BUILD_DIR=${SLUICE_TSAN_BUILD_DIR:-build-tsan}

SLUICE_TSAN_TESTS=(
  worker_state_reads backend_health xdp_publisher
  event_hub dataplane_watcher flow_census_cache health_monitor control_core
  health_checker socket_prober file_audit_log metrics_server
)

# Configures, builds (only these tests and what they link) and runs them.
# Returns non-zero on a build failure, a missing test or any TSan report
# (TSan exits 66 on a report: halt_on_error stops at the first).
run_tsan_tests() {
  local known name
  stage "configuring $SLUICE_TSAN_BUILD_DIR (gcc, ThreadSanitizer)"
  # ccache: this dir compiles the same files as the main one, with one
  # flag more; on a CI machine that keeps its cache, reruns are cheap.
  CC="ccache ${CC:-gcc}" CXX="ccache ${CXX:-g++}" \
    configure "$SLUICE_TSAN_BUILD_DIR" -Db_sanitize=thread -Dbenchmarks=disabled || return 1
  known=$(meson test -C "$SLUICE_TSAN_BUILD_DIR" --list 2>/dev/null)
  for name in "${SLUICE_TSAN_TESTS[@]}"; do
    if ! grep -q " / $name\$" <<<"$known"; then
      echo "tools/lib/tsan.sh names '$name', which is no test of $SLUICE_TSAN_BUILD_DIR"
      return 1
    fi
  done
  stage "building and running ${#SLUICE_TSAN_TESTS[@]} tests under ThreadSanitizer"
  # Single-threaded cases inside these programs that only move large
  # buffers, which TSan's memcpy interception makes minutes long: the audit
  # flood pushes 10,000 four-megabyte refusals (3.7 s in the main build).
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}" \
    GTEST_FILTER="-FileAuditLogTest.FloodOfHugeRefusalsIsBounded" \
    meson test -C "$SLUICE_TSAN_BUILD_DIR" --print-errorlogs "${SLUICE_TSAN_TESTS[@]}"
}
