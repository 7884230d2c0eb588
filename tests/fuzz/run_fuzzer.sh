#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time, as a meson test.
#   run_fuzzer.sh FUZZER CORPUS_DIR [SEED_DIR]
# CORPUS_DIR (in the build dir) keeps what the fuzzer learns between runs;
# SEED_DIR (in the source tree, read only) holds hand-made starting inputs.
# SLUICE_FUZZ_SECONDS sets the time (default 20; 0 skips fuzzing).
set -euo pipefail

fuzzer=$1
corpus=$2
seeds=${3:-}
seconds=${SLUICE_FUZZ_SECONDS:-20}

if ! [[ $seconds =~ ^[0-9]+$ ]]; then
  echo "SLUICE_FUZZ_SECONDS must be a whole number of seconds, got '$seconds'" >&2
  exit 1
fi
if [[ $seconds == 0 ]]; then
  echo "SLUICE_FUZZ_SECONDS=0: fuzzing skipped"
  exit 77  # meson's "skipped"
fi

mkdir -p "$corpus" "$corpus.crashes"
dirs=("$corpus")
if [[ -n $seeds && -d $seeds ]]; then
  dirs+=("$seeds")
fi

# -timeout: one input running this long is a hang, reported as a failure.
# -error_exitcode: libFuzzer's default, 77, is what meson reads as "skipped".
# The outer timeout only guards against libFuzzer itself never stopping.
exec timeout --kill-after=30 $((seconds + 300)) "$fuzzer" \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -error_exitcode=1 -timeout_exitcode=1 \
  -artifact_prefix="$corpus.crashes/" "${dirs[@]}"
