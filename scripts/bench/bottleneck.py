#!/usr/bin/env python3
"""How many calls per second the stand-ins behind `scripts/compare.py --latency-ms` can take:
which one caps the "all requests at once" speedups.

    .venv/bin/python scripts/bench/bottleneck.py [--seconds 5]

1. The fault proxy (`scripts/fault_proxy.py --latency-ms 40 --connect-latency-ms 80`: an
   80 ms round trip, as compare.py sets it) in front of the nginx sink, driven by wrk with
   256 and 1,000 connections: its rate, and its own CPU (one Python process).
2. dynalite (the local DynamoDB) without any proxy, driven by the gevent strategy inside
   Locust with 1,000 calls in flight: its rate, and its own CPU (one Node process).

The proxy and the emulator run on CPU 1, the load generator on CPU 0; each process's CPU
comes from /proc (its whole process tree). A stand-in at ~100 % of its core while the load
generator still has room is the bottleneck.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from bodies import fixed_request  # noqa: E402
from sink import Sink, pin_to, process_cpu_seconds  # noqa: E402
from wrk_ceiling import run_wrk  # noqa: E402

LOCUST = ROOT / ".venv" / "bin" / "locust"
if not LOCUST.exists():
    LOCUST = Path(sys.executable).parent / "locust"


def tree(pid: int) -> list[int]:
    """pid and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def tree_cpu(pid: int) -> float:
    return sum(process_cpu_seconds(p) for p in tree(pid))


def pin_tree(pid: int, cpu: int) -> None:
    if (os.cpu_count() or 1) > 1:
        for p in tree(pid):
            try:
                os.sched_setaffinity(p, {cpu})
            except OSError:
                pass


def proxy_capacity(sink: Sink, seconds: float, tmp: Path) -> list[dict[str, float]]:
    proxy = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "fault_proxy.py"), "--upstream", sink.url,
         "--latency-ms", "40", "--connect-latency-ms", "80"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=lambda: pin_to(1),
    )  # fmt: skip
    try:
        assert proxy.stdout is not None
        line = proxy.stdout.readline().decode()
        match = re.search(r"listening on (http://\S+)", line)
        if match is None:
            raise RuntimeError(f"fault proxy did not start: {line.strip()}")
        url = match.group(1)
        rows = []
        for connections in (256, 1000):
            before = process_cpu_seconds(proxy.pid)
            figures = run_wrk(fixed_request("dynamodb"), url, tmp, seconds, connections, preexec_fn=lambda: pin_to(0))
            wall = figures["wall"]
            rows.append(
                {
                    "connections": connections,
                    "calls_per_s": figures["requests"] / wall,
                    "ideal_per_s": connections / 0.080,
                    "p50_ms": figures["p50_us"] / 1000,
                    "p99_ms": figures["p99_us"] / 1000,
                    "errors": figures["socket_errors"] + figures["status_errors"],
                    "proxy_cpu_busy": (process_cpu_seconds(proxy.pid) - before) / wall,
                    "wrk_cpu_busy": figures["cpu"] / wall,
                }
            )
        return rows
    finally:
        proxy.terminate()
        proxy.wait(10)


def dynalite_capacity(records: int, tmp: Path) -> dict[str, float]:
    from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY
    from writers.services import start_emulator

    emulator = start_emulator("dynamodb", prefer="dynalite")
    try:
        assert emulator.pid is not None
        pin_tree(emulator.pid, 1)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ACCESS_KEY_ID=LOCAL_ACCESS_KEY, AWS_SECRET_ACCESS_KEY=LOCAL_SECRET_KEY,
            CPU_PROBE_JSON=str(tmp / "probe.json"), CPU_PROBE_WARMUP="0",
        )  # fmt: skip
        command = [
            str(LOCUST), "-f", f"{ROOT / 'locustfiles' / 'dynamodb.py'},{ROOT / 'scripts' / 'bench' / 'cpu_probe.py'}",
            "--headless", "-u", "1", "-r", "1", "-t", "120s", "--only-summary", "--loglevel", "WARNING",
            "--target", emulator.endpoint, "--region", "us-east-1", "--concurrency", "1000",
            "--max-records", str(records), "--records-per-task", str(records), "--report-dir", "", "GeventUser",
        ]  # fmt: skip
        # Provisioning (the table) happens before test start; count the emulator's CPU from then on.
        process = subprocess.Popen(command, env=env, cwd=tmp, preexec_fn=lambda: pin_to(0),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        before = tree_cpu(emulator.pid)
        process.communicate(timeout=180)
        probe = json.loads((tmp / "probe.json").read_text())["all"]
        # Over the calls' wall time only; the CPU also holds provisioning (one CreateTable): an upper bound.
        busy = (tree_cpu(emulator.pid) - before) / probe["wall"]
        return {
            "records": probe["items"],
            "failures": probe["failures"],
            "calls_per_s": probe["requests"] / probe["wall"],
            "generator_cpu_busy": probe["cpu"] / probe["wall"],
            "emulator_cpu_busy_upper_bound": busy,  # includes Locust start-up time: a lower busy share
        }
    finally:
        emulator.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each wrk run through the proxy")
    parser.add_argument("--records", type=int, default=5000, help="PutItems written to dynalite")
    args = parser.parse_args()
    with Sink(cpu=1) as sink, tempfile.TemporaryDirectory(prefix="bench-bottleneck-") as tmp_dir:
        tmp = Path(tmp_dir)
        proxy_rows = proxy_capacity(sink, args.seconds, tmp)
        dynalite = dynalite_capacity(args.records, tmp)
    print("| stand-in | driven by | calls/s | its CPU busy | load generator CPU busy | p50 / p99 ms | errors |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for row in proxy_rows:
        print(
            f"| fault proxy, 80 ms round trip, in front of the nginx sink | wrk, {row['connections']:,} connections "
            f"(ideal {row['ideal_per_s']:,.0f}/s) | {row['calls_per_s']:,.0f} | {row['proxy_cpu_busy']:.0%} |"
            f" {row['wrk_cpu_busy']:.0%} | {row['p50_ms']:.0f} / {row['p99_ms']:.0f} | {row['errors']} |"
        )
    print(
        f"| dynalite, no proxy | gevent strategy in Locust, 1,000 in flight, {dynalite['records']:,} PutItems |"
        f" {dynalite['calls_per_s']:,.0f} | {dynalite['emulator_cpu_busy_upper_bound']:.0%} |"
        f" {dynalite['generator_cpu_busy']:.0%} | - | {dynalite['failures']} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
