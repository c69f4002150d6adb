#!/usr/bin/env bash
# Idempotent setup: .venv at the project root with every pinned package (runtime and
# development: requirements-dev.txt) and the project itself, installed editable (writers,
# aws_locust and every other package pyproject.toml finds), plus the npm emulators
# (dynalite, fauxqs) from their lock file.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$python" --version)"
  "$python" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want="$(sha256sum requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing pinned Python packages"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
  echo "$want" > "$stamp"
fi

# `locust -f locustfiles/<service>.py --help` lists our flags: a one-line startup hook (.pth;
# one look-up per interpreter start unless -h/--help is given) imports the named locustfiles
# before Locust prints its help. scripts/install_help_hook.py says how.
.venv/bin/python scripts/install_help_hook.py >/dev/null

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
# Debian packages some tests use: chromium for the web UI browser test (driven through
# Playwright; Playwright's own browser download is not used), nginx-light for the
# benchmark sink, and prometheus for its promtool (`promtool check metrics` on a real
# /metrics scrape; the package's server is not started). Only as root or under CI, only
# when missing: elsewhere those tests are skipped and say why.
as_root=""
if [ "$(id -u)" -ne 0 ] && [ "${CI:-}" = "true" ] && sudo -n true 2>/dev/null; then as_root="sudo -n"; fi
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || missing="$missing nginx-light"
command -v promtool >/dev/null 2>&1 || missing="$missing prometheus"
if [ -n "$missing" ] && command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ -n "$as_root" ]; }; then
  echo "setup: installing$missing (apt) for the browser test, the benchmark sink and promtool"
  # shellcheck disable=SC2086
  ($as_root apt-get update -qq && $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null) \
    || echo "setup: could not install$missing; the tests that need them will be skipped" >&2
fi
echo "setup: done (.venv/bin/locust is ready)"
