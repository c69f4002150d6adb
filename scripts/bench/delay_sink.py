#!/usr/bin/env python3
"""A sink that answers every DynamoDB call after a fixed delay: a service of known latency.

    .venv/bin/python scripts/bench/delay_sink.py DELAY_MS     # prints its URL, serves until killed

Why: a closed loop's rate is its calls in flight over the latency, so with this sink a
closed loop and the rate mode can run at the same rate against the same service, and
their CPU per call compared (scripts/bench/rate_cost.py). nginx answers at once and has no
delay of its own; this one is uvloop with an asyncio.Protocol: tens of thousands of answers
a second on one core, far above the 5,000 a second it is asked for. DescribeTable (checked
before the swarm) is answered at once with an active table keyed by isbn; every other call
with PutItem's answer (ConsumedCapacity 1).
"""

from __future__ import annotations

import asyncio
import sys

import uvloop


def _http(body: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


PUT = _http(b'{"ConsumedCapacity":{"TableName":"books","CapacityUnits":1.0}}')
DESCRIBED = _http(
    b'{"Table":{"TableName":"books","TableStatus":"ACTIVE","KeySchema":[{"AttributeName":"isbn","KeyType":"HASH"}],'
    b'"AttributeDefinitions":[{"AttributeName":"isbn","AttributeType":"S"}]}}'
)


class Answers(asyncio.Protocol):
    delay = 0.0

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = bytes(self.buffer[:end]).lower()
            start = head.find(b"content-length:")
            length = int(head[start + 15 :].split(b"\r\n", 1)[0]) if start >= 0 else 0
            if len(self.buffer) < end + 4 + length:
                return
            del self.buffer[: end + 4 + length]
            if b".describetable" in head:
                self._write(DESCRIBED)
            else:
                self.loop.call_later(self.delay, self._write, PUT)

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


async def serve(delay_ms: float) -> None:
    Answers.delay = delay_ms / 1000
    server = await asyncio.get_running_loop().create_server(Answers, "127.0.0.1", 0, backlog=4096)
    print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(serve(float(sys.argv[1]) if len(sys.argv) > 1 else 2.0))
