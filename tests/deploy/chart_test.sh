#!/usr/bin/env bash
# Offline checks of charts/sopstream: helm lint --strict and helm template for the default and the
# production-like values, the rendered manifests against the Kubernetes/KEDA/Prometheus-operator/
# Strimzi schemas (validate-manifests.mjs), and the schema / render-time rejections of bad values.
#   chart_test.sh SOURCE_DIR WORK_DIR
set -uo pipefail
src="$(cd "$1" && pwd)"
work="$2"
repo="$(cd "$src/../.." && pwd)"
chart="$repo/charts/sopstream"
prod="$chart/ci/production-values.yaml"
helm="$("$repo/tools/install-helm" --check)" || { echo "helm not installed (tools/install-helm)"; exit 1; }
out="$work/chart"
mkdir -p "$out"
failures=0
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }

# 1. lint and render
for values in default production; do
  extra=()
  [ "$values" = production ] && extra=(-f "$prod")
  if "$helm" lint --strict "$chart" "${extra[@]}" >"$out/lint-$values.log" 2>&1; then
    pass "helm lint --strict ($values values)"
  else
    fail "helm lint --strict ($values values)"; cat "$out/lint-$values.log"
  fi
  if "$helm" template sop "$chart" --namespace sop "${extra[@]}" >"$out/$values.yaml" 2>"$out/template-$values.log"; then
    pass "helm template ($values values)"
  else
    fail "helm template ($values values)"; cat "$out/template-$values.log"
  fi
done

# 2. the rendered manifests against the schemas, with the objects each values file must give
# (an ES module resolves its imports beside itself: run it from the installed node_modules' dir)
cp "$src/validate-manifests.mjs" "$work/node/"
if (cd "$work/node" && node validate-manifests.mjs "$out/default.yaml" \
      --expect Deployment=6 --expect Service=6 --expect ServiceAccount=6 --expect ConfigMap=6 \
      --expect PodDisruptionBudget=6 --expect NetworkPolicy=6 --expect HorizontalPodAutoscaler=5 \
      --expect ScaledObject=0 --expect KafkaTopic=0 --expect ServiceMonitor=0); then
  pass "default manifests validate"
else
  fail "default manifests validate"
fi
if (cd "$work/node" && node validate-manifests.mjs "$out/production.yaml" \
      --expect Deployment=6 --expect ScaledObject=5 --expect HorizontalPodAutoscaler=0 \
      --expect TriggerAuthentication=1 --expect KafkaTopic=8 --expect ServiceMonitor=6 \
      --expect NetworkPolicy=6 --expect PodDisruptionBudget=6); then
  pass "production manifests validate"
else
  fail "production manifests validate"
fi

# gRPC over TLS: certificates mounted, probes fall back to TCP connects
if "$helm" template sop "$chart" --set grpcTls.existingSecret=sop-grpc-tls >"$out/grpc-tls.yaml" 2>"$out/template-tls.log" &&
   (cd "$work/node" && node validate-manifests.mjs "$out/grpc-tls.yaml" --grpc-tls --expect Deployment=6) &&
   grep -q 'SOP_GRPC_TLS_CERT: /etc/sopstream/grpc-tls/tls.crt' "$out/grpc-tls.yaml" &&
   grep -q 'secretName: sop-grpc-tls' "$out/grpc-tls.yaml"; then
  pass "gRPC TLS values: certificate mounted, TCP probes"
else
  fail "gRPC TLS values"; cat "$out/template-tls.log"
fi

# the dependency manifests in deploy/kubernetes (Strimzi Kafka + user, Redis)
if (cd "$work/node" && node validate-manifests.mjs "$repo/deploy/kubernetes/strimzi-kafka.yaml" \
      --expect Kafka=1 --expect KafkaNodePool=1 --expect KafkaUser=1); then
  pass "deploy/kubernetes/strimzi-kafka.yaml validates"
else
  fail "deploy/kubernetes/strimzi-kafka.yaml validates"
fi
if (cd "$work/node" && node validate-manifests.mjs "$repo/deploy/kubernetes/redis.yaml" \
      --expect StatefulSet=1 --expect Service=1 --expect ConfigMap=1); then
  pass "deploy/kubernetes/redis.yaml validates"
else
  fail "deploy/kubernetes/redis.yaml validates"
fi

# 3. what the rendered objects must say (numbers from the values files)
expect_in() {  # expect_in FILE PATTERN WHAT
  if grep -qE -- "$2" "$1"; then pass "$3"; else fail "$3 (no line matching '$2' in $(basename "$1"))"; fi
}
expect_in "$out/default.yaml" 'SOP_KAFKA_BOOTSTRAP_SERVERS: "sopstream-kafka-kafka-bootstrap:9092"' "bootstrap from values"
expect_in "$out/default.yaml" 'SOP_KAFKA_GROUP_ID: "sop-mrp"' "mrp consumer group"
expect_in "$out/default.yaml" 'args: \["sop-capacity"\]' "capacity binary selected"
expect_in "$out/production.yaml" 'maxReplicaCount: 12' "ingestion scales to the 12 partitions of sop.erp.events.v1"
expect_in "$out/production.yaml" 'sasl: "scram_sha512"' "KEDA trigger uses SCRAM-SHA-512"
expect_in "$out/production.yaml" 'SOP_KAFKA_SSL_CA_LOCATION: "/etc/sopstream/kafka-ca/ca.crt"' "Kafka CA mounted for librdkafka"
expect_in "$out/production.yaml" 'name: sopstream-kafka-user' "SASL credentials from the Secret"
expect_in "$out/production.yaml" 'min.insync.replicas: 2' "topics with min.insync.replicas 2"
expect_in "$out/production.yaml" 'cleanup.policy: compact' "sop.workflow.v1 compacted"
expect_in "$out/production.yaml" 'SOP_KAFKA_COMPRESSION_TYPE: "lz4"' "librdkafka property passed through"
expect_in "$out/production.yaml" 'SOP_MRP_BATCH_MAX: "2s"' "service setting passed as SOP_*"
expect_in "$out/default.yaml" 'SOP_WORKFLOW_MRP_ADDRESS: "sop-sopstream-mrp:50053"' "workflow reads mrp at its Service"
expect_in "$out/production.yaml" 'name: SOP_WORKFLOW_SOURCE_TOKEN' "workflow.source-token from a Secret"
expect_in "$out/production.yaml" 'SOP_AUTH_TOKENS_FILE: "/etc/sopstream/auth/tokens"' "tokens file from the Secret (auth.tokens-file)"
if grep -q 'password: ' "$out/production.yaml" && ! grep -q 'secretKeyRef' "$out/production.yaml"; then
  fail "secrets only by reference"
else
  pass "secrets only by reference"
fi

# the chart's topics are exactly the project's topics (libs/bus/include/sop/bus/topics.hpp)
bus_topics=$(grep -oE '"sop\.[a-z0-9.]+\.v[0-9]+"' "$repo/libs/bus/include/sop/bus/topics.hpp" | tr -d '"' | sort -u | tr '\n' ' ')
chart_topics=$(awk '/^topics:/{p=1; next} p && /^[^ ]/{p=0} p && /^  sop\./{sub(":", "", $1); print $1}' "$chart/values.yaml" | sort -u | tr '\n' ' ')
if [ -n "$bus_topics" ] && [ "$bus_topics" = "$chart_topics" ]; then
  pass "chart topics = libs/bus topics: $chart_topics"
else
  fail "chart topics '$chart_topics' differ from libs/bus topics '$bus_topics'"
fi

# 4. bad values are rejected, with a message naming the field (and value)
reject() {  # reject WHAT EXPECTED_MESSAGE helm-args...
  local what="$1" message="$2"
  shift 2
  local log="$out/reject.log"
  if "$helm" template sop "$chart" "$@" >/dev/null 2>"$log"; then
    fail "rejects $what (rendered without error)"
  elif grep -qF -- "$message" "$log"; then
    pass "rejects $what: $(grep -F -- "$message" "$log" | head -1 | sed 's/^[- ]*//')"
  else
    fail "rejects $what (message lacks '$message')"; cat "$log"
  fi
}
reject "zero replicas" "services.mrp.replicas: Must be greater than or equal to 1" --set services.mrp.replicas=0
reject "zero autoscaling minimum" "services.ingestion.autoscaling.minReplicas: Must be greater than or equal to 1" \
  --set services.ingestion.autoscaling.minReplicas=0
reject "an unknown pull policy" 'image.pullPolicy must be one of the following: "Always", "IfNotPresent", "Never"' \
  --set image.pullPolicy=Sometimes
reject "a missing Kafka bootstrap" "kafka: bootstrapServers is required" --set kafka.bootstrapServers=null
reject "a Kafka bootstrap without port" "kafka.bootstrapServers: Does not match pattern" \
  --set kafka.bootstrapServers=kafka.example
reject "an unknown security protocol" "kafka.securityProtocol" --set kafka.securityProtocol=TLS
reject "SASL without a credentials Secret" "kafka.sasl.existingSecret" --set kafka.securityProtocol=SASL_SSL
reject "a port above 65535" "services.forecasting.grpcPort: Must be less than or equal to 65535" \
  --set services.forecasting.grpcPort=70000
reject "a writable root filesystem" "containerSecurityContext.readOnlyRootFilesystem" \
  --set containerSecurityContext.readOnlyRootFilesystem=false
reject "an unknown service" "services: Additional property planner is not allowed" \
  --set services.planner.enabled=true
reject "replicas above the partition count" \
  "services.mrp.replicas: 7 is above the 6 partitions of the topics it consumes (sop.facts.v1, sop.forecast.v1)" \
  --set services.mrp.autoscaling.enabled=false --set services.mrp.replicas=7
reject "autoscaling above the partition count" \
  "services.ingestion.autoscaling.maxReplicas: 13 is above the 12 partitions of the topics it consumes (sop.erp.events.v1)" \
  -f "$prod" --set services.ingestion.autoscaling.maxReplicas=13
reject "a consumed topic that is not declared" 'services.forecasting.consumes: topic "sop.other.v1" is not declared under topics' \
  --set 'services.forecasting.consumes={sop.other.v1}'

echo "$failures failure(s)"
[ "$failures" -eq 0 ]
