// Validates custom resources against their operators' schemas, which kubernetes-validate
// does not have: the Prometheus Operator's kinds, from @kubernetes-models/prometheus-operator
// (generated from the operator's Go API types; required fields and types, not unknown fields:
// tests/test_k8s.py checks those). Reads a JSON array of objects on stdin; prints one line
// per object; exits 1 if any is invalid or of a kind it has no schema for.
//   node k8s/tools/validate-custom-resources.mjs < objects.json
import { PodMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";

const MODELS = { "monitoring.coreos.com/v1/PodMonitor": PodMonitor, "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor };
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
let failed = false;
for (const object of JSON.parse(Buffer.concat(chunks).toString())) {
  const kind = `${object.apiVersion}/${object.kind}`;
  const name = `${object.kind}/${object.metadata?.name}`;
  const Model = MODELS[kind];
  if (!Model) {
    console.log(`FAIL ${name}: no schema for ${kind}`);
    failed = true;
    continue;
  }
  try {
    new Model(object).validate();
    console.log(`ok   ${name} (${object.apiVersion})`);
  } catch (error) {
    console.log(`FAIL ${name}: ${error.message}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
