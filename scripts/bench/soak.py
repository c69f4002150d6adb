#!/usr/bin/env python3
"""Memory over a long run at full speed: does the load generator's RSS stay flat?

    .venv/bin/python scripts/bench/soak.py                       # 10 minutes, GeventUser on DynamoDB
    .venv/bin/python scripts/bench/soak.py --minutes 2 --args="--rate 3000"

One Locust process (pinned to CPU 0, nginx sink on CPU 1: scripts/bench/sink.py) writes
flat out for `--minutes`; its RSS is read from /proc every `--every` seconds. Printed:
the RSS at each minute, the growth from the end of the first minute (warm-up: clients,
connections, pools and histograms made) to the end, and the growth per minute of a
least-squares line over the samples after the first minute. Before the histograms dropped
after each report were released explicitly (locustfiles/aws_locust/latency.py), RSS grew
~10 MB a minute here.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_strategies import LOCUST, REGION, base_env  # noqa: E402
from sink import Sink, pin_to  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    """MB per minute of the least-squares line through (seconds, MB)."""
    if len(points) < 2:
        return 0.0
    xs, ys = [t for t, _ in points], [m for _, m in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    denominator = sum((x - mx) ** 2 for x in xs)
    return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / denominator if denominator else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between RSS samples")
    parser.add_argument("--user", default="GeventUser")
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--args", default="", help="more Locust flags, one string")
    parser.add_argument("--json", default="", help="write the samples here")
    args = parser.parse_args(argv)
    seconds = args.minutes * 60
    with Sink(cpu=1) as sink, tempfile.TemporaryDirectory(prefix="soak-") as folder:
        command = [
            str(LOCUST), "-f", str(ROOT / "locustfiles" / "dynamodb.py"), "--headless", "-t", f"{int(seconds)}s",
            "--only-summary", "--loglevel", "WARNING", "-u", str(args.users), "-r", str(args.users),
            "--target", sink.url, "--region", REGION, "--no-provision", "--concurrency", str(args.concurrency),
            "--report-dir", "", "--summary-json", str(Path(folder) / "summary.json"), *shlex.split(args.args),
            args.user,
        ]  # fmt: skip
        process = subprocess.Popen(command, env=base_env(), cwd=folder, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, preexec_fn=lambda: pin_to(0))  # fmt: skip
        started = time.monotonic()
        samples: list[tuple[float, float]] = []
        while process.poll() is None:
            time.sleep(args.every)
            try:
                samples.append((round(time.monotonic() - started, 1), round(rss_mb(process.pid), 1)))
            except FileNotFoundError:
                break
        process.wait(60)
        summary_path = Path(folder) / "summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    steady = [(t, mb) for t, mb in samples if t >= 60 and t <= seconds]
    if not steady:
        print("the run ended before its first minute was over", file=sys.stderr)
        return 1
    print(f"{args.user} x {args.users}, --concurrency {args.concurrency}, {args.minutes:g} minutes, "
          f"{summary.get('calls', 0):,} calls ({summary.get('calls', 0) / seconds:,.0f}/s)")  # fmt: skip
    for minute in range(1, int(args.minutes) + 1):
        at = [mb for t, mb in samples if t <= minute * 60]
        if at:
            print(f"  RSS at {minute:>2} min: {at[-1]:7.1f} MB")
    print(f"  growth after the first minute: {steady[-1][1] - steady[0][1]:+.1f} MB "
          f"({slope_per_minute(steady):+.2f} MB per minute, least squares over {len(steady)} samples)")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({"command": command, "samples": samples}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
