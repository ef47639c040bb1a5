#!/usr/bin/env bash
# deploy/prometheus: the demo's scrape config and the rules are valid (promtool check), and the
# rule unit tests prove each alert fires when it should and not when it should not.
#   prometheus_rules_test.sh REPO_DIR
set -euo pipefail
prom="$1/deploy/prometheus"
promtool check config "$prom/prometheus.yml"
promtool check rules "$prom/rules/sopstream.rules.yml"
(cd "$prom/tests" && promtool test rules sopstream.rules.test.yml)
