# shellcheck shell=bash
# Steps shared by tools/test and tools/demo. Sourced; expects `set -euo pipefail`.

SLUICE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tools/lib/packages.sh
source "$SLUICE_ROOT/tools/lib/packages.sh"

# Build dirs, relative to the repository root unless absolute. Overridable so
# that several checkouts or engineers can share a machine.
SLUICE_BUILD_DIR=${SLUICE_BUILD_DIR:-build}
SLUICE_FUZZ_BUILD_DIR=${SLUICE_FUZZ_BUILD_DIR:-build-fuzz}

stage() {
  printf '\n==> %s\n' "$*"
}

die() {
  printf '\nerror: %s\n' "$*" >&2
  exit 1
}

# Installs whichever of SLUICE_PACKAGES are missing; touches apt only then.
ensure_packages() {
  local missing=() pkg status
  stage "checking Debian packages"
  for pkg in "${SLUICE_PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [[ $status != "install ok installed" ]]; then
      missing+=("$pkg")
    fi
  done
  if ((${#missing[@]} == 0)); then
    echo "all ${#SLUICE_PACKAGES[@]} packages present"
    return
  fi
  stage "installing: ${missing[*]}"
  if ((EUID != 0)); then
    die "missing packages and not root; run as root or: apt-get install ${missing[*]}"
  fi
  apt-get update </dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    "${missing[@]}" </dev/null
}

# meson setup DIR [ARGS...], or a reconfigure when DIR is already set up, so
# options given here also apply to an existing build dir.
configure() {
  local dir=$1
  shift
  if [[ -f $dir/meson-private/coredata.dat ]]; then
    meson setup --reconfigure "$dir" "$@"
  else
    meson setup "$dir" "$@"
  fi
}

# Configures the main build dir (gcc). A failure here ends the script.
configure_main() {
  stage "configuring $SLUICE_BUILD_DIR"
  configure "$SLUICE_BUILD_DIR"
}

# Builds everything in the main build dir that can be built (-k 0), so one
# broken file does not hide the results of every other test. Returns
# non-zero if anything failed to build.
build_main() {
  stage "building $SLUICE_BUILD_DIR"
  ninja -C "$SLUICE_BUILD_DIR" -k 0
}

# Prints the names of the tests of build dir $1 whose program is built and
# up to date (with $2 = missing: of the others). After a failed build an old
# program may still be there; ninja -n tells whether it is current.
list_tests() {
  meson introspect "$1" --tests | python3 -c '
import json, os, subprocess, sys
build_dir, want = sys.argv[1], sys.argv[2]
def current(program):
    if not os.path.exists(program):
        return False
    rel = os.path.relpath(program, os.path.abspath(build_dir))
    dry = subprocess.run(["ninja", "-C", build_dir, "-n", rel],
                         capture_output=True, text=True)
    if "unknown target" in dry.stdout + dry.stderr:
        return True  # a script from the source tree, not a build output
    return dry.returncode == 0 and "no work to do" in dry.stdout
for test in json.load(sys.stdin):
    if current(test["cmd"][0]) == (want == "built"):
        print(test["name"])
' "$1" "${2:-built}"
}
