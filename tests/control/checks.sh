# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# Checks shared by the shell tests of sluiced (daemon/sluiced_cli_test.sh,
# daemon/sluiced_ownership_test.sh, and through integration/lib.sh the
# control-plane integration tests). The test sets TMP (a folder of its
# own) and failures=0 before using them.

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# check NAME WANTED_EXIT PATTERN COMMAND...: runs COMMAND, expects its exit
# code and PATTERN (a fixed string) in its output (stdout and stderr).
check() {
  local name=$1 want=$2 pattern=$3
  shift 3
  timeout 60 "$@" </dev/null >"$TMP/out" 2>&1
  local rc=$?
  if [ "$rc" -ne "$want" ] || ! grep -qF -- "$pattern" "$TMP/out"; then
    fail "$name: exit $rc (wanted $want), wanted \"$pattern\" in:"
    sed 's/^/    /' "$TMP/out"
    return 1
  fi
  echo "ok: $name"
}

# not_in_output NAME TEXT: the last command's output lacks TEXT.
not_in_output() {
  if grep -qF -- "$2" "$TMP/out"; then
    fail "$1: unexpected \"$2\" in:"
    sed 's/^/    /' "$TMP/out"
  fi
}
