"""A running emulator server: stopping it and its process group, at exit too."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from writers.emulators.common import LOOPBACK, log

_STOP_GRACE_SECONDS = 10.0


@dataclass(eq=False)
class RunningEmulator:
    """One emulator server process, owned by this Python process."""

    service: str
    name: str
    endpoint: str
    shown: str = field(default="", repr=False)  # the service as Locust shows it ("DynamoDB"), for the log
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    ports: tuple[int, ...] = field(default=(), repr=False)
    log_path: Path | None = field(default=None, repr=False)
    workdir: Path | None = field(default=None, repr=False)
    extra_paths: tuple[Path, ...] = field(default=(), repr=False)
    bind: str = field(default=LOOPBACK, repr=False)  # the listen address of its servers
    stop_grace: float = field(default=_STOP_GRACE_SECONDS, repr=False)  # SIGTERM -> SIGKILL
    _log_file: IO[bytes] | None = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def port(self) -> int:
        """The port of ``endpoint``."""
        return int(self.endpoint.rsplit(":", 1)[1])

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Stop the server's whole process group and remove its temp files. Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            if self.process is not None:
                _terminate_group(self.process, self.stop_grace)
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None
            for path in self.extra_paths:
                path.unlink(missing_ok=True)
            if self.workdir is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)
            RUNNING.discard(self)
        if self.process is not None:
            log.info("stopped %s (%s) at %s", self.name, self.shown or self.service, self.endpoint)


RUNNING: set[RunningEmulator] = set()


@atexit.register
def _stop_all_at_exit() -> None:
    for emulator in list(RUNNING):
        emulator.stop()


def _terminate_group(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the process group led by ``process``, wait, then SIGKILL what is left.

    The leader is reaped only at the end: while it is an unreaped zombie its pid, and
    so its process-group id, cannot be reused, so the group signals never hit a
    stranger.
    """
    pgid = process.pid  # started with start_new_session: it leads its own group
    if process.returncode is None:
        signal_group(pgid, signal.SIGTERM)
        if not _exited_unreaped(process, grace):
            log.warning("%s ignored SIGTERM for %g s; killing it", _describe(process), grace)
            signal_group(pgid, signal.SIGKILL)
            _exited_unreaped(process, 5.0)
        if process.returncode is None:
            signal_group(pgid, signal.SIGKILL)  # anything else left in the group
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        log.warning("%s did not exit even after SIGKILL", _describe(process))


def _exited_unreaped(process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait until the process has exited, without reaping it. True if it has."""
    deadline = time.monotonic() + timeout
    while True:
        if process.returncode is not None:
            return True
        try:
            if os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None:
                return True
        except ChildProcessError:  # reaped elsewhere (Popen.poll from another thread)
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def _describe(process: subprocess.Popen[bytes]) -> str:
    args = process.args
    program = Path(str(args[0] if isinstance(args, list | tuple) else args)).name
    return f"{program} (pid {process.pid})"


def signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
