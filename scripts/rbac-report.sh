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
CONDUCTOR_RBAC_USAGE="$usage" cargo test \
  --test operator --test routers --test dashboard --test argo_corpus --test kubectl_plugin \
  --test deploy
CONDUCTOR_RBAC_REPORT="$usage" cargo test --test rbac -- --nocapture --test-threads 1
