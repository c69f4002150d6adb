#!/usr/bin/env bash
# Set up (.venv, pinned packages, npm emulators), then a short headless DynamoDB load
# test against a local emulator started for the run: Locust prints its summary.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
cd "$root"
exec .venv/bin/locust -f locustfiles/dynamodb.py --headless --users 5 --spawn-rate 5 --run-time 20s \
  --target local --max-records 2000 --records-per-task 50 --seed 1 "$@"
