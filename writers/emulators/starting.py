"""Starting an emulator: the server process, its work dir, waiting until it answers, retries.

The emulators to choose from are given (the registry, writers.services, looks them up
by service and starts them by service name: `start_emulator`, `start_emulators`)."""

from __future__ import annotations

import ctypes
import functools
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from writers.emulators.common import LOOPBACK, EmulatorError, log
from writers.emulators.launch import Emulator, Launch
from writers.emulators.ports import check_bind, check_port, connect_host
from writers.emulators.running import RUNNING, RunningEmulator, signal_group

_PORT_RETRIES = 3
_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    """libc's prctl, looked up in the parent (no dlopen between fork and exec)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


_PRCTL = _load_prctl()


def _child_setup(parent_pid: int) -> None:
    """Runs in the child between fork and exec: die with the parent."""
    if _PRCTL is None:
        return  # not Linux: rely on stop() and atexit
    _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _last_log_line(path: Path | None) -> str:
    if path is None or not path.exists():
        return "(no log)"
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 8192))
            tail = handle.read().decode("utf-8", "replace")
    except OSError:
        return "(log unreadable)"
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    if not lines:
        return "(empty log)"
    line = " ".join(lines[-1].split())
    return line if len(line) <= 300 else line[:297] + "..."


def _answers_http(host: str, port: int) -> bool:
    """True if something on host:port gives any HTTP response to GET /."""
    connection = http.client.HTTPConnection(host, port, timeout=1.0)
    try:
        connection.request("GET", "/")
        connection.getresponse().read()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


_WORKDIR_PREFIX = "aws-load-emulator-"
_OWNER_FILE = "owner.json"


def _start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (to tell a process from a later one with its pid)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])


def _write_owner_file(emulator: RunningEmulator) -> None:
    assert emulator.workdir is not None
    server = emulator.process.pid if emulator.process is not None else None
    record = {
        "owner": os.getpid(),
        "server": server,
        "server_start": _start_time(server) if server is not None else None,
        "extra_paths": [str(path) for path in emulator.extra_paths],
    }
    (emulator.workdir / _OWNER_FILE).write_text(json.dumps(record))


def _sweep_stale_workdirs() -> None:
    """Clean up after owners that were killed before they could stop their servers.

    Their servers normally died with them (PR_SET_PDEATHSIG); one that did not (seen:
    ``weed mini`` stuck half-way through its SIGTERM shutdown) is killed here, but only
    if its pid still names the very process we started.
    """
    for workdir in Path(tempfile.gettempdir()).glob(f"{_WORKDIR_PREFIX}*"):
        try:
            record = json.loads((workdir / _OWNER_FILE).read_text())
            owner = int(record["owner"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if owner == os.getpid() or _start_time(owner) is not None:
            continue  # owner alive: not ours to touch
        server, started = record.get("server"), record.get("server_start")
        if isinstance(server, int) and started is not None and _start_time(server) == started:
            log.warning("killing orphaned emulator server pid %d (owner %d is gone)", server, owner)
            signal_group(server, signal.SIGKILL)
        for path in record.get("extra_paths", []):
            Path(path).unlink(missing_ok=True)
        shutil.rmtree(workdir, ignore_errors=True)


def _spawn(
    service: str, shown: str, chosen: Emulator, timeout: float, bind: str = LOOPBACK, port: int | None = None
) -> RunningEmulator:
    """One attempt to start ``chosen``; raises EmulatorError (after cleaning up)."""
    name = chosen.name
    _sweep_stale_workdirs()
    workdir = Path(tempfile.mkdtemp(prefix=f"{_WORKDIR_PREFIX}{name}-"))
    log_path = workdir / "server.log"
    emulator = RunningEmulator(service=service, name=name, endpoint="", shown=shown, workdir=workdir, bind=bind)
    try:
        try:
            launch = chosen.launch(workdir, bind, port)
        except OSError as exc:  # a free-port probe could not bind: not an address of this host
            raise EmulatorError(f"cannot listen on {bind}: {exc.strerror or exc}") from None
        emulator.endpoint = f"http://{connect_host(bind)}:{launch.port}"
        emulator.ports = launch.ports
        emulator.extra_paths = launch.extra_paths
        emulator.log_path = log_path
        emulator._log_file = log_path.open("wb")
        log.debug("starting %s: %s", name, " ".join(launch.argv))
        emulator.process = subprocess.Popen(
            launch.argv,
            stdin=subprocess.DEVNULL,
            stdout=emulator._log_file,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env={**os.environ, **launch.env},
            start_new_session=True,
            preexec_fn=functools.partial(_child_setup, os.getpid()),
        )
        RUNNING.add(emulator)
        _write_owner_file(emulator)
        _wait_until_ready(emulator, launch, timeout)
    except BaseException:
        emulator.stop()
        raise
    return emulator


def _wait_until_ready(emulator: RunningEmulator, launch: Launch, timeout: float) -> None:
    assert emulator.process is not None
    port = launch.port
    host = connect_host(emulator.bind)
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        code = emulator.process.poll()
        if code is not None:
            raise EmulatorError(
                f"{emulator.name} exited with code {code} before answering on port {port}: "
                f"{_last_log_line(emulator.log_path)}"
            )
        if _answers_http(host, port) and (launch.ready is None or launch.ready()):
            return
        if time.monotonic() >= deadline:
            raise EmulatorError(
                f"{emulator.name} did not answer on {emulator.endpoint} within {timeout:g} s: "
                f"{_last_log_line(emulator.log_path)}"
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


def _port_clash(error: EmulatorError) -> bool:
    text = str(error).lower()
    return any(clue in text for clue in ("address already in use", "eaddrinuse", "port allocation failed"))


def _choose(choices: Sequence[Emulator], service: str, shown: str, prefer: str | None) -> Emulator:
    if prefer is not None:
        name = prefer.lower()
        preferred = next((e for e in choices if e.name == name), None)
        if preferred is None:
            names = ", ".join(e.name for e in choices)
            raise EmulatorError(f"unknown emulator {prefer!r} for {service}; choose from {names}")
        reason = preferred.unavailable()
        if reason is not None:
            raise EmulatorError(f"{name} cannot run for {service}: {reason}")
        return preferred
    reasons: list[str] = []
    for emulator in choices:
        reason = emulator.unavailable()
        if reason is None:
            if reasons:
                log.warning(
                    "%s: falling back to %s because %s",
                    shown, emulator.name, "; ".join(reasons),
                )  # fmt: skip
            return emulator
        reasons.append(f"{emulator.name} is unavailable ({reason})")
    raise EmulatorError(f"no emulator can run for {service}: {'; '.join(reasons)}")


def start_one_of(
    choices: Sequence[Emulator],
    *,
    service: str,
    shown: str,
    prefer: str | None = None,
    timeout: float = 30.0,
    bind: str = LOOPBACK,
    port: int | None = None,
) -> RunningEmulator:
    """Start the best available of ``choices`` (most preferred first) for ``service``
    (shown in the log as ``shown``: "DynamoDB") and wait until it answers.

    ``prefer`` names one of them (``"moto"`` forces moto); without it the first that can
    run here is used, falling back to the next, with a warning, when one is missing.
    ``bind`` is the IPv4 address every server of the emulator listens on (default
    127.0.0.1; 0.0.0.0 means every interface, for a container only: the endpoint
    then names 127.0.0.1). ``port`` fixes the client-facing port (default: a free
    one); an emulator's internal ports are free picks either way.
    """
    bind = check_bind(bind)
    if port is not None:
        port = check_port(port)
    chosen = _choose(choices, service, shown, prefer)
    if chosen.warning:
        log.warning("%s: %s", shown, chosen.warning)
    for attempt in range(1, _PORT_RETRIES + 1):
        try:
            emulator = _spawn(service, shown, chosen, timeout, bind, port)
        except EmulatorError as error:
            if attempt < _PORT_RETRIES and _port_clash(error):
                log.info("%s: port taken between choosing and binding, retrying", chosen.name)
                continue
            raise
        if bind == LOOPBACK:
            log.info("%s -> %s at %s", shown, chosen.name, emulator.endpoint)
        else:
            log.info("%s -> %s at %s (listening on %s)", shown, chosen.name, emulator.endpoint, bind)
        return emulator
    raise AssertionError("unreachable")
