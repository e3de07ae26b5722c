#!/usr/bin/env bash
# The fuzz step of CI: builds every target under fuzz/ once and runs each
# for a short while from its committed seeds (fuzz/seeds/<target>), which
# catches a parser that panics on inputs near the fixtures. The long runs
# the README reports use scripts/fuzz-long.sh.
#
# Needs the nightly toolchain (`cargo +nightly`), which CI machines carry
# and which cannot be fetched here: without it, this says so and skips.
# cargo-fuzz installs from crates.io when missing (about a minute).
#
# `fuzz-ci.sh build` only builds, `fuzz-ci.sh run` only runs (building
# what is missing), no argument does both: CI builds while its tests run.
# FUZZ_SECONDS: seconds per target (default 10).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds="${FUZZ_SECONDS:-10}"
mode="${1:-all}"

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: skipped: no nightly toolchain (cargo +nightly), which cargo-fuzz needs"
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --quiet
fi

# Unoptimised and without a sanitizer: a third of the optimised build's
# time, and fast enough to run every seed and mutate for a few seconds.
# The code under test forbids `unsafe`, so AddressSanitizer would watch
# only dependencies; the long runs use it.
flags=(--dev --sanitizer none)
# Not a workspace member, so the root `cargo fmt --all` does not see it.
if [ "$mode" != run ]; then
  cargo fmt --manifest-path fuzz/Cargo.toml -- --check
  cargo +nightly fuzz build "${flags[@]}"
fi
[ "$mode" != build ] || exit 0
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

# Runs one target; a crash leaves its input in fuzz/artifacts/<target>/.
run() {
  local target="$1" log="$logs/$1.log" corpus="fuzz/corpus/$1"
  mkdir -p "$corpus"
  # Seeds are read, new finds go to the ignored corpus folder.
  if ! cargo +nightly fuzz run "${flags[@]}" "$target" "$corpus" "fuzz/seeds/$target" -- \
    -max_total_time="$seconds" -timeout=20 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz: $target failed; its input is in fuzz/artifacts/$target/"
    return 1
  fi
  local runs rate
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")"
  echo "fuzz: $target: ${runs:-?} runs in ${seconds}s (${rate:-?}/s), no crash"
}

# Two at a time, one per core.
failed=0
running=0
for target in $(cargo +nightly fuzz list); do
  if [ "$running" -ge 2 ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
  run "$target" &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
exit "$failed"
