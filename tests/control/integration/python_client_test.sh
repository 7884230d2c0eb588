#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# sluiced's gRPC API through an independent client: python_client_test.py
# (Debian's python3-grpcio, code generated at run time from proto/ only)
# against a real sluiced on a fresh state directory, on net_af_packet over
# a veth pair in a network namespace of its own.
#
#   python_client_test.sh PATH_TO_SLUICED     (meson passes the built one)
#
# Needs root (exit 77 otherwise) and python3-grpcio (exit 77 without it).
set -u

SLUICED=${1:?usage: python_client_test.sh PATH_TO_SLUICED}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/control/integration/lib.sh source-path=SCRIPTDIR
source "$HERE/lib.sh"
ci_init "pc$$" "$SLUICED"
ci_require_root
ci_require_python_grpc
ci_make_namespace

ci_start_sluiced "$TMP/daemon.log"
ci_wait_ready 30 || exit 1
ci_run "$PY" "$HERE/python_client_test.py" "$SOCK" "$ROOT/proto"
rc=$?
if [ "$rc" -ne 0 ]; then
  echo "python_client_test.py: exit $rc; sluiced's log:"
  sed 's/^/    /' "$CI_LOG"
  exit 1
fi
ci_stop_sluiced
if [ "$CI_EXIT" != 0 ]; then
  echo "FAIL: SIGTERM: exit $CI_EXIT (wanted 0); sluiced's log:"
  sed 's/^/    /' "$CI_LOG"
  exit 1
fi
