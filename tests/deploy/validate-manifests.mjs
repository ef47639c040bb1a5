// Validates rendered Helm output (multi-document YAML) against the Kubernetes, KEDA, Prometheus
// operator and Strimzi schemas (npm kubernetes-models + @kubernetes-models/*), then checks the
// chart's own promises on every workload: hardened security context, gRPC health probes,
// resources, recommended labels.
//
//   node validate-manifests.mjs RENDERED.yaml [--grpc-tls] [--expect Kind=N ...]
//
// --grpc-tls: the services serve gRPC over TLS, so the probes must be TCP connects on the gRPC
// port (Kubernetes' gRPC probes cannot use TLS).
// Exit 0 when every document validates and every --expect count matches; 1 otherwise, one line
// per finding naming the document (kind/name) and the field.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';

const modules = {
  v1: 'kubernetes-models/v1',
  'apps/v1': 'kubernetes-models/apps/v1',
  'policy/v1': 'kubernetes-models/policy/v1',
  'autoscaling/v2': 'kubernetes-models/autoscaling/v2',
  'networking.k8s.io/v1': 'kubernetes-models/networking.k8s.io/v1',
  'keda.sh/v1alpha1': '@kubernetes-models/keda/keda.sh/v1alpha1',
  'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
  'kafka.strimzi.io/v1beta2': '@kubernetes-models/strimzi-kafka-operator/kafka.strimzi.io/v1beta2',
};

const args = process.argv.slice(2);
if (args.length < 1) {
  console.error('usage: node validate-manifests.mjs RENDERED.yaml [--expect Kind=N ...]');
  process.exit(2);
}
const expected = {};
let grpcTls = false;
for (let i = 1; i < args.length; i++) {
  if (args[i] === '--grpc-tls') {
    grpcTls = true;
  } else if (args[i] === '--expect' && args[i + 1]) {
    const [kind, n] = args[++i].split('=');
    expected[kind] = Number(n);
  } else {
    console.error(`unknown argument: ${args[i]}`);
    process.exit(2);
  }
}

const findings = [];
const counts = {};
const docs = parseAllDocuments(readFileSync(args[0], 'utf8'));
for (const doc of docs) {
  if (doc.errors.length) {
    findings.push(`YAML: ${doc.errors[0].message}`);
    continue;
  }
  let obj;
  try {
    obj = doc.toJS();
  } catch (error) {
    findings.push(`YAML: ${error.message}`);
    continue;
  }
  if (obj === null || obj === undefined) continue;
  const where = `${obj.kind}/${obj.metadata?.name}`;
  counts[obj.kind] = (counts[obj.kind] ?? 0) + 1;
  const path = modules[obj.apiVersion];
  if (!path) {
    findings.push(`${where}: apiVersion ${obj.apiVersion} has no schema here`);
    continue;
  }
  const mod = await import(path);
  const Model = mod[obj.kind];
  if (!Model) {
    findings.push(`${where}: unknown kind ${obj.kind} in ${obj.apiVersion}`);
    continue;
  }
  try {
    new Model(obj).validate();
  } catch (error) {
    findings.push(`${where}: ${error.message}`);
  }
  checkChartPromises(obj, where);
}

function checkChartPromises(obj, where) {
  const labels = obj.metadata?.labels ?? {};
  if (obj.kind !== 'KafkaTopic' || labels['app.kubernetes.io/instance']) {
    for (const key of ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/version',
                       'app.kubernetes.io/managed-by', 'app.kubernetes.io/part-of']) {
      if (!labels[key]) findings.push(`${where}: metadata.labels.${key} missing`);
    }
  }
  if (obj.kind !== 'Deployment') return;
  const pod = obj.spec.template.spec;
  if (pod.securityContext?.runAsNonRoot !== true) findings.push(`${where}: pod securityContext.runAsNonRoot is not true`);
  if (pod.automountServiceAccountToken !== false) findings.push(`${where}: automountServiceAccountToken is not false`);
  for (const c of pod.containers) {
    const sc = c.securityContext ?? {};
    const at = `${where} container ${c.name}`;
    if (sc.readOnlyRootFilesystem !== true) findings.push(`${at}: securityContext.readOnlyRootFilesystem is not true`);
    if (sc.allowPrivilegeEscalation !== false) findings.push(`${at}: securityContext.allowPrivilegeEscalation is not false`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) findings.push(`${at}: securityContext.capabilities.drop lacks ALL`);
    const grpcPort = (c.ports ?? []).find((p) => p.name === 'grpc')?.containerPort;
    for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
      if (grpcTls) {
        if (c[probe]?.tcpSocket?.port !== 'grpc') findings.push(`${at}: ${probe} is not a TCP probe on the grpc port (gRPC over TLS)`);
      } else if (c[probe]?.grpc?.port !== grpcPort) {
        findings.push(`${at}: ${probe} is not a gRPC health probe on port ${grpcPort}`);
      }
    }
    if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory || !c.resources?.limits?.memory) {
      findings.push(`${at}: resources.requests.cpu/memory and limits.memory are required`);
    }
  }
}

for (const [kind, n] of Object.entries(expected)) {
  if ((counts[kind] ?? 0) !== n) findings.push(`expected ${n} ${kind}, rendered ${counts[kind] ?? 0}`);
}
for (const f of findings) console.log(f);
const summary = Object.entries(counts).sort().map(([k, n]) => `${n} ${k}`).join(', ');
console.log(`${findings.length === 0 ? 'ok' : 'FAILED'}: ${docs.length} documents (${summary}), ${findings.length} findings`);
process.exit(findings.length === 0 ? 0 : 1);
