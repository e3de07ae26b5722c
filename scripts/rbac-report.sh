#!/usr/bin/env bash
# RBAC from evidence: runs every scenario that runs the operator or a
# deploy against fake API servers enforcing the charts' own rules, with
# what each rule allowed written under target/rbac-usage, then the report
# (tests/rbac.rs): used and unused permissions per role, failing on one no
# scenario needed and no reason keeps. CI gets the same from its one test
# run (.ci/run sets CONDUCTOR_RBAC_USAGE for it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage="$PWD/target/rbac-usage"
rm -rf "$usage"
# Every scenario file on a cluster of the tests' support (the controller or
# a deploy runs there).
tests=()
for file in $(grep -l -e 'support/cluster.rs' -e 'support/fleet.rs' tests/*.rs); do
  tests+=(--test "$(basename "$file" .rs)")
done
CONDUCTOR_RBAC_USAGE="$usage" cargo test "${tests[@]}"
CONDUCTOR_RBAC_REPORT="$usage" cargo test --test rbac -- --nocapture --test-threads 1
