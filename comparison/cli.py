"""The comparison from start to end: parse, start the targets, run each spec, report; exit codes."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from comparison.options import PROG, BadInput, parse_options
from comparison.report import write_outputs
from comparison.runs import TIMING_LOCUSTFILE, Interrupted, ProgressBar, RunResult, add_speedups, plan, run_one
from comparison.targets import Targets


@contextlib.contextmanager
def _signals_as_interrupt(stopping: list[bool]) -> Iterator[None]:
    def handler(signum: int, frame: Any) -> None:
        stopping[0] = True

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(message)s")
    try:
        options = parse_options(argv)
    except BadInput as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    try:
        options.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"{PROG}: error: cannot create --out {str(options.out)!r}: {exc.strerror or exc}", file=sys.stderr)
        return 2

    specs = plan(options)
    started = dt.datetime.now().astimezone()
    results: list[RunResult] = []
    targets = Targets(options)
    stopping = [False]
    interrupted = False
    bar: ProgressBar | None = None
    with _signals_as_interrupt(stopping):
        try:
            for service in options.services:
                targets.start(service)
                if service in targets.errors:
                    print(f"{PROG}: {service}: {targets.errors[service]}", file=sys.stderr)
                else:
                    print(f"{PROG}: {service} -> {targets.described[service]}", file=sys.stderr)
                if stopping[0]:
                    raise Interrupted
            print(f"{PROG}: {len(specs)} runs; results in {options.out}", file=sys.stderr, flush=True)
            bar = ProgressBar(len(specs) * options.records, options.progress)
            for spec in specs:
                if stopping[0]:
                    raise Interrupted
                if spec.service in targets.errors:
                    result = RunResult(spec.service, spec.strategy, spec.user_class, spec.keep_alive, options.records)
                    result.failure = f"no target: {targets.errors[spec.service]}"
                    bar.end_run(options.records)
                else:
                    result = run_one(
                        options, spec, targets.urls[spec.service], TIMING_LOCUSTFILE, bar, stopping, len(specs)
                    )
                results.append(result)
                if stopping[0]:
                    raise Interrupted
                if result.ok:
                    bar.write(
                        f"{spec.label}: {result.acked:,} records in {result.seconds:.2f} s "
                        f"({result.records_per_s:,.0f}/s), CPU {result.cpu_seconds} s"
                    )
                else:
                    bar.write(f"{spec.label}: FAILED: {result.failure}")
        except Interrupted:
            interrupted = True
        finally:
            if bar is not None:
                bar.close()
            targets.stop()
    add_speedups(results)
    plain, _ = write_outputs(options, results, targets, started, interrupted)
    print()
    print(plain)
    print(f"\nraw figures: {options.out / 'results.json'}; chart: {options.out / 'compare.png'}")
    if interrupted:
        print(f"{PROG}: interrupted after {len(results)} of {len(specs)} runs", file=sys.stderr)
        return 130
    failed = [r for r in results if not r.ok]
    if failed:
        print(f"{PROG}: {len(failed)} of {len(results)} runs failed", file=sys.stderr)
        return 1
    return 0
