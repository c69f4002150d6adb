#!/usr/bin/env python3
"""What a pipeline's call costs against the same calls in one-service runs.

    .venv/bin/python scripts/bench/pipeline_cost.py                       # --pipeline dynamodb,sqs, gevent, ~2 min
    .venv/bin/python scripts/bench/pipeline_cost.py --pipeline dynamodb,s3,sqs --rounds 5

Against the benchmark sink (scripts/bench/sink.py: nginx with canned AWS answers, pinned to
CPU 1; Locust on CPU 0), `--rounds` rounds of one Locust run per configuration, in rotating
order: locustfiles/pipeline.py with `--pipeline`, and each step's own locustfile, each with
`--users` x `--concurrency` calls in flight, closed loop. Requests per CPU-second of each run
come from scripts/bench/cpu_probe.py's window (start-up left out). A pipeline sends one call
per step for each record, so its calls are its steps' in equal parts: its CPU per call is
compared with the mean of the steps' own CPU per call in the same round (the paired ratio).

`--mixed` adds, in the same rounds, locustfiles/mixed.py with one user class per step's
service (`DynamoDBGeventUser SQSGeventUser`): the same services' calls interleaved in one
process, each user writing to one service, no pipeline.

`--baseline DIR` adds, in the same rounds, the pipeline run with the `writers` package found
in DIR first on PYTHONPATH (another commit's: `git archive COMMIT writers | tar -x -C DIR`):
a change to the library measured before and after, paired.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from sink import Sink  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", default="dynamodb,sqs", help="the pipeline's steps")
    parser.add_argument("--strategy", default="gevent")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds of each run")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds after test start left out")
    parser.add_argument("--users", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8, help="calls in flight per user")
    parser.add_argument("--baseline", default="", help="a folder holding another version of `writers`")
    parser.add_argument("--mixed", action="store_true", help="also mixed.py with one user class per service")
    args = parser.parse_args(argv)
    if min(args.rounds, args.seconds, args.users, args.concurrency) <= 0:
        parser.error("counts and durations must be positive")
    return args


def mixed_class(service: str, strategy: str) -> str:
    """mixed.py's user class of a service and strategy: DynamoDBGeventUser."""
    from writers.services import workload_class

    return f"{workload_class(service).service.name}{strategy.capitalize()}User"


def main(argv: list[str] | None = None) -> int:
    import bench_strategies as bench

    args = parse_args(argv)
    steps = [step.strip() for step in args.pipeline.split(",")]
    runs: dict[str, tuple[str, list[str]]] = {"pipeline": ("pipeline", ["--pipeline", args.pipeline])}
    if args.baseline:
        runs["baseline"] = ("pipeline", ["--pipeline", args.pipeline])
    if args.mixed:
        runs["mixed"] = ("mixed", [])
    runs.update({step: (step, []) for step in steps})
    rates: dict[str, list[float]] = {name: [] for name in runs}
    mixed_classes = [mixed_class(step, args.strategy) for step in steps]
    os.environ.pop("PYTHONPATH", None)  # every run's `writers` is this checkout's, but the baseline's
    with Sink(cpu=1) as sink, tempfile.TemporaryDirectory(prefix="pipeline-cost-") as folder:
        tmp = Path(folder)
        names = list(runs)
        for round_index in range(args.rounds):
            order = names[round_index % len(names) :] + names[: round_index % len(names)]
            for name in order:
                locustfile, extra = runs[name]
                bench_args = argparse.Namespace(
                    warmup=args.warmup, seconds=args.seconds, users=args.users, concurrency=args.concurrency,
                    p99_seconds=1.0, p99_rate=1.0, extra_args=extra,
                    # mixed.py: one user class per service instead of the locustfile's strategy class
                    user_classes=mixed_classes if name == "mixed" else None,
                    extra_env={"PYTHONPATH": str(Path(args.baseline).resolve())} if name == "baseline" else {},
                )  # fmt: skip
                result: dict[str, Any] = bench.run_config(
                    bench.Config("cpu", locustfile, 1, args.strategy), bench_args, sink, tmp
                )
                if result.get("error") or not result.get("cpu") or result.get("failures"):
                    print(f"round {round_index + 1} {name}: {result.get('error') or result}", file=sys.stderr)
                    return 1
                rate = result["requests"] / result["cpu"]
                rates[name].append(rate)
                print(f"round {round_index + 1}/{args.rounds} {name:<9} {rate:>9,.0f} requests/CPU-s", file=sys.stderr)

    def ratios(name: str) -> list[float]:
        return [
            (1e6 / rates[name][i]) / statistics.mean(1e6 / rates[step][i] for step in steps) for i in range(args.rounds)
        ]

    print(f"\n{args.strategy}, {args.users} users x {args.concurrency} in flight, {args.rounds} rounds, closed loop\n")
    print("| run | requests per CPU-second (median) | CPU per call |")
    print("|---|---:|---:|")
    for name in runs:
        median = statistics.median(rates[name])
        label = f"pipeline.py --pipeline {args.pipeline}" if name in ("pipeline", "baseline") else f"{name}.py"
        label = f"{label} (`writers` from {args.baseline})" if name == "baseline" else label
        label = f"mixed.py {' '.join(mixed_classes)}" if name == "mixed" else label
        print(f"| {label} | {median:,.0f} | {1e6 / median:.1f} us |")
    print()
    for name in [n for n in ("pipeline", "baseline", "mixed") if n in runs]:
        found = ratios(name)
        shown = ", ".join(f"{r:.2f}" for r in found)
        print(f"{name} CPU per call / the steps' own (mean), per round: {shown}; median {statistics.median(found):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
