#!/usr/bin/env python3
"""Load-generator cost of each writer strategy inside Locust, against a sink that is never
the bottleneck, anchored by Locust's FastHttpUser and by wrk (C) as the ceiling.

    .venv/bin/python scripts/bench_strategies.py                     # everything, ~16 minutes
    .venv/bin/python scripts/bench_strategies.py --service dynamodb --sections cpu --seconds 5

The sink is nginx answering every call with a canned, valid, minimal AWS answer
(scripts/bench/sink.py): DynamoDB PutItem/BatchWriteItem, S3 PutObject, SQS
GetQueueUrl/SendMessage/SendMessageBatch. nginx runs on CPU 1, every load generator on
CPU 0, one run at a time; the sink's own CPU is measured in every run.

Sections (`--sections`, default all):

- `cpu`: requests per load-generator CPU-second, single-item calls (DynamoDB PutItem,
  S3 PutObject of 4 KiB, SQS SendMessage): each strategy with `--users` x
  `--concurrency` calls in flight; FastHttpUser with as many users, each POSTing (S3:
  PUTting) the same body unsigned; wrk with as many connections. CPU is the process's
  own (all threads): Locust's counted by scripts/bench/cpu_probe.py from `--warmup`
  seconds after test start to test stop, wrk's from os.wait4.
- `batch`: the same in items per CPU-second, DynamoDB BatchWriteItem of 25 and SQS
  SendMessageBatch of 10 (items from the calls' own counts, the same the `--summary-json`
  rows add up; checked against them).
- `p99`: latency at a fixed, moderate rate: one user, one call in flight, paced to
  `--p99-rate` calls/s (scripts/bench/pace.py; wrk: its delay() hook); p50/p99 from the
  run's `--summary-json` latency_ms (the merged HdrHistogram), the anchors' from the
  probe's HdrHistogram made the same way.
- `memory`: `--memory-users` GeventUsers (one call in flight each) in one Locust process
  against the sink; maximum RSS from /usr/bin/time -v.

Every configuration runs `--repeats` times, interleaved and in alternating order (A B C,
C B A, ...) so drift and position hit all alike; tables give medians. Ratios (to boto3
`sequential` and to FastHttpUser) are paired: each round's run divided by the same round's
base run, a few seconds apart, and the median of those; the spread column gives their
interquartile range. Single runs on a shared VM scatter by +-20 % and more, so read the
medians of many short rounds (`--repeats 10 --seconds 2`), never one run.
`--json` keeps every raw figure and the exact commands; `--markdown` the tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "scripts" / "bench"
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

from bodies import fixed_request  # noqa: E402
from sink import Sink, pin_to  # noqa: E402
from wrk_ceiling import run_wrk, wrk_binary  # noqa: E402

LOCUST = ROOT / ".venv" / "bin" / "locust"
if not LOCUST.exists():
    LOCUST = Path(sys.executable).parent / "locust"
STRATEGIES = ["sequential", "threaded", "aioboto3", "aiohttp", "gevent"]
ANCHOR = "FastHttpUser"
WRK = "wrk"
RUNNERS = [*STRATEGIES, ANCHOR, WRK]
SERVICES = ["dynamodb", "s3", "sqs"]
BATCHES = {"dynamodb": 25, "sqs": 10}  # the batch APIs' limits
SECTIONS = ["cpu", "batch", "p99", "memory"]
LOCUST_CPU, SINK_CPU = 0, 1
TIME = "/usr/bin/time"
RUN_TIME_MARGIN = 10  # -t: a bound only; the probe stops each run on time
# Given explicitly: without --region every user's on_start builds a boto3 Session to find the
# default region (~20 ms of CPU each; see BENCHMARKS.md).
REGION = "us-east-1"


@dataclass(frozen=True)
class Config:
    section: str  # cpu, batch, p99
    service: str
    batch: int
    runner: str  # a strategy, ANCHOR or WRK

    @property
    def key(self) -> str:
        return f"{self.section}/{self.service}/{self.batch}/{self.runner}"


def pin_locust() -> None:
    pin_to(LOCUST_CPU)


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CPU_PROBE", "BENCH_"))}
    env.update(
        AWS_ACCESS_KEY_ID="AKIDBENCHSINK",
        AWS_SECRET_ACCESS_KEY="bench-sink-secret",  # the sink checks no signature
        AWS_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def locust_command(cfg: Config, args: argparse.Namespace, url: str, tmp: Path) -> tuple[list[str], dict[str, str]]:
    p99 = cfg.section == "p99"
    # The probe ends the run --warmup + --seconds after test start; -t (whole seconds) is only a bound.
    seconds = args.p99_seconds if p99 else args.warmup + args.seconds
    files = [str(BENCH / "cpu_probe.py")] + ([str(BENCH / "pace.py")] if p99 else [])
    env = base_env()
    env.update(
        CPU_PROBE_JSON=str(tmp / "probe.json"),
        CPU_PROBE_WARMUP="0" if p99 else str(args.warmup),
        CPU_PROBE_STOP_AFTER=str(seconds),
    )
    if p99:
        env["BENCH_PACE_RPS"] = str(args.p99_rate)
    common = ["--headless", "-t", f"{math.ceil(seconds) + RUN_TIME_MARGIN}s", "--only-summary", "--loglevel", "WARNING"]
    if cfg.runner == ANCHOR:
        users = 1 if p99 else args.users * args.concurrency  # as many requests in flight
        env.update(BENCH_SERVICE=cfg.service, BENCH_BATCH=str(cfg.batch), BENCH_SINK_URL=url)
        files.insert(0, str(BENCH / "anchor_fasthttp.py"))
        command = [str(LOCUST), "-f", ",".join(files), *common, "-u", str(users), "-r", str(users * 4), "-H", url]
        return command, env
    users, concurrency = (1, 1) if p99 else (args.users, args.concurrency)
    per_task = max(200, cfg.batch * concurrency * 4)  # enough calls per task to keep `concurrency` in flight
    files.insert(0, str(ROOT / "locustfiles" / f"{cfg.service}.py"))
    command = [
        str(LOCUST), "-f", ",".join(files), *common, "-u", str(users), "-r", str(users * 4),
        "--target", url, "--region", REGION, "--no-provision", "--concurrency", str(concurrency),
        "--batch", str(cfg.batch),
        "--records-per-task", str(per_task), "--report-dir", "", "--summary-json", str(tmp / "summary.json"),
        *getattr(args, "extra_args", []), *(getattr(args, "user_classes", None) or [cfg.runner.capitalize() + "User"]),
    ]  # fmt: skip
    env.update(getattr(args, "extra_env", {}))
    return command, env


def run_locust(cfg: Config, args: argparse.Namespace, sink: Sink, tmp: Path) -> dict[str, Any]:
    for stale in ("probe.json", "summary.json"):
        (tmp / stale).unlink(missing_ok=True)
    command, env = locust_command(cfg, args, sink.url, tmp)
    sink_before, started = sink.cpu_seconds(), time.monotonic()
    limit = (args.p99_seconds if cfg.section == "p99" else args.warmup + args.seconds) + 90
    done = subprocess.run(command, env=env, cwd=tmp, capture_output=True, timeout=limit, preexec_fn=pin_locust)
    result: dict[str, Any] = {"exit": done.returncode, "elapsed": time.monotonic() - started, "command": command}
    result["sink_cpu"] = sink.cpu_seconds() - sink_before
    probe_path = tmp / "probe.json"
    if not probe_path.exists():
        tail = (done.stderr or b"").decode(errors="replace").strip()[-800:]
        return {**result, "error": f"no probe output (exit {done.returncode}): {tail}"}
    probe = json.loads(probe_path.read_text())
    window, whole = probe["window"], probe["all"]
    result.update(
        requests=window["requests"], items=window["items"], failures=whole["failures"],
        cpu=window["cpu"], wall=window["wall"], all=whole, latency_ms=probe["latency_ms"],
        sink_busy=result["sink_cpu"] / whole["wall"] if whole["wall"] else 0.0,
    )  # fmt: skip
    summary_path = tmp / "summary.json"
    if summary_path.exists():  # our strategies: the AWS summary; check the probe against it
        summary = json.loads(summary_path.read_text())
        rows = summary["rows"]
        result["summary_items"] = sum(row.get("items", 0) for row in rows.values())
        result["summary_failures"] = sum(v for row in rows.values() for k, v in row.items() if k.startswith("failed_"))
        result["summary_latency_ms"] = next(iter(summary["latency_ms"].values()), {})
        if result["summary_items"] != whole["items"]:
            result["warning"] = f"probe counted {whole['items']} items, --summary-json {result['summary_items']}"
        result["failures"] = max(result["failures"], result["summary_failures"])
    return result


def run_wrk_once(cfg: Config, args: argparse.Namespace, sink: Sink, tmp: Path) -> dict[str, Any]:
    request = fixed_request(cfg.service, cfg.batch, sink.url)
    p99 = cfg.section == "p99"
    sink_before = sink.cpu_seconds()
    figures = run_wrk(
        request, sink.url, tmp,
        seconds=args.p99_seconds if p99 else args.seconds,
        connections=1 if p99 else args.users * args.concurrency,
        delay_ms=round(1000 / args.p99_rate) if p99 else 0,
        preexec_fn=pin_locust,
    )  # fmt: skip
    sink_cpu = sink.cpu_seconds() - sink_before
    return {
        "exit": 0,
        "requests": figures["requests"],
        "items": figures["requests"] * request.items,
        "failures": figures["socket_errors"] + figures["status_errors"],
        "cpu": figures["cpu"],
        "wall": figures["wall"],
        "sink_cpu": sink_cpu,
        "sink_busy": sink_cpu / figures["wall"] if figures["wall"] else 0.0,
        "latency_ms": {
            "p50": figures["p50_us"] / 1000,
            "p99": figures["p99_us"] / 1000,
            "p99.9": figures["p999_us"] / 1000,
            "max": figures["max_us"] / 1000,
        },
        "command": figures["command"],
    }


def run_config(cfg: Config, args: argparse.Namespace, sink: Sink, tmp: Path) -> dict[str, Any]:
    try:
        if cfg.runner == WRK:
            return run_wrk_once(cfg, args, sink, tmp)
        return run_locust(cfg, args, sink, tmp)
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
        return {"exit": -1, "error": str(exc)[:800]}


def run_memory(args: argparse.Namespace, sink: Sink, tmp: Path) -> dict[str, Any]:
    """--memory-users GeventUsers in one Locust process; max RSS from /usr/bin/time -v."""
    users = args.memory_users
    (tmp / "probe.json").unlink(missing_ok=True)
    env = base_env()
    env.update(
        CPU_PROBE_JSON=str(tmp / "probe.json"), CPU_PROBE_WARMUP="0", CPU_PROBE_STOP_AFTER=str(args.memory_seconds)
    )
    locust = [
        str(LOCUST), "-f", f"{ROOT / 'locustfiles' / 'dynamodb.py'},{BENCH / 'cpu_probe.py'}",
        "--headless", "-t", f"{math.ceil(args.memory_seconds) + RUN_TIME_MARGIN}s", "--only-summary",
        "--loglevel", "WARNING",
        "-u", str(users), "-r", str(users), "--target", sink.url, "--region", REGION, "--no-provision",
        "--concurrency", "1",
        "--records-per-task", "20", "--report-dir", "", "GeventUser",
    ]  # fmt: skip
    command = [TIME, "-v", "-o", str(tmp / "time.txt"), *locust]
    started = time.monotonic()
    done = subprocess.run(command, env=env, cwd=tmp, capture_output=True, timeout=args.memory_seconds + 120,
                          preexec_fn=pin_locust)  # fmt: skip
    text = (tmp / "time.txt").read_text() if (tmp / "time.txt").exists() else ""
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    result: dict[str, Any] = {
        "users": users, "concurrency": 1, "seconds": args.memory_seconds, "exit": done.returncode,
        "elapsed": time.monotonic() - started, "command": locust,
        "max_rss_mb": int(match.group(1)) / 1024 if match else None,
    }  # fmt: skip
    if (tmp / "probe.json").exists():
        probe = json.loads((tmp / "probe.json").read_text())["all"]
        result.update(requests=probe["requests"], failures=probe["failures"], wall=probe["wall"], cpu=probe["cpu"])
    else:
        result["error"] = (done.stderr or b"").decode(errors="replace").strip()[-800:]
    return result


# --------------------------------------------------------------------------- tables


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def per_cpu(run: dict[str, Any], what: str) -> float | None:
    return run[what] / run["cpu"] if run.get("cpu") else None


def fmt(value: float | None, digits: int = 0) -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    return f"{value:,.{digits}f}"


def paired_ratios(runs: list[dict[str, Any]], bases: list[dict[str, Any]], what: str) -> list[float]:
    """Each round's figure over the same round's base figure (rounds where both ran; none
    when the base was not run)."""
    pairs = zip((per_cpu(x, what) for x in runs), (per_cpu(x, what) for x in bases), strict=False)
    return [value / base for value, base in pairs if value and base]


def ratio(ratios: list[float], digits: int = 2) -> str:
    return f"{median(ratios):.{digits}f}x" if ratios else "-"


def spread(ratios: list[float]) -> str:
    """The interquartile range of paired ratios (min-max below four rounds)."""
    if len(ratios) < 2:
        return "-"
    low, high = (min(ratios), max(ratios)) if len(ratios) < 4 else statistics.quantiles(ratios, n=4)[::2]
    return f"{low:.2f}-{high:.2f}"


def label(runner: str) -> str:
    return {ANCHOR: "FastHttpUser (unsigned anchor)", WRK: "wrk (C ceiling)"}.get(runner, runner)


OPERATIONS = {
    ("dynamodb", 1): "DynamoDB PutItem",
    ("dynamodb", 25): "DynamoDB BatchWriteItem (25 items)",
    ("s3", 1): "S3 PutObject (4 KiB)",
    ("sqs", 1): "SQS SendMessage",
    ("sqs", 10): "SQS SendMessageBatch (10 messages)",
}


def throughput_table(
    runs: dict[Config, list[dict[str, Any]]], service: str, batch: int, section: str, repeats: int
) -> str:
    items = batch > 1
    unit = "items" if items else "requests"
    cfgs = [c for c in runs if c.section == section and c.service == service and c.batch == batch]
    rates = {c.runner: median([r for r in (per_cpu(x, unit) for x in runs[c]) if r]) for c in cfgs}
    calls = {c.runner: median([r for r in (per_cpu(x, "requests") for x in runs[c]) if r]) for c in cfgs}
    by_runner = {c.runner: runs[c] for c in cfgs}
    seq, anchor = by_runner.get("sequential", []), by_runner.get(ANCHOR, [])
    lines = [f"#### {OPERATIONS[(service, batch)]}", ""]
    head = f"| strategy | {unit} per CPU-second (median of {repeats}) |"
    if items:
        head += " calls per CPU-second |"
    head += (
        " vs boto3 sequential | vs FastHttpUser (median of paired rounds) | vs FastHttpUser, interquartile |"
        " generator CPU busy | sink CPU busy | failures |"
    )
    lines += [head, "|---|" + "---:|" * (head.count("|") - 2)]
    for c in cfgs:
        ok = [x for x in runs[c] if x.get("cpu")]
        busy = median([x["cpu"] / x["wall"] for x in ok if x.get("wall")])
        sink = median([x.get("sink_busy", 0.0) for x in ok])
        failures = sum(int(x.get("failures", 0)) for x in runs[c]) + sum(1 for x in runs[c] if "error" in x)
        to_anchor = paired_ratios(runs[c], anchor, unit)
        row = f"| {label(c.runner)} | {fmt(rates[c.runner])} |"
        if items:
            row += f" {fmt(calls[c.runner])} |"
        row += (
            f" {ratio(paired_ratios(runs[c], seq, unit), 1)} | {ratio(to_anchor)} | {spread(to_anchor)} |"
            f" {busy:.0%} | {sink:.0%} | {failures} |"
        )
        lines.append(row)
    return "\n".join(lines)


def latency_table(runs: dict[Config, list[dict[str, Any]]], service: str, repeats: int, rate: float) -> str:
    cfgs = [c for c in runs if c.section == "p99" and c.service == service]
    lines = [
        f"#### {OPERATIONS[(service, 1)]}, one call in flight, paced to {rate:g} calls/s",
        "",
        f"| strategy | calls/s reached | p50 ms (median of {repeats}) | p99 ms (median) | p99 ms (min-max) |"
        " failures |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for c in cfgs:
        ok = [x for x in runs[c] if "latency_ms" in x]
        lat = [x.get("summary_latency_ms") or x["latency_ms"] for x in ok]  # ours: --summary-json
        p50s, p99s = [x["p50"] for x in lat if "p50" in x], [x["p99"] for x in lat if "p99" in x]
        reached = median([x["requests"] / x["wall"] for x in ok if x.get("wall")])
        failures = sum(int(x.get("failures", 0)) for x in runs[c]) + sum(1 for x in runs[c] if "error" in x)
        spread = f"{min(p99s):.2f}-{max(p99s):.2f}" if p99s else "-"
        lines.append(
            f"| {label(c.runner)} | {fmt(reached)} | {fmt(median(p50s), 2)} | {fmt(median(p99s), 2)} | {spread} |"
            f" {failures} |"
        )
    return "\n".join(lines)


def memory_table(memory: dict[str, Any]) -> str:
    rate = memory["requests"] / memory["wall"] if memory.get("wall") else None
    return "\n".join(
        [
            "| users | calls in flight | seconds | calls | calls/s | failures | max RSS |",
            "|---:|---:|---:|---:|---:|---:|---:|",
            f"| {memory['users']:,} GeventUser | {memory['users']:,} | {memory['seconds']:g} |"
            f" {fmt(memory.get('requests'))} | {fmt(rate)} | {memory.get('failures', '-')} |"
            f" {fmt(memory.get('max_rss_mb'))} MB |",
        ]
    )


# --------------------------------------------------------------------------- main


def machine_notes() -> dict[str, Any]:
    def version(command: list[str]) -> str:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=10)
            return (done.stdout + done.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "-"

    from importlib.metadata import version as package_version

    packages = {name: package_version(name) for name in ("locust", "boto3", "aiobotocore", "aiohttp", "gevent")}
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_before": os.getloadavg(),
        "nginx": version([shutil.which("nginx") or "/usr/sbin/nginx", "-v"]),
        "wrk": version([wrk_binary() or "wrk", "--version"]),
        "packages": packages,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--service", default="all", help="dynamodb, s3, sqs, or all (default)")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="any of cpu,batch,p99,memory (default all)")
    parser.add_argument("--runners", "--strategies", default=",".join(RUNNERS), help="strategies, FastHttpUser, wrk")
    parser.add_argument("--seconds", type=float, default=2.0, help="measured seconds of each throughput run")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds after test start left out of the count")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each configuration (medians are reported)")
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=10, help="calls in flight per user")
    parser.add_argument("--p99-rate", type=float, default=150.0, help="calls per second of the latency runs")
    parser.add_argument(
        "--p99-seconds", type=float, default=2.0, help="length of each latency run (wrk: whole seconds)"
    )
    parser.add_argument("--memory-users", type=int, default=1000)
    parser.add_argument("--memory-seconds", type=float, default=8.0)
    parser.add_argument("--json", default="", help="write every raw figure and command here")
    parser.add_argument("--markdown", default="", help="also write the tables here")
    args = parser.parse_args(argv)
    args.services = SERVICES if args.service == "all" else [args.service]
    args.section_list = [s for s in args.sections.split(",") if s]
    args.runner_list = [r for r in args.runners.split(",") if r]
    bad = (
        set(args.services) - set(SERVICES)
        or set(args.section_list) - set(SECTIONS)
        or set(args.runner_list) - set(RUNNERS)
    )
    if bad:
        parser.error(f"unknown: {', '.join(sorted(bad))}")
    counts = (args.seconds, args.repeats, args.users, args.concurrency, args.p99_rate, args.p99_seconds)
    if min(counts) <= 0 or args.warmup < 0 or args.memory_users < 1 or args.memory_seconds <= 0:
        parser.error("counts and durations must be positive")
    if WRK in args.runner_list and wrk_binary() is None:
        parser.error("wrk is not installed (apt-get install wrk), or leave it out of --runners")
    return args


def plan(args: argparse.Namespace) -> list[Config]:
    configs: list[Config] = []
    for section in ("cpu", "batch"):
        if section not in args.section_list:
            continue
        for service in args.services:
            batch = 1 if section == "cpu" else BATCHES.get(service)
            if batch:
                configs += [Config(section, service, batch, r) for r in args.runner_list]
    if "p99" in args.section_list:
        configs += [Config("p99", s, 1, r) for s in args.services for r in args.runner_list]
    return configs


def round_order(configs: list[Config], repeat: int) -> list[Config]:
    """Forward in even rounds, backward in odd ones: no configuration always follows the same one."""
    return configs if repeat % 2 == 0 else configs[::-1]


def estimate_seconds(configs: list[Config], args: argparse.Namespace) -> float:
    total = 0.0
    for c in configs:
        length = args.p99_seconds if c.section == "p99" else args.seconds
        if c.runner != WRK:
            length += 1.2 + (0 if c.section == "p99" else args.warmup)  # Locust start and stop
        total += length
    total *= args.repeats
    if "memory" in args.section_list:
        total += args.memory_seconds + 3
    return total


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not LOCUST.exists():
        sys.exit(f"error: no locust at {LOCUST}")
    configs = plan(args)
    notes = machine_notes()
    print(
        f"{len(configs)} configurations x {args.repeats} repeats; about {estimate_seconds(configs, args) / 60:.1f} min",
        file=sys.stderr,
    )
    runs: dict[Config, list[dict[str, Any]]] = {c: [] for c in configs}
    memory: dict[str, Any] | None = None
    started = time.monotonic()
    with Sink(cpu=SINK_CPU) as sink, tempfile.TemporaryDirectory(prefix="bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        for repeat in range(args.repeats):
            for cfg in round_order(configs, repeat):
                result = run_config(cfg, args, sink, tmp)
                runs[cfg].append(result)
                rate = per_cpu(result, "items") if cfg.section == "batch" else per_cpu(result, "requests")
                extra = ""
                if cfg.section == "p99":
                    lat = result.get("summary_latency_ms") or result.get("latency_ms") or {}
                    extra = f"p99 {lat.get('p99', '-')} ms"
                note = result.get("error") or result.get("warning") or ""
                print(
                    f"run {repeat + 1}/{args.repeats} {cfg.section:<5} {cfg.service:<8} {cfg.batch:>2} {cfg.runner:<12}"
                    f" {fmt(rate):>9} /CPU-s  failures {result.get('failures', '-')}  {extra} {note}",
                    file=sys.stderr,
                )
        if "memory" in args.section_list:
            memory = run_memory(args, sink, tmp)
            print(f"memory: {memory}", file=sys.stderr)
    notes["load_average_after"] = os.getloadavg()
    notes["elapsed_seconds"] = round(time.monotonic() - started, 1)

    tables: list[str] = []
    for section in ("cpu", "batch"):
        for service in args.services:
            batch = 1 if section == "cpu" else BATCHES.get(service, 0)
            if any(c.section == section and c.service == service for c in configs):
                tables.append(throughput_table(runs, service, batch, section, args.repeats))
    for service in args.services:
        if any(c.section == "p99" and c.service == service for c in configs):
            tables.append(latency_table(runs, service, args.repeats, args.p99_rate))
    if memory is not None:
        tables.append(memory_table(memory))
    text = "\n\n".join(tables)
    print(text)
    print(f"\n(elapsed {notes['elapsed_seconds'] / 60:.1f} min)", file=sys.stderr)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "args": {k: v for k, v in vars(args).items()},
                    "machine": notes,
                    "runs": {c.key: r for c, r in runs.items()},
                    "memory": memory,
                },
                indent=2,
                default=str,
            )
        )
    failed = any("error" in r for rs in runs.values() for r in rs) or bool(memory and "error" in memory)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
