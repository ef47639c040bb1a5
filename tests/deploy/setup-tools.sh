#!/usr/bin/env bash
# ctest fixture of the deploy checks: installs helm (tools/install-helm) and the npm packages of
# validate-manifests.mjs (package-lock.json, `npm ci`) into the build directory. Idempotent:
# an unchanged lock file keeps the installed node_modules.
#   setup-tools.sh SOURCE_DIR WORK_DIR
set -euo pipefail
src="$(cd "$1" && pwd)"
work="$2"
repo="$(cd "$src/../.." && pwd)"
mkdir -p "$work/node"
"$repo/tools/install-helm" >/dev/null
if ! cmp -s "$src/package-lock.json" "$work/node/package-lock.json" || [ ! -d "$work/node/node_modules" ]; then
  cp "$src/package.json" "$src/package-lock.json" "$work/node/"
  (cd "$work/node" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
echo "deploy tools ready: $("$repo/tools/install-helm" --check), node_modules in $work/node"
