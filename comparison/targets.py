"""Where the runs send: a local emulator per service (maybe behind the fault proxy), AWS, or a URL."""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from comparison.options import ROOT, Options
from writers import emulators
from writers.services import emulator_names, start_emulator

FAULT_PROXY = ROOT / "scripts" / "fault_proxy.py"


PROXY_BANNER = re.compile(r"fault-proxy listening on (http://\S+) ->")


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
                prefer = options.prefer if options.prefer in emulator_names(service) else None
                emulator = start_emulator(service, prefer=prefer)
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
