#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# State integrity at start (control/state/state_integrity.h): sluiced
# refuses a state.json older than its audit log, and the two ways past it
# renumber above every revision used.
#
#   state_integrity_test.sh PATH_TO_SLUICED PATH_TO_SLUICECTL   (meson passes the built ones)
#
# A real sluiced (--state-dir, --audit-log) on net_af_packet over a veth
# pair in a network namespace of its own:
#  1. three changes (revisions 1..3), a copy of state.json at revision 1;
#  2. state.json deleted: refused, exit 2, naming the file, revision 3 of
#     the audit log, both flags; nothing changed on disk;
#  3. the revision-1 copy put back: refused the same way;
#  4. --accept-state-rollback: starts with revision 1's services as
#     revision 4 (audited), the next change is revision 5;
#  5. --reset-state: starts empty as revision 6 (audited, the old file
#     kept), the next change is revision 7;
#  6. the audit log deleted (a state newer than the log): starts, warning;
#  7. XDP: two revisions in pinned maps, then the state directory wiped
#     (state and audit log): the adopted maps refuse the start, naming
#     their revision and pin folder; a revision-1 state.json put back is
#     refused the same way; --accept-state-rollback runs it as revision 3.
#     On a bpffs of the test's own (as tools/lab does), removed at the end.
#
# Needs root (exit 77 otherwise).
set -u

SLUICED=${1:?usage: state_integrity_test.sh PATH_TO_SLUICED PATH_TO_SLUICECTL}
SLUICECTL=${2:?usage: state_integrity_test.sh PATH_TO_SLUICED PATH_TO_SLUICECTL}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/control/integration/lib.sh source-path=SCRIPTDIR
source "$HERE/lib.sh"
ci_init "si$$" "$SLUICED"
ci_require_root
ci_make_namespace
export SLUICECTL_SOCKET="$SOCK"
XDP=""       # set: the sluiced started is the XDP one, pinned in $BPFFS
BPFFS="$TMP/bpffs"
xdp_cleanup() {
  if mountpoint -q "$BPFFS" 2>/dev/null; then
    rm -rf "${BPFFS:?}"/* 2>/dev/null
    umount "$BPFFS"
  fi
}
trap 'xdp_cleanup; ci_cleanup' EXIT

# sluiced_command [ARGS...]: CI_COMMAND, sluiced on this test's state
# directory (DPDK, or XDP on the same veth when XDP is set).
sluiced_command() {
  if [ -z "$XDP" ]; then
    ci_sluiced_command "$P-run" "$SOCK" "$@"
    return
  fi
  CI_COMMAND=(ip netns exec "$NS" "$SLUICED" --dataplane xdp --xdp-interface "$P-a"
    --xdp-pin-dir "$BPFFS" --hash-seed "$SEED" --next-hop-mac 02:00:00:00:00:01
    --outer-source-v4 10.78.0.2 --state-dir "$STATE" --socket "$SOCK" --audit-log "$AUDIT" "$@")
}

daemon_failed() {
  fail "$1; sluiced's log:"
  sed 's/^/    /' "$CI_LOG"
}

# changed NAME REVISION ARGS...: sluicectl ARGS must report REVISION applied.
changed() {
  local name=$1 revision=$2
  shift 2
  if ! timeout 60 "$SLUICECTL" "$@" --wait=10 </dev/null >"$TMP/out" 2>&1 ||
    ! grep -qF "(revision $revision, applied on every worker)" "$TMP/out"; then
    fail "$name: wanted revision $revision applied:"
    sed 's/^/    /' "$TMP/out"
    return 1
  fi
  echo "ok: $name (revision $revision)"
}

# started NAME [ARGS...]: sluiced starts with ARGS and listens.
started() {
  local name=$1
  shift
  sluiced_command "$@"
  "${CI_COMMAND[@]}" </dev/null >"$TMP/$name.log" 2>&1 &
  SLUICED_PID=$!
  CI_LOG="$TMP/$name.log"
  if ! ci_wait_ready 30; then
    fail "$name: sluiced did not start"
    return 1
  fi
  echo "ok: $name: started"
}

# The state directory's and the audit log's files: names, sizes, times and
# contents (sluiced creates a missing state directory itself, empty).
files_now() {
  find "$STATE" "$AUDIT" -type f -printf '%p %s %T@\n' -exec cat {} + 2>/dev/null
}

# refused NAME PATTERN...: sluiced exits 2 before listening, logging every
# PATTERN (fixed strings), and leaves the state's files as they were.
refused() {
  local name=$1
  shift
  local before
  before=$(files_now)
  sluiced_command
  timeout 60 "${CI_COMMAND[@]}" </dev/null >"$TMP/$name.log" 2>&1
  local rc=$? pattern
  if [ "$rc" -ne 2 ]; then
    fail "$name: exit $rc, wanted 2; its log:"
    sed 's/^/    /' "$TMP/$name.log"
    return 1
  fi
  for pattern in "$@"; do
    if ! grep -qF -- "$pattern" "$TMP/$name.log"; then
      fail "$name: wanted \"$pattern\" in:"
      sed 's/^/    /' "$TMP/$name.log"
      return 1
    fi
  done
  if [ "$(files_now)" != "$before" ]; then
    fail "$name: the refused start changed the state directory or the audit log"
    return 1
  fi
  echo "ok: $name: refused"
}

# revision_is NAME REVISION SERVICES: get services says so (-o json).
revision_is() {
  local got
  got=$("$SLUICECTL" -o json get services 2>&1 |
    "$PY" -c 'import json, sys; d = json.load(sys.stdin); print(d["revision"], len(d["services"]))')
  if [ "$got" = "$2 $3" ]; then
    echo "ok: $1: revision $2, $3 service(s)"
  else
    fail "$1: get services gives \"$got\", wanted \"$2 $3\""
  fi
}

# audited NAME TEXT: the audit log's last line holds TEXT.
audited() {
  if tail -n 1 "$AUDIT" | grep -qF -- "$2"; then
    echo "ok: $1: audited"
  else
    fail "$1: wanted $2 in the audit log's last line:"
    tail -n 2 "$AUDIT" | sed 's/^/    /'
  fi
}

cat >"$TMP/web.json" <<'EOF'
{
  "services": [
    {
      "name": "web", "vip": "10.79.100.10", "port": 80,
      "pools": [
        { "name": "stable", "weight": 90, "backends": [ { "address": "10.79.0.21" } ] },
        { "name": "canary", "weight": 10, "backends": [ { "address": "10.79.0.31" } ] }
      ]
    }
  ]
}
EOF

# --- 1. Three revisions, and an old copy of the state ---
started "fresh" || ci_finish
changed "apply" 1 apply -f "$TMP/web.json"
cp -p "$STATE/state.json" "$TMP/state-r1.json"
changed "set-weights" 2 set-weights web stable=50 canary=50
changed "set-weights" 3 set-weights web stable=0 canary=100
ci_stop_sluiced

# --- 2. state.json lost ---
mv "$STATE/state.json" "$TMP/state-r3.json"
refused "missing state" "$STATE/state.json is missing (revision 0, no services), older than revision 3 accepted in the audit log $AUDIT" \
  "--accept-state-rollback to run this state anyway (as revision 4)" \
  "--reset-state to start with no services (as revision 4)"

# --- 3. An older copy put back ---
cp -p "$TMP/state-r1.json" "$STATE/state.json"
refused "rolled-back state" "$STATE/state.json is at revision 1, older than revision 3 accepted in the audit log $AUDIT"

# --- 4. --accept-state-rollback: revision 1's services, renumbered ---
if started "accept-rollback" --accept-state-rollback; then
  grep -qF -- "--accept-state-rollback: $STATE/state.json is at revision 1, older than revision 3" "$CI_LOG" ||
    daemon_failed "accept-rollback: the decision is not logged"
  audited "accept-rollback" '"method":"StartAcceptStateRollback","service":"","revision_before":1,"revision_after":4,"accepted":true'
  revision_is "accept-rollback" 4 1
  if "$SLUICECTL" get services 2>&1 | grep -qF "stable=90,canary=10"; then
    echo "ok: accept-rollback: revision 1's weights"
  else
    fail "accept-rollback: not revision 1's weights: $("$SLUICECTL" get services 2>&1)"
  fi
  changed "accept-rollback: next change" 5 set-weights web stable=80 canary=20
  ci_stop_sluiced
fi

# --- 5. --reset-state: empty, above everything ---
if started "reset" --reset-state; then
  audited "reset" '"method":"StartResetState","service":"","revision_before":5,"revision_after":6,"accepted":true'
  revision_is "reset" 6 0
  [ -f "$STATE/state.json.before-reset-5" ] || fail "reset: the previous state.json was not kept"
  changed "reset: next change" 7 apply -f "$TMP/web.json"
  ci_stop_sluiced
fi

# --- 6. A state newer than the audit log: a warning, not a refusal ---
mv "$AUDIT" "$TMP/audit-old.log"
if started "audit log lost"; then
  grep -qF "$STATE/state.json is at revision 7 but the audit log $AUDIT shows only revision 0 accepted" "$CI_LOG" ||
    daemon_failed "audit log lost: no warning"
  revision_is "audit log lost" 7 1
  ci_stop_sluiced
fi

# --- 7. XDP: the adopted maps are a witness too ---
STATE="$TMP/xdp-state"
AUDIT="$TMP/xdp-audit.log"
XDP=1
mkdir -p "$BPFFS"
if ! mount -t bpf "$P-bpffs" "$BPFFS" 2>"$TMP/mount.err"; then
  echo "skip: XDP section: cannot mount a bpffs: $(cat "$TMP/mount.err")"
  ci_finish
fi
if started "xdp fresh"; then
  changed "xdp apply" 1 apply -f "$TMP/web.json"
  cp -p "$STATE/state.json" "$TMP/xdp-state-r1.json"
  changed "xdp set-weights" 2 set-weights web stable=50 canary=50
  ci_stop_sluiced
  rm -rf "$STATE" "$AUDIT"
  refused "xdp state and audit log lost" \
    "$STATE/state.json is missing (revision 0, no services), older than revision 2 forwarding in the adopted XDP maps in $BPFFS/$P-a" \
    "nothing was published: revision 2 goes on forwarding in the adopted XDP maps in $BPFFS/$P-a"
  mkdir -p "$STATE"
  cp -p "$TMP/xdp-state-r1.json" "$STATE/state.json"
  refused "xdp rolled-back state" \
    "$STATE/state.json is at revision 1, older than revision 2 forwarding in the adopted XDP maps"
  if started "xdp accept-rollback" --accept-state-rollback; then
    audited "xdp accept-rollback" '"method":"StartAcceptStateRollback","service":"","revision_before":1,"revision_after":3,"accepted":true'
    revision_is "xdp accept-rollback" 3 1
    changed "xdp accept-rollback: next change" 4 set-weights web stable=70 canary=30
    ci_stop_sluiced
  fi
  # Plain restarts on the consistent state start: each republishes
  # revision 4, which bumps the root's generation above it (5, then 6), so
  # the root's generation is not what the state is compared with.
  started "xdp restart 1" && ci_stop_sluiced
  started "xdp restart 2" && ci_stop_sluiced
fi
ci_finish
