"""One run per service, strategy and keep-alive: its Locust command, the process, its figures, pass or fail."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from comparison.options import LOCUSTFILES, ROOT, Options
from writers import emulators
from writers.services import workload_class

# The plugin locustfile loaded next to the service's locustfile in every run (-f a.py,b.py).
TIMING_LOCUSTFILE = Path(__file__).resolve().parent / "locustfile" / "compare_timing.py"


TIMING_ENV = "COMPARE_TIMING_FILE"
POLL_SECONDS = 0.25
QUIT_GRACE_SECONDS = 60  # after the --run-time bound: quitting, summary, teardown


RUN_TOKEN = secrets.token_hex(3)


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
    options: Options, spec: RunSpec, url: str, plugin: Path, bar: ProgressBar, stopping: list[bool], total: int
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
    bar.start_run(f"{spec.index}/{total} {spec.label}")
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
