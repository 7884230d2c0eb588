# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# Shared by the control-plane integration tests: a real sluiced in
# control-plane mode (--state-dir, --socket, --audit-log) on net_af_packet
# over a veth pair in a network namespace of its own, without hugepages.
#
# A test sources this file, then:
#   ci_init PREFIX SLUICED          temp dir, names, cleanup trap
#   ci_require_root                 exit 77 (skipped) without root or 2 CPUs
#   ci_make_namespace               the namespace and its veth pair
#   ci_start_sluiced LOG [ARGS...]  sluiced in the background: SLUICED_PID
#   ci_wait_ready SECONDS           until the control API listens
#   ci_stop_sluiced                 SIGTERM and wait: CI_EXIT
#   ci_sluiced_command PREFIX SOCKET  CI_COMMAND, for a sluiced run by hand
#   ci_run COMMAND...               a client, interruptible
#   ci_background OUT ERR COMMAND...  a client left running: CI_BG_PID
#
# Everything created is named after the prefix and removed on every exit
# path; the only processes signalled are the sluiced and the clients this
# test started, by their PIDs.

# shellcheck disable=SC2034  # PY, CI_EXIT and the paths are for the test that sources this
SEED=00112233445566778899aabbccddeeff
PY=/usr/bin/python3
failures=0
NS=""
SLUICED_PID=""
CI_CHILD_PID=""
CI_BACKGROUND_PIDS=()
CI_EXIT=""
# EAL file prefixes used, removed from /var/run/dpdk at the end (a sluiced
# killed with SIGKILL leaves its runtime directory behind).
CI_EAL_PREFIXES=()

ci_init() {
  P=$1
  SLUICED=$2
  ROOT=${SLUICE_SOURCE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
  PROFILE="$ROOT/hardware-profiles/lab-af-packet.ini"
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-$P.XXXXXX")
  STATE="$TMP/state"
  SOCK="$TMP/sluiced.sock"
  AUDIT="$TMP/audit.log"
  # DPDK flow tables outlive sluiced (README "Restart"): on tmpfs, this
  # test's own, removed at the end.
  FLOWS="/dev/shm/sluice-ci-$P-flows"
  # The file modes checked (state 0640, its directory 0750) are what sluiced
  # asks for, under the usual umask.
  umask 022
  trap ci_cleanup EXIT
  trap 'exit 130' INT TERM HUP
}

ci_cleanup() {
  local pid
  for pid in "$CI_CHILD_PID" "${CI_BACKGROUND_PIDS[@]}" "$SLUICED_PID"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
    fi
  done
  if [ -n "$NS" ]; then ip netns del "$NS" 2>/dev/null; fi
  local prefix
  for prefix in "${CI_EAL_PREFIXES[@]}"; do rm -rf "/var/run/dpdk/$prefix"; done
  rm -rf "$TMP" "$FLOWS"
  # sluiced's ownership lock files (control/daemon/interface_lock.h) of our veths.
  rm -f /run/sluice/locks/*[-_]"$P-a" /run/sluice/locks/*[-_]"$P-b"
}

# fail, check, not_in_output.
# shellcheck source=tests/control/checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/../checks.sh"

ci_finish() {
  if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
  fi
  echo "all checks passed"
  exit 0
}

ci_require_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "skip: needs root (network namespace, AF_PACKET)"
    exit 77
  fi
  # The profile puts EAL's main thread on lcore 0 and the worker on lcore 1.
  if [ "$(nproc)" -lt 2 ]; then
    echo "skip: needs 2 CPUs (lcores 0 and 1)"
    exit 77
  fi
}

# Skips (exit 77) unless $PY can import grpc and protobuf (python3-grpcio).
ci_require_python_grpc() {
  if ! "$PY" -c 'import grpc, google.protobuf' 2>"$TMP/import.err"; then
    echo "skip: needs python3-grpcio and python3-protobuf: $(tail -n 1 "$TMP/import.err")"
    exit 77
  fi
}

ci_make_namespace() {
  if ! ip netns add "$P-ns" 2>"$TMP/netns.err"; then
    echo "skip: cannot create a network namespace: $(cat "$TMP/netns.err")"
    exit 77
  fi
  NS="$P-ns"
  if ! { ip -n "$NS" link set lo up &&
    ip -n "$NS" link add "$P-a" type veth peer name "$P-b" &&
    ip -n "$NS" link set "$P-a" up &&
    ip -n "$NS" link set "$P-b" up; }; then
    echo "FAIL: cannot set up the veth pair in $NS"
    exit 1
  fi
}

# ci_sluiced_command EAL_PREFIX SOCKET [ARGS...]: CI_COMMAND, the command
# line of sluiced in control-plane mode on this test's state directory and
# audit log, its API on SOCKET, its EAL files under EAL_PREFIX.
ci_sluiced_command() {
  local eal_prefix=$1 socket=$2
  shift 2
  CI_EAL_PREFIXES+=("$eal_prefix")
  CI_COMMAND=(ip netns exec "$NS" "$SLUICED" --profile "$PROFILE"
    --profile-set "port.iface=$P-a" --profile-set "eal.file_prefix=$eal_prefix"
    --profile-set exception.enabled=off --flow-state-dir "$FLOWS"
    --hash-seed "$SEED" --next-hop-mac 02:00:00:00:00:01
    --outer-source-v4 10.78.0.2 --outer-source-v6 2001:db8:78::2
    --state-dir "$STATE" --socket "$socket" --audit-log "$AUDIT" "$@")
}

# ci_start_sluiced LOG [ARGS...]: starts sluiced in the background, its
# output in LOG. `ip netns exec` execs sluiced itself, so SLUICED_PID is
# sluiced's own PID (signals and exit statuses are its own).
ci_start_sluiced() {
  local log=$1
  shift
  ci_sluiced_command "$P-run" "$SOCK" "$@"
  "${CI_COMMAND[@]}" </dev/null >"$log" 2>&1 &
  SLUICED_PID=$!
  CI_LOG=$log
}

# Ready once sluiced logs that its API listens (it publishes the saved
# state and waits for the workers to take it before listening). False when
# it exits first or after SECONDS.
ci_wait_ready() {
  local deadline=$((SECONDS + $1))
  until grep -qF "control API listening on unix:$SOCK" "$CI_LOG" 2>/dev/null; do
    if ! kill -0 "$SLUICED_PID" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
      echo "sluiced did not become ready; its log:"
      sed 's/^/    /' "$CI_LOG"
      return 1
    fi
    sleep 0.05
  done
}

# ci_run COMMAND...: runs COMMAND (a client) and returns its exit status.
# In the background, waited for: a signal to the test is handled at once
# (bash defers traps until a foreground command ends), and the cleanup
# ends the client too. Its temporary files go under TMP, which the cleanup
# removes even when the client had no time to.
ci_run() {
  # Nothing written into the source tree (no __pycache__ beside the scripts).
  TMPDIR="$TMP" PYTHONDONTWRITEBYTECODE=1 "$@" </dev/null &
  CI_CHILD_PID=$!
  wait "$CI_CHILD_PID"
  local rc=$?
  CI_CHILD_PID=""
  return "$rc"
}

# ci_background OUT ERR COMMAND...: starts COMMAND (a client that follows
# sluiced, e.g. `sluicectl events`) in the background, its output in OUT
# and ERR; CI_BG_PID is its PID. The cleanup kills it if it is still there.
ci_background() {
  local out=$1 err=$2
  shift 2
  "$@" </dev/null >"$out" 2>"$err" &
  CI_BG_PID=$!
  CI_BACKGROUND_PIDS+=("$CI_BG_PID")
}

# SIGTERM, then waits up to 10 s: CI_EXIT is sluiced's exit status, or
# "timeout" (it is then killed).
ci_stop_sluiced() {
  CI_EXIT=""
  [ -n "$SLUICED_PID" ] || return 1
  kill -TERM "$SLUICED_PID" 2>/dev/null
  local deadline=$((SECONDS + 10))
  while kill -0 "$SLUICED_PID" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
  if kill -0 "$SLUICED_PID" 2>/dev/null; then
    kill -KILL "$SLUICED_PID" 2>/dev/null
    wait "$SLUICED_PID" 2>/dev/null
    CI_EXIT=timeout
  else
    wait "$SLUICED_PID"
    CI_EXIT=$?
  fi
  SLUICED_PID=""
}
