#!/usr/bin/env python3
"""A sink that answers every DynamoDB call after a fixed delay: a service of known latency.

    .venv/bin/python scripts/bench/delay_sink.py DELAY_MS     # prints its URL, serves until killed
    .venv/bin/python scripts/bench/delay_sink.py 1 --capacity 1000   # a FIFO server of 1,000 calls/s
    .venv/bin/python scripts/bench/delay_sink.py 0 --stall 5:1        # stalls 1 s in every 5

Why: a closed loop's rate is its calls in flight over the latency, so with this sink a
closed loop and the rate mode can run at the same rate against the same service, and
their CPU per call compared (scripts/bench/rate_cost.py). nginx answers at once and has no
delay of its own; this one is uvloop with an asyncio.Protocol: tens of thousands of answers
a second on one core, far above the 5,000 a second it is asked for. DescribeTable (checked
before the swarm) is answered at once with an active table keyed by isbn; every other call
with PutItem's answer (ConsumedCapacity 1).

With `--capacity N` it is also one FIFO server of N calls a second: each call is answered
1/N s after the previous one finished (or after it arrived, if the server was idle), plus
the delay. Below N calls a second the latency stays at the delay; above, the queue and the
latency grow without bound: the knee finder's sustainable rate must come out at N.

With `--jitter-ms J` each answer's delay is drawn uniformly from delay +- J (the same mean):
a service whose answers spread out, as a real one's do. Against a constant delay, a closed
loop's calls stay in lockstep (all answered together, all sent again together).

With `--stall P:S` it stops answering for the first S seconds of every P seconds (from
its start): an answer due then waits until the stall ends. A closed loop stops sending
during a stall and hides it; a steady sender sees it (coordinated omission).
"""

from __future__ import annotations

import argparse
import asyncio
import random

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
    jitter = 0.0  # seconds: each delay drawn from delay +- jitter
    rng = random.Random(1)
    service_time = 0.0  # 1 / capacity; 0: no queue
    free_at = 0.0  # when the FIFO server finishes the calls it holds
    stall_period = 0.0  # --stall P:S, in seconds; 0: never stalls
    stall = 0.0
    started = 0.0

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
                self.loop.call_at(self._answer_at(self.loop.time()), self._write, PUT)

    def _answer_at(self, now: float) -> float:
        due = now + self.delay + (self.rng.uniform(-self.jitter, self.jitter) if self.jitter else 0.0)
        if Answers.service_time:
            Answers.free_at = max(now, Answers.free_at) + Answers.service_time
            due = Answers.free_at + self.delay
        if Answers.stall_period:
            into_period = (due - Answers.started) % Answers.stall_period
            if into_period < Answers.stall:
                due += Answers.stall - into_period
        return due

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


async def serve(delay_ms: float, capacity: float, stall: str, jitter_ms: float = 0.0) -> None:
    Answers.delay = delay_ms / 1000
    Answers.jitter = min(jitter_ms, delay_ms) / 1000
    Answers.service_time = 1 / capacity if capacity > 0 else 0.0
    if stall:
        period, seconds = (float(part) for part in stall.split(":"))
        Answers.stall_period, Answers.stall = period, seconds
    Answers.started = asyncio.get_running_loop().time()
    server = await asyncio.get_running_loop().create_server(Answers, "127.0.0.1", 0, backlog=4096)
    print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="a DynamoDB-shaped sink of known latency (and capacity)")
    parser.add_argument("delay_ms", nargs="?", type=float, default=2.0, help="answer this long after the call")
    parser.add_argument("--capacity", type=float, default=0.0, help="calls per second of one FIFO server (0: none)")
    parser.add_argument("--stall", default="", metavar="P:S", help="no answers for S seconds of every P")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="each delay drawn from delay +- this")
    args = parser.parse_args()
    uvloop.run(serve(args.delay_ms, args.capacity, args.stall, args.jitter_ms))
