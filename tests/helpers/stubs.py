"""HTTP servers whose behaviour is known by construction, for the rate mode's tests.

Each answers every write with a valid, empty DynamoDB answer (`{}`, HTTP 200), and a
DescribeTable at once with an active table keyed by `isbn` (the tool checks the table
before the swarm); what differs is *when* writes are answered:

- `StallingServer(period, stall)`: at once, except that an answer due while the server
  is stalled (the first `stall` seconds of every `period` since it started) waits until
  the stall ends;
- `FifoServer(capacity)`: one request at a time, in arrival order, each taking exactly
  1/capacity seconds: a queue of known capacity;
- `DelayServer(delay)`: each write answered `delay` seconds after it arrived, however many
  are in flight: a service of known latency;
- `StubServer()`: at once, always;
- `FifoServer(capacity, spike_after=N, spike=S)`: the FIFO server that, once, when its
  N-th request arrives, answers nothing for S seconds (a single spike of noise).
- `PatternServer(pattern)`: at once, the n-th write answered as `pattern[n % len(pattern)]`
  says: "ok", "throttle" (HTTP 400 ProvisionedThroughputExceededException) or "error"
  (HTTP 500 InternalServerError): throttles and errors in known shares.

They run on an asyncio loop in a thread of the test process, bind 127.0.0.1 on a free
port, speak just enough HTTP/1.1 for keep-alive clients, and count what they answered.
`StubProcess(kind, **options)` runs one in a process of its own instead, for tests that
run several busy ones at once (in one process they take turns holding its GIL).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any


def _http(body: bytes, status: str = "200 OK") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def _dynamodb_error(status: str, code: str) -> bytes:
    return _http(json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": code}).encode(), status)


ANSWER = _http(b"{}")
TABLE = {
    "TableName": "stub",
    "TableStatus": "ACTIVE",
    "KeySchema": [{"AttributeName": "isbn", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "isbn", "AttributeType": "S"}],
}
DESCRIBED = _http(json.dumps({"Table": TABLE}).encode())


class _Connection(asyncio.Protocol):
    def __init__(self, server: StubServer) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            length, target = 0, ""
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value.strip())
                elif name == "x-amz-target":
                    target = value.strip()
            if len(self.buffer) < end + 4 + length:
                return
            del self.buffer[: end + 4 + length]
            if target.endswith(".DescribeTable"):
                self.write(DESCRIBED)
            else:
                self.server.received(self)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def answer(self, data: bytes = ANSWER) -> None:
        self.write(data)
        self.server.answered += 1


class StubServer:
    """Answers at once; subclasses decide when each answer goes."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.started = time.monotonic()
        self.requests = 0
        self.answered = 0
        ready = threading.Event()
        self._server: Any = None
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the stub server did not start")
        self.port = self._listening_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def _listening_port(self) -> int:
        return int(self._server.sockets[0].getsockname()[1])  # set by the loop's thread

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self._server = self.loop.run_until_complete(self.loop.create_server(lambda: _Connection(self), "127.0.0.1", 0))
        self.started = time.monotonic()
        ready.set()
        self.loop.run_forever()

    def received(self, connection: _Connection) -> None:
        self.requests += 1
        self.schedule(connection, self.loop.time())

    def schedule(self, connection: _Connection, now: float) -> None:
        connection.answer()

    def close(self) -> None:
        def stop() -> None:
            self._server.close()
            self.loop.stop()

        self.loop.call_soon_threadsafe(stop)
        self._thread.join(10)


class StallingServer(StubServer):
    def __init__(self, period: float, stall: float) -> None:
        self.period, self.stall = period, stall
        self.origin = 0.0  # the loop's time when it started: stalls are [origin + k * period, + stall)
        super().__init__()

    def _run(self, ready: threading.Event) -> None:
        self.origin = self.loop.time()
        super()._run(ready)

    def schedule(self, connection: _Connection, now: float) -> None:
        phase = (now - self.origin) % self.period
        if phase < self.stall:
            self.loop.call_at(now + self.stall - phase, connection.answer)
        else:
            connection.answer()


class FifoServer(StubServer):
    def __init__(self, capacity: float, spike_after: int = 0, spike: float = 0.0) -> None:
        self.service_time = 1.0 / capacity
        self.free_at = 0.0
        self.spike_after, self.spike = spike_after, spike
        super().__init__()

    def schedule(self, connection: _Connection, now: float) -> None:
        if self.requests == self.spike_after and self.spike:
            self.free_at = max(now, self.free_at) + self.spike  # the queue waits: everything behind it too
        self.free_at = max(now, self.free_at) + self.service_time
        self.loop.call_at(self.free_at, connection.answer)


class DelayServer(StubServer):
    def __init__(self, delay: float) -> None:
        self.delay = delay
        super().__init__()

    def schedule(self, connection: _Connection, now: float) -> None:
        self.loop.call_at(now + self.delay, connection.answer)


OUTCOMES = {
    "ok": ANSWER,
    "throttle": _dynamodb_error("400 Bad Request", "ProvisionedThroughputExceededException"),
    "error": _dynamodb_error("500 Internal Server Error", "InternalServerError"),
}


class PatternServer(StubServer):
    def __init__(self, pattern: list[str]) -> None:
        self.pattern = [OUTCOMES[outcome] for outcome in pattern]
        super().__init__()

    def schedule(self, connection: _Connection, now: float) -> None:
        connection.answer(self.pattern[(self.requests - 1) % len(self.pattern)])


class StubProcess:
    """One of the servers above in a Python process of its own: `url`, `close()`. Measured with
    test_rate_mode's five knee searches at once: with their servers in the test process, a
    search's step at 200/s against 300/s had a p99 of 44-126 ms in two runs of three (they
    take turns holding its GIL); each server in a process of its own, 9-18 ms in three of three."""

    def __init__(self, kind: str, **options: float) -> None:
        source = (
            f"import json, sys; from stubs import {kind}; server = {kind}(**json.loads(sys.argv[1])); "
            "print(server.url, flush=True); sys.stdin.read()"  # serves until the test closes its stdin
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", source, json.dumps(options)],
            cwd=Path(__file__).parent,  # `stubs` alone: this module imports nothing beyond the standard library
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.close()
            raise RuntimeError(f"the {kind} stub process did not start (exit {self.process.returncode})")

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
