#!/usr/bin/env bash
# Idempotent setup: .venv at the project root with every pinned package and the project
# itself, plus the npm emulators (dynalite, fauxqs) from their lock file.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$python" --version)"
  "$python" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want="$(sha256sum requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing pinned Python packages"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
  echo "$want" > "$stamp"
fi

if command -v npm >/dev/null 2>&1; then
  lock_stamp=emulators/node_modules/.lock.sha256
  want="$(sha256sum emulators/package-lock.json | cut -d' ' -f1)"
  if [ "$(cat "$lock_stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing npm emulators (dynalite, fauxqs)"
    (cd emulators && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > "$lock_stamp"
  fi
else
  echo "setup: npm not found; local runs fall back to moto server" >&2
fi
# Offline Kubernetes tools (kubectl's kustomize, kubernetes-validate, hadolint) for the k8s checks.
scripts/k8s_check.sh --install >/dev/null
echo "setup: done (.venv/bin/locust is ready)"
