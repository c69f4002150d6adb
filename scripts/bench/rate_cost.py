#!/usr/bin/env python3
"""What the rate mode costs on the load generator, against the nginx sink.

    .venv/bin/python scripts/bench/rate_cost.py                    # 5 rounds, ~4 minutes
    .venv/bin/python scripts/bench/rate_cost.py --rate 5000 --strategy gevent --repeats 3

One process, pinned to CPU 0 (nginx on CPU 1), DynamoDB PutItem through one strategy,
three arms per round, in alternating order:

- `rate`: `--rate R` (the open model: a schedule, late starts, intended-time latency and
  start lag histograms), `--users` users x `--concurrency` slots;
- `paced`: the closed loop held at the same R calls/s by scripts/bench/pace.py (a pause in
  the request listener: one call in flight per user), the machinery-free way to run at R;
- `closed`: the closed loop flat out, the strategy's ceiling.

For each run: records/s achieved against R (from `--summary-json`: acknowledged records
over the run), the start lag p99 (`start_lag_ms`, rate arm), and requests per CPU-second
in the measured window (scripts/bench/cpu_probe.py: after `--warmup`, to the end). The
rate arm's cost is the paired ratio of its requests per CPU-second to the paced arm's
(same round, same rate): 1.0 = free, 0.9 = the rate machinery costs 10 %.
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

ARMS = ("rate", "paced", "closed")


def command(arm: str, args: argparse.Namespace, url: str, tmp: Path) -> tuple[list[str], dict[str, str]]:
    seconds = args.warmup + args.seconds
    files = [str(ROOT / "locustfiles" / "dynamodb.py"), str(BENCH / "cpu_probe.py")]
    env = base_env()
    env.update(CPU_PROBE_JSON=str(tmp / "probe.json"), CPU_PROBE_WARMUP=str(args.warmup),
               CPU_PROBE_STOP_AFTER=str(seconds))  # fmt: skip
    users, concurrency, extra = args.users, args.concurrency, []
    if arm == "rate":
        extra = ["--rate", str(args.rate)]
    elif arm == "paced":
        files.append(str(BENCH / "pace.py"))
        env["BENCH_PACE_RPS"] = str(args.rate)
        concurrency = 1
    argv = [
        str(LOCUST), "-f", ",".join(files), "--headless", "-t", f"{math.ceil(seconds) + 10}s", "--only-summary",
        "--loglevel", "WARNING", "-u", str(users), "-r", str(users * 4), "--target", url, "--region", REGION,
        "--no-provision", "--concurrency", str(concurrency), "--records-per-task", "1000", "--report-dir", "",
        "--summary-json", str(tmp / "summary.json"), *extra, args.strategy.capitalize() + "User",
    ]  # fmt: skip
    return argv, env


def run(arm: str, args: argparse.Namespace, sink: Sink, tmp: Path) -> dict[str, Any]:
    for stale in ("probe.json", "summary.json"):
        (tmp / stale).unlink(missing_ok=True)
    argv, env = command(arm, args, sink.url, tmp)
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
        "lag_p99_ms": lag.get("p99"),
        "failures": sum(v for r in summary["rows"].values() for k, v in r.items() if k.startswith("failed_")),
        "command": argv,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=5000, help="records/s (default 5000)")
    parser.add_argument("--strategy", default="gevent")
    parser.add_argument("--users", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=32, help="slots per user in the rate and closed arms")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default="", help="write every raw figure here")
    args = parser.parse_args(argv)
    runs: dict[str, list[dict[str, Any]]] = {arm: [] for arm in ARMS}
    with Sink(cpu=1) as sink, tempfile.TemporaryDirectory(prefix="rate-cost-") as folder:
        for repeat in range(args.repeats):
            for arm in ARMS if repeat % 2 == 0 else tuple(reversed(ARMS)):
                result = run(arm, args, sink, Path(folder))
                runs[arm].append(result)
                print(json.dumps({k: v for k, v in result.items() if k != "command"}), flush=True)
    ratios = [
        r["per_cpu_second"] / p["per_cpu_second"]
        for r, p in zip(runs["rate"], runs["paced"], strict=True)
        if r.get("per_cpu_second") and p.get("per_cpu_second")
    ]

    def med(arm: str, key: str) -> float:
        values = [r[key] for r in runs[arm] if r.get(key) is not None]
        return statistics.median(values) if values else float("nan")

    achieved = med("rate", "achieved")
    print(f"\n{args.strategy}, target {args.rate:g} records/s, {args.repeats} rounds (medians):")
    print(f"  rate arm:   achieved {achieved:.1f} records/s ({100 * achieved / args.rate:.2f} % of target), "
          f"start lag p99 {med('rate', 'lag_p99_ms')} ms, late starts {med('rate', 'late'):g}, "
          f"{med('rate', 'per_cpu_second'):,.0f} requests per CPU-second")  # fmt: skip
    for arm, what in (("paced", "held at the rate by pace.py"), ("closed", "flat out")):
        print(f"  {arm} arm: {med(arm, 'window_rate'):.1f} calls/s, {med(arm, 'per_cpu_second'):,.0f} "
              f"requests per CPU-second ({what})")  # fmt: skip
    if ratios:
        quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
        print(f"  rate / paced requests per CPU-second: {statistics.median(ratios):.3f} "
              f"(IQR {quartiles[0]:.3f}-{quartiles[2]:.3f}, {len(ratios)} paired rounds)")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
