#!/usr/bin/env bash
# The Dockerfile cannot be built offline (no base images); these checks keep it correct by reading:
# the runtime stage's packages exist on this Debian 12 machine and cover every shared library the
# built binaries load (and nothing the build needs), the build stage installs tools/dev's build
# packages, the image runs as the uid the chart expects, the default SERVICES are the chart's
# six binaries, and the entrypoint selects a binary (or refuses an unknown one with exit 64).
#   dockerfile_test.sh REPO_DIR BUILD_DIR WORK_DIR
set -uo pipefail
repo="$1"
build="$2"
work="$3"
mkdir -p "$work"
dockerfile="$repo/Dockerfile"
entrypoint="$repo/deploy/docker/sop-entrypoint"
failures=0
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }

# The apt-get install lines of one stage (between its FROM and the next FROM).
stage_packages() {
  awk -v stage="$1" '
    /^FROM / { in_stage = ($0 ~ (" AS " stage "$")) }
    in_stage && grab && /^ *&&/ { grab = 0 }
    in_stage && grab { print }
    in_stage && /apt-get install/ { grab = 1 }
  ' "$dockerfile" | tr ' \\' '\n\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' |
    grep -vE '^(apt-get|install|rm|update|qq|y|no|recommends|lib$|var|lists|-)$' | sort -u
}
runtime_packages=$(stage_packages runtime)
build_packages=$(stage_packages build)

# 1. runtime packages are real Debian 12 packages (installed here by tools/dev setup's deps)
for package in $runtime_packages; do
  if dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    pass "runtime package $package exists (installed on this Debian $(cat /etc/debian_version))"
  else
    fail "runtime package $package is not a Debian 12 package installed here"
  fi
done

# 2. every shared library of every built binary comes from a runtime package or its dependencies
closure="$work/runtime-closure.txt"
apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances $runtime_packages 2>/dev/null | grep -E '^[a-z0-9]' | sed 's/:.*//' |
  sort -u >"$closure"
binaries=$(ls "$build"/services/*/sop-* "$build"/tools/sopctl/sopctl 2>/dev/null | grep -v '_')
if [ -z "$binaries" ]; then
  echo "note: no service binaries built in $build; library coverage not checked"
fi
# one dpkg -S over every library any binary loads (dpkg -S is slow per call)
libraries=$(for binary in $binaries; do ldd "$binary" | awk '/=>/ {print $3}'; done | sort -u | xargs -r -n1 basename | sort -u)
owners="$work/library-packages.txt"
if [ -n "$libraries" ]; then
  # shellcheck disable=SC2086
  dpkg -S $libraries 2>/dev/null | sed -E 's/^([^:]+):[^:]*: (.*)$/\1 \2/' |
    while read -r package path; do echo "${path#/usr} $package"; done | sort -u >"$owners"
fi
for binary in $binaries; do
  missing=""
  for library in $(ldd "$binary" | awk '/=>/ {print $3}'); do
    # the owner of this exact path (/lib and /usr/lib are one directory since usrmerge)
    package=$(awk -v lib="${library#/usr}" '$1 == lib {print $2; exit}' "$owners")
    if [ -z "$package" ] || ! grep -qx "$package" "$closure"; then
      missing="$missing $(basename "$library")(${package:-no package})"
    fi
  done
  if [ -z "$missing" ]; then
    pass "$(basename "$binary"): every shared library comes with the runtime packages"
  else
    fail "$(basename "$binary"): libraries not provided by the runtime stage:$missing"
  fi
done

# 3. the build stage installs the build packages tools/dev setup installs
for package in build-essential cmake ninja-build pkg-config libgrpc++-dev protobuf-compiler-grpc \
               libprotobuf-dev protobuf-compiler librdkafka-dev libhiredis-dev prometheus-cpp-dev \
               libgtest-dev libgmock-dev libbenchmark-dev; do
  grep -q "^$package\$" <<<"$build_packages" || fail "build stage lacks $package (tools/dev setup installs it)"
  grep -qw -- "$package" "$repo/tools/dev" || fail "$package is no longer in tools/dev's package list"
done
pass "build stage installs tools/dev's build packages"
grep -q 'cmake --preset release' "$dockerfile" && pass "build uses the release preset" ||
  fail "build does not use the release preset"

# 4. non-root uid = the chart's runAsUser; default services = the chart's binaries
uid=$(awk '/^USER /{split($2, a, ":"); print a[1]}' "$dockerfile")
chart_uid=$(awk '/^podSecurityContext:/{p=1} p && /runAsUser:/{print $2; exit}' "$repo/charts/sopstream/values.yaml")
[ -n "$uid" ] && [ "$uid" != 0 ] && [ "$uid" = "$chart_uid" ] && pass "image runs as uid $uid = chart runAsUser" ||
  fail "image USER '$uid' vs chart runAsUser '$chart_uid'"
services=$(sed -n 's/^ARG SERVICES="\(.*\)"/\1/p' "$dockerfile" | tr ' ' '\n' | sort | tr '\n' ' ')
chart=$(grep -E '^\s+binary: sop-' "$repo/charts/sopstream/values.yaml" | sed 's/.*sop-//' | sort | tr '\n' ' ')
[ "$services" = "$chart" ] && pass "image builds the chart's binaries: $services" ||
  fail "Dockerfile SERVICES '$services' differ from the chart's binaries '$chart'"
grep -q 'ENTRYPOINT \["/usr/local/bin/sop-entrypoint"\]' "$dockerfile" && pass "entrypoint is sop-entrypoint" ||
  fail "ENTRYPOINT is not sop-entrypoint"

# 5. the entrypoint selects the binary
sh -n "$entrypoint" && pass "sop-entrypoint parses" || fail "sop-entrypoint has a syntax error"
bin="$work/bin"
rm -rf "$bin" && mkdir -p "$bin"
printf '#!/bin/sh\necho "ran sop-mrp $*"\n' >"$bin/sop-mrp" && chmod +x "$bin/sop-mrp"
out=$(SOP_BIN_DIR="$bin" "$entrypoint" mrp --grpc.port=1 2>&1)
[ "$out" = "ran sop-mrp --grpc.port=1" ] && pass "IMAGE mrp runs sop-mrp with the flags" || fail "IMAGE mrp gave '$out'"
out=$(SOP_BIN_DIR="$bin" "$entrypoint" sop-mrp 2>&1)
[ "$out" = "ran sop-mrp " ] && pass "IMAGE sop-mrp runs sop-mrp" || fail "IMAGE sop-mrp gave '$out'"
out=$(SOP_BIN_DIR="$bin" "$entrypoint" planner 2>&1); code=$?
[ "$code" = 64 ] && grep -q "unknown service 'planner'" <<<"$out" && pass "unknown service: exit 64 naming it" ||
  fail "unknown service gave exit $code: $out"
out=$(SOP_BIN_DIR="$bin" "$entrypoint" capacity 2>&1); code=$?
[ "$code" = 64 ] && grep -q "sop-capacity is not in this image" <<<"$out" && pass "missing binary: exit 64 naming it" ||
  fail "missing binary gave exit $code: $out"

echo "$failures failure(s)"
[ "$failures" -eq 0 ]
