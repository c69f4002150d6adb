#!/usr/bin/env python3
"""How exact the pacer is: start lag (intended -> actual start) at given rates.

    .venv/bin/python scripts/bench/start_lag.py                        # 100/s x 1 user, 1,000/s x 1 and x 10, 3 rounds
    .venv/bin/python scripts/bench/start_lag.py --shapes 5000:10 --seconds 20

One Locust process pinned to CPU 0 (GeventUser, DynamoDB PutItem), the benchmark sink
(scripts/bench/sink.py: nginx, answers at once) on CPU 1, `--rate R` with U users for each
shape `R:U`; start lag percentiles from the run's `--summary-json` (`start_lag_ms`, the
merged HdrHistogram of every paced call), late starts, the rate achieved and the CPU per call.
Rounds alternate the shapes' order; the table gives each figure's median over the rounds.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_strategies import LOCUST, REGION, base_env  # noqa: E402
from sink import Sink, pin_to  # noqa: E402

ROW = "DynamoDB PutItem [gevent]"


def run(rate: float, users: int, args: argparse.Namespace, url: str, tmp: Path) -> dict[str, Any]:
    summary = tmp / "summary.json"
    summary.unlink(missing_ok=True)
    argv = [
        str(LOCUST), "-f", str(ROOT / "locustfiles" / "dynamodb.py"), "--headless", "-t", f"{args.seconds}s",
        "--only-summary", "--loglevel", "WARNING", "-u", str(users), "-r", str(users * 4), "--target", url,
        "--region", REGION, "--no-provision", "--rate", f"{rate:g}", "--records-per-task", "1000",
        "--report-dir", "", "--summary-json", str(summary), "GeventUser",
    ]  # fmt: skip
    done = subprocess.run(argv, env=base_env(), cwd=tmp, capture_output=True, timeout=args.seconds + 90,
                          preexec_fn=lambda: pin_to(0))  # fmt: skip
    if not summary.exists():
        return {"error": (done.stderr or b"").decode(errors="replace")[-600:]}
    data = json.loads(summary.read_text())
    lag = data.get("start_lag_ms", {}).get(ROW, {})
    calls = data.get("calls", 0)
    return {
        "p50": lag.get("p50"), "p99": lag.get("p99"), "p99.9": lag.get("p99.9"),
        "late": data["rate"]["late"], "late_share": data["rate"]["late"] / calls if calls else math.nan,
        "achieved": data["rate"]["achieved"], "cpu_us_per_call": 1e6 * data["cpu_seconds"] / calls if calls else 0,
        "command": argv,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="100:1,1000:1,1000:10", help="RATE:USERS,... (records/s, users)")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    shapes = [(float(rate), int(users)) for rate, users in (part.split(":") for part in args.shapes.split(","))]
    results: dict[tuple[float, int], list[dict[str, Any]]] = {shape: [] for shape in shapes}
    with Sink(cpu=1) as sink, tempfile.TemporaryDirectory(prefix="start-lag-") as folder:
        for round_index in range(args.rounds):
            for shape in shapes if round_index % 2 == 0 else shapes[::-1]:
                result = run(*shape, args, sink.url, Path(folder))
                results[shape].append(result)
                print(f"round {round_index + 1} {shape}: {({k: v for k, v in result.items() if k != 'command'})}",
                      file=sys.stderr)  # fmt: skip
    print("| rate (records/s) | users | start lag p50 ms | p99 ms | p99.9 ms | late starts | achieved records/s |"
          " CPU per call |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (rate, users), runs in results.items():
        ok = [r for r in runs if "error" not in r]

        def med(key: str, runs: list[dict[str, Any]] = ok) -> float:
            values = [r[key] for r in runs if r.get(key) is not None]
            return statistics.median(values) if values else math.nan

        print(
            f"| {rate:,.0f} | {users} | {med('p50'):.3f} | {med('p99'):.3f} | {med('p99.9'):.2f} |"
            f" {med('late'):.0f} ({med('late_share'):.3%}) | {med('achieved'):,.1f} | {med('cpu_us_per_call'):.0f} us |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
