"""Local servers for the tests: the session's shared emulators, the Endpoint the project
builds for `--target local`, unique resource names, and the signature-checking sink."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, RunningEmulator
from writers.services import available_emulators, emulator_names, start_emulator, workload_class
from writers.target import Endpoint, resolve_endpoint

from .project import REGION

DYNAMODB_EMULATORS = emulator_names("dynamodb")
SIGCHECK_SERVER = Path(__file__).with_name("sigcheck_server.py")


class SharedEmulators:
    """Local stand-ins shared by the whole session, each started on first use and stopped at
    the end. One server per emulator: moto's one server answers every service."""

    def __init__(self) -> None:
        self._running: dict[str, RunningEmulator] = {}

    def get(self, service: str, name: str | None = None) -> RunningEmulator:
        """The emulator `name` for `service` (default: the one it prefers that can run here)."""
        name = name or preferred_emulator(service)
        emulator = self._running.get(name)
        if emulator is None or not emulator.alive():
            emulator = self._running[name] = start_emulator(service, prefer=name)
        return emulator

    def stop(self) -> None:
        for emulator in self._running.values():
            emulator.stop()
        self._running.clear()


def preferred_emulator(service: str) -> str:
    """The first emulator of `service` that can run here; the test is skipped when none can."""
    available = available_emulators(service)
    if not available:
        pytest.skip(f"no emulator for {service} can run here")
    return available[0]


def local_endpoint(emulator: RunningEmulator, service: str = "dynamodb") -> Endpoint:
    """The Endpoint the project itself builds for `--target local` at this emulator."""
    return resolve_endpoint(
        "local",
        workload_class(service).service,
        REGION,
        local_url=emulator.endpoint,
        local_credentials=(LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY),
    )


def unique_table_name(hint: str = "t") -> str:
    """A valid DynamoDB table name no other test uses: letters, digits, '-', '_', '.'."""
    clean = re.sub(r"[^a-zA-Z0-9_.-]+", "-", hint).strip("-")[:60] or "t"
    return f"{clean}-{uuid.uuid4().hex[:10]}"


@contextmanager
def sigcheck_sink(secret: str, delay_ms: int = 0) -> Iterator[str]:
    """helpers/sigcheck_server.py in a subprocess (every signature re-checked with botocore,
    `delay_ms` before each answer): its URL while the block runs, stopped after."""
    process = subprocess.Popen(
        [sys.executable, str(SIGCHECK_SERVER), secret, str(delay_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(10)
