#!/usr/bin/env bash
# deploy/prometheus: the demo's scrape config and the rules are valid (promtool check), and the
# rule unit tests prove each alert fires when it should and not when it should not.
#   prometheus_rules_test.sh REPO_DIR
set -euo pipefail
prom="$1/deploy/prometheus"
promtool check config "$prom/prometheus.yml"
promtool check rules "$prom/rules/sopstream.rules.yml"
(cd "$prom/tests" && promtool test rules sopstream.rules.test.yml)
# Every alert's runbook link points at a section of docs/OPERATIONS.md.
ops="$1/docs/OPERATIONS.md"
missing=0
for anchor in $(sed -n 's/^ *runbook: docs\/OPERATIONS.md#\(.*\)$/\1/p' "$prom/rules/sopstream.rules.yml"); do
  if ! grep -i '^### ' "$ops" | tr '[:upper:]' '[:lower:]' | sed 's/^### //' | grep -qx "$anchor"; then
    echo "FAIL runbook #$anchor has no '### ' section in docs/OPERATIONS.md"
    missing=$((missing + 1))
  fi
done
alerts=$(grep -c '^ *- alert:' "$prom/rules/sopstream.rules.yml")
runbooks=$(grep -c '^ *runbook: docs/OPERATIONS.md#' "$prom/rules/sopstream.rules.yml")
[ "$alerts" = "$runbooks" ] || { echo "FAIL $alerts alerts but $runbooks runbook links"; missing=$((missing + 1)); }
echo "runbooks: $runbooks of $alerts alerts link to docs/OPERATIONS.md sections, $missing problem(s)"
[ "$missing" -eq 0 ]
