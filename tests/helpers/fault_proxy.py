"""The fault-injecting proxy as a subprocess in front of an upstream (`FaultProxy`), through
its thin script entry; its parts are unit-tested by importing the `fault_proxy` package."""

from __future__ import annotations

import http.client
import json
import queue
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from .project import PROJECT_ROOT

PROXY_SCRIPT = PROJECT_ROOT / "scripts" / "fault_proxy.py"
# Every setting at its default: what `FaultProxy.reset()` goes back to.
DEFAULTS: dict[str, Any] = {
    "latency_ms": 0,
    "connect_latency_ms": 0,
    "jitter_ms": 0,
    "capacity": None,
    "burst": None,
    "throttle_rate": 0,
    "error_rate": 0,
    "error_status": [500, 503],
    "drop_rate": 0,
    "lose_rate": 0,
    "partial_batches": False,
    "partitions": 0,
    "partition_write_units": None,
    "partition_read_units": None,
}


class FaultProxy:
    """One proxy subprocess in front of `upstream`, run from `tmp_dir` (outside the project:
    the proxy finds the service modules itself), its stderr kept there; `url` and `port`
    are read from its first stdout line."""

    def __init__(self, upstream: str, *flags: str, tmp_dir: Path) -> None:
        self.stderr_path = tmp_dir / f"proxy-{uuid.uuid4().hex[:8]}.err"
        self._stderr = self.stderr_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, str(PROXY_SCRIPT), "--upstream", upstream, *flags],
            cwd=tmp_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            start_new_session=True,
        )
        self.banner = self._first_line(timeout=20)
        assert self.banner.startswith("fault-proxy listening on http://127.0.0.1:"), self.banner + self.stderr()
        assert self.banner.endswith(f" -> {upstream}"), self.banner
        self.url = self.banner.split()[3]
        self.port = int(self.url.rsplit(":", 1)[1])

    def _first_line(self, timeout: float) -> str:
        lines: queue.Queue[str] = queue.Queue()
        assert self.process.stdout is not None
        stdout = self.process.stdout
        threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
        try:
            return lines.get(timeout=timeout).strip()
        except queue.Empty:
            self.stop(signal.SIGKILL)
            pytest.fail(f"the proxy printed nothing within {timeout} s: {self.stderr()}")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def log(self) -> str:
        """The end of its stderr, for assertion messages."""
        return self.stderr()[-3000:]

    def control(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            payload = None if body is None else json.dumps(body).encode()
            connection.request(method, f"/__proxy/{path}", body=payload)
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    def configure(self, **changes: Any) -> dict[str, Any]:
        status, answer = self.control("POST", "config", changes)
        assert status == 200, answer
        return answer

    def stats(self, reset: bool = False) -> dict[str, Any]:
        status, answer = self.control("GET", "stats?reset=1" if reset else "stats")
        assert status == 200, answer
        return answer

    def reset(self) -> None:
        self.configure(**DEFAULTS)
        self.stats(reset=True)

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Stop it with `sig` (killed after 10 s); its exit code, None when it had to be killed."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
            code = None
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()
        return code
