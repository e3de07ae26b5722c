#!/usr/bin/env bash
# The long fuzz runs the README reports: each target (or those named as
# arguments) for FUZZ_RUNS executions (default 10 million), one at a time,
# at the lowest CPU priority, from its seeds and the corpus earlier runs
# grew (fuzz/corpus/<target>, not committed). Prints per target the
# executions, executions per second and whether it crashed; the full
# libFuzzer output is in fuzz/logs/<target>.log. libFuzzer stops at the
# first crash and leaves its input in fuzz/artifacts/<target>/.
#
# Optimised, with debug assertions and overflow checks, no sanitizer (the
# code under test forbids `unsafe`): two to three times the executions per
# second of an AddressSanitizer build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs="${FUZZ_RUNS:-10000000}"
flags=(--release --debug-assertions --sanitizer none)

nice -n 19 cargo +nightly fuzz build "${flags[@]}"
mkdir -p fuzz/logs
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
status=0
for target in "${targets[@]}"; do
  corpus="fuzz/corpus/$target"
  log="fuzz/logs/$target.log"
  mkdir -p "$corpus"
  start=$(date +%s)
  if nice -n 19 cargo +nightly fuzz run "${flags[@]}" "$target" "$corpus" "fuzz/seeds/$target" -- \
    -runs="$runs" -timeout=30 -print_final_stats=1 >"$log" 2>&1; then
    outcome="no crash"
  else
    outcome="CRASHED: see $log and fuzz/artifacts/$target/"
    status=1
  fi
  executed="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")"
  echo "$target: ${executed:-?} executions, ${rate:-?}/s, $(( $(date +%s) - start ))s, $outcome"
done
exit "$status"
