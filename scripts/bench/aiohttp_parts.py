#!/usr/bin/env python3
"""Where the aiohttp strategy's CPU goes, beyond aiohttp itself: A/B of request variants
run on the strategy's own process loop (uvloop, native thread), without Locust.

    .venv/bin/python scripts/bench/aiohttp_parts.py [--rounds 6] [--calls 15000] fixed send

Each mode runs in its own process, the modes interleaved for `--rounds` rounds (the
order alternating), each process making `--calls` DynamoDB PutItem calls three times with
100 in flight against the nginx sink (sink on CPU 1, this on CPU 0) after a warm-up; it
prints the medians of requests per CPU-second (all threads). Every mode makes a fresh
Faker record and its call per request, as Locust users do (calls built in advance would
make every per-call cost look larger: their objects are cold when touched).

Modes:
- `fixed`: aiohttp alone: one prepared body and header dict, the same for every request;
- `signed-fixed-headers`: the call is signed as usual, but the fixed headers are sent;
- `signed-headers`: the call's body and signed headers are sent through aiohttp directly;
- `send`: the strategy's own `send` (URL, answer parsing, failure handling included).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

MODES = ("fixed", "signed-fixed-headers", "signed-headers", "send")
IN_FLIGHT = 100
FIXED_BODY = b'{"TableName":"books","Item":{"isbn":{"S":"9780000000000"},"title":{"S":"A fixed title"}}}'
FIXED_HEADERS = {
    "Content-Type": "application/x-amz-json-1.0",
    "X-Amz-Target": "DynamoDB_20120810.PutItem",
    "X-Amz-Date": "20261124T000000Z",
    "Authorization": "x" * 190,  # about a real one's length
}


def run_mode(mode: str, calls: int) -> list[float]:
    """One process's measurement: requests per CPU-second of three passes."""
    from gevent import monkey

    monkey.patch_all()  # as inside Locust
    from sink import Sink, pin_to
    from yarl import URL

    from writers.records import BookRecords
    from writers.services import WorkloadOptions
    from writers.services.dynamodb import SERVICE, DynamoDBWorkload
    from writers.strategies import StrategyOptions
    from writers.strategies.aiohttp_raw import AiohttpStrategy
    from writers.strategies.raw import sign_call
    from writers.target import Endpoint

    pin_to(0)
    with Sink(cpu=1).start() as sink:
        endpoint = Endpoint(SERVICE, "us-east-1", sink.url, "AKIDPARTS", "parts-secret")
        workload = DynamoDBWorkload(WorkloadOptions("books"))
        records = BookRecords(seed=4)
        strategy = AiohttpStrategy(endpoint, StrategyOptions(concurrency=IN_FLIGHT))
        fixed_url = URL(sink.url + "/")

        async def one() -> None:
            call = workload.write_calls([records.next()])[0]
            if mode == "send":
                attempt = await strategy.send(call)
                assert attempt.error is None, attempt.error
                return
            session = strategy._cached_session or await strategy._session()
            body, headers = FIXED_BODY, FIXED_HEADERS
            if mode != "fixed":
                request = sign_call(strategy._signer, strategy._base_url, call, True)
                body = request.body
                if mode == "signed-headers":
                    headers = request.headers
            response = await session.request("POST", fixed_url, data=body, headers=headers)
            await response.read()
            assert response.status == 200, response.status

        async def run(n: int) -> None:
            left = [n]

            async def worker() -> None:
                while left[0] > 0:
                    left[0] -= 1
                    await one()

            await asyncio.gather(*[worker() for _ in range(IN_FLIGHT)])

        def on_loop(n: int) -> None:
            asyncio.run_coroutine_threadsafe(run(n), strategy.process_loop.loop).result()

        on_loop(calls // 3)  # warm-up: connections, caches
        rates = []
        for _ in range(3):
            started = time.process_time()
            on_loop(calls)
            rates.append(calls / (time.process_time() - started))
        strategy.close()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modes", nargs="+", choices=MODES)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--calls", type=int, default=15_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("rates", [round(rate) for rate in run_mode(args.modes[0], args.calls)], flush=True)
        return
    rates: dict[str, list[int]] = {mode: [] for mode in args.modes}
    for round_ in range(args.rounds):
        order = args.modes if round_ % 2 == 0 else args.modes[::-1]
        for mode in order:
            command = [sys.executable, __file__, "--child", "--calls", str(args.calls), mode]
            done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=dict(os.environ))
            found = re.search(r"rates \[([\d, ]+)\]", done.stdout)
            if found is None:
                sys.exit(f"error: {mode} failed: {done.stderr.strip()[-500:]}")
            rates[mode] += [int(x) for x in found.group(1).split(",")]
            print(f"round {round_ + 1}/{args.rounds} {mode:22} {found.group(1)}", flush=True)
    first = statistics.median(rates[args.modes[0]])
    for mode, values in rates.items():
        median = statistics.median(values)
        print(f"{mode:22} median {median:8,.0f} requests per CPU-second  {median / first:.2f}x {args.modes[0]}")


if __name__ == "__main__":
    main()
