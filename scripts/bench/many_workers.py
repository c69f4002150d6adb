#!/usr/bin/env python3
"""Many workers on one master, run after run: does every one start and stay?

    .venv/bin/python scripts/bench/many_workers.py                 # 10 runs of 100 workers, ~8 minutes
    .venv/bin/python scripts/bench/many_workers.py --runs 3 --workers 50

Each run: `locust --processes N` (N forked workers and their master), 2 users per worker,
10 records/s per worker in rate mode against a sink that answers after 1 ms
(scripts/bench/delay_sink.py), for `--seconds`, with tests/locustfiles/loop_lag.py loaded
beside the locustfile: every worker prints how late its gevent loop woke (wall time) and
how much CPU the loop spent between two wakes, from its first spawn message on.

Per run: the exit code, how many times a worker was marked missing ("failed to send
heartbeat"), the seconds from the spawn message to "All users spawned", the workers that
acknowledged records, the achieved rate (`rate.achieved` in --summary-json, from test
start, the spawn included), and the worst loop lag and loop CPU over all workers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
LOCUST = str(ROOT / ".venv" / "bin" / "locust")
LOOP_LAG = re.compile(r"loop-lag: pid \d+ max ([\d.]+) ms late, max ([\d.]+) ms of CPU between wakes")
STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def when(line: str) -> datetime | None:
    match = STAMP.match(line)
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f") if match else None


def run(workers: int, seconds: int, sink: str, folder: Path) -> dict[str, object]:
    port = str(free_port())
    users = 2 * workers
    summary = folder / "summary.json"
    argv = [
        LOCUST, "-f", f"{ROOT / 'locustfiles' / 'dynamodb.py'},{ROOT / 'tests' / 'locustfiles' / 'loop_lag.py'}",
        "--headless", "--processes", str(workers), "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
        "--master-port", port, "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--rate", str(10 * workers),
        "--concurrency", "2", "--target", sink, "--no-provision", "--table", "stub", "--report-dir", "",
        "--summary-json", str(summary), "--exit-code-on-error", "0", "GeventUser",
    ]  # fmt: skip
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=seconds + 240)
    output = done.stdout + done.stderr
    lines = output.splitlines()
    sent = next((when(line) for line in lines if "Sending spawn jobs" in line), None)
    spawned = next((when(line) for line in lines if "total users)" in line), None)
    data = json.loads(summary.read_text()) if summary.exists() else {}
    lags = [(float(late), float(cpu)) for late, cpu in LOOP_LAG.findall(output)]
    return {
        "exit": done.returncode,
        "missing": output.count("failed to send heartbeat"),
        "spawn_s": round((spawned - sent).total_seconds(), 1) if sent and spawned else None,
        "writing": sum(1 for acked in data.get("acked_by_worker", {}).values() if acked),
        "achieved": (data.get("rate") or {}).get("achieved"),
        "lag_ms": max((late for late, _ in lags), default=None),
        "loop_cpu_ms": max((cpu for _, cpu in lags), default=None),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--workers", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=30, help="each run's -t")
    args = parser.parse_args(argv)
    sink_process = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "bench" / "delay_sink.py"), "1"], stdout=subprocess.PIPE, text=True
    )
    assert sink_process.stdout is not None
    sink = sink_process.stdout.readline().strip()
    target = 10 * args.workers
    print(f"{args.workers} workers, {2 * args.workers} users, --rate {target}, -t {args.seconds}s")
    print("run  exit  missing  spawn s  writing  achieved/s  worst lag ms  worst loop CPU ms")
    try:
        with tempfile.TemporaryDirectory(prefix="many-workers-") as tmp:
            for index in range(args.runs):
                folder = Path(tmp) / str(index)
                folder.mkdir()
                r = run(args.workers, args.seconds, sink, folder)
                print(
                    f"{index + 1:>3}  {r['exit']:>4}  {r['missing']:>7}  {r['spawn_s']!s:>7}  {r['writing']:>7}  "
                    f"{r['achieved']!s:>10}  {r['lag_ms']!s:>12}  {r['loop_cpu_ms']!s:>17}",
                    flush=True,
                )
    finally:
        sink_process.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
