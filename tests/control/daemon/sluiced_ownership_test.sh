#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# One dataplane, one owner (control/daemon/interface_lock.h and
# xdp_attachment_watch.h), as an operator meets it:
#
#   sluiced_ownership_test.sh SLUICED SLUICECTL XDP_PASS_OBJ
#
# A sluiced on XDP owns veth $P-a (network namespace $P-n1, pins on a
# bpffs of the test's own). Then:
#  1. a second sluiced on $P-a (another --state-dir) is refused naming the
#     owner's PID and state folder, before it reads a pin; so is a DPDK
#     sluiced whose port is $P-a, before EAL starts; so is a sluiced on
#     another namespace's $P-a using the same pin folder;
#  2. --xdp-detach is refused while the owner lives (naming its PID);
#  3. `ip link set dev $P-a xdp off` behind the owner's back: the owner logs
#     the fault within a second, and `sluicectl set-weights --wait` no
#     longer says "applied on every worker"; our pinned program attached
#     again by hand clears it; another program attached in its place is a
#     fault naming it;
#  4. --xdp-detach --force detaches while the owner lives (which then
#     reports the fault); after the owner stops, --xdp-detach needs no force;
#  5. a DPDK sluiced owning $P-b refuses an XDP sluiced on $P-b.
#
# Needs root (exit 77 otherwise). Everything it creates is named after
# "ow<pid>" (namespaces, veths, bpffs, lock files) and removed on every
# exit path; it signals only the sluiceds it started.
set -u

SLUICED=${1:?usage: sluiced_ownership_test.sh SLUICED SLUICECTL XDP_PASS_OBJ}
SLUICECTL=${2:?usage: sluiced_ownership_test.sh SLUICED SLUICECTL XDP_PASS_OBJ}
XDP_PASS=${3:?usage: sluiced_ownership_test.sh SLUICED SLUICECTL XDP_PASS_OBJ}
ROOT=${SLUICE_SOURCE_ROOT:-$(cd "$(dirname "$0")/../../.." && pwd)}
SEED=00112233445566778899aabbccddeeff
P="ow$$"
LOCKS=/run/sluice/locks
failures=0
PIDS=()
NSES=()
BPFFS=""

if [ "$(id -u)" -ne 0 ]; then
  echo "skip: needs root (network namespaces, XDP, bpffs)"
  exit 77
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluiced-ownership-test.XXXXXX")

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
    fi
  done
  local ns
  for ns in "${NSES[@]}"; do ip netns del "$ns" 2>/dev/null; done
  if [ -n "$BPFFS" ]; then umount "$BPFFS" 2>/dev/null; fi
  rm -rf "$TMP" "/var/run/dpdk/$P-run" "/dev/shm/sluice-flows-$P-"* 2>/dev/null
  # Our lock files only: each ends with the name of our veth $P-a or $P-b.
  rm -f "$LOCKS"/*[-_]"$P-a" "$LOCKS"/*[-_]"$P-b" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# shellcheck source=tests/control/checks.sh
source "$(dirname "$0")/../checks.sh"

# wait_log FILE TEXT MILLISECONDS: until FILE holds TEXT after its first
# $MARK lines (set by `mark`: only what was logged since counts); false
# after MILLISECONDS or when the owner died.
MARK=0
mark() { MARK=$(wc -l <"$TMP/owner.log"); }
wait_log() {
  local deadline=$(($(date +%s%3N) + $3))
  until tail -n +$((MARK + 1)) "$1" 2>/dev/null | grep -qF -- "$2"; do
    if ! kill -0 "$OWNER" 2>/dev/null || [ "$(date +%s%3N)" -ge "$deadline" ]; then return 1; fi
    sleep 0.05
  done
}

owner_failed() {
  fail "$1; the owner's log:"
  sed 's/^/    /' "$TMP/owner.log"
}

# --- Setup: two namespaces, each with a veth named $P-a; a bpffs ---
ip netns add "$P-n1" && NSES+=("$P-n1")
ip netns add "$P-n2" && NSES+=("$P-n2")
for ns in "$P-n1" "$P-n2"; do
  ip -n "$ns" link set lo up
  ip -n "$ns" link add "$P-a" type veth peer name "$P-b"
  ip -n "$ns" link set "$P-a" up
  ip -n "$ns" link set "$P-b" up
done
mkdir -p "$TMP/bpffs"
# Mounted in the host's mount namespace, so `ip netns exec` (which copies
# it) sees the same bpffs: the pins outlive each sluiced, as in tools/lab.
mount -t bpf "$P-bpffs" "$TMP/bpffs" && BPFFS="$TMP/bpffs"
PINS="$TMP/bpffs/sluice"
cat >"$TMP/services.json" <<'EOF'
{ "services": [ { "name": "web", "vip": "10.77.100.10", "port": 80, "protocol": "PROTOCOL_TCP",
    "pools": [ { "name": "stable", "weight": 90, "backends": [ { "address": "10.77.0.21" } ] },
               { "name": "canary", "weight": 10, "backends": [ { "address": "10.77.0.31" } ] } ] } ] }
EOF

# xdp_sluiced NS STATE: XDP_SLUICED, a control-plane XDP sluiced on NS's $P-a.
xdp_sluiced() {
  XDP_SLUICED=(ip netns exec "$1" "$SLUICED" --dataplane xdp --xdp-interface "$P-a"
    --xdp-pin-dir "$PINS" --hash-seed "$SEED" --state-dir "$TMP/$2" --socket "$TMP/$2.sock"
    --next-hop-mac 02:00:00:00:00:01 --outer-source-v4 10.77.0.2)
}
detach_args=(ip netns exec "$P-n1" "$SLUICED" --dataplane xdp --xdp-interface "$P-a"
             --xdp-pin-dir "$PINS" --xdp-detach)
ctl() {
  local name=$1 want=$2 pattern=$3
  shift 3
  check "$name" "$want" "$pattern" "$SLUICECTL" --socket "$TMP/a.sock" "$@"
}
# What the kernel has attached to n1's $P-a (native mode), as an id.
attached_id() {
  ip -n "$P-n1" -j link show dev "$P-a" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0].get("xdp", {}).get("prog", {}).get("id", 0))'
}

# --- The owner ---
xdp_sluiced "$P-n1" a
"${XDP_SLUICED[@]}" </dev/null >"$TMP/owner.log" 2>&1 &
OWNER=$!
PIDS+=("$OWNER")
if ! wait_log "$TMP/owner.log" "control API listening on unix:$TMP/a.sock" 30000; then
  owner_failed "the owner did not start"
  exit 1
fi
grep -qF "owner of interface $P-a, XDP pin folder $PINS/$P-a" "$TMP/owner.log" ||
  owner_failed "the owner does not log what it owns"
OUR_ID=$(attached_id)
ctl "apply" 0 "applied on every worker" apply -f "$TMP/services.json" --wait=5

# --- 1. Second owners refused, before they touch pins or the port ---
xdp_sluiced "$P-n1" b
check "second sluiced on the same interface" 2 \
  "refusing to start: interface $P-a is owned by a running sluiced: PID $OWNER, dataplane xdp, --state-dir $TMP/a" \
  "${XDP_SLUICED[@]}"
not_in_output "second sluiced on the same interface" "XDP program"
[ "$(attached_id)" = "$OUR_ID" ] || fail "the refused sluiced changed the attached program"

xdp_sluiced "$P-n2" c
check "same pin folder from another namespace" 2 \
  "refusing to start: XDP pin folder $PINS/$P-a is owned by a running sluiced: PID $OWNER" \
  "${XDP_SLUICED[@]}"
not_in_output "same pin folder from another namespace" "XDP program"

check "DPDK sluiced on the owned interface" 2 \
  "refusing to start: interface $P-a is owned by a running sluiced: PID $OWNER" \
  ip netns exec "$P-n1" "$SLUICED" --profile "$ROOT/hardware-profiles/lab-af-packet.ini" \
  --profile-set "port.iface=$P-a" --profile-set "eal.file_prefix=$P-run" --hash-seed "$SEED"
not_in_output "DPDK sluiced on the owned interface" "EAL"

# --- 2. Detach refused while the owner lives ---
check "--xdp-detach while owned" 1 \
  "--xdp-detach $P-a: refused: interface $P-a is owned by a running sluiced: PID $OWNER" \
  "${detach_args[@]}"
[ "$(attached_id)" = "$OUR_ID" ] || fail "the refused --xdp-detach changed the attached program"
[ -e "$PINS/$P-a/program" ] || fail "the refused --xdp-detach removed pins"

# --- 3. Detached and replaced behind the owner's back ---
# expect_logged NAME TEXT: the owner logs TEXT within 1 s (since `mark`).
expect_logged() {
  if wait_log "$TMP/owner.log" "$2" 1000; then
    echo "ok: $1"
  else
    owner_failed "$1: no \"$2\" in the owner's log within 1 s"
  fi
}
# reattach_ours NAME: our pinned program attached again by hand clears the fault.
reattach_ours() {
  mark
  ip netns exec "$P-n1" bpftool net attach xdp pinned "$PINS/$P-a/program" dev "$P-a"
  expect_logged "$1" "XDP program id $OUR_ID is attached to $P-a again"
}

# settle_status serving|faulted: status's health follows the reconciler's
# next look at the dataplane (every 100 ms); wait up to 2 s for it.
settle_status() {
  local _
  for _ in $(seq 20); do
    "$SLUICECTL" --socket "$TMP/a.sock" status >"$TMP/out" 2>&1
    if grep -qF "NOT SERVING" "$TMP/out"; then [ "$1" = faulted ] && return; else [ "$1" = serving ] && return; fi
    sleep 0.1
  done
}

mark
detached_at=$(date +%s%3N)
ip -n "$P-n1" link set dev "$P-a" xdp off
expect_logged "detach behind its back logged" \
  "XDP FAULT: sluiced's XDP program (id $OUR_ID) was detached from $P-a"
echo "    noticed after $(($(date +%s%3N) - detached_at)) ms (the log polled every 50 ms)"
ctl "set-weights --wait while detached" 1 "is not applied: the dataplane has a fault" \
  set-weights web stable=50 canary=50 --wait=2
not_in_output "set-weights --wait while detached" "applied on every worker"
not_in_output "set-weights --wait while detached" "cannot reach sluiced"
settle_status faulted
ctl "status while detached" 0 "NOT SERVING" status

reattach_ours "our program attached again clears the fault"
ctl "set-weights --wait after re-attach" 0 "applied on every worker" \
  set-weights web stable=60 canary=40 --wait=5
settle_status serving
ctl "status after re-attach" 0 "SERVING" status
not_in_output "status after re-attach" "NOT SERVING"

mark
ip -n "$P-n1" link set dev "$P-a" xdp off
ip -n "$P-n1" link set dev "$P-a" xdp obj "$XDP_PASS" sec xdp
expect_logged "replacement logged, naming the other program" \
  "another XDP program (id $(attached_id), \"sluice_xdp_pass\") replaced sluiced's XDP program (id $OUR_ID) on $P-a"
ctl "set-weights --wait while replaced" 1 "is not applied: the dataplane has a fault" \
  set-weights web stable=70 canary=30 --wait=2
ip -n "$P-n1" link set dev "$P-a" xdp off
reattach_ours "our program back after the replacement"

# --- 4. Forced detach, then an ordinary one once the owner is gone ---
mark
check "--xdp-detach --force while owned" 0 "program detached" "${detach_args[@]}" --force
grep -qF "detaching anyway: sluiced PID $OWNER stays running" "$TMP/out" ||
  fail "--force does not warn about the running owner: $(cat "$TMP/out")"
[ "$(attached_id)" = 0 ] || fail "--force left a program attached"
expect_logged "the owner reports the forced detach" \
  "XDP FAULT: sluiced's XDP program (id $OUR_ID) was detached"
kill -TERM "$OWNER"
wait "$OWNER"
rc=$?
[ "$rc" -eq 0 ] || owner_failed "SIGTERM: exit $rc"
# Its goodbye must not claim a program that is no longer there.
if ! grep -qF "stopping with the XDP fault unresolved" "$TMP/owner.log" ||
  grep -qF "stays attached to $P-a and forwards on" "$TMP/owner.log"; then
  owner_failed "a faulted owner's stop log claims its program stays attached"
fi
check "--xdp-detach once the owner stopped" 0 "--xdp-detach $P-a" "${detach_args[@]}"
not_in_output "--xdp-detach once the owner stopped" "refused"

# --- 5. A DPDK owner refuses an XDP sluiced on its interface ---
ip netns exec "$P-n1" "$SLUICED" --profile "$ROOT/hardware-profiles/lab-af-packet.ini" \
  --profile-set "port.iface=$P-b" --profile-set "eal.file_prefix=$P-run" \
  --profile-set "exception.interface=$P-tap" --flow-state-dir off --hash-seed "$SEED" \
  </dev/null >"$TMP/owner.log" 2>&1 &
OWNER=$!
PIDS+=("$OWNER")
MARK=0
if ! wait_log "$TMP/owner.log" "owner of interface $P-b" 30000 ||
  ! wait_log "$TMP/owner.log" "applied on all" 30000; then
  owner_failed "the DPDK owner did not start"
else
  check "XDP sluiced on a DPDK owner's interface" 2 \
    "refusing to start: interface $P-b is owned by a running sluiced: PID $OWNER, dataplane dpdk, no --state-dir" \
    ip netns exec "$P-n1" "$SLUICED" --dataplane xdp --xdp-interface "$P-b" --xdp-pin-dir "$PINS" \
    --hash-seed "$SEED"
  not_in_output "XDP sluiced on a DPDK owner's interface" "XDP program"
fi
kill -TERM "$OWNER" 2>/dev/null
wait "$OWNER" 2>/dev/null

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"
