"""scripts/bench/delay_sink.py is the service of known latency and capacity the rate mode's
benchmarks and the knee finder's measurement run against: its answers must come when the
construction says."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from helpers import PROJECT_ROOT

REQUEST = (
    b"POST / HTTP/1.1\r\nHost: sink\r\nX-Amz-Target: DynamoDB_20120810.PutItem\r\n"
    b"Content-Type: application/x-amz-json-1.0\r\nContent-Length: 2\r\n\r\n{}"
)
ANSWER_END = b"}}"  # PutItem's answer ends its JSON with two braces


@pytest.fixture
def fifo_sink() -> Iterator[tuple[str, int]]:
    """One FIFO server of 200 calls a second, no extra delay."""
    process, address = start_sink("0", "--capacity", "200")
    try:
        yield address
    finally:
        process.kill()
        process.wait(timeout=10)


def send_and_wait(address: tuple[str, int], count: int) -> float:
    """Pipeline `count` PutItems on one connection; seconds until the last answer."""
    with socket.create_connection(address, timeout=10) as connection:
        started = time.monotonic()
        connection.sendall(REQUEST * count)
        received = b""
        while received.count(ANSWER_END) < count:
            chunk = connection.recv(65536)
            assert chunk, "the sink closed the connection"
            received += chunk
        return time.monotonic() - started


def test_fifo_answers_at_its_capacity(fifo_sink: tuple[str, int]) -> None:
    # 60 calls at once on a server of 200 a second: the last is answered 60 / 200 = 0.3 s later
    assert 0.28 <= send_and_wait(fifo_sink, 60) < 1.5
    time.sleep(0.5)  # idle again: one call waits only its own service time, 5 ms
    assert send_and_wait(fifo_sink, 1) < 0.1


def start_sink(*args: str) -> tuple[subprocess.Popen[str], tuple[str, int]]:
    script = PROJECT_ROOT / "scripts" / "bench" / "delay_sink.py"
    process = subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    host, port = process.stdout.readline().strip().removeprefix("http://").split(":")
    return process, (host, int(port))


def test_stalls_hold_answers_until_they_end() -> None:
    process, address = start_sink("0", "--stall", "1:0.5")  # no answers in the first half of every second
    try:
        waits = []
        for _ in range(8):  # 8 calls 0.27 s apart: some land in a stall, some do not
            waits.append(send_and_wait(address, 1))
            time.sleep(0.27)
    finally:
        process.kill()
        process.wait(timeout=10)
    assert max(waits) <= 0.6
    assert sum(wait > 0.1 for wait in waits) >= 2 and sum(wait < 0.05 for wait in waits) >= 2, waits
