#!/usr/bin/env python3
"""The per-call budget: what one call of one strategy costs, against Locust's FastHttpUser
and stage by stage. Run it before and after any change to the per-call path.

    .venv/bin/python scripts/bench/per_call.py                         # gevent, DynamoDB PutItem, ~2 min
    .venv/bin/python scripts/bench/per_call.py --strategy aiohttp --service sqs
    .venv/bin/python scripts/bench/per_call.py --stages-only           # no Locust runs, ~20 s

Two parts, both against the benchmark sink (scripts/bench/sink.py: nginx with canned AWS
answers, pinned to CPU 1; everything measured here runs on CPU 0):

1. **Paired ratio.** `--rounds` rounds of two Locust runs a few seconds apart, the
   strategy's user class (`--users` x `--concurrency` calls in flight) and Locust's own
   FastHttpUser sending the same body unsigned with as many users, in alternating order;
   requests per CPU-second of each (scripts/bench/cpu_probe.py's window), and the median
   of the rounds' ratios with their interquartile range. The strategy's CPU per call in
   Locust is the budget the stages below add up to.
2. **Stages.** The same objects a Locust run uses (the locustfile's lifecycle, the
   process's runtime, the user's WriterClient), each stage run alone in a tight loop of
   `--calls` calls, `--repeats` times, median of CPU microseconds per call:

   | stage | what runs |
   |---|---|
   | build the record | the records source's `next()` (Faker values from pools, key, checksum) |
   | build the call | the service's `write_calls` and the wire request (parameters, body) |
   | sign the request | raw strategies: SigV4 (`sign_call`); boto3 strategies do it inside the round trip |
   | send and receive | the strategy's round trip with `--concurrency` in flight, minus signing and parsing |
   | parse the answer | raw strategies: the answer read into a response or an error (`read_answer`) |
   | the driver's settle | `Driver._settle`: acknowledged items, retries, latencies of one attempt |
   | the Locust event | `WriterClient._report`: the context, Locust's stats, every listener but latency's |
   | the latency records | the latency histograms' listener (each latency kind of the call) |
   | the rest | CPU per call in the Locust run minus the stages: the gevent loop, Locust's scheduling |

   In a loop of one stage, caches are warmer than in a run, so the stages add up to less
   than the run's figure; "the rest" is what a change to the loop or the scheduling moves.

Add `--rate R` to measure the stages of a paced client (the intended-time and start-lag
records), `--with="FLAGS"` for a feature's cost (`--with="--verify"`: the flags go to the
strategy's Locust runs and to the stages' process; the anchor runs as always); `--markdown
FILE` keeps the tables.
"""

from __future__ import annotations

import argparse
import gc
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT / "scripts"))

from sink import Sink, pin_to  # noqa: E402

SERVICES = {"dynamodb": "DynamoDB PutItem", "s3": "S3 PutObject (4 KiB)", "sqs": "SQS SendMessage"}
RAW = ("gevent", "aiohttp")  # strategies that build and sign their own requests
STAGES = (
    ("record", "build the record"),
    ("call", "build the call (parameters, wire body)"),
    ("sign", "sign the request (SigV4)"),
    ("send", "send and receive"),
    ("parse", "parse the answer"),
    ("settle", "the driver's settle"),
    ("event", "the Locust event (context, Locust's stats, our tallies)"),
    ("latency", "the latency records"),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategy", default="gevent", help="sequential, threaded, aioboto3, aiohttp, gevent")
    parser.add_argument("--service", default="dynamodb", choices=sorted(SERVICES))
    parser.add_argument("--rounds", type=int, default=5, help="paired Locust rounds (0: stages only)")
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds of each Locust run")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds after test start left out")
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=10, help="calls in flight per user")
    parser.add_argument("--calls", type=int, default=20_000, help="calls per stage loop")
    parser.add_argument("--repeats", type=int, default=5, help="loops per stage (the median is kept)")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="stages of a paced client at this rate (0: closed loop)"
    )
    parser.add_argument(
        "--with", dest="with_flags", default="", help='more flags for our runs, a feature\'s cost: --with="--verify"'
    )
    parser.add_argument("--stages-only", action="store_true", help="skip the Locust runs (no paired ratio)")
    parser.add_argument("--stage-worker", default="", help=argparse.SUPPRESS)  # internal: the stages' process
    parser.add_argument("sink_url", nargs="?", default="", help=argparse.SUPPRESS)  # internal: with --stage-worker
    parser.add_argument("--markdown", default="", help="also write the tables here")
    args = parser.parse_args(argv)
    if min(args.seconds, args.users, args.concurrency, args.calls, args.repeats) <= 0 or args.rounds < 0:
        parser.error("counts and durations must be positive")
    if args.stages_only:
        args.rounds = 0
    return args


# --------------------------------------------------------------------------- the paired ratio


def paired_runs(args: argparse.Namespace, sink: Sink, tmp: Path) -> dict[str, list[dict[str, Any]]]:
    import bench_strategies as bench

    runners = [args.strategy, bench.ANCHOR]
    runs: dict[str, list[dict[str, Any]]] = {runner: [] for runner in runners}
    bench_args = argparse.Namespace(
        warmup=args.warmup, seconds=args.seconds, users=args.users, concurrency=args.concurrency,
        p99_seconds=1.0, p99_rate=1.0, extra_args=shlex.split(args.with_flags),
    )  # fmt: skip
    for round_index in range(args.rounds):
        for runner in runners if round_index % 2 == 0 else runners[::-1]:
            result = bench.run_config(bench.Config("cpu", args.service, 1, runner), bench_args, sink, tmp)
            runs[runner].append(result)
            rate = result["requests"] / result["cpu"] if result.get("cpu") else 0.0
            note = result.get("error") or result.get("warning") or ""
            print(f"round {round_index + 1}/{args.rounds} {runner:<13} {rate:>9,.0f} requests/CPU-s {note}",
                  file=sys.stderr)  # fmt: skip
    return runs


def ratio_table(args: argparse.Namespace, runs: dict[str, list[dict[str, Any]]]) -> tuple[str, float]:
    """The paired table; returns it and the strategy's median CPU microseconds per call in Locust."""
    import bench_strategies as bench

    ours, anchor = runs[args.strategy], runs[bench.ANCHOR]
    rates = {name: [r["requests"] / r["cpu"] for r in results if r.get("cpu")] for name, results in runs.items()}
    ratios = bench.paired_ratios(ours, anchor, "requests")
    failures = sum(int(r.get("failures", 0)) + ("error" in r) for results in runs.values() for r in results)
    per_call_us = 1e6 / statistics.median(rates[args.strategy]) if rates[args.strategy] else float("nan")
    lines = [
        f"#### {SERVICES[args.service]}: {args.strategy}{with_flags(args)} against FastHttpUser, {args.users} users x "
        f"{args.concurrency} in flight ({args.users * args.concurrency} FastHttpUsers), {args.rounds} paired rounds",
        "",
        "| runner | requests per CPU-second (median) | CPU per call | vs FastHttpUser (median of paired rounds) | "
        "interquartile | failures |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in (args.strategy, bench.ANCHOR):
        rate = statistics.median(rates[name]) if rates[name] else float("nan")
        to_anchor = f"{bench.ratio(ratios)}" if name == args.strategy else "1.00x"
        spread = bench.spread(ratios) if name == args.strategy else "-"
        lines.append(
            f"| {bench.label(name)} | {rate:,.0f} | {1e6 / rate:.1f} us | {to_anchor} | {spread} | "
            f"{failures if name == args.strategy else '-'} |"
        )
    return "\n".join(lines), per_call_us


# --------------------------------------------------------------------------- the stages


def with_flags(args: argparse.Namespace) -> str:
    return f" with `{args.with_flags}`" if args.with_flags else ""


def stage_table(args: argparse.Namespace, stages: dict[str, float], per_call_us: float) -> str:
    lines = [
        f"#### {SERVICES[args.service]}: CPU per call by stage, {args.strategy}{with_flags(args)}"
        + (f", paced at {args.rate:g} calls/s" if args.rate else ", closed loop"),
        "",
        f"| stage | CPU us per call (median of {args.repeats} loops of {args.calls:,}) | share of the run's call |",
        "|---|---:|---:|",
    ]
    known = per_call_us == per_call_us  # not NaN: a Locust run was measured
    for key, label in STAGES:
        if key in stages:
            share = f"{stages[key] / per_call_us:.0%}" if known else "-"
            lines.append(f"| {label} | {stages[key]:.2f} | {share} |")
    total = sum(stages[key] for key, _ in STAGES if key in stages)
    lines.append(f"| **sum of the stages** | **{total:.2f}** | {total / per_call_us:.0%} |" if known else
                 f"| **sum of the stages** | **{total:.2f}** | - |")  # fmt: skip
    if known:
        lines.append(f"| the rest (the loop, Locust's scheduling) | {per_call_us - total:.2f} |"
                     f" {(per_call_us - total) / per_call_us:.0%} |")  # fmt: skip
        lines.append(f"| **CPU per call in the Locust run** | **{per_call_us:.2f}** | 100% |")
    listeners = [(key, cost) for key, cost in stages.items() if key.startswith("listener: ")]
    if listeners:
        lines += ["", "Of the Locust event, each request listener alone (the same event, in a loop):", "",
                  "| listener | CPU us per call |", "|---|---:|"]  # fmt: skip
        lines += [f"| {key.removeprefix('listener: ')} | {cost:.2f} |" for key, cost in listeners]
    return "\n".join(lines)


def run_stages(args: argparse.Namespace, sink_url: str) -> dict[str, float]:
    """The stages, in a child process pinned to CPU 0 (Locust monkey-patches the process)."""
    with tempfile.NamedTemporaryFile("r", suffix=".json") as out:
        command = [sys.executable, __file__, "--stage-worker", out.name, "--strategy", args.strategy,
                   "--service", args.service, "--concurrency", str(args.concurrency), "--calls", str(args.calls),
                   "--repeats", str(args.repeats), "--rate", str(args.rate), f"--with={args.with_flags}",
                   "--stages-only", sink_url]  # fmt: skip
        done = subprocess.run(command, env=stage_env(), preexec_fn=lambda: pin_to(0), timeout=600)
        if done.returncode != 0:
            raise SystemExit(f"error: the stages' process failed (exit {done.returncode})")
        import json

        return {k: float(v) for k, v in json.loads(Path(out.name).read_text()).items()}


def stage_env() -> dict[str, str]:
    import bench_strategies as bench

    return bench.base_env()


def cpu_us_per_call(loop: Callable[[int], object], calls: int, repeats: int) -> float:
    """Median CPU microseconds per call of `loop(calls)`, over `repeats` runs; the collector
    runs as in a Locust run (young-generation threshold 20,000), inputs are frozen out of it."""
    results = []
    for _ in range(repeats):
        gc.collect()
        gc.freeze()
        started = time.process_time()
        loop(calls)
        results.append((time.process_time() - started) / calls * 1e6)
        gc.unfreeze()
    return statistics.median(results)


def stage_worker(args: argparse.Namespace, sink_url: str, out: str) -> None:
    import importlib.util
    import json

    import locust  # noqa: F401  - patches the process exactly as a Locust run does
    from locust import events
    from locust.argument_parser import parse_options
    from locust.env import Environment

    locustfile = ROOT / "locustfiles" / f"{args.service}.py"
    spec = importlib.util.spec_from_file_location("budget_locustfile", locustfile)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    user_class = getattr(module, args.strategy.capitalize() + "User")
    argv = ["-f", str(locustfile), "--headless", "--target", sink_url, "--region", "us-east-1", "--no-provision",
            "--report-dir", "", "--concurrency", str(args.concurrency)]  # fmt: skip
    if args.rate:
        argv += ["--rate", str(args.rate)]
    options = parse_options([*argv, *shlex.split(args.with_flags)])
    environment = Environment(user_classes=[user_class], events=events, parsed_options=options)
    runner = environment.create_local_runner()
    events.init.fire(environment=environment, runner=runner, web_ui=None)
    events.test_start.fire(environment=environment)

    from aws_locust.runtime import runtime_for
    from aws_locust.users import WriterClient
    from writers.strategies.raw import read_answer, sign_call

    runtime = runtime_for(environment, user_class.workload)
    client = WriterClient(environment, runtime, args.strategy)
    source, workload, n, repeats = runtime.records, runtime.workload, args.calls, args.repeats
    measure = lambda loop: cpu_us_per_call(loop, n, repeats)  # noqa: E731
    stages: dict[str, float] = {}

    stages["record"] = measure(lambda count: [source.next() for _ in range(count)])
    records = [source.next() for _ in range(n)]
    raw = args.strategy in RAW

    def build(count: int) -> None:
        for record in records[:count]:
            for call in workload.write_calls([record]):
                if raw:
                    call.wire()
                else:
                    call.params  # noqa: B018 - what boto3 strategies take

    stages["call"] = measure(build)
    calls = [call for record in records for call in workload.write_calls([record])]
    strategy = client.strategy
    signer: Any = getattr(strategy, "_signer", None)
    base_url = runtime.endpoint.raw_url
    if raw:
        stages["sign"] = measure(lambda count: [sign_call(signer, base_url, c, True) for c in calls[:count]])

    prepare = getattr(strategy, "prepare", lambda call: None)  # (code before Strategy.prepare: none)

    def round_trips(count: int) -> None:
        """As the driver sends: each burst of calls made (prepared) first, then sent back to back."""
        started = done = 0
        limit = strategy.concurrency
        while done < count:
            burst = calls[started : min(count, started + limit - (started - done))]
            for call in burst:
                prepare(call)
            for call in burst:
                strategy.start(call)
            started += len(burst)
            done += len(strategy.collect(None))

    round_trip = measure(round_trips)
    status, headers, body = canned_answer(signer, base_url, calls[0]) if raw else (200, {}, b"")
    if raw:
        stages["parse"] = measure(
            lambda count: [read_answer(c, 0.0, 0.001, status, headers, body) for c in calls[:count]]
        )
        stages["send"] = max(0.0, round_trip - stages["sign"] - stages["parse"])
    else:
        stages["send"] = round_trip  # boto3: serialize, sign, send and parse, all inside the client
    attempts = [read_answer(c, 0.0, 0.001, status, headers, body) for c in calls] if raw else []
    if not raw:  # a boto3 strategy's answers, made once
        attempts = []
        while len(attempts) < n:
            batch = calls[len(attempts) : len(attempts) + strategy.concurrency]
            for call in batch:
                strategy.start(call)
            for _ in batch:
                attempts += strategy.collect(None)
    driver = client.driver
    driver.on_attempt = lambda attempt: None
    follow_ups: deque[Any] = deque()
    now = time.perf_counter()
    for attempt in attempts:
        attempt.finished = now
        attempt.call.intended = attempt.call.first_intended = now - 0.001
    stages["settle"] = measure(lambda count: [driver._settle(a, follow_ups) for a in attempts[:count]])
    handlers = environment.events.request._handlers
    latency = [h for h in handlers if h.__module__ == "aws_locust.latency"]
    for handler in latency:
        handlers.remove(handler)

    def report(count: int) -> None:
        for attempt in attempts[:count]:
            client._report(attempt)

    stages["event"] = measure(report)
    captured: dict[str, Any] = {}
    handlers.append(lambda **kwargs: captured.update(kwargs))
    client._report(attempts[0])
    handlers.pop()
    import aws_locust

    histograms = aws_locust._lifecycle.latency

    def record_latencies(count: int) -> None:
        for _ in range(count):
            for handler in latency:
                handler(**captured)
        histograms.fold()  # the bulk part of recording, as every report and read does it

    stages["latency"] = measure(record_latencies)
    for name, cost in listener_costs(handlers, captured, measure).items():
        stages[f"listener: {name}"] = cost
    client.close()
    Path(out).write_text(json.dumps(stages))


def listener_costs(
    handlers: list[Callable[..., Any]], captured: dict[str, Any], measure: Callable[[Callable[[int], object]], float]
) -> dict[str, float]:
    """Each request listener alone, with one call's event: where the Locust event's cost goes."""
    costs = {}
    for handler in handlers:

        def call(count: int, handler: Callable[..., Any] = handler) -> None:
            for _ in range(count):
                handler(**captured)

        costs[getattr(handler, "__qualname__", repr(handler))] = measure(call)
    return costs


def canned_answer(signer: Any, base_url: str, call: Any) -> tuple[int, Mapping[str, str], bytes]:
    """One real answer of the sink to this call, as the raw strategies read it."""
    import http.client
    from urllib.parse import urlsplit

    from writers.strategies.http11 import Headers
    from writers.strategies.raw import sign_call

    request = sign_call(signer, base_url, call, True)
    parts = urlsplit(request.base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=5)
    connection.request(request.method, request.path_and_query, body=request.body, headers=request.headers)
    answer = connection.getresponse()
    body = answer.read()
    connection.close()
    head = "\r\n".join([f"HTTP/1.1 {answer.status} {answer.reason}", *(f"{k}: {v}" for k, v in answer.getheaders())])
    if issubclass(Headers, dict):  # the client before its headers were parsed when read
        return answer.status, Headers({k.lower(): v for k, v in answer.getheaders()}), body
    return answer.status, Headers(head), body  # as the gevent strategy's client makes them: parsed when read


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.stage_worker:
        stage_worker(args, args.sink_url, args.stage_worker)
        return 0
    os.environ.setdefault("PYTHONHASHSEED", "0")
    tables: list[str] = []
    with Sink(cpu=1) as sink, tempfile.TemporaryDirectory(prefix="per-call-") as tmp:
        per_call_us = float("nan")
        if args.rounds:
            table, per_call_us = ratio_table(args, paired_runs(args, sink, Path(tmp)))
            tables.append(table)
        stages = run_stages(args, sink.url)
        tables.append(stage_table(args, stages, per_call_us))
    text = "\n\n".join(tables)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
