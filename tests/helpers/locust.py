"""Locust as a subprocess, the one way tests run it (`LocustProcess`: output read line by
line as it comes, a web UI waited for, a run stopped as an operator would or killed with
all it started), a master with its workers (`LocustCluster`), the environment they get,
and two shorthands: `run_locust` (a service's locustfile, its --summary-json read back)
and `headless_locust` (any locustfile, its --json-file read back)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from writers.emulators import free_ports

from .project import CREDENTIALS, DYNAMODB_LOCUSTFILE, LOCUST, REGION, locustfile

VERIFY_LINE = re.compile(r"verify (\w+): (\d+) acknowledged, (\d+) lost, (\d+) corrupt, (\d+) duplicates")
MAX_RECORDS_REACHED = "--max-records reached"


def locust_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a Locust subprocess: no stray endpoint overrides, no IMDS lookups."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "PYTHONUNBUFFERED": "1",
            # A master logs "All users spawned" only if every worker reports its users within
            # this many seconds of the ramp (Locust's default: 1), else another line; workers
            # on a busy machine can take longer, and the tests wait for that line.
            "LOCUST_WAIT_FOR_WORKERS_REPORT_AFTER_RAMP_UP": "10",
        }
    )
    env.update(extra or {})
    return env


def stats_totals(stats: Sequence[Mapping[str, Any]] | None) -> tuple[int, int]:
    """(requests, failures) summed over every entry of Locust's --json-file output."""
    entries = stats or []
    return sum(e["num_requests"] for e in entries), sum(e["num_failures"] for e in entries)


@dataclass
class LocustRun:
    """A finished headless Locust run."""

    returncode: int
    output: str  # stdout and stderr, interleaved as written
    stats: list[dict[str, Any]]  # the --json-file list (empty when Locust wrote none)
    elapsed: float  # seconds

    def stat_rows(self) -> dict[str, dict[str, Any]]:
        """The --json-file entries by request name."""
        return {row["name"]: row for row in self.stats}


def headless_locust(
    locustfile: Path, args: Sequence[str], parent: Path, timeout: float, env: Mapping[str, str] | None = None
) -> LocustRun:
    """Run a locustfile headless from a fresh folder under `parent`, with the environment as
    given (no credentials added); never longer than `timeout`. Its --json-file is read back."""
    cwd = parent / f"cwd-{uuid.uuid4().hex[:6]}"  # proves the locustfile works from any folder
    json_prefix = cwd / "stats"  # Locust appends ".json"
    argv = ["--headless", "--json-file", str(json_prefix), *args]
    result = LocustProcess(locustfile, argv, cwd, env=env, headless=False, credentials=False).finish(timeout)
    json_file = json_prefix.with_name("stats.json")
    stats = json.loads(json_file.read_text()) if json_file.exists() else []
    return LocustRun(result.returncode, result.output, stats, result.elapsed)


RunLocust = Callable[..., LocustRun]


def dynamodb_run(parent: Path) -> Callable[..., LocustRun]:
    """`run(args, timeout=90, env=None) -> LocustRun` of the DynamoDB locustfile, from folders under `parent`."""

    def run(args: Sequence[str], timeout: float = 90.0, env: Mapping[str, str] | None = None) -> LocustRun:
        return headless_locust(DYNAMODB_LOCUSTFILE, args, parent, timeout, env)

    return run


# ------------------------------------------------ a run read line by line


@dataclass
class LocustResult:
    returncode: int
    output: str  # stdout and stderr, interleaved as written
    elapsed: float
    cwd: Path
    summary: dict[str, Any] = field(default_factory=dict)  # --summary-json, {} when not written

    @property
    def rows(self) -> dict[str, dict[str, int]]:
        rows: dict[str, dict[str, int]] = self.summary.get("rows", {})
        return rows

    def total(self, counter: str) -> int:
        return sum(row.get(counter, 0) for row in self.rows.values())

    def verify_lines(self) -> dict[str, dict[str, int]]:
        """service -> acknowledged, lost, corrupt, duplicates, from the `verify ...` log lines."""
        fields = ("acknowledged", "lost", "corrupt", "duplicates")
        return {m[0]: dict(zip(fields, map(int, m[1:]), strict=True)) for m in VERIFY_LINE.findall(self.output)}

    def tail(self, chars: int = 4000) -> str:
        return self.output[-chars:]


class LocustProcess:
    """A headless Locust subprocess whose output is read line by line as it comes.

    `wait_for(text)` blocks until a line containing `text` appears; `on_line` callbacks
    run in the reader thread (e.g. to change the proxy when the run reaches a point).
    `headless` adds --headless, no report and a --summary-json read back by `finish`;
    `credentials` adds the local emulators' keys to the environment; `prefix` runs the
    command through another (e.g. `ip netns exec NAME`, which execs it: same process);
    `preexec_fn` runs in the child before Locust starts (e.g. to set a resource limit).
    It ends by `finish` (its own exit), `stop` (SIGTERM, as an operator) or `kill`.
    """

    def __init__(
        self,
        locustfile: str | Path,
        args: Sequence[str],
        cwd: Path,
        env: Mapping[str, str] | None = None,
        on_line: Callable[[str], None] | None = None,
        headless: bool = True,
        credentials: bool = True,
        prefix: Sequence[str] = (),
        preexec_fn: Callable[[], object] | None = None,
    ) -> None:
        self.cwd = cwd
        self.cwd.mkdir(parents=True, exist_ok=True)
        self.summary_path = cwd / "summary.json"
        argv = [*prefix, str(LOCUST), "-f", str(locustfile)]
        if headless:
            argv += ["--headless", "--report-dir", "", "--summary-json", str(self.summary_path)]
        argv += list(args)
        self.argv = argv
        self.args = list(args)  # what the test gave, for messages
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._on_line = on_line
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=locust_env({**(CREDENTIALS if credentials else {}), **(env or {})}),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # a hung run is killed with all it started
            preexec_fn=preexec_fn,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if self._on_line is not None:
                try:
                    self._on_line(line)
                except Exception as exc:  # a failing hook must not stop the reading
                    line += f"[test hook failed: {exc!r}]\n"
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def output(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def wait_for(self, text: str, timeout: float) -> float:
        """Seconds since start when a line with `text` appeared; fails the test after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not any(text in line for line in self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self._reader.is_alive()):
                    self.kill()
                    pytest.fail(f"no {text!r} in Locust's output within {timeout} s:\n{''.join(self.lines)[-3000:]}")
                self._changed.wait(min(left, 0.2))
        return time.monotonic() - self.started

    def kill(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self.process.poll() is not None:
                return
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                continue

    def finish(self, timeout: float) -> LocustResult:
        """Wait for the exit; a run still going after `timeout` s is killed and fails the test."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self._reader.join(5)
            pytest.fail(f"{' '.join(self.args)} did not finish within {timeout} s:\n{self.output()[-3000:]}")
        return self._result()

    def stop(self, timeout: float = 30, must_exit: bool = True) -> LocustResult:
        """Stop it as an operator would: SIGTERM to Locust itself (a master quits its workers
        and writes what is due), `timeout` s to exit, then SIGKILL to whatever is left of its
        group (workers, emulators). One still running after `timeout` fails the test when
        `must_exit`."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        exited = self.process.poll() is not None
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)
        if not exited and must_exit:
            self._reader.join(5)
            pytest.fail(f"{' '.join(self.args)} did not exit within {timeout} s of SIGTERM:\n{self.output()[-3000:]}")
        return self._result()

    def wait_for_http(self, url: str, timeout: float) -> float:
        """Seconds since start when `url` first answered 200 (the web UI is up); fails the
        test, with Locust's output, when Locust exits first or after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        return time.monotonic() - self.started
            except OSError:  # not listening yet, or not ready to answer
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{url} did not answer within {timeout} s:\n{self.output()[-3000:]}")
            time.sleep(0.3)

    def _result(self) -> LocustResult:
        self._reader.join(10)
        elapsed = time.monotonic() - self.started
        summary = json.loads(self.summary_path.read_text()) if self.summary_path.exists() else {}
        return LocustResult(self.process.returncode, self.output(), elapsed, self.cwd, summary)


class LocustCluster:
    """A master and its workers, each a `LocustProcess`; as a context, whatever is still
    running at the end is killed with all it started.

    `LocustCluster.on_loopback(...)` starts them on a free port of 127.0.0.1 (not Locust's
    default 5557: other runs on this machine must not join), each in a folder of its own
    under `cwd` (master/, worker-1/, ...); `LocustCluster(master, workers)` takes processes
    started otherwise (e.g. on network namespaces)."""

    def __init__(self, master: LocustProcess, workers: Sequence[LocustProcess]) -> None:
        self.master = master
        self.workers = list(workers)

    @classmethod
    def on_loopback(
        cls,
        locustfile: str | Path,
        master_args: Sequence[str],
        cwd: Path,
        workers: int = 2,
        env: Mapping[str, str] | None = None,
        headless: bool = True,
        credentials: bool = True,
        worker_args: Sequence[str] = (),
        worker_env: Mapping[str, str] | None = None,
        port: int | None = None,
    ) -> LocustCluster:
        """`--expect-workers` is the number of workers; `headless`, `credentials` as for
        `LocustProcess`; the workers get `worker_args` and `worker_env` (else `env`) too;
        the master listens on `port` (else a free one)."""
        port = port or free_ports(1)[0]
        master = LocustProcess(
            locustfile,
            ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
             "--expect-workers", str(workers), *master_args],
            cwd / "master", env=env, headless=headless, credentials=credentials,
        )  # fmt: skip
        joining = ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port), *worker_args]
        started = [
            LocustProcess(
                locustfile, joining, cwd / f"worker-{i}", env=worker_env or env, headless=False, credentials=credentials
            )
            for i in range(1, workers + 1)
        ]
        return cls(master, started)

    def finish(self, timeout: float, workers_timeout: float = 30) -> tuple[LocustResult, list[LocustResult]]:
        """The master's exit within `timeout` s, then each worker's within `workers_timeout` s
        more (the master tells them to quit); one still running fails the test."""
        master = self.master.finish(timeout)
        return master, [worker.finish(workers_timeout) for worker in self.workers]

    def kill(self) -> None:
        for process in (self.master, *self.workers):
            process.kill()

    def __enter__(self) -> LocustCluster:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.kill()


def run_locust(
    service: str,
    args: Sequence[str],
    cwd: Path,
    timeout: float = 90,
    env: dict[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> LocustResult:
    """One headless run of a service's locustfile from a fresh folder under `cwd`."""
    folder = cwd / f"run-{uuid.uuid4().hex[:6]}"
    return LocustProcess(locustfile(service), args, folder, env=env, on_line=on_line).finish(timeout)


def unique(hint: str) -> str:
    return f"rel-{hint}-{uuid.uuid4().hex[:8]}"


def assert_no_traceback(result: LocustResult) -> None:
    for bad in ("Traceback", "Uncaught exception", "dictionary changed size"):
        assert bad not in result.output, result.tail()


def own_master_port() -> list[str]:
    """Flags that give a `--processes` run its own master port instead of Locust's default
    5557, which another run (another test, another xdist worker) may hold."""
    (port,) = free_ports(1)
    return ["--master-bind-host", "127.0.0.1", "--master-bind-port", str(port), "--master-port", str(port)]
