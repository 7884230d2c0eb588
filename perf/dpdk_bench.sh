#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Mpps of one sluice DPDK worker core next to dpdk-testpmd io forwarding,
# on the same harness, in the same run, as a ratio (perf/README.md).
#
# Harness: one net_pcap vdev that replays a capture of pre-built 60-byte
# frames forever (infinite_rx=1) and drops what is sent back to it (no tx
# argument: the PMD's tx_drop). Both programs run on the same two lcores
# (main 0, worker 1), with the same mbuf pool (data room 256, cache 256,
# frames + 32768 mbufs), burst 32, --no-huge.
#
#   testpmd: --forward-mode=io --port-topology=loop on the one port
#   sluice:  perf/dpdk_bench run: the real worker_main (worker_loop.cc), a
#            real engine Worker, the bench Snapshot published through RCU
#
# Scenarios (captures written by `dpdk_bench gen`; flows of the bench
# configuration, perf/bench_traffic.h):
#   established  ACKs of 1,048,576 established flows in random order (one
#                per flow per pass); sluice first sends every flow's SYN and
#                first ACK through its engine; flow table 2M entries
#   new          1,048,576 SYNs of distinct flows, flow table 256K entries:
#                4 flows per entry and pass, so each SYN's earlier self has
#                been evicted when the replay comes back to it (the counters
#                printed by sluice show hits 0, new flows 100%)
#   hot          established, with 65,536 flows and a 128K-entry table: the
#                capture and the table mostly fit in cache
#   hostflood    hot's ACKs, each followed by a UDP frame from a random source
#                to the appliance's own address, with the real exception path
#                (--exception: rings, per-worker policer at its default,
#                exception thread; a net_ring port as the TAP); sluice only
#   dropflood    the same with the flood to a VIP port no service has
#                (dropped by the engine): what any flood of that rate costs;
#                sluice only. The summary compares VIP Mpps of the three.
#
# Each program is sampled from outside, identically, once a second: the
# port counters through the DPDK telemetry socket, and the CPU time of the
# worker thread (rte-worker-1) from /proc. Mpps are reported per wall
# second and per second of CPU the worker thread actually got: on a shared
# machine the second is the fair comparison (see README.md). Each result
# line also shows the hypervisor's steal time on CPU 1 (a share of the
# wall time) and the range of the per-second rates.
#
# Usage: perf/dpdk_bench.sh [--bench PATH] [--testpmd PATH] [--seconds N]
#            [--warmup N] [--rounds N]
#            [--scenarios "established new hot hostflood dropflood"]
#            [--workdir DIR] [--eal "MORE EAL ARGS"] [--memory "EAL ARGS"]
# (--eal "-d DIR" loads PMDs from DIR where DPDK is not installed;
# --memory replaces "--no-huge -m 1024", e.g. "-m 1024" with hugepages.)
# About 110 s with the defaults. Needs root (DPDK's runtime directory).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bench="$here/../build-perf/perf/dpdk_bench"
testpmd=$(command -v dpdk-testpmd || true)
seconds=5      # sampled seconds per program and scenario
warmup=1       # seconds of forwarding before sampling starts
rounds=2       # testpmd and sluice alternate who goes first
scenarios="established new hot"
workdir=/tmp/sluice-dpdk-bench
eal_extra=""
eal_memory="--no-huge -m 1024"

while [ $# -gt 0 ]; do
  case "$1" in
    --bench) bench=$2; shift 2 ;;
    --testpmd) testpmd=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --scenarios) scenarios=$2; shift 2 ;;
    --workdir) workdir=$2; shift 2 ;;
    --eal) eal_extra=$2; shift 2 ;;
    --memory) eal_memory=$2; shift 2 ;;
    -h|--help) sed -n '2,49p' "$0"; exit 0 ;;
    *) echo "dpdk_bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ ! -x "$bench" ]; then
  echo "dpdk_bench.sh: no $bench (build perf/dpdk_bench, or give --bench)" >&2; exit 1
fi
if [ -z "$testpmd" ] || [ ! -x "$testpmd" ]; then
  echo "dpdk_bench.sh: dpdk-testpmd not found (Debian: dpdk)" >&2; exit 1
fi
mkdir -p "$workdir"

# scenario -> "kind frames flow-capacity warm" (warm: send SYN+ACK first)
declare -A scenario_spec=(
  [established]="established 1048576 2097152 yes"
  [new]="new 1048576 262144 no"
  [hot]="established 65536 131072 yes"
  [hostflood]="flood-host 65536 131072 yes"
  [dropflood]="flood-drop 65536 131072 yes"
)
for s in $scenarios; do
  [ -n "${scenario_spec[$s]:-}" ] || { echo "dpdk_bench.sh: unknown scenario $s" >&2; exit 2; }
  read -r kind frames capacity _ <<< "${scenario_spec[$s]}"
  if [ "$kind" = established ]; then
    "$bench" gen established "$workdir/$s.pcap" "$frames" "$capacity"
  elif [ "${kind#flood-}" != "$kind" ]; then
    "$bench" gen flood "$workdir/$s.pcap" "${kind#flood-}" "$frames" "$capacity"
  else
    "$bench" gen new "$workdir/$s.pcap" "$frames"
  fi
done

echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# One program on the harness: start it, wait until it forwards, sample it,
# stop it with SIGINT, print one "result" line. Args: side scenario argv...
measure() {
  python3 - "$seconds" "$warmup" "$workdir" "$@" <<'PY'
import glob, json, os, signal, socket, subprocess, sys, time

seconds, warmup, workdir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
side, scenario, prefix = sys.argv[4], sys.argv[5], sys.argv[6]
argv = sys.argv[7:]
log_path = f"{workdir}/{side}-{scenario}.log"
log = open(log_path, "w")
proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

def fail(why):
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    tail = open(log_path).read()[-3000:]
    sys.exit(f"{side} {scenario}: {why}\n--- {log_path} ---\n{tail}")

def alive():
    if proc.poll() is not None:
        fail(f"exited early with status {proc.returncode}")

# The telemetry socket appears once the EAL is up; the port once probed.
path = f"/var/run/dpdk/{prefix}/dpdk_telemetry.v2"
deadline = time.monotonic() + 60
while not os.path.exists(path):
    alive()
    if time.monotonic() > deadline:
        fail("no telemetry socket")
    time.sleep(0.1)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
sock.connect(path)
sock.recv(4096)

def packets():
    sock.send(b"/ethdev/stats,0")
    reply = json.loads(sock.recv(1 << 16))["/ethdev/stats"]
    return reply["opackets"] if isinstance(reply, dict) else 0

def worker_cpu_ns():
    for task in glob.glob(f"/proc/{proc.pid}/task/*"):
        try:
            if open(f"{task}/comm").read().strip() == "rte-worker-1":
                return int(open(f"{task}/schedstat").read().split()[0])
        except OSError:
            pass
    fail("no rte-worker-1 thread")

while packets() == 0:          # pcap load and (sluice) warm-up
    alive()
    if time.monotonic() > deadline:
        fail("never forwarded")
    time.sleep(0.1)
def steal_ticks():  # time the hypervisor gave CPU 1 to someone else
    for line in open("/proc/stat"):
        if line.startswith("cpu1 "):
            return int(line.split()[8])
    return 0

time.sleep(warmup)
samples = []
for _ in range(seconds + 1):
    samples.append((time.monotonic(), packets(), worker_cpu_ns(), steal_ticks()))
    time.sleep(1)
proc.send_signal(signal.SIGINT)
try:
    proc.wait(timeout=30)
except subprocess.TimeoutExpired:
    fail("did not stop on SIGINT")

(t0, p0, c0, s0), (t1, p1, c1, s1) = samples[0], samples[-1]
wall = (p1 - p0) / (t1 - t0) / 1e6
cpu = (p1 - p0) / ((c1 - c0) / 1e9) / 1e6
share = (c1 - c0) / 1e9 / (t1 - t0)
steal = (s1 - s0) / os.sysconf("SC_CLK_TCK") / (t1 - t0)
per_second = [(b[1] - a[1]) / (max(b[2] - a[2], 1) / 1e9) / 1e6
              for a, b in zip(samples, samples[1:])]
print(f"result {side} {scenario} wall_mpps={wall:.3f} cpu_mpps={cpu:.3f} cpu_share={share:.2f} "
      f"steal={steal:.2f} cpu_mpps_range={min(per_second):.2f}-{max(per_second):.2f}")
for line in open(log_path):
    if line.startswith(("engine:", "warm-up:")):
        print(f"  {side} {scenario} {line.strip()}")
PY
}

eal_args() {  # prefix pcap
  echo "-l 0,1 $eal_memory --file-prefix $1 --no-pci" \
       "--vdev net_pcap0,rx_pcap=$2,infinite_rx=1 $eal_extra"
}

run_one() {  # scenario side
  local kind frames capacity warm pcap="$workdir/$1.pcap"
  read -r kind frames capacity warm <<< "${scenario_spec[$1]}"
  # infinite_rx keeps every frame of the capture in an mbuf of the pool
  # (a flood capture has two frames per flow).
  local mbufs=$(( 2 * frames + 32768 ))
  local flood=no
  [ "${kind#flood-}" != "$kind" ] && flood=yes
  if [ "$2" = testpmd ] && [ "$flood" = yes ]; then
    return 0  # sluice forwards only the VIP half: compared with hot instead
  elif [ "$2" = testpmd ]; then
    # shellcheck disable=SC2046
    measure testpmd "$1" sluice-bench-tp "$testpmd" $(eal_args sluice-bench-tp "$pcap") -- \
      --forward-mode=io --port-topology=loop --nb-cores=1 --rxq=1 --txq=1 --burst=32 \
      --mbuf-size=256 --total-num-mbufs=$mbufs --mbcache=256 --stats-period=1
  else
    local extra=()
    [ "$warm" = yes ] && extra=(--warm-pcap "$pcap")
    [ "$flood" = yes ] && extra+=(--exception)
    # shellcheck disable=SC2046
    measure sluice "$1" sluice-bench-sl "$bench" run $(eal_args sluice-bench-sl "$pcap") -- \
      "${extra[@]}" --flow-capacity "$capacity" --mbufs $mbufs --mbuf-size 256 \
      --mbuf-cache 256 --burst 32 --seconds 100000
  fi
}

results="$workdir/results.txt"
: > "$results"
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) -eq 1 ]; then order="testpmd sluice"; else order="sluice testpmd"; fi
  for s in $scenarios; do
    for side in $order; do
      run_one "$s" "$side" | tee -a "$results"
    done
  done
done

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
# Medians over rounds, then the ratio sluice / testpmd.
# shellcheck disable=SC2086  # one argument per scenario
python3 - "$results" $scenarios <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    if not line.startswith("result "):
        continue
    _, side, scenario, *kv = line.split()
    v = dict(x.split("=") for x in kv)
    rows.setdefault((side, scenario), []).append(v)
def med(side, scenario, key):
    return statistics.median(float(v[key]) for v in rows[(side, scenario)])
print()
print(f"{'scenario':<12} {'':>4} {'testpmd io':>11} {'sluice':>9} {'ratio':>7} "
      f"{'extra ns/pkt':>13}")
for scenario in sys.argv[2:]:
    if ("testpmd", scenario) not in rows:
        continue
    for key in ("cpu_mpps", "wall_mpps"):
        t, s = med("testpmd", scenario, key), med("sluice", scenario, key)
        print(f"{scenario:<12} {key[:-5]:>4} {t:>11.2f} {s:>9.2f} "
              f"{s / t:>7.3f} {1e3 / s - 1e3 / t:>13.1f}")
print("Mpps. cpu: per second of CPU time the worker thread got; wall: per elapsed second.")
print("ratio = sluice / testpmd; extra ns/pkt = 1/sluice - 1/testpmd (the engine and")
print("worker-loop cost above io forwarding). Medians over rounds.")
floods = [s for s in ("dropflood", "hostflood") if ("sluice", s) in rows]
if floods and ("sluice", "hot") in rows:
    hot = med("sluice", "hot", "cpu_mpps")
    print()
    print("Floods (one flood frame after every VIP frame; Mpps of VIP frames forwarded per")
    print("CPU-second of the worker; ns/flood frame = 1/flood - 1/hot):")
    print(f"  hot (no flood)  {hot:6.2f}")
    for s in floods:
        v = med("sluice", s, "cpu_mpps")
        print(f"  {s:<15} {v:6.2f}  VIP share {v / hot:.3f}  {1e3 / v - 1e3 / hot:6.1f} ns/flood frame")
    if len(floods) == 2:
        d, h = (med("sluice", s, "cpu_mpps") for s in floods)
        print(f"  hostflood / dropflood: {h / d:.3f} (1.0: a frame for the host costs the worker"
              " what a dropped one costs)")
PY
