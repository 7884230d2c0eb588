#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# sluiced's control plane from the outside, through sluicectl, as an
# operator meets it:
#
#   control_plane_test.sh PATH_TO_SLUICED PATH_TO_SLUICECTL   (meson passes the built ones)
#
# A real sluiced (--state-dir, --socket, --audit-log) on net_af_packet over a
# veth pair in a network namespace of its own, without hugepages:
#  1. apply -f (two services, two revisions) with --wait; get services and
#     describe; set-weights with --wait; compare-and-set (a stale
#     --expect-revision is refused with FAILED_PRECONDITION, a current one
#     accepted); invalid input refused with exit 1 naming the field, the
#     state unchanged; dry runs change nothing; the socket is mode 0660; the
#     audit log holds one JSON line per mutation sluiced decided on.
#     stats: frames sent into the port show up as traffic of web by pool
#     and backend (table, -o json, --service, --watch rates, errors);
#     events: a follower started first (--since 0, -o json) saw every
#     change in order, each acknowledged by the worker; the table form,
#     --since, a start beyond the next event refused.
#  2. SIGTERM and a restart on the same state directory: same revision,
#     same services, and revisions go on from there; the events follower
#     ends cleanly with the stream.
#  3. A second sluiced on the same port, or on the same state directory,
#     is refused while the first runs.
#  4. A corrupt state.json (garbage, empty, no revision, a bad address)
#     refuses the start with exit 2 naming the file, before DPDK starts, and
#     the file is left byte for byte; restored, sluiced starts on it.
#
# Needs root (exit 77 otherwise).
set -u

SLUICED=${1:?usage: control_plane_test.sh PATH_TO_SLUICED PATH_TO_SLUICECTL}
SLUICECTL=${2:?usage: control_plane_test.sh PATH_TO_SLUICED PATH_TO_SLUICECTL}
# shellcheck source=tests/control/integration/lib.sh source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
ci_init "cp$$" "$SLUICED"
ci_require_root
ci_make_namespace
export SLUICECTL_SOCKET="$SOCK"

# ctl NAME WANTED_EXIT PATTERN ARGS...: check, on sluicectl ARGS.
ctl() {
  local name=$1 want=$2 pattern=$3
  shift 3
  check "$name" "$want" "$pattern" "$SLUICECTL" "$@"
}

# json EXPR ARGS...: EXPR over the JSON that `sluicectl -o json ARGS` prints
# (as `d`; svc(NAME) is the service NAME of a list), printed with repr()
# (uint64 fields are JSON strings: '2'); empty when the command fails.
json() {
  local expr=$1
  shift
  "$SLUICECTL" -o json "$@" 2>/dev/null | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
svc = lambda name: next(s for s in d["services"] if s["name"] == name)
print(repr(eval(sys.argv[1])))' "$expr" 2>/dev/null
}

# expect_json NAME EXPR WANTED ARGS...: json EXPR ARGS prints WANTED.
expect_json() {
  local name=$1 expr=$2 want=$3
  shift 3
  local got
  got=$(json "$expr" "$@")
  if [ "$got" != "$want" ]; then
    fail "$name: $expr of \`sluicectl -o json $*\` is \"$got\", wanted \"$want\""
    return 1
  fi
  echo "ok: $name"
}

revision() {
  "$SLUICECTL" -o json status 2>/dev/null |
    "$PY" -c 'import json, sys; print(json.load(sys.stdin)["revision"])' 2>/dev/null
}
services_json() { "$SLUICECTL" -o json get services 2>&1; }

daemon_failed() {
  fail "$1; sluiced's log:"
  sed 's/^/    /' "$CI_LOG"
}

# The services: web (stable 90 / canary 10, client-address affinity) and
# api (blue 1 / green 0, every optional field left out).
cat >"$TMP/services.json" <<'EOF'
{
  "services": [
    {
      "name": "web",
      "vip": "10.78.100.10",
      "port": 80,
      "protocol": "PROTOCOL_TCP",
      "affinity": "AFFINITY_CLIENT_ADDRESS",
      "encapsulation": "ENCAPSULATION_IPIP",
      "pools": [
        { "name": "stable", "weight": 90,
          "backends": [ { "address": "10.78.0.21" }, { "address": "10.78.0.22" } ] },
        { "name": "canary", "weight": 10,
          "backends": [ { "address": "10.78.0.31" }, { "address": "10.78.0.32", "weight": 3 } ] }
      ],
      "fallback_pool": "stable"
    },
    {
      "name": "api",
      "vip": "10.78.100.11",
      "port": 443,
      "pools": [
        { "name": "blue", "weight": 1, "backends": [ { "address": "10.78.0.41" } ] },
        { "name": "green", "weight": 0, "backends": [ { "address": "10.78.0.51" } ] }
      ]
    }
  ]
}
EOF

# --- 1. A fresh state directory: changes through sluicectl ---

ci_start_sluiced "$TMP/daemon1.log"
if ! ci_wait_ready 30; then
  fail "start on a fresh state directory"
  ci_finish
fi
echo "ok: sluiced listens on a fresh state directory"

# Follows every event from the first on, through the whole of section 1.
ci_background "$TMP/events.jsonl" "$TMP/events.err" "$SLUICECTL" -o json events --since 0
EVENTS_PID=$CI_BG_PID

expect_json "fresh state: revision 0, no services" "d['revision'], d['services']" "('0', [])" get services

# The socket: a socket, mode 0660 (anyone in sluiced's group may change the
# configuration, nobody else may connect). The state files: 0640, 0750.
if [ "$(stat -c '%F %a' "$SOCK")" = "socket 660" ]; then
  echo "ok: socket mode 0660"
else
  fail "socket: $(stat -c '%F %a' "$SOCK"), wanted \"socket 660\""
fi
if [ "$(stat -c '%a' "$STATE")" = 750 ]; then
  echo "ok: state directory mode 0750"
else
  fail "state directory mode $(stat -c '%a' "$STATE"), wanted 750"
fi

if ctl "apply -f --wait" 0 "service/api applied (revision 2, applied on every worker)" \
  apply -f "$TMP/services.json" --wait=10; then
  grep -qF "service/web applied (revision 1, applied on every worker)" "$TMP/out" ||
    fail "apply -f: web not applied as revision 1: $(cat "$TMP/out")"
fi
expect_json "status after apply: revision 2, the worker at 2" \
  "d['revision'], d['worker_generations'], d['dataplane']" "('2', ['2'], 'dpdk')" status
if [ "$(stat -c '%a' "$STATE/state.json" 2>/dev/null)" = 640 ]; then
  echo "ok: state.json mode 0640"
else
  fail "state.json mode $(stat -c '%a' "$STATE/state.json" 2>&1), wanted 640"
fi

if ctl "get services (table)" 0 "web   10.78.100.10  80    TCP    stable=90,canary=10  4         2" \
  get services; then
  grep -qF "api   10.78.100.11  443   TCP    blue=1,green=0       2         2" "$TMP/out" ||
    fail "get services: no api row: $(cat "$TMP/out")"
fi
# Every field written out, defaults included, in creation order.
expect_json "get services -o json: names, order, revision" \
  "d['revision'], [s['name'] for s in d['services']]" "('2', ['web', 'api'])" get services
expect_json "get services -o json: web as applied" \
  "[(p['name'], p['weight'], [(b['address'], b['weight'], b['state']) for b in p['backends']]) for p in svc('web')['pools']], svc('web')['fallback_pool']" \
  "([('stable', 90, [('10.78.0.21', 1, 'BACKEND_STATE_ACTIVE'), ('10.78.0.22', 1, 'BACKEND_STATE_ACTIVE')]), ('canary', 10, [('10.78.0.31', 1, 'BACKEND_STATE_ACTIVE'), ('10.78.0.32', 3, 'BACKEND_STATE_ACTIVE')])], 'stable')" \
  get services
expect_json "get services -o json: api's defaults written out" \
  "[svc('api')[k] for k in ('protocol', 'affinity', 'encapsulation', 'gue_port', 'maglev_table_size', 'client_prefix_v4', 'client_prefix_v6', 'rules', 'fallback_pool', 'circuit', 'timeouts')]" \
  "['PROTOCOL_TCP', 'AFFINITY_FLOW', 'ENCAPSULATION_IPIP', 6080, 65537, 24, 64, [], '', {'enabled': True, 'consecutive_failures': 3, 'syn_retry_min_ms': 500, 'base_ejection_ms': 5000, 'max_ejection_ms': 300000, 'half_open_trials': 3, 'max_ejected_percent': 50, 'failure_window_ms': 10000}, {'tcp_syn_ms': 10000, 'tcp_established_ms': 10800000, 'tcp_closing_ms': 10000, 'udp_ms': 30000, 'probation_ms': 5000}]" \
  get services
ctl "describe service web" 0 "Listener:          10.78.100.10:80 TCP" describe service web
for line in "Affinity:          CLIENT_ADDRESS" "Fallback pool:     stable" "Revision:          2" \
  "stable  90      90.0%  2" "canary  10      10.0%  2" "canary  10.78.0.32  3       ACTIVE"; do
  grep -qF -- "$line" "$TMP/out" || fail "describe service web: no \"$line\" in: $(cat "$TMP/out")"
done
ctl "explain a new flow" 0 "service:      web" explain 10.78.0.99:4000 10.78.100.10:80
ctl "explain names the reason" 0 "chose pool stable; its Maglev slot" explain 10.78.0.99:4000 10.78.100.10:80
ctl "explain a port with no service" 0 "no service on this port" explain 10.78.0.99:4000 10.78.100.10:81
ctl "explain a bad client" 1 'INVALID_ARGUMENT: client_address: "10.78.0.300" is not an IPv4' \
  explain 10.78.0.300:4000 10.78.100.10:80
ctl "describe an unknown service" 1 'NOT_FOUND: no service named "nosuch" (revision 2)' \
  describe service nosuch

ctl "set-weights --wait" 0 "service/web weights canary=50 stable=50 (revision 3, applied on every worker)" \
  set-weights web stable=50 canary=50 --wait=10
expect_json "set-weights: saved and applied" \
  "d['revision'], d['worker_generations']" "('3', ['3'])" status
# Desired vs applied, as sluiced's reconciler reports it: converged, serving.
expect_json "status: applied 3 of desired 3, serving, no refusal or fault" \
  "d['applied_revision'], d['published_revision'], d['serving'], d['publish_failures'], d['dataplane_fault']" \
  "('3', '3', True, '0', '')" status
ctl "status: health SERVING" 0 "health:     SERVING" status
expect_json "set-weights: web 50/50, api untouched" \
  "[[(p['name'], p['weight']) for p in s['pools']] for s in d['services']]" \
  "[[('stable', 50), ('canary', 50)], [('blue', 1), ('green', 0)]]" get services

# Compare-and-set: the state is at 3.
before=$(services_json)
ctl "stale --expect-revision refused" 1 \
  "FAILED_PRECONDITION: expected revision 2 but the current revision is 3" \
  set-weights web stable=0 canary=100 --expect-revision 2
[ "$(revision)" = 3 ] || fail "stale --expect-revision: revision is $(revision), wanted 3"
[ "$(services_json)" = "$before" ] || fail "stale --expect-revision changed the services"
ctl "current --expect-revision accepted" 0 "service/web weights canary=60 stable=40 (revision 4)" \
  set-weights web stable=40 canary=60 --expect-revision 3

# --- Invalid input: exit 1 naming the field; nothing changes ---

# A file like services.json, through sed.
variant() { sed "$1" "$TMP/services.json" >"$TMP/$2"; }
variant 's/10.78.0.22/10.78.0.300/' bad-address.json
variant 's/"port": 443/"port": 0/' port0.json
variant 's/"weight": 3 }/"weight": 0 }/' backend-weight0.json
variant 's/"name": "canary", "weight": 10,/"name": "canary",/' no-pool-weight.json
variant 's/"fallback_pool": "stable"/"fallback_pool": "stable", "fallbak": 1/' unknown-field.json
variant 's/"fallback_pool": "stable"/"fallback_pool": "blue"/' unknown-fallback.json
# One service, api2, on web's listener: only sluiced can tell (it knows web).
cat >"$TMP/clash.json" <<'EOF'
{ "name": "api2", "vip": "10.78.100.10", "port": 80,
  "pools": [ { "name": "blue", "weight": 1, "backends": [ { "address": "10.78.0.41" } ] } ] }
EOF

before=$(services_json)
# unchanged NAME WANTED_EXIT PATTERN ARGS...: ctl, then revision and
# services are as they were.
unchanged() {
  ctl "$@"
  local rev
  rev=$(revision)
  [ "$rev" = 4 ] || fail "$1: revision is now \"$rev\", wanted 4"
  [ "$(services_json)" = "$before" ] || fail "$1: the services changed"
}
# Checked by sluicectl before sending (with sluiced's own loader):
unchanged "invalid: bad backend address" 1 \
  "$TMP/bad-address.json: services[0].pools[0].backends[1].address: \"10.78.0.300\" is not an IPv4 or IPv6 address" \
  apply -f "$TMP/bad-address.json"
unchanged "invalid: port 0" 1 "$TMP/port0.json: services[1].port: 0 is out of range 1..65535" \
  apply -f "$TMP/port0.json"
unchanged "invalid: backend weight 0" 1 "$TMP/backend-weight0.json: services[0].pools[1].backends[1].weight" \
  apply -f "$TMP/backend-weight0.json"
unchanged "invalid: pool weight missing" 1 "$TMP/no-pool-weight.json: services[0].pools[1].weight" \
  apply -f "$TMP/no-pool-weight.json"
unchanged "invalid: unknown field" 1 "$TMP/unknown-field.json: services[0].fallbak: unknown field" \
  apply -f "$TMP/unknown-field.json"
unchanged "invalid: fallback pool not a pool" 1 "$TMP/unknown-fallback.json: services[0].fallback_pool" \
  apply -f "$TMP/unknown-fallback.json"
# Refused by sluiced:
unchanged "invalid: weight out of range" 1 \
  'INVALID_ARGUMENT: weights["stable"]: 1000001 is out of range 0..1000000' \
  set-weights web stable=1000001
unchanged "invalid: unknown pool in set-weights" 1 \
  'INVALID_ARGUMENT: weights["blue"]: service web has no pool named "blue"' \
  set-weights web blue=1
unchanged "invalid: every weight 0" 1 \
  "INVALID_ARGUMENT: pools: all pool weights are 0; at least one pool needs a weight" \
  set-weights web stable=0 canary=0
unchanged "invalid: unknown service" 1 'NOT_FOUND: no service named "nosuch"' \
  set-weights nosuch stable=1
unchanged "invalid: listener already served" 1 \
  "INVALID_ARGUMENT: service: VIP 10.78.100.10 port 80 is already served by" \
  apply -f "$TMP/clash.json"
unchanged "invalid: delete an unknown service" 1 'NOT_FOUND: no service named "nosuch"' \
  delete service nosuch
# Command-line mistakes: exit 2, nothing sent.
unchanged "usage: weight not a number" 2 '"stable=ten" is not POOL=WEIGHT' \
  set-weights web stable=ten
unchanged "usage: negative revision" 2 '--expect-revision: "-1" is not a revision number' \
  set-weights web stable=1 --expect-revision -1

# --- Dry runs: validated, nothing changes ---

unchanged "dry run: set-weights" 0 \
  "service/web weights canary=90 stable=10 (dry run against revision 4: valid, nothing changed)" \
  set-weights web stable=10 canary=90 --dry-run
unchanged "dry run: apply -f" 0 \
  "service/api checked (dry run against revision 4: valid, nothing changed)" \
  apply -f "$TMP/services.json" --dry-run
unchanged "dry run: an invalid change is still refused" 1 \
  'INVALID_ARGUMENT: weights["blue"]: service web has no pool named "blue"' \
  set-weights web blue=1 --dry-run

# --- A second sluiced on the same state directory, while the first runs ---

ci_sluiced_command "$P-second" "$TMP/second.sock"
# On the same port it meets the interface's owner first (interface_lock.h);
# on the veth's other end, the state directory's lock.
check "second sluiced on the same interface refused" 2 \
  "interface $P-a is owned by a running sluiced: PID $SLUICED_PID, dataplane dpdk, --state-dir $STATE" \
  "${CI_COMMAND[@]}"
CI_COMMAND=("${CI_COMMAND[@]/#port.iface=$P-a/port.iface=$P-b}")
check "second sluiced on the same state directory refused" 2 \
  "--state-dir $STATE: another sluiced is using it" "${CI_COMMAND[@]}"
if grep -qE '^(EAL|TELEMETRY)' "$TMP/out"; then
  fail "second sluiced: DPDK started before the refusal: $(cat "$TMP/out")"
fi
[ -e "$TMP/second.sock" ] && fail "second sluiced: created its socket"
[ "$(revision)" = 4 ] || fail "second sluiced: the first no longer answers at revision 4"

# --- The audit log: one JSON line per mutation that reached sluiced ---
#
# Refusals are audited wherever sluiced decides them: in the core
# (compare-and-set, unknown pool or service, a configuration that does not
# validate) and in the API layer (a request it cannot map: a weight out of
# range). Files sluicectl refuses itself never reach sluiced.
if "$PY" - "$AUDIT" <<'EOF'; then
import json, re, sys
lines = open(sys.argv[1]).read().splitlines()
records = [json.loads(line) for line in lines]
for r in records:
    assert set(r) == {"time", "peer", "method", "service", "revision_before", "revision_after",
                      "accepted", "dry_run", "summary"}, r
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["time"]), r
    assert r["peer"].startswith("unix:"), r
got = [(r["method"], r["service"], r["revision_before"], r["revision_after"], r["accepted"],
        r["dry_run"]) for r in records]
want = [
    ("ApplyService", "web", 0, 1, True, False),
    ("ApplyService", "api", 1, 2, True, False),
    ("SetWeights", "web", 2, 3, True, False),
    ("SetWeights", "web", 3, 3, False, False),   # stale --expect-revision
    ("SetWeights", "web", 3, 4, True, False),    # current --expect-revision
    ("SetWeights", "web", 4, 4, False, False),   # weight out of range (API layer)
    ("SetWeights", "web", 4, 4, False, False),   # unknown pool
    ("SetWeights", "web", 4, 4, False, False),   # every weight 0
    ("SetWeights", "nosuch", 4, 4, False, False),
    ("ApplyService", "api2", 4, 4, False, False),  # listener already served
    ("DeleteService", "nosuch", 4, 4, False, False),
    ("SetWeights", "web", 4, 4, True, True),     # dry runs
    ("ApplyService", "web", 4, 4, True, True),
    ("ApplyService", "api", 4, 4, True, True),
    ("SetWeights", "web", 4, 4, False, True),    # refused dry run
]
if got != want:
    print("audit log records (method, service, before, after, accepted, dry_run):")
    for i in range(max(len(got), len(want))):
        g = got[i] if i < len(got) else None
        w = want[i] if i < len(want) else None
        print("   ", "  " if g == w else "!=", g, "wanted", w)
    sys.exit(1)
summaries = [r["summary"] for r in records]
assert summaries[0] == "created service web: 2 pools (stable=90 canary=10), 4 backends", summaries[0]
assert summaries[2] == "weights stable=90 canary=10 -> stable=50 canary=50", summaries[2]
assert summaries[3] == "expected revision 2 but the current revision is 3", summaries[3]
assert summaries[5] == 'weights["stable"]: 1000001 is out of range 0..1000000', summaries[5]
assert summaries[6] == 'weights["blue"]: service web has no pool named "blue"', summaries[6]
assert summaries[11] == "weights stable=40 canary=60 -> stable=10 canary=90", summaries[11]
EOF
  echo "ok: audit log: one line per mutation, methods, revisions, outcomes"
else
  fail "audit log $AUDIT:"
  sed 's/^/    /' "$AUDIT"
fi
if [ "$(stat -c '%a' "$AUDIT" 2>/dev/null)" = 640 ]; then
  echo "ok: audit log mode 0640"
else
  fail "audit log mode $(stat -c '%a' "$AUDIT" 2>&1), wanted 640"
fi

# --- Stats: traffic from the port, named by service, pool and backend ---

# send_syns COUNT: COUNT TCP SYNs from 10.78.0.99 (one port each) to web's
# VIP, sent into sluiced's port from the other end of the veth pair.
send_syns() {
  local mac
  mac=$(ip -n "$NS" -br link show "$P-a" | awk '{print $3}')
  ip netns exec "$NS" "$PY" - "$P-b" "$mac" "$1" <<'EOF'
import socket, struct, sys
iface, mac, count = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", "")), int(sys.argv[3])
def checksum(data):
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
for i in range(count):
    tcp = struct.pack("!HHIIBBHHH", 40000 + i, 80, 1, 0, 5 << 4, 0x02, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i, 0, 64, 6, 0,
                     socket.inet_aton("10.78.0.99"), socket.inet_aton("10.78.100.10"))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    s.send(mac + bytes.fromhex("020000000099") + b"\x08\x00" + ip + tcp)
EOF
}

if send_syns 40; then
  # The worker counts them a moment later.
  deadline=$((SECONDS + 10))
  until [ "$(json "svc('web')['traffic']['packets']" stats)" = "'40'" ] ||
    [ "$SECONDS" -ge "$deadline" ]; do sleep 0.1; done
  expect_json "stats -o json: web's 40 new flows" \
    "svc('web')['traffic']['packets'], sum(int(p['traffic']['packets']) for p in svc('web')['pools']), sum(int(b['traffic']['packets']) for p in svc('web')['pools'] for b in p['backends'])" \
    "('40', 40, 40)" stats
  expect_json "stats -o json: revision, worker, counters by name" \
    "d['revision'], d['dataplane'], [(w['worker'], w['generation'], w['label']) for w in d['workers']], int(next(c['value'] for c in d['total']['counters'] if c['name'] == 'new_flows')) >= 40, 'rx_bursts' in [c['name'] for c in d['total']['dataplane']]" \
    "('4', 'dpdk', [(0, '4', 'lcore 1')], True, True)" stats
  expect_json "stats -o json: circuits closed on the worker" \
    "sorted(set(c for p in svc('web')['pools'] for b in p['backends'] for c in b['circuits']))" \
    "['CIRCUIT_STATE_CLOSED']" stats
else
  fail "cannot send frames into $P-b"
fi
if ctl "stats (table)" 0 "SERVICE/POOL/BACKEND" stats; then
  for line in "  stable " "    10.78.0.21 " "COUNTER " "dpdk.rx_packets " "W0 (lcore 1)"; do
    grep -qF -- "$line" "$TMP/out" || fail "stats: no \"$line\" in: $(cat "$TMP/out")"
  done
  # The PACKETS column of the row of service web.
  [ "$(awk '$1 == "web" { print $2; exit }' "$TMP/out")" = 40 ] ||
    fail "stats: web's row does not count 40 packets: $(cat "$TMP/out")"
fi
ctl "stats --service api" 0 "api " stats --service api
grep -qF "web " "$TMP/out" && fail "stats --service api: web listed: $(cat "$TMP/out")"
ctl "stats --watch: rates" 0 "rates over:" stats --watch --interval 0.3 --count 2
ctl "stats of an unknown service" 1 'NOT_FOUND: no service named "nosuch"' stats --service nosuch
ctl "stats of a bad name" 1 'INVALID_ARGUMENT: service: "a/b" is not a service name' \
  stats --service a/b

# --- Events: every change in order, each applied by the worker ---

ctl "events --since 1 (table)" 0 \
  "config    revision 1 ApplyService web: created service web: 2 pools (stable=90 canary=10), 4 backends (by unix:" \
  events --since 1 --count 1
ctl "events --since beyond the next event" 1 "INVALID_ARGUMENT: start_sequence: 100000 is beyond" \
  events --since 100000
# The follower has seen revision 4 applied once its line is there.
deadline=$((SECONDS + 10))
until grep -qF '"revision_applied":{"generation":"4"' "$TMP/events.jsonl" 2>/dev/null ||
  [ "$SECONDS" -ge "$deadline" ]; do sleep 0.1; done
if "$PY" - "$TMP/events.jsonl" <<'EOF'; then
import json, sys
events = [json.loads(line) for line in open(sys.argv[1])]
sequences = [int(e["sequence"]) for e in events]
assert sequences == list(range(1, len(events) + 1)), sequences
changes = [(int(e["config_changed"]["revision"]), e["config_changed"]["method"],
            e["config_changed"]["service"]) for e in events if "config_changed" in e]
assert changes == [(1, "ApplyService", "web"), (2, "ApplyService", "api"),
                   (3, "SetWeights", "web"), (4, "SetWeights", "web")], changes
# Each change is followed by the worker's acknowledgement of it (or of a
# later one: two quick changes can be acknowledged together).
for i, e in enumerate(events):
    if "config_changed" not in e:
        continue
    revision = int(e["config_changed"]["revision"])
    later = events[i + 1:]
    assert any("worker_applied" in x and int(x["worker_applied"]["generation"]) >= revision
               for x in later), ("no worker_applied after", e)
    assert any("revision_applied" in x and int(x["revision_applied"]["generation"]) >= revision
               and x["revision_applied"]["workers"] == 1 for x in later), ("not applied", e)
EOF
  echo "ok: events: every change in order, each applied by the worker"
else
  fail "events followed from the start ($TMP/events.jsonl):"
  sed 's/^/    /' "$TMP/events.jsonl" "$TMP/events.err"
fi

# --- 2. Restart on the same state directory ---

before=$(services_json)
audit_lines=$(wc -l <"$AUDIT")
ci_stop_sluiced
if [ "$CI_EXIT" = 0 ] && grep -qF "stopped:" "$CI_LOG"; then
  echo "ok: SIGTERM -> exit 0"
else
  daemon_failed "SIGTERM: exit $CI_EXIT (wanted 0 and a 'stopped:' line)"
fi
# sluiced's shutdown ends the events stream: the follower exits 0, saying so.
deadline=$((SECONDS + 10))
while kill -0 "$EVENTS_PID" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
if kill -0 "$EVENTS_PID" 2>/dev/null; then
  fail "events follower still running 10 s after sluiced stopped"
else
  wait "$EVENTS_PID"
  events_exit=$?
  if [ "$events_exit" = 0 ] && grep -qF "sluiced ended the stream" "$TMP/events.err"; then
    echo "ok: events follower ends with sluiced's stream (exit 0)"
  else
    fail "events follower: exit $events_exit, stderr: $(cat "$TMP/events.err")"
  fi
fi

ci_start_sluiced "$TMP/daemon2.log"
if ci_wait_ready 30; then
  grep -qF "state $STATE: revision 4, 2 service(s)" "$CI_LOG" ||
    daemon_failed "restart: no 'revision 4, 2 service(s)' line"
  after=$(services_json)
  if [ "$after" = "$before" ]; then
    echo "ok: restart: same revision and services"
  else
    fail "restart: get services -o json differs:"
    diff <(echo "$before") <(echo "$after") | sed 's/^/    /'
  fi
  expect_json "restart: the worker forwards with revision 4" \
    "d['revision'], d['worker_generations']" "('4', ['4'])" status
  ctl "restart: revisions go on" 0 "service/web weights canary=30 stable=70 (revision 5, applied on every worker)" \
    set-weights web stable=70 canary=30 --wait=10
  if [ "$(wc -l <"$AUDIT")" -eq $((audit_lines + 1)) ] &&
    tail -n 1 "$AUDIT" | grep -qF '"method":"SetWeights","service":"web","revision_before":4,"revision_after":5,"accepted":true'; then
    echo "ok: restart: the audit log goes on"
  else
    fail "restart: wanted $audit_lines audit lines and one for revision 5:"
    sed 's/^/    /' "$AUDIT"
  fi
else
  fail "restart on the saved state"
fi
final=$(services_json)
ci_stop_sluiced
[ "$CI_EXIT" = 0 ] || daemon_failed "second SIGTERM: exit $CI_EXIT (wanted 0)"

# --- 4. A corrupt state.json refuses the start, and is kept as it is ---

cp "$STATE/state.json" "$TMP/good-state.json"
# corrupt NAME PATTERN: state.json holds $TMP/corrupt (written by the
# caller); sluiced must exit 2 naming the file and PATTERN, before DPDK
# starts, leaving the file byte for byte.
corrupt() {
  cp "$TMP/corrupt" "$STATE/state.json"
  ci_sluiced_command "$P-run" "$SOCK"
  check "corrupt state ($1): refused" 2 "refusing to start: $STATE/state.json: $2" "${CI_COMMAND[@]}"
  if grep -qE '^(EAL|TELEMETRY)' "$TMP/out"; then
    fail "corrupt state ($1): DPDK started before the refusal"
  fi
  cmp -s "$TMP/corrupt" "$STATE/state.json" || fail "corrupt state ($1): state.json was changed"
  [ -e "$SOCK" ] && [ ! -S "$SOCK" ] && fail "corrupt state ($1): $SOCK is not a socket"
}
printf 'garbage {\x01\xff' >"$TMP/corrupt"
corrupt "garbage" "line 1, column 1: expected a value, found 'g'"
: >"$TMP/corrupt"
corrupt "empty" "is empty"
"$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); del d["revision"]; print(json.dumps(d))' \
  "$TMP/good-state.json" >"$TMP/corrupt"
corrupt "no revision" "revision: missing"
sed 's/"10.78.0.21"/"10.78.0.321"/' "$TMP/good-state.json" >"$TMP/corrupt"
corrupt "bad address" 'services[0].pools[0].backends[0].address: "10.78.0.321" is not an IPv4 or IPv6 address'
head -c 700 "$TMP/good-state.json" >"$TMP/corrupt"
corrupt "truncated" "line "

cp "$TMP/good-state.json" "$STATE/state.json"
ci_start_sluiced "$TMP/daemon3.log"
if ci_wait_ready 30; then
  after=$(services_json)
  if [ "$after" = "$final" ]; then
    echo "ok: restored state.json: same revision and services"
  else
    fail "restored state.json: get services -o json differs:"
    diff <(echo "$final") <(echo "$after") | sed 's/^/    /'
  fi
  [ "$(revision)" = 5 ] || fail "restored state.json: revision $(revision), wanted 5"
  ci_stop_sluiced
  [ "$CI_EXIT" = 0 ] || daemon_failed "third SIGTERM: exit $CI_EXIT (wanted 0)"
else
  fail "start on the restored state.json"
fi

ci_finish
