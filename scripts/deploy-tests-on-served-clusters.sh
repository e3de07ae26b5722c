#!/usr/bin/env bash
# Runs tests/deploy.rs the way it runs against real clusters (KUBECONFIG
# set, three contexts in CONDUCTOR_TEST_CONTEXTS), with three fake API
# servers served over loopback as those clusters: the real-cluster path of
# the scenarios stays exercised without a cluster.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo build --quiet --workspace --examples
dir=$(mktemp -d)
pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap stop EXIT

kubeconfigs=()
for cluster in eu us ap; do
  target/debug/examples/serve "$dir/$cluster.kubeconfig" "served-$cluster" >"$dir/$cluster.log" 2>&1 &
  pids+=("$!")
  kubeconfigs+=("$dir/$cluster.kubeconfig")
done
for cluster in eu us ap; do
  for _ in $(seq 100); do
    grep -q '^ready' "$dir/$cluster.log" 2>/dev/null && break
    sleep 0.1
  done
  grep -q '^ready' "$dir/$cluster.log" || { cat "$dir/$cluster.log"; echo "served cluster $cluster did not start" >&2; exit 1; }
done

KUBECONFIG=$(IFS=:; echo "${kubeconfigs[*]}") \
CONDUCTOR_TEST_CONTEXTS=served-eu,served-us,served-ap \
  cargo test --test deploy
