#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What a flood of non-VIP traffic costs VIP throughput on the DPDK dataplane
# (issue 10, item 4), measured in the namespace lab (tools/lab) with real
# TCP: perf/hardening.md "Host floods and VIP throughput".
#
# VIP traffic: one iperf3 TCP upload from client1 to the VIP (port 5201),
# balanced by sluiced (DPDK, lab profile: worker on CPU 1) to stable1, whose
# iperf3 server answers straight to the client (DSR). Flood: dpdk-testpmd
# --forward-mode=txonly on client2's veth (net_af_packet), 64-byte UDP
# frames as fast as it can send them (the harness's maximum rate), its
# forwarding lcore on CPU 0 so that it never shares the worker's CPU. Three
# phases, each round in a rotated order:
#   none       no flood
#   vip        the flood to the VIP on a port no service has: received by
#              the worker and dropped: what any flood of that rate costs
#   lb         the flood to the lb's own address (10.77.0.2): every frame
#              goes through the worker to the exception path (policer, ring,
#              TAP), the case the issue is about
# Reported per phase: the median iperf3 throughput over the rounds, the
# generator's frames per second, the worker's host counters (to the TAP,
# policed, ring full); then the ratios lb/vip (what a flood costs because it
# is for the host) and lb/none. On this 2-vCPU VM the veth and AF_XDP
# receive path, not the worker, is what a flood at the generator's rate
# saturates (perf/hardening.md "Host floods"). Then, in a flood-to-lb phase, the system
# calls of the worker thread for 3 s (strace -c on that thread only).
#
# Usage: perf/host_flood_lab.sh [--rounds N] [--seconds N] [--build DIR]
#        [--prefix P]
# Needs root, iperf3 and dpdk-testpmd (Debian: iperf3, dpdk), strace, and a
# built tree (default build/). About 25 s per round plus a minute of lab set
# up. Cleans up its lab and the processes it started, by name prefix and PID.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
rounds=3
seconds=5
build="$repo/build"
prefix=hf
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --prefix) prefix=$2; shift 2 ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) echo "host_flood_lab.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "host_flood_lab.sh: needs root" >&2; exit 1; }
for t in iperf3 dpdk-testpmd strace; do
  command -v "$t" >/dev/null || { echo "host_flood_lab.sh: $t not found" >&2; exit 1; }
done

export SLUICE_LAB_PREFIX=$prefix SLUICE_LAB_DATAPLANE=dpdk
export SLUICE_SLUICED="$build/control/daemon/sluiced" SLUICE_SLUICECTL="$build/tools/sluicectl/sluicectl"
export SLUICE_LAB_DECAP_OBJ="$build/ebpf/decap/decap.bpf.o" SLUICE_LAB_XDP_PASS_OBJ="$build/ebpf/xdp_pass.bpf.o"
lab="$repo/tools/lab"
work=$(mktemp -d /tmp/sluice-host-flood.XXXXXX)
gen_pid=""
iperf_pidfile="$work/iperf3.pid"

cleanup() {
  if [ -n "$gen_pid" ]; then kill "$gen_pid" 2>/dev/null || true; wait "$gen_pid" 2>/dev/null || true; fi
  if [ -s "$iperf_pidfile" ]; then kill "$(cat "$iperf_pidfile")" 2>/dev/null || true; fi
  "$lab" down >/dev/null 2>&1 || true
  rm -rf "$work" "/var/run/dpdk/$prefix-floodgen"  # the generator's EAL runtime folder
}
trap cleanup EXIT

cat >"$work/services.json" <<'EOF'
{"services": [{"name": "bulk", "vip": "10.77.100.10", "port": 5201, "protocol": "PROTOCOL_TCP",
  "affinity": "AFFINITY_FLOW", "encapsulation": "ENCAPSULATION_IPIP",
  "pools": [{"name": "stable", "weight": 100, "backends": [{"address": "10.77.0.21"}]}]}]}
EOF

echo "== lab up, sluiced (DPDK) started"
"$lab" up >/dev/null
"$lab" lb-start "$work/services.json" >/dev/null
"$lab" exec stable1 -- iperf3 -s -p 5201 -D --pidfile "$iperf_pidfile"
sleep 1

# The worker's host counters, summed over workers: "to_tap policed ring_full".
host_counters() {
  "$lab" lb-stats | /usr/bin/python3 -c '
import json, sys
w = json.load(sys.stdin)["workers"]
print(sum(x.get("host_tx_packets", 0) for x in w), sum(x.get("host_policed", 0) for x in w),
      sum(x.get("host_ring_full", 0) for x in w))'
}

# Starts the generator toward MAC/IP; its stats go to $work/gen.log.
start_flood() {
  local mac=$1 dst=$2
  ip netns exec "$prefix-client2" dpdk-testpmd --lcores "0@0,1@0" --no-pci --no-huge -m 512 \
    --file-prefix "$prefix-floodgen" --vdev "net_af_packet0,iface=$prefix-client2" -- \
    --forward-mode=txonly --eth-peer="0,$mac" --tx-ip="10.77.0.12,$dst" --txpkts=64 \
    --total-num-mbufs=16384 --stats-period=1 </dev/null >"$work/gen.log" 2>&1 &
  gen_pid=$!
  sleep 2
}

stop_flood() {
  [ -n "$gen_pid" ] || return 0
  kill "$gen_pid" 2>/dev/null || true
  wait "$gen_pid" 2>/dev/null || true
  gen_pid=""
}

# The generator's median Tx-pps over its stats lines.
gen_pps() {
  { grep -o 'Tx-pps: *[0-9]*' "$work/gen.log" || true; } | awk '$2 > 0 {print $2}' | sort -n |
    awk '{a[NR]=$1} END {print NR ? a[int((NR+1)/2)] : 0}'
}

# One iperf3 upload through the VIP; prints Gbit/s (0 when it failed, with
# iperf3's error on stderr).
upload() {
  { "$lab" exec client1 -- iperf3 -c 10.77.100.10 -p 5201 -t "$seconds" -J --connect-timeout 3000 || true; } |
    /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)
s = r.get("end", {}).get("sum_sent")
if s is None:
    print("iperf3: %s" % r.get("error", "no result"), file=sys.stderr)
print("%.3f" % (s["bits_per_second"] / 1e9 if s else 0))'
}

declare -A gbps pps tap policed full
phases=(none vip lb)
for ((r = 0; r < rounds; r++)); do
  for ((k = 0; k < 3; k++)); do
    phase=${phases[$(((k + r) % 3))]}
    : >"$work/gen.log"
    case $phase in
      vip) start_flood 02:5c:00:00:00:02 10.77.100.10 ;;
      lb) start_flood 02:5c:00:00:00:02 10.77.0.2 ;;
    esac
    read -r t0 p0 f0 < <(host_counters)
    g=$(upload)
    read -r t1 p1 f1 < <(host_counters)
    rate=$(gen_pps)
    stop_flood
    gbps[$phase]+="$g "
    pps[$phase]+="$rate "
    tap[$phase]=$((${tap[$phase]:-0} + t1 - t0))
    policed[$phase]=$((${policed[$phase]:-0} + p1 - p0))
    full[$phase]=$((${full[$phase]:-0} + f1 - f0))
    printf 'round %d %-9s VIP %s Gbit/s, flood %s frames/s\n' "$((r + 1))" "$phase" "$g" "$rate"
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print NR ? a[int((NR+1)/2)] : 0}'; }
echo
echo "== medians over $rounds rounds of $seconds s"
printf '%-10s %12s %14s %12s %12s %12s\n' phase "VIP Gbit/s" "flood fr/s" "to TAP" policed "ring full"
for phase in "${phases[@]}"; do
  m=$(echo "${gbps[$phase]}" | median)
  eval "med_$phase=$m"
  printf '%-10s %12s %14s %12s %12s %12s\n' "$phase" "$m" "$(echo "${pps[$phase]}" | median)" \
    "${tap[$phase]}" "${policed[$phase]}" "${full[$phase]}"
done
/usr/bin/python3 -c "
n, v, l = $med_none, $med_vip, $med_lb
print('VIP throughput, flood to the lb / flood to a VIP port: %.3f' % (l / v) if v else 'flood to a VIP port: no throughput (the receive path saturated)')
print('VIP throughput, flood to the lb / no flood:            %.3f (cost %.1f%%)' % (l / n, 100 * (1 - l / n)) if n else 'no data')"

echo
echo "== system calls of the worker thread during 3 s of flood to the lb"
pid=$(cat "${SLUICE_LAB_STATE_BASE:-/run/sluice-lab}/$prefix/sluiced.pid" 2>/dev/null || true)
tid=""
for t in /proc/"$pid"/task/*; do
  case "$(cat "$t/comm" 2>/dev/null)" in *worker*) tid=${t##*/}; break ;; esac
done
if [ -n "$tid" ]; then
  start_flood 02:5c:00:00:00:02 10.77.0.2
  timeout -s INT 3 strace -c -p "$tid" -o "$work/strace.txt" >/dev/null 2>&1 || true
  stop_flood
  echo "worker thread $tid ($(cat /proc/"$pid"/task/"$tid"/comm)):"
  cat "$work/strace.txt" 2>/dev/null || echo "(strace printed nothing)"
else
  echo "no worker thread found in sluiced ($pid)"
fi
