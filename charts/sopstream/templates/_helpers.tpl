{{/* Chart name, truncated to the 63 characters Kubernetes allows in a label. */}}
{{- define "sopstream.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified base name: <release> when it already contains the chart name. */}}
{{- define "sopstream.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "sopstream.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "sopstream.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Name of one service's objects: <fullname>-<service>. Call with (dict "root" $ "name" $name). */}}
{{- define "sopstream.serviceName" -}}
{{- printf "%s-%s" (include "sopstream.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The recommended app.kubernetes.io/* labels of one service's objects. */}}
{{- define "sopstream.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "sopstream.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: sopstream
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels: stable for the life of a release (never add a changing value here). */}}
{{- define "sopstream.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sopstream.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* Labels of objects that belong to the release, not to one service (topics). */}}
{{- define "sopstream.releaseLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "sopstream.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sopstream
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "sopstream.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/*
The most replicas a service may run: the smallest partition count among the topics it consumes
(a replica owns the sites of its partitions; one more would sit idle and still join rebalances).
A service that consumes nothing has no bound from Kafka: 1000.
Call with (dict "root" $ "name" $name "svc" $svc).
*/}}
{{- define "sopstream.partitionBound" -}}
{{- $bound := 1000 -}}
{{- range .svc.consumes -}}
{{- $topic := index $.root.Values.topics . -}}
{{- if not $topic -}}
{{- fail (printf "services.%s.consumes: topic %q is not declared under topics" $.name .) -}}
{{- end -}}
{{- if lt (int $topic.partitions) $bound -}}
{{- $bound = int $topic.partitions -}}
{{- end -}}
{{- end -}}
{{- $bound -}}
{{- end -}}

{{/* Whether a service scales automatically: its autoscaling.enabled (default true). */}}
{{- define "sopstream.autoscaled" -}}
{{- if and .svc.autoscaling (ne (toString .svc.autoscaling.enabled) "false") -}}true{{- end -}}
{{- end -}}

{{/* Fails the render when a service's replica counts exceed its partition bound. */}}
{{- define "sopstream.checkReplicas" -}}
{{- $bound := int (include "sopstream.partitionBound" .) -}}
{{- if gt (int .svc.replicas) $bound -}}
{{- fail (printf "services.%s.replicas: %d is above the %d partitions of the topics it consumes (%s)" .name (int .svc.replicas) $bound (join ", " .svc.consumes)) -}}
{{- end -}}
{{- if include "sopstream.autoscaled" . -}}
{{- if gt (int .svc.autoscaling.maxReplicas) $bound -}}
{{- fail (printf "services.%s.autoscaling.maxReplicas: %d is above the %d partitions of the topics it consumes (%s)" .name (int .svc.autoscaling.maxReplicas) $bound (join ", " .svc.consumes)) -}}
{{- end -}}
{{- if gt (int .svc.autoscaling.minReplicas) (int .svc.autoscaling.maxReplicas) -}}
{{- fail (printf "services.%s.autoscaling.minReplicas: %d is above maxReplicas %d" .name (int .svc.autoscaling.minReplicas) (int .svc.autoscaling.maxReplicas)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* SOP_* variable of a setting name: upper-cased, '.' and '-' become '_' (libs/runtime). */}}
{{- define "sopstream.envName" -}}
{{- printf "SOP_%s" (. | replace "." "_" | replace "-" "_" | upper) -}}
{{- end -}}

{{/* SOP_KAFKA_* variable of a librdkafka property: '_' doubles, then '.' becomes '_'. */}}
{{- define "sopstream.kafkaEnvName" -}}
{{- printf "SOP_KAFKA_%s" (. | replace "_" "__" | replace "." "_" | upper) -}}
{{- end -}}

{{/* Whether the Kafka connection uses SASL. */}}
{{- define "sopstream.kafkaSasl" -}}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol -}}true{{- end -}}
{{- end -}}

{{/* Whether the Kafka connection uses TLS. */}}
{{- define "sopstream.kafkaTls" -}}
{{- if or (eq .Values.kafka.securityProtocol "SSL") (eq .Values.kafka.securityProtocol "SASL_SSL") -}}true{{- end -}}
{{- end -}}

{{/* Whether KEDA's kafka scaler needs a TriggerAuthentication (SASL credentials or a CA). */}}
{{- define "sopstream.kedaAuth" -}}
{{- if or (include "sopstream.kafkaSasl" .) (and (include "sopstream.kafkaTls" .) .Values.kafka.tls.caSecret) -}}true{{- end -}}
{{- end -}}

{{/* The probe action: grpc.health.v1 on the gRPC port, or a TCP connect when gRPC uses TLS. */}}
{{- define "sopstream.probeAction" -}}
{{- if .root.Values.grpcTls.existingSecret -}}
tcpSocket:
  port: grpc
{{- else -}}
grpc:
  port: {{ .svc.grpcPort }}
{{- end -}}
{{- end -}}
