#!/usr/bin/env python3
"""What the rate mode costs on the load generator.

    .venv/bin/python scripts/bench/rate_cost.py                    # 5 rounds, ~5 minutes
    .venv/bin/python scripts/bench/rate_cost.py --rate 5000 --strategy gevent --repeats 3

One Locust process pinned to CPU 0 (the sinks on CPU 1), DynamoDB PutItem through one
strategy; three runs per round, in alternating order:

- `rate/nginx`: `--rate R` against the nginx sink (scripts/bench/sink.py, answers at once):
  records/s achieved against R in the measured window (after `--warmup`: the steady
  state) and over the whole run (`rate.achieved` in `--summary-json`: from test start,
  the users' start-up included), the start lag p99 (`start_lag_ms`), late starts,
  requests per CPU-second;
- `closed/delay`: the closed loop, `--closed-concurrency` calls in flight, against a sink
  that answers after `--delay-ms` (scripts/bench/delay_sink.py): a service of known
  latency, so the loop runs at about concurrency / delay calls a second;
- `rate/delay`: `--rate` at what the closed run of the same round achieved, against the
  same sink: the same rate, the same service, the same answers, but paced by a schedule.

The cost of the rate machinery (schedule, late-start bookkeeping, intended-time and start
lag histograms, the timed waits between calls) is the paired ratio of `rate/delay`'s
requests per CPU-second to `closed/delay`'s: 1.0 = free, 0.9 = it costs 10 %. Requests per
CPU-second come from scripts/bench/cpu_probe.py's window (after `--warmup`, to the end).
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

ARMS = ("rate/nginx", "closed/delay", "rate/delay")


def command(
    args: argparse.Namespace, url: str, tmp: Path, rate: float, concurrency: int
) -> tuple[list[str], dict[str, str]]:
    seconds = args.warmup + args.seconds
    files = [str(ROOT / "locustfiles" / "dynamodb.py"), str(BENCH / "cpu_probe.py")]
    env = base_env()
    env.update(CPU_PROBE_JSON=str(tmp / "probe.json"), CPU_PROBE_WARMUP=str(args.warmup),
               CPU_PROBE_STOP_AFTER=str(seconds))  # fmt: skip
    users = args.users
    extra = ["--rate", f"{rate:.1f}"] if rate else []
    argv = [
        str(LOCUST), "-f", ",".join(files), "--headless", "-t", f"{math.ceil(seconds) + 10}s", "--only-summary",
        "--loglevel", "WARNING", "-u", str(users), "-r", str(users * 4), "--target", url, "--region", REGION,
        "--no-provision", "--concurrency", str(concurrency), "--records-per-task", "1000", "--report-dir", "",
        "--summary-json", str(tmp / "summary.json"), *extra, args.strategy.capitalize() + "User",
    ]  # fmt: skip
    return argv, env


def run(arm: str, args: argparse.Namespace, url: str, tmp: Path, rate: float, concurrency: int) -> dict[str, Any]:
    for stale in ("probe.json", "summary.json"):
        (tmp / stale).unlink(missing_ok=True)
    argv, env = command(args, url, tmp, rate, concurrency)
    done = subprocess.run(argv, env=env, cwd=tmp, capture_output=True, timeout=args.warmup + args.seconds + 90,
                          preexec_fn=lambda: pin_to(0))  # fmt: skip
    if not (tmp / "probe.json").exists() or not (tmp / "summary.json").exists():
        return {"arm": arm, "error": (done.stderr or b"").decode(errors="replace")[-800:]}
    window = json.loads((tmp / "probe.json").read_text())["window"]
    summary = json.loads((tmp / "summary.json").read_text())
    row = f"DynamoDB PutItem [{args.strategy}]"
    lag = summary.get("start_lag_ms", {}).get(row, {})
    return {
        "arm": arm,
        "per_cpu_second": window["requests"] / window["cpu"] if window["cpu"] else 0.0,
        "window_rate": window["requests"] / window["wall"] if window["wall"] else 0.0,
        "achieved": (summary.get("rate") or {}).get("achieved"),
        "late": (summary.get("rate") or {}).get("late"),
        "target": rate or None,
        "lag_p99_ms": lag.get("p99"),
        "failures": sum(v for r in summary["rows"].values() for k, v in r.items() if k.startswith("failed_")),
        "command": argv,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=5000, help="records/s (default 5000)")
    parser.add_argument("--strategy", default="gevent")
    parser.add_argument("--users", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=64, help="slots per user in the rate runs")
    parser.add_argument("--closed-concurrency", type=int, default=10, help="calls in flight in the closed run")
    parser.add_argument("--delay-ms", type=float, default=2.0, help="the delay sink's answer time")
    parser.add_argument(
        "--jitter-ms", type=float, default=0.0, help="each answer's delay drawn from delay +- this (0: constant)"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default="", help="write every raw figure here")
    args = parser.parse_args(argv)
    runs: dict[str, list[dict[str, Any]]] = {arm: [] for arm in ARMS}
    delay = subprocess.Popen(
        [sys.executable, str(BENCH / "delay_sink.py"), str(args.delay_ms), "--jitter-ms", str(args.jitter_ms)],
        stdout=subprocess.PIPE, text=True,
        preexec_fn=lambda: pin_to(1),
    )  # fmt: skip
    try:
        assert delay.stdout is not None
        delay_url = delay.stdout.readline().strip()
        with Sink(cpu=1) as sink, tempfile.TemporaryDirectory(prefix="rate-cost-") as folder:
            tmp = Path(folder)
            for repeat in range(args.repeats):
                first = repeat % 2 == 0
                if first:
                    runs["rate/nginx"].append(run("rate/nginx", args, sink.url, tmp, args.rate, args.concurrency))
                closed = run("closed/delay", args, delay_url, tmp, 0.0, args.closed_concurrency)
                runs["closed/delay"].append(closed)
                same_rate = closed.get("window_rate") or args.rate
                runs["rate/delay"].append(run("rate/delay", args, delay_url, tmp, same_rate, args.concurrency))
                if not first:
                    runs["rate/nginx"].append(run("rate/nginx", args, sink.url, tmp, args.rate, args.concurrency))
                for arm in ARMS:
                    print(json.dumps({k: v for k, v in runs[arm][-1].items() if k != "command"}), flush=True)
    finally:
        delay.kill()
        delay.wait(5)
    ratios = [
        r["per_cpu_second"] / c["per_cpu_second"]
        for r, c in zip(runs["rate/delay"], runs["closed/delay"], strict=True)
        if r.get("per_cpu_second") and c.get("per_cpu_second")
    ]

    def med(arm: str, key: str) -> float:
        values = [r[key] for r in runs[arm] if r.get(key) is not None]
        return statistics.median(values) if values else float("nan")

    steady, whole = med("rate/nginx", "window_rate"), med("rate/nginx", "achieved")
    print(f"\n{args.strategy}, {args.repeats} rounds (medians):")
    print(f"  rate/nginx:   target {args.rate:g}, achieved {steady:.1f} records/s in the window "
          f"({100 * steady / args.rate:.2f} % of target; {whole:.1f} over the whole run), "
          f"start lag p99 {med('rate/nginx', 'lag_p99_ms')} ms, "
          f"late starts {med('rate/nginx', 'late'):g}, "
          f"{med('rate/nginx', 'per_cpu_second'):,.0f} requests per CPU-second")  # fmt: skip
    for arm in ("closed/delay", "rate/delay"):
        service = f"{args.delay_ms:g} ms" + (f" +- {args.jitter_ms:g} ms" if args.jitter_ms else "")
        print(f"  {arm}: {med(arm, 'window_rate'):.1f} calls/s, {med(arm, 'per_cpu_second'):,.0f} requests per "
              f"CPU-second (a {service} service)")  # fmt: skip
    if ratios:
        quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
        print(f"  rate / closed at the same rate, requests per CPU-second: {statistics.median(ratios):.3f} "
              f"(IQR {quartiles[0]:.3f}-{quartiles[2]:.3f}, {len(ratios)} paired rounds)")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
