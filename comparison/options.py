"""The comparison's input: flags, their checks (BadInput: one line, exit 2), the options they make."""

from __future__ import annotations

import argparse
import datetime as dt
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from writers.errors import ConfigError
from writers.services import SERVICES, emulator_names, workload_class
from writers.strategies import STRATEGIES
from writers.target import parse_target

ROOT = Path(__file__).resolve().parent.parent
PROG = "compare.py"
LOCUSTFILES = ROOT / "locustfiles"


DEFAULT_RECORDS = 2_000
DEFAULT_CONCURRENCY = 32
KEEP_ALIVE_CHOICES = {"both": (True, False), "on": (True,), "off": (False,)}
REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")


# Flags compare.py sets for every run itself; passing them after "--" would contradict the table.
OWNED_FLAGS = frozenset(
    {
        "-f", "--locustfile", "-u", "--users", "-r", "--spawn-rate", "-t", "--run-time", "--headless",
        "--max-records", "--records-per-task", "--concurrency", "--batch", "--target", "--region",
        "--keep-alive", "--no-keep-alive", "--summary-json", "--json-file", "--exit-code-on-error",
        "--processes", "--master", "--worker", "--teardown",
    }
    | {f"--{workload_class(service).resource_kind}" for service in SERVICES}  # --table, --bucket, ...
)  # fmt: skip


class BadInput(Exception):
    """One line for stderr; exit 2."""


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message}\n")


@dataclass
class Options:
    services: list[str]
    strategies: list[str]
    records: int
    target: str  # "local", "aws" or a URL
    region: str
    users: int
    concurrency: int
    batch: int
    records_per_task: int
    keep_alive: list[bool]
    latency_ms: float
    connect_latency_ms: float
    run_time: int  # seconds, the bound of each run
    resource: str  # "" = a fresh table/bucket/queue per run, deleted after it
    seed: int
    prefer: str | None
    out: Path
    progress: bool | None  # None: when stderr is a terminal
    extra: list[str] = field(default_factory=list)

    @property
    def rtt_s(self) -> float:
        return self.latency_ms / 1000.0


def _csv(raw: str, known: Sequence[str], what: str, flag: str) -> list[str]:
    chosen: list[str] = []
    for part in raw.split(","):
        name = part.strip().lower()
        if not name:
            continue
        if name == "all":
            chosen.extend(n for n in known if n not in chosen)
            continue
        if name not in known:
            raise BadInput(f"unknown {what} {part.strip()!r}; choose from {', '.join(known)} (or all)")
        if name not in chosen:
            chosen.append(name)
    if not chosen:
        raise BadInput(f"{flag} names no {what}; choose from {', '.join(known)}")
    return chosen


def _int(raw: str) -> int:
    try:
        return int(raw.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {raw!r}") from None


def _float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {raw!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {raw!r}")
    return value


def _between(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise BadInput(f"--{name} must be between {low:g} and {high:g} (got {value:g})")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog=PROG,
        description="Run every writer strategy on the same number of records, one after another, "
        "and print the write-ups' table (seconds, records/s, speedup, p50/p99, CPU per 1,000 records).",
        epilog="Flags after '--' go to every Locust run, e.g. -- --payload-bytes 1000.",
    )
    add = parser.add_argument
    add("--services", default="dynamodb", help=f"comma-separated, any of {','.join(SERVICES)} (default dynamodb)")
    add("--strategies", default="all", help=f"comma-separated, any of {','.join(STRATEGIES)} (default all)")
    add("--records", type=_int, default=DEFAULT_RECORDS, help=f"records per run (default {DEFAULT_RECORDS:,})")
    add("--target", default="local", help="local (one emulator for the whole comparison), aws, or an endpoint URL")
    add("--region", default="", help="AWS region (default: boto3's, else us-east-1)")
    add(
        "--users",
        type=_int,
        default=1,
        help="Locust users per run (default 1: one program writes, as in the write-ups)",
    )
    add("--concurrency", type=_int, default=DEFAULT_CONCURRENCY, help="calls in flight per user (default 32)")
    add("--batch", type=_int, default=1, help="items per call: 1 = single-item API (default), more = batch API")
    add(
        "--records-per-task",
        type=_int,
        default=0,
        help="records a user claims per task (default: records / users, so no task boundary drains the window)",
    )
    add("--keep-alive", default="on", help="on (default), off ('Connection: close'), or both (each strategy twice)")
    add(
        "--latency-ms",
        type=_float,
        default=0.0,
        help="round trip to add with scripts/fault_proxy.py in front of the target, split per direction "
        "(the write-ups saw ~80 ms to AWS); not with --target aws",
    )
    add(
        "--connect-latency-ms",
        type=_float,
        default=None,
        help="extra delay for each new connection, a handshake (default: one --latency-ms round trip)",
    )
    add("--run-time", type=_int, default=0, help="bound of each run in seconds (default: generous, from the records)")
    add(
        "--resource",
        default="",
        help="use this existing (or created) table/bucket/queue for every run; default: a fresh one per run, "
        "deleted after it",
    )
    add("--seed", type=_int, default=-1, help="seed for reproducible records (-1: random)")
    add("--prefer", default=None, help="emulator to use for --target local, e.g. moto (default: the fast one)")
    add("--out", default="", help="output folder (default: reports/compare-<timestamp>/ in the project)")
    add(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    return parser


def parse_options(argv: Sequence[str] | None) -> Options:
    """Parse and check everything; BadInput (or the parser's exit 2) on the first problem."""
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    args = build_parser().parse_args(argv)

    services = _csv(args.services, list(SERVICES), "service", "--services")
    strategies = _csv(args.strategies, list(STRATEGIES), "strategy", "--strategies")
    _between("records", args.records, 1, 10_000_000)
    _between("users", args.users, 1, 10_000)
    if args.users > args.records:
        raise BadInput(f"--users {args.users} is more than --records {args.records}: some users would write nothing")
    _between("concurrency", args.concurrency, 1, 10_000)
    _between("latency-ms", args.latency_ms, 0, 60_000)
    connect = args.latency_ms if args.connect_latency_ms is None else args.connect_latency_ms
    _between("connect-latency-ms", connect, 0, 60_000)
    _between("seed", args.seed, -1, 2**63 - 1)
    keep_alive = KEEP_ALIVE_CHOICES.get(args.keep_alive.strip().lower())
    if keep_alive is None:
        raise BadInput(f"--keep-alive must be one of {', '.join(KEEP_ALIVE_CHOICES)}, not {args.keep_alive!r}")

    try:
        target = parse_target(args.target)
    except ConfigError as exc:
        raise BadInput(str(exc)) from None
    if target not in ("local", "aws") and args.latency_ms and urlsplit(target).path not in ("", "/"):
        raise BadInput(f"--latency-ms needs a --target URL without a path, not {target!r}")
    if target == "aws" and (args.latency_ms or args.connect_latency_ms):
        raise BadInput("--latency-ms emulates the distance to AWS for local targets; AWS has its own")
    if target != "local" and args.prefer:
        raise BadInput("--prefer chooses a local emulator; it needs --target local")
    region = args.region.strip()
    if region and not REGION_PATTERN.match(region):
        raise BadInput(f"--region {region!r} is not an AWS region name like us-east-1")
    if args.prefer is not None:
        args.prefer = args.prefer.strip().lower()
        if not any(args.prefer in emulator_names(s) for s in services):
            raise BadInput(f"--prefer {args.prefer!r} serves none of: {', '.join(services)}")

    for service in services:
        workload = workload_class(service)
        if args.batch < 1 or args.batch > workload.max_batch:
            raise BadInput(f"--batch must be between 1 and {workload.max_batch} for {service} (got {args.batch})")
        if args.resource:
            try:
                workload.check_resource_name(args.resource)
            except ConfigError as exc:
                raise BadInput(str(exc).replace(f"--{workload.resource_kind}", "--resource")) from None
        if not (LOCUSTFILES / f"{service}.py").is_file():
            raise BadInput(f"no locustfile for {service}: {LOCUSTFILES / f'{service}.py'} is missing")

    per_user = math.ceil(args.records / args.users)
    records_per_task = args.records_per_task or min(per_user, 1_000_000)
    _between("records-per-task", records_per_task, 1, 1_000_000)

    run_time = args.run_time or default_run_time(args.records, args.users, args.latency_ms + connect, target)
    _between("run-time", run_time, 1, 7 * 24 * 3600)

    for flag in extra:
        name = flag.split("=", 1)[0]
        if name in OWNED_FLAGS:
            raise BadInput(f"{name} after '--' is set by {PROG} itself; use its own option")
        if name in ("-h", "--help", "-V", "--version", "-l", "--list", "--show-task-ratio"):
            raise BadInput(f"{name} after '--' would not run the comparison")

    if args.out:
        out = Path(args.out).expanduser().resolve()
    else:
        out = ROOT / "reports" / f"compare-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BadInput(f"--out {str(out)!r} exists and is not an empty folder")

    return Options(
        services=services,
        strategies=strategies,
        records=args.records,
        target=target,
        region=region,
        users=args.users,
        concurrency=args.concurrency,
        batch=args.batch,
        records_per_task=records_per_task,
        keep_alive=list(keep_alive),
        latency_ms=args.latency_ms,
        connect_latency_ms=connect,
        run_time=run_time,
        resource=args.resource,
        seed=args.seed,
        prefer=args.prefer,
        out=out,
        progress=args.progress,
        extra=extra,
    )


def default_run_time(records: int, users: int, added_ms: float, target: str) -> int:
    """A generous bound: three times what the sequential strategy needs, plus a minute.

    ``added_ms``: what the latency proxy adds to a call at most (round trip + new connection)."""
    added = added_ms / 1000.0 if target != "aws" else 0.2  # AWS: a far region, a new connection per call
    per_record = added + 0.02  # 20 ms: a slow emulator call, or AWS's own time beyond the network
    return int(60 + 3 * per_record * math.ceil(records / users))
