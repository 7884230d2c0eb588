#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# sluiced from the outside, as an operator meets it.
#
#   sluiced_cli_test.sh PATH_TO_SLUICED     (meson passes the built one)
#
# 1. Mistakes refused with exit 2 and a message naming the option, the
#    profile's section.key or the services file's field path, before DPDK
#    starts: options, profiles, --profile-set, services files, hugepages.
# 2. As root, in a network namespace of its own (veth pair, net_af_packet,
#    no hugepages): a profile naming a port that does not exist (exit 1), and
#    a real start: stats file, SIGHUP reload to generation 2, a refused
#    reload that keeps generation 2, SIGTERM -> exit 0.
#
# Without root part 1 still runs; the script then exits 77 (skipped). All it
# creates is named after "sd<pid>" and removed on every exit path; the only
# process it signals is the sluiced it started.
set -u

SLUICED=${1:?usage: sluiced_cli_test.sh PATH_TO_SLUICED}
ROOT=${SLUICE_SOURCE_ROOT:-$(cd "$(dirname "$0")/../../.." && pwd)}
PROFILES="$ROOT/hardware-profiles"
PY=/usr/bin/python3
SEED=00112233445566778899aabbccddeeff
P="sd$$"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluiced-cli-test.XXXXXX")
NS=""
PID=""
failures=0

cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill -KILL "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
  fi
  if [ -n "$NS" ]; then ip netns del "$NS" 2>/dev/null; fi
  rm -rf "$TMP"
  rm -rf "/var/run/dpdk/$P-run" "/var/run/dpdk/$P-port" 2>/dev/null
  # sluiced's DPDK flow state files (default --flow-state-dir, named by the port).
  rm -rf "/dev/shm/sluice-flows-$P-"* 2>/dev/null
  # sluiced's ownership lock files (control/daemon/interface_lock.h) of our veth.
  rm -f /run/sluice/locks/*[-_]"$P-a" 2>/dev/null
  # The record of addresses moved onto a DPDK sluiced's TAP, if one was killed.
  rm -f "/run/sluice/exception-$P-tap.addresses" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# shellcheck source=tests/control/checks.sh
source "$(dirname "$0")/../checks.sh"

# refused NAME PATTERN ARGS...: sluiced ARGS exits 2 naming PATTERN, and
# says so before DPDK starts (no EAL output).
refused() {
  local name=$1 pattern=$2
  shift 2
  check "$name" 2 "$pattern" "$SLUICED" "$@" || return 1
  if grep -qE '^(EAL|TELEMETRY)' "$TMP/out"; then
    fail "$name: DPDK started before the error was found:"
    sed 's/^/    /' "$TMP/out"
  fi
}

# The services file: web on 10.77.100.10:80, stable (weight $1) and canary
# (10); $2 replaces the first backend's address.
services() {
  cat <<EOF
{
  "services": [
    {
      "name": "web",
      "vip": "10.77.100.10",
      "port": 80,
      "protocol": "PROTOCOL_TCP",
      "pools": [
        { "name": "stable", "weight": ${1:-90},
          "backends": [ { "address": "${2:-10.77.0.21}" }, { "address": "10.77.0.22" } ] },
        { "name": "canary", "weight": 10, "backends": [ { "address": "10.77.0.31" } ] }
      ]
    }
  ]
}
EOF
}

# A small valid profile for one worker on net_af_packet0 over $1, without
# hugepages, with EAL files under prefix $2; extra lines follow in $3.
profile() {
  cat <<EOF
[profile]
description = sluiced_cli_test
[eal]
main_lcore = 0
worker_lcores = 1
hugepages = none
memory_mb = 256
file_prefix = $2
vdev = net_af_packet0,iface={iface},qpairs=1
$3
[port]
device = net_af_packet0
iface = $1
rx_queues = 1
rss = off
[mempool]
mbufs = 4095
[exception]
enabled = off
EOF
}

LAB="$PROFILES/lab-af-packet.ini"
# port.iface named after this test: a refusal that comes after sluiced
# took its interface lock leaves a lock file of our name (cleaned up
# above), never one of the profile's default veth-lb.
BASE=(--profile "$LAB" --profile-set "port.iface=$P-a" --hash-seed "$SEED")

# --- 1. Refusals before DPDK starts (no root needed) ---

check "--help" 0 "Usage: sluiced --profile FILE --hash-seed HEX" "$SLUICED" --help
check "--version" 0 "sluiced 0.1.0" "$SLUICED" --version
refused "no arguments" "sluiced: --profile is required with --dataplane dpdk"
refused "no hash seed" "--hash-seed (or --hash-seed-file) is required" --profile "$LAB"
refused "short hash seed" '--hash-seed: expected 32 hex digits, got "1234"' --profile "$LAB" --hash-seed 1234
refused "bad next-hop MAC" '--next-hop-mac: "02:00:00:00:01" is not a MAC address' \
  "${BASE[@]}" --next-hop-mac 02:00:00:00:01
refused "IPv6 outer source v4" '--outer-source-v4: "2001:db8::1" is not an IPv4 address' \
  "${BASE[@]}" --outer-source-v4 2001:db8::1
refused "unknown option" "--frobnicate" "${BASE[@]}" --frobnicate
refused "unknown dataplane" '--dataplane: "vpp" is neither dpdk nor xdp' "${BASE[@]}" --dataplane vpp
refused "xdp with a DPDK profile" '--profile and --profile-set configure DPDK' "${BASE[@]}" --dataplane xdp --xdp-interface lo
refused "xdp without interface" '--dataplane xdp needs --xdp-interface' --dataplane xdp --hash-seed "$SEED"
refused "xdp interface that does not exist" '--xdp-interface sxnosuch0: no such interface' \
  --dataplane xdp --xdp-interface sxnosuch0 --hash-seed "$SEED"
refused "unknown log level" '--log-level: "loud"' "${BASE[@]}" --log-level loud
refused "missing --config" "--config: cannot read $TMP/absent.conf" --config "$TMP/absent.conf"
refused "profile-set without =" '--profile-set: "port.mtu" is not section.key=value' \
  "${BASE[@]}" --profile-set port.mtu

refused "missing profile" "$TMP/absent.ini: cannot open" --profile "$TMP/absent.ini" --hash-seed "$SEED"
profile veth0 "$P-x" "" | sed 's/^rx_queues = 1$/rx_queues = 0/' >"$TMP/bad-queues.ini"
refused "profile value out of range" "$TMP/bad-queues.ini: port.rx_queues: 0 is out of range 1..64" \
  --profile "$TMP/bad-queues.ini" --hash-seed "$SEED"
{ profile veth0 "$P-x" ""; echo "speed = 100G"; } >"$TMP/bad-key.ini"
refused "profile unknown key" "$TMP/bad-key.ini: exception.speed: unknown key" \
  --profile "$TMP/bad-key.ini" --hash-seed "$SEED"
profile veth0 "$P-x" "" | sed 's/^worker_lcores = 1$/worker_lcores = 1,2/' >"$TMP/bad-lcores.ini"
refused "profile lcores for queues" "eal.worker_lcores: 2 lcore(s) for 1 RX queue(s)" \
  --profile "$TMP/bad-lcores.ini" --hash-seed "$SEED"
refused "profile-set out of range" "--profile-set: port.mtu: 99999 is out of range 1280..9600" \
  "${BASE[@]}" --profile-set port.mtu=99999
refused "profile-set unknown key" "--profile-set: port.speed: unknown key" \
  "${BASE[@]}" --profile-set port.speed=100G

services 90 10.77.0.300 >"$TMP/bad-address.json"
refused "services bad address" \
  "$TMP/bad-address.json: services[0].pools[0].backends[0].address" \
  "${BASE[@]}" --services "$TMP/bad-address.json" --next-hop-mac 02:00:00:00:00:01
not_in_output "services path named once" "$TMP/bad-address.json: $TMP/bad-address.json"
services 90 | sed 's/"port": 80,/"port": 80,,/' >"$TMP/bad-syntax.json"
refused "services syntax error" "$TMP/bad-syntax.json: line 6, column 18: expected a quoted key" \
  "${BASE[@]}" --services "$TMP/bad-syntax.json" --next-hop-mac 02:00:00:00:00:01
services 90 | sed 's/"weight": 10,/"weight": 10, "wieght": 5,/' >"$TMP/bad-field.json"
refused "services unknown field" "$TMP/bad-field.json: services[0].pools[1].wieght: unknown field" \
  "${BASE[@]}" --services "$TMP/bad-field.json" --next-hop-mac 02:00:00:00:00:01
refused "services missing file" "$TMP/absent.json: cannot open" \
  "${BASE[@]}" --services "$TMP/absent.json" --next-hop-mac 02:00:00:00:00:01
services 90 >"$TMP/services.json"
refused "services without next-hop MAC" "--next-hop-mac is required to forward to backends" \
  "${BASE[@]}" --services "$TMP/services.json"

# JSON logs: each line sluiced writes is one JSON object; the error names the field.
if check "json log format" 2 '"level":"error"' "$SLUICED" "${BASE[@]}" --log-format json \
  --services "$TMP/bad-address.json" --next-hop-mac 02:00:00:00:00:01; then
  if ! $PY - "$TMP/out" <<'EOF'; then
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
assert lines, "no log lines"
for line in lines:
    record = json.loads(line)
    assert set(record) == {"time", "level", "logger", "msg"}, record
    assert record["logger"] == "sluiced", record
assert any(r["level"] == "error" and "services[0].pools[0].backends[0].address" in r["msg"]
           for r in map(json.loads, lines)), lines
EOF
    fail "json log format: lines are not JSON objects naming the field:"
    sed 's/^/    /' "$TMP/out"
  fi
fi

# Hugepages: only meaningful where none are free.
FREE_HUGEPAGES=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0)
if [ "$FREE_HUGEPAGES" = 0 ]; then
  refused "hugepages required, none free" "requires hugepages but none are free" \
    --profile "$PROFILES/lab-af-packet-hugepages.ini" --hash-seed "$SEED"
else
  echo "skip: hugepages required (this machine has $FREE_HUGEPAGES free 2 MB pages)"
fi

# --- 2. As root, in a namespace of its own ---

if [ "$(id -u)" -ne 0 ]; then
  echo "skip: the namespace cases need root"
  [ "$failures" -eq 0 ] || exit 1
  exit 77
fi
if [ "$(nproc)" -lt 2 ]; then
  echo "skip: the namespace cases need 2 CPUs (lcores 0 and 1)"
  [ "$failures" -eq 0 ] || exit 1
  exit 77
fi
if ! ip netns add "$P-ns" 2>"$TMP/out"; then
  echo "skip: cannot create a network namespace: $(cat "$TMP/out")"
  [ "$failures" -eq 0 ] || exit 1
  exit 77
fi
NS="$P-ns"
ip -n "$NS" link set lo up
ip -n "$NS" link add "$P-a" type veth peer name "$P-b"
ip -n "$NS" link set "$P-a" up
ip -n "$NS" link set "$P-b" up

# A profile whose port.device is a vdev that cannot probe (its interface
# does not exist): EAL starts, the port is not there.
profile "$P-a" "$P-port" "vdev = net_af_packet1,iface=$P-gone,qpairs=1" |
  sed 's/^device = net_af_packet0$/device = net_af_packet1/' >"$TMP/wrong-port.ini"
check "no such port" 1 'port.device: no DPDK port named "net_af_packet1" (ports found: net_af_packet0)' \
  ip netns exec "$NS" "$SLUICED" --profile "$TMP/wrong-port.ini" --hash-seed "$SEED"
rm -rf "/var/run/dpdk/$P-port"

# XDP with the default pin folder under `ip netns exec`: /sys is remounted
# there, hiding the host's /sys/fs/bpf, and a bpffs sluiced mounted itself
# would vanish when it exits, pins and all (the next start would replace
# the program instead of adopting it): refused, with the fix.
check "xdp pins under ip netns exec" 1 "and sluiced will not mount one" \
  ip netns exec "$NS" "$SLUICED" --dataplane xdp --xdp-interface "$P-a" --hash-seed "$SEED" \
  --state-dir "$TMP/xdp-state" --socket "$TMP/xdp.sock" --next-hop-mac 02:00:00:00:00:01 \
  --outer-source-v4 10.77.0.2
not_in_output "xdp pins under ip netns exec" "attached"

# stats EXPR: EXPR over the stats file's JSON as `d`, printed; fails while
# the file is absent or not valid JSON.
stats() {
  $PY -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
    "$TMP/stats.json" "$1" 2>/dev/null
}

# wait_for SECONDS COMMAND...: polls COMMAND until it succeeds; false on
# timeout or when sluiced died.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    if ! kill -0 "$PID" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then return 1; fi
    sleep 0.1
  done
}

stats_is() { [ "$(stats "$1")" = "$2" ]; }
logged() { grep -qF -- "$1" "$TMP/daemon.log"; }

# Replaces the services file in one rename, as an editor or a deploy would.
write_services() {
  services "$@" >"$TMP/services.json.new" && mv "$TMP/services.json.new" "$TMP/services.json"
}

daemon_failed() {
  fail "$1; sluiced's log:"
  sed 's/^/    /' "$TMP/daemon.log"
}

write_services 90
ip netns exec "$NS" "$SLUICED" --profile "$LAB" --profile-set "port.iface=$P-a" \
  --profile-set "eal.file_prefix=$P-run" --profile-set "exception.interface=$P-tap" \
  --hash-seed "$SEED" --services "$TMP/services.json" --next-hop-mac 02:00:00:00:00:01 \
  --outer-source-v4 10.77.0.2 --stats-file "$TMP/stats.json" --stats-interval-ms 100 \
  </dev/null >"$TMP/daemon.log" 2>&1 &
PID=$!

if ! wait_for 30 stats_is "d['generation'], [w['generation'] for w in d['workers']]" "(1, [1])"; then
  daemon_failed "start: no stats file with generation 1 on every worker"
elif ! stats_is "d['services'][0]['name'], [(p['name'], p['weight']) for p in d['services'][0]['pools']]" \
  "('web', [('stable', 90), ('canary', 10)])"; then
  fail "start: stats do not show web with stable 90 / canary 10: $(cat "$TMP/stats.json")"
else
  echo "ok: start (stats file, generation 1)"
  logged "generation 1 applied on all 1 worker(s)" || daemon_failed "start: no 'generation 1 applied' line"

  write_services 50
  kill -HUP "$PID"
  if wait_for 10 stats_is "d['generation'], [w['generation'] for w in d['workers']], [p['weight'] for p in d['services'][0]['pools']]" \
    "(2, [2], [50, 10])"; then
    echo "ok: SIGHUP reload (generation 2, stable 50)"
  else
    daemon_failed "SIGHUP reload: stats never showed generation 2 with weight 50 ($(cat "$TMP/stats.json"))"
  fi

  write_services 70 10.77.0.300
  kill -HUP "$PID"
  if ! wait_for 10 logged "reload refused; generation 2 stays in force"; then
    daemon_failed "refused reload: no 'reload refused' line"
  elif ! logged "$TMP/services.json: services[0].pools[0].backends[0].address"; then
    daemon_failed "refused reload: the error does not name the field"
  else
    # Still running, still generation 2, and still writing stats.
    uptime=$(stats "d['uptime_ms']")
    if ! kill -0 "$PID" 2>/dev/null; then
      daemon_failed "refused reload: sluiced exited"
    elif ! wait_for 5 stats_is "d['uptime_ms'] > ${uptime:-0}, d['generation'], [p['weight'] for p in d['services'][0]['pools']]" \
      "(True, 2, [50, 10])"; then
      daemon_failed "refused reload: stats no longer show generation 2 ($(cat "$TMP/stats.json"))"
    else
      echo "ok: refused reload keeps generation 2"
    fi
  fi
fi

if kill -0 "$PID" 2>/dev/null; then
  kill -TERM "$PID"
  deadline=$((SECONDS + 5))
  while kill -0 "$PID" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
  if kill -0 "$PID" 2>/dev/null; then
    daemon_failed "SIGTERM: still running after 5 s"
  else
    wait "$PID"
    rc=$?
    PID=""
    if [ "$rc" -ne 0 ]; then
      daemon_failed "SIGTERM: exit $rc (wanted 0)"
    elif ! logged "stopped:"; then
      daemon_failed "SIGTERM: no 'stopped:' line"
    else
      echo "ok: SIGTERM -> exit 0"
    fi
  fi
else
  wait "$PID"
  daemon_failed "sluiced exited early (exit $?)"
  PID=""
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"
