#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Durability under SIGKILL: what sluiced acknowledged survives, and what it
# did not acknowledge is either absent or exactly as sent.
#
#   kill9_test.sh PATH_TO_SLUICED     (meson passes the built one)
#
# A real sluiced on a fresh state directory (net_af_packet over a veth pair
# in a network namespace of its own). kill9_client.py makes 1000 SetWeights
# calls through the gRPC API, recording each acknowledged revision, and
# kills sluiced with SIGKILL at a random point among them. sluiced restarts
# on the same state directory: the loaded revision must be the last
# acknowledged one with its weights, or that + 1 with exactly the weights
# of the call in flight (saved, not acknowledged); the remaining calls then
# go on from it, and the audit log has a record per revision.
#
# The kill point comes from SLUICE_KILL9_SEED (random when unset; printed,
# so a failure can be replayed). Needs root (exit 77 otherwise).
set -u

SLUICED=${1:?usage: kill9_test.sh PATH_TO_SLUICED}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/control/integration/lib.sh source-path=SCRIPTDIR
source "$HERE/lib.sh"
ci_init "k9$$" "$SLUICED"
ci_require_root
ci_require_python_grpc
ci_make_namespace

KILL_SEED=${SLUICE_KILL9_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
CALLS=1000
echo "kill point seed: $KILL_SEED (replay with SLUICE_KILL9_SEED=$KILL_SEED)"

daemon_failed() {
  fail "$1; sluiced's log:"
  sed 's/^/    /' "$CI_LOG"
}

ci_start_sluiced "$TMP/daemon1.log"
ci_wait_ready 30 || exit 1
killed_pid=$SLUICED_PID
if ! ci_run "$PY" "$HERE/kill9_client.py" load --socket "$SOCK" --proto-root "$ROOT/proto" \
  --pid "$killed_pid" --calls "$CALLS" --seed "$KILL_SEED" --result "$TMP/load.json"; then
  daemon_failed "the calls before the kill"
  ci_finish
fi
wait "$killed_pid"
rc=$?
SLUICED_PID=""
if [ "$rc" -ne 137 ]; then
  daemon_failed "sluiced exited with $rc, wanted 137 (killed by SIGKILL)"
  ci_finish
fi
echo "ok: sluiced killed by SIGKILL"

# The restart: the stale socket and the EAL runtime files of the killed
# process stay behind, and must not stop it.
ci_start_sluiced "$TMP/daemon2.log"
if ! ci_wait_ready 30; then
  fail "restart after SIGKILL"
  ci_finish
fi
echo "ok: restart after SIGKILL ($(grep -o 'revision [0-9]*, 1 service(s)' "$CI_LOG"))"
if ! ci_run "$PY" "$HERE/kill9_client.py" verify --socket "$SOCK" --proto-root "$ROOT/proto" \
  --calls "$CALLS" --result "$TMP/load.json" --audit "$AUDIT"; then
  daemon_failed "after the restart"
fi
ci_stop_sluiced
[ "$CI_EXIT" = 0 ] || daemon_failed "SIGTERM: exit $CI_EXIT (wanted 0)"
ci_finish
