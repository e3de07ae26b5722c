#!/usr/bin/env bash
# The soak at full length: 1,000 Rollouts through image updates and aborts
# against the served fake API server under faults (tests/soak), for
# `seconds` (default 600, ten minutes), optimised. The test command runs a
# one-minute debug version of the same test. Seed with CONDUCTOR_SOAK_SEED
# to replay a run; the controller's log is target/tmp/soak-controller.log.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CONDUCTOR_SOAK_SECONDS="${1:-600}" exec cargo test --release --test soak -- --nocapture
