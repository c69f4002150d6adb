#!/usr/bin/env python3
"""Compare the writer strategies on the same fixed number of records, like the write-ups.

    .venv/bin/python scripts/compare.py [--services dynamodb,s3,sqs] [--strategies all]
        [--records 2000] [--target local|aws|URL] [--latency-ms 80] [--keep-alive both|on|off]
        [--users 1] [--concurrency 32] [--batch 1] [--out DIR] [-- extra Locust flags]

For each service and each strategy (and each keep-alive setting), one headless Locust
run writes exactly ``--records`` records through that strategy's user class
(``locust -f locustfiles/<service>.py --headless -u U -r U --max-records N ... GeventUser``),
one run after another. With ``--target local`` one emulator per service serves the
whole comparison; ``--latency-ms`` puts ``scripts/fault_proxy.py`` in front of it to
emulate the distance to AWS (the round trip is split over the two directions).

Printed at the end, per service: strategy, seconds, records/s, speedup over sequential,
p50/p99 latency per call, and load-generator CPU seconds per 1,000 records. ``--out``
(default ``reports/compare-<timestamp>/`` in the project) gets ``results.json`` (every raw
figure), ``compare.png`` (records/s and CPU per 1,000 records), ``table.txt``,
``table.md`` and ``runs/`` (each run's Locust log, AWS summary, Locust stats, timing).

How "seconds" is measured: inside the Locust process, a small plugin locustfile listens to
the request events of our clients. Each event fires right after its call; its start is
the event time minus the call's response time. seconds = end of the last call that
acknowledged records - start of the first call. Locust start-up, the emulator,
provisioning and per-user client creation (``on_start``) are outside that window.

Exit codes: 0 every run wrote exactly ``--records`` records; 1 a run failed (exited
non-zero, or acknowledged fewer records than asked; it is marked in the table and the
other runs still go); 2 bad input (one line on stderr); 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime as dt
import json
import logging
import math
import os
import platform
import re
import secrets
import select
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, NoReturn
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
try:
    from writers import emulators
except ImportError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT))
    from writers import emulators
from writers.errors import ConfigError  # noqa: E402 - after the sys.path fallback
from writers.services import SERVICES, workload_class  # noqa: E402
from writers.strategies import STRATEGIES  # noqa: E402
from writers.target import parse_target  # noqa: E402

PROG = "compare.py"
LOCUSTFILES = ROOT / "locustfiles"
FAULT_PROXY = ROOT / "scripts" / "fault_proxy.py"
DEFAULT_RECORDS = 2_000
DEFAULT_CONCURRENCY = 32
KEEP_ALIVE_CHOICES = {"both": (True, False), "on": (True,), "off": (False,)}
REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
PROXY_BANNER = re.compile(r"fault-proxy listening on (http://\S+) ->")
TIMING_ENV = "COMPARE_TIMING_FILE"
POLL_SECONDS = 0.25
QUIT_GRACE_SECONDS = 60  # after the --run-time bound: quitting, summary, teardown
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
SECONDS_HOW = (
    "start of the first call to the end of the last call that acknowledged records, timed inside the "
    "Locust process from its request events (event time - response_time); excludes Locust start-up, "
    "emulator, provisioning and client creation in on_start"
)

# The plugin locustfile loaded next to the service's locustfile in every run (-f a.py,b.py).
TIMING_PLUGIN = '''"""Written by scripts/compare.py: when the first call started, when the last record was acked."""
import json
import os
import time

from locust import events

_path = os.environ.get("COMPARE_TIMING_FILE", "")
_state = {"test_start": None, "first_call_start": None, "last_ack_end": None, "last_call_end": None,
          "calls": 0, "acked": 0}
_next_write = [0.0]


def _write():
    if _path:
        with open(_path + ".tmp", "w") as out:
            json.dump(_state, out)
        os.replace(_path + ".tmp", _path)


@events.test_start.add_listener
def _on_test_start(**_):
    _state["test_start"] = time.time()


@events.request.add_listener
def _on_request(response_time, context=None, **_):
    if not context or "acked" not in context:
        return  # not one of the project's AWS calls
    now = time.time()
    start = now - (response_time or 0) / 1000.0
    if _state["first_call_start"] is None or start < _state["first_call_start"]:
        _state["first_call_start"] = start
    _state["last_call_end"] = now
    _state["calls"] += 1
    if context["acked"]:
        _state["acked"] += context["acked"]
        _state["last_ack_end"] = now
    if now >= _next_write[0]:  # progress for compare.py, four times a second at most
        _next_write[0] = now + 0.25
        _write()


@events.quitting.add_listener
def _on_quitting(**_):
    _write()
'''

log = logging.getLogger("compare")


# --------------------------------------------------------------------------- input


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
        if not any(args.prefer in emulators.emulator_names(s) for s in services):
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


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class RunSpec:
    index: int
    service: str
    strategy: str
    keep_alive: bool

    @property
    def user_class(self) -> str:
        return f"{self.strategy.capitalize()}User"

    @property
    def label(self) -> str:
        return f"{self.service} {self.strategy} keep-alive {'on' if self.keep_alive else 'off'}"

    @property
    def slug(self) -> str:
        return f"{self.index:02d}-{self.service}-{self.strategy}-ka-{'on' if self.keep_alive else 'off'}"


@dataclass
class RunResult:
    service: str
    strategy: str
    user_class: str
    keep_alive: bool
    records: int
    ok: bool = False
    failure: str = ""
    exit_code: int | None = None
    acked: int = 0
    given_up: int = 0
    retried: int = 0
    calls: int = 0
    failed_calls: int = 0
    seconds: float | None = None
    records_per_s: float | None = None
    speedup: float | None = None
    operation: str = ""  # the summary row the percentiles come from, e.g. "DynamoDB PutItem [gevent]"
    p50_ms: float | None = None
    p99_ms: float | None = None
    cpu_seconds: float | None = None
    cpu_per_1k: float | None = None
    startup_seconds: float | None = None  # Locust launched -> first call started
    process_seconds: float | None = None  # Locust launched -> Locust exited
    command: list[str] = field(default_factory=list)
    run_dir: str = ""
    summary: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, Any] = field(default_factory=dict)


def plan(options: Options) -> list[RunSpec]:
    specs: list[RunSpec] = []
    for service in options.services:
        for strategy in options.strategies:
            for keep_alive in options.keep_alive:
                specs.append(RunSpec(len(specs) + 1, service, strategy, keep_alive))
    return specs


def locust_command(
    options: Options, spec: RunSpec, url: str, run_dir: Path, plugin: Path, resource: str, teardown: bool
) -> list[str]:
    workload = workload_class(spec.service)
    command = [
        sys.executable, "-m", "locust",
        "-f", f"{LOCUSTFILES / f'{spec.service}.py'},{plugin}",
        "--headless", "--only-summary",
        "-u", str(options.users), "-r", str(options.users),
        "--run-time", f"{options.run_time}s",
        "--max-records", str(options.records),
        "--records-per-task", str(options.records_per_task),
        "--concurrency", str(options.concurrency),
        "--batch", str(options.batch),
        "--target", url,
        "--keep-alive" if spec.keep_alive else "--no-keep-alive",
        f"--{workload.resource_kind}", resource,
        "--summary-json", str(run_dir / "summary.json"),
        "--json-file", str(run_dir / "locust"),
        "--exit-code-on-error", "0",  # retried failures are counted in the summary; non-zero = the run broke
    ]  # fmt: skip
    if options.region:
        command += ["--region", options.region]
    if options.seed >= 0:
        command += ["--seed", str(options.seed)]
    if teardown:
        command.append("--teardown")
    return [*command, *options.extra, spec.user_class]


def run_env(options: Options, run_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env[TIMING_ENV] = str(run_dir / "timing.json")
    env["PYTHONUNBUFFERED"] = "1"
    if options.target == "local":
        # The emulators' fake keys, and nothing from a real profile that could get in their way.
        for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
            env.pop(name, None)
        env["AWS_ACCESS_KEY_ID"] = emulators.LOCAL_ACCESS_KEY
        env["AWS_SECRET_ACCESS_KEY"] = emulators.LOCAL_SECRET_KEY
        env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: the current run was stopped; skip the rest, keep what was measured."""


class ProgressBar:
    """One bar over every record of every run; quiet when disabled."""

    def __init__(self, total: int, enabled: bool | None) -> None:
        self.bar: Any = None
        if enabled is None:
            enabled = sys.stderr.isatty()
        if enabled:
            import tqdm

            tqdm.tqdm.monitor_interval = 0  # no monitor thread
            self.bar = tqdm.tqdm(total=total, unit="rec", dynamic_ncols=True, file=sys.stderr)
        self.base = 0

    def start_run(self, label: str) -> None:
        if self.bar is not None:
            self.bar.set_description_str(label)

    def update(self, done_in_run: int) -> None:
        if self.bar is not None and self.bar.n != self.base + done_in_run:
            self.bar.n = self.base + done_in_run
            self.bar.refresh()

    def end_run(self, records: int) -> None:
        self.base += records
        self.update(0)

    def write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _stop_process_group(process: subprocess.Popen[bytes], first: signal.Signals, grace: float) -> None:
    for sig, wait in ((first, grace), (signal.SIGKILL, 10.0)):
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(wait)


def run_one(
    options: Options, spec: RunSpec, url: str, plugin: Path, bar: ProgressBar, stopping: list[bool]
) -> RunResult:
    run_dir = options.out / "runs" / spec.slug
    run_dir.mkdir(parents=True)
    resource = options.resource or f"cmp-{RUN_TOKEN}-{spec.index:02d}-{spec.strategy}"
    command = locust_command(options, spec, url, run_dir, plugin, resource, teardown=not options.resource)
    result = RunResult(
        spec.service, spec.strategy, spec.user_class, spec.keep_alive, options.records,
        command=command, run_dir=str(run_dir),
    )  # fmt: skip
    (run_dir / "command.txt").write_text(shlex.join(command) + "\n")
    bar.start_run(f"{spec.index}/{TOTAL_RUNS} {spec.label}")
    hard_limit = options.run_time + QUIT_GRACE_SECONDS
    launched_wall, launched = time.time(), time.monotonic()
    with open(run_dir / "locust.log", "wb") as log_file:
        process = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=run_env(options, run_dir),
            cwd=ROOT,
            start_new_session=True,  # Ctrl-C reaches compare.py, which ends the run cleanly
        )
        ended_by = ""
        while process.poll() is None:
            if stopping[0]:  # Ctrl-C: Locust quits as it would on its own Ctrl-C, summary included
                ended_by = "interrupted"
                _stop_process_group(process, signal.SIGINT, 15.0)
            elif time.monotonic() - launched > hard_limit:
                ended_by = f"killed after {hard_limit} s"
                _stop_process_group(process, signal.SIGTERM, 10.0)
            else:
                progress = _read_json(run_dir / "timing.json")
                bar.update(min(options.records, int(progress.get("acked") or 0)))
                time.sleep(POLL_SECONDS)
    result.process_seconds = round(time.monotonic() - launched, 3)
    result.exit_code = process.returncode
    result.summary = _read_json(run_dir / "summary.json")
    result.timing = _read_json(run_dir / "timing.json")
    evaluate(result, options, launched_wall, ended_by)
    bar.end_run(options.records)
    return result


def evaluate(result: RunResult, options: Options, launched_wall: float, ended_by: str = "") -> None:
    """Fill in the figures from the run's summary and timing, and decide whether it failed."""
    summary, timing = result.summary, result.timing
    result.acked = int(summary.get("acked") or 0)
    result.given_up = int(summary.get("given_up") or 0)
    result.retried = int(summary.get("retried") or 0)
    result.calls = int(summary.get("calls") or 0)
    rows = summary.get("rows") or {}
    result.failed_calls = sum(
        int(v) for row in rows.values() for k, v in row.items() if k.startswith("failed_") and isinstance(v, int)
    )
    if summary.get("cpu_seconds"):  # 0: the run did not get to count it (stopped early)
        result.cpu_seconds = float(summary["cpu_seconds"])
        if result.acked:
            result.cpu_per_1k = round(result.cpu_seconds / result.acked * 1000, 3)
    latency = summary.get("latency_ms") or {}
    if latency:  # the busiest request name: the write operation (retries share its name)
        name = max(latency, key=lambda n: (latency[n] or {}).get("count", 0))
        result.operation = name
        result.p50_ms = latency[name].get("p50")
        result.p99_ms = latency[name].get("p99")
    first, last = timing.get("first_call_start"), timing.get("last_ack_end")
    if isinstance(first, (int, float)) and isinstance(last, (int, float)) and last > first:
        result.seconds = round(last - first, 3)
        result.records_per_s = round(result.acked / (last - first), 1)
        result.startup_seconds = round(first - launched_wall, 3)

    if ended_by:
        result.failure = ended_by
    elif result.exit_code != 0:
        result.failure = f"exit {result.exit_code}: {last_error_line(Path(result.run_dir) / 'locust.log')}"
    elif not summary:
        result.failure = "no summary written"
    elif result.acked != options.records:
        how = f"acked {result.acked:,} of {options.records:,}"
        if result.process_seconds and result.process_seconds >= options.run_time:
            how += f" within the {options.run_time} s bound"
        result.failure = how
    elif result.seconds is None:
        result.failure = "no timing recorded"
    result.ok = not result.failure


def last_error_line(path: Path) -> str:
    """The most telling line of a failed run's log, for the table."""
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    for line in reversed(lines):
        if re.search(r"error|Error|exception|Exception", line) and "Shutting down" not in line:
            return line[-160:]
    return lines[-1][-160:] if lines else "no output"


def add_speedups(results: list[RunResult]) -> None:
    """Speedup over the service's sequential run (keep-alive on when there is one): its seconds / ours."""
    for service in {r.service for r in results}:
        mine = [r for r in results if r.service == service]
        baselines = [r for r in mine if r.strategy == "sequential" and r.ok]
        baselines.sort(key=lambda r: not r.keep_alive)  # keep-alive on first
        if not baselines or not baselines[0].seconds:
            continue
        base = baselines[0].seconds
        for result in mine:
            if result.ok and result.seconds:
                result.speedup = round(base / result.seconds, 2)


# --------------------------------------------------------------------------- targets


class Targets:
    """Where each service's runs send: one emulator (and one latency proxy) for the whole comparison."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.emulators: list[emulators.RunningEmulator] = []
        self.proxies: list[subprocess.Popen[bytes]] = []
        self.urls: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        self.described: dict[str, str] = {}

    def start(self, service: str) -> None:
        options = self.options
        try:
            if options.target == "local":
                prefer = options.prefer if options.prefer in emulators.emulator_names(service) else None
                emulator = emulators.start_emulator(service, prefer=prefer)
                self.emulators.append(emulator)
                url, where = emulator.endpoint, f"local {emulator.name} at {emulator.endpoint}"
            elif options.target == "aws":
                url, where = "aws", f"AWS {options.region or 'default region'}"
            else:
                url, where = options.target, options.target
            if options.latency_ms or options.connect_latency_ms:
                url = self.start_proxy(service, url)
                where += (
                    f" + fault_proxy {options.latency_ms:g} ms round trip"
                    f" ({options.connect_latency_ms:g} ms per new connection)"
                )
        except (emulators.EmulatorError, RuntimeError) as exc:
            self.errors[service] = str(exc)
            return
        self.urls[service] = url
        self.described[service] = where

    def start_proxy(self, service: str, upstream: str) -> str:
        options = self.options
        log_path = options.out / f"fault-proxy-{service}.log"
        command = [
            sys.executable, str(FAULT_PROXY), "--upstream", upstream.rstrip("/"),
            "--latency-ms", f"{options.latency_ms / 2:g}",
            "--connect-latency-ms", f"{options.connect_latency_ms:g}",
        ]  # fmt: skip
        with open(log_path, "wb") as err:
            proxy = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C is compare.py's to handle
                preexec_fn=_die_with_parent,
            )
        self.proxies.append(proxy)
        line = _first_line(proxy, timeout=20.0)
        match = PROXY_BANNER.search(line)
        if not match:
            detail = line.strip() or _tail(log_path) or f"exit {proxy.poll()}"
            raise RuntimeError(f"fault_proxy.py did not start: {detail}")
        return match.group(1)

    def stop(self) -> None:
        for proxy in self.proxies:
            if proxy.poll() is None:
                proxy.terminate()
                try:
                    proxy.wait(10)
                except subprocess.TimeoutExpired:
                    proxy.kill()
                    proxy.wait()
            if proxy.stdout is not None:
                proxy.stdout.close()
        self.proxies.clear()
        for emulator in reversed(self.emulators):
            emulator.stop()
        self.emulators.clear()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _first_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    stream: IO[bytes] | None = process.stdout
    assert stream is not None
    deadline = time.monotonic() + timeout
    buffer = b""
    while b"\n" not in buffer and time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], 0.2)
        if ready:
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                break
            buffer += chunk
        elif process.poll() is not None:
            break
    return buffer.decode(errors="replace").split("\n", 1)[0]


def _tail(path: Path) -> str:
    with contextlib.suppress(OSError):
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
        return lines[-1][-200:] if lines else ""
    return ""


# --------------------------------------------------------------------------- report


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def table_rows(results: list[RunResult], keep_alive_column: bool) -> tuple[list[str], list[list[str]]]:
    header = ["strategy"]
    if keep_alive_column:
        header.append("keep-alive")
    header += ["seconds", "records/s", "speedup", "p50 ms", "p99 ms", "CPU s/1k records", "status"]
    rows = []
    for r in results:
        row = [r.strategy]
        if keep_alive_column:
            row.append("on" if r.keep_alive else "off")
        row += [
            _fmt(r.seconds, ",.2f"),
            _fmt(r.records_per_s, ",.0f"),
            _fmt(r.speedup, ".1f", "x"),
            _fmt(r.p50_ms, "g"),
            _fmt(r.p99_ms, "g"),
            _fmt(r.cpu_per_1k, ".2f"),
            "ok" if r.ok else f"FAILED: {r.failure}",
        ]
        rows.append(row)
    return header, rows


def heading(options: Options, service: str, results: list[RunResult], targets: Targets) -> str:
    operations = sorted({r.operation.split(" [")[0] for r in results if r.operation})
    what = ", ".join(operations) or service
    where = targets.described.get(service) or targets.errors.get(service, "")
    per = f"batch {options.batch}, " if options.batch > 1 else ""
    return (
        f"{what}: {options.records:,} records per run, {options.users} user(s), concurrency {options.concurrency}, "
        f"{per}target {where}"
    )


def plain_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    left = {0, len(header) - 1} | ({1} if header[1] == "keep-alive" else set())

    def line(cells: list[str]) -> str:
        out = [c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(out).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(row) for row in rows)])


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    align = ["---" if h in ("strategy", "keep-alive", "status") else "---:" for h in header]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


FOOTNOTE = (
    "seconds: first call's start to the last acknowledged record, timed inside Locust; "
    "speedup: over sequential{ka}; p50/p99: per call; CPU: load-generator CPU seconds per 1,000 records"
)


def report(options: Options, results: list[RunResult], targets: Targets) -> tuple[str, str]:
    """The plain-text and the Markdown tables, one per service."""
    keep_alive_column = len(options.keep_alive) > 1
    note = FOOTNOTE.format(ka=" (keep-alive on)" if keep_alive_column else "")
    plain, markdown = [], []
    for service in options.services:
        mine = [r for r in results if r.service == service]
        if not mine:
            continue
        header, rows = table_rows(mine, keep_alive_column)
        title = heading(options, service, mine, targets)
        plain += [title, plain_table(header, rows), ""]
        markdown += [f"**{title}**", "", markdown_table(header, rows), ""]
    plain.append(note)
    markdown.append(f"_{note}_")
    return "\n".join(plain), "\n".join(markdown) + "\n"


def write_chart(options: Options, results: list[RunResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    services = [s for s in options.services if any(r.service == s for r in results)]
    figure, axes = plt.subplots(
        len(services), 2, figsize=(12, 3.8 * len(services)), squeeze=False, constrained_layout=True
    )
    width = 0.8 / len(options.keep_alive)
    colours = {True: "#2b6cb0", False: "#dd6b20"}
    for row, service in enumerate(services):
        mine = [r for r in results if r.service == service]
        strategies = [s for s in options.strategies if any(r.strategy == s for r in mine)]
        for column, (attribute, title) in enumerate(
            (
                ("records_per_s", "records/s (higher is better)"),
                ("cpu_per_1k", "CPU s per 1,000 records (lower is better)"),
            )
        ):
            axis = axes[row][column]
            for k, keep_alive in enumerate(options.keep_alive):
                xs, values, labels = [], [], []
                for i, strategy in enumerate(strategies):
                    match = [r for r in mine if r.strategy == strategy and r.keep_alive == keep_alive]
                    if not match:
                        continue
                    value = getattr(match[0], attribute) if match[0].ok else None
                    xs.append(i + (k - (len(options.keep_alive) - 1) / 2) * width)
                    values.append(value or 0.0)
                    labels.append("failed" if value is None else _bar_label(value))
                bars = axis.bar(
                    xs, values, width, color=colours[keep_alive], label=f"keep-alive {'on' if keep_alive else 'off'}"
                )
                axis.bar_label(bars, labels=labels, fontsize=8, padding=2)
            axis.set_xticks(range(len(strategies)), strategies)
            axis.set_title(f"{service}: {title}", fontsize=10)
            axis.margins(y=0.15)
            if len(options.keep_alive) > 1:
                axis.legend(fontsize=8)
    latency = f", +{options.latency_ms:g} ms round trip" if options.latency_ms else ""
    figure.suptitle(
        f"{options.records:,} records per run, {options.users} user(s), concurrency {options.concurrency}, "
        f"target {options.target}{latency}",
        fontsize=11,
    )
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _bar_label(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def machine_facts() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "hostname": platform.node(),
    }


def write_outputs(
    options: Options, results: list[RunResult], targets: Targets, started: dt.datetime, interrupted: bool
) -> tuple[str, str]:
    plain, markdown = report(options, results, targets)
    (options.out / "table.txt").write_text(plain + "\n")
    (options.out / "table.md").write_text(markdown)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items()}
    document = {
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "interrupted": interrupted,
        "settings": settings,
        "targets": targets.described,
        "target_errors": targets.errors,
        "machine": machine_facts(),
        "seconds_measured_as": SECONDS_HOW,
        "runs": [asdict(r) for r in results],
    }
    (options.out / "results.json").write_text(json.dumps(document, indent=2) + "\n")
    if results:
        try:
            write_chart(options, results, options.out / "compare.png")
        except Exception as exc:  # the figures are in the JSON and the table either way
            print(f"{PROG}: warning: no chart: {exc}", file=sys.stderr)
    return plain, markdown


# --------------------------------------------------------------------------- main


RUN_TOKEN = secrets.token_hex(3)
TOTAL_RUNS = 0


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
    global TOTAL_RUNS
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
    TOTAL_RUNS = len(specs)
    started = dt.datetime.now().astimezone()
    results: list[RunResult] = []
    targets = Targets(options)
    stopping = [False]
    interrupted = False
    bar: ProgressBar | None = None
    with _signals_as_interrupt(stopping), tempfile.TemporaryDirectory(prefix="compare-") as temp:
        plugin = Path(temp) / "compare_timing.py"
        plugin.write_text(TIMING_PLUGIN)
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
                    result = run_one(options, spec, targets.urls[spec.service], plugin, bar, stopping)
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


if __name__ == "__main__":
    sys.exit(main())
