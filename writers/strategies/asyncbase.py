"""The base of asyncio strategies: calls become tasks on the process loop."""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from typing import Any

from writers.calls import Attempt, Call
from writers.strategies.aioloop import Inbox, ProcessLoop, acquire_loop, release_loop
from writers.strategies.base import Strategy, StrategyOptions
from writers.target import Endpoint


class AsyncStrategy(Strategy):
    """`concurrency` asyncio tasks in flight per user; the user's greenlet reports them."""

    def __init__(self, endpoint: Endpoint, options: StrategyOptions) -> None:
        super().__init__(endpoint, options)
        self._process_loop: ProcessLoop = acquire_loop()
        self._inbox = Inbox()
        self._tasks: set[asyncio.Task[Any]] = set()  # touched on the loop's thread only
        self._in_flight = 0
        self._closed = False

    @property
    def process_loop(self) -> ProcessLoop:
        return self._process_loop

    @abstractmethod
    async def send(self, call: Call) -> Attempt:
        """Make one call on the loop; never raises for AWS or network errors."""

    def start(self, call: Call) -> None:
        self._in_flight += 1
        self._process_loop.call_soon(self._spawn, call)

    def _spawn(self, call: Call) -> None:
        task = self._process_loop.loop.create_task(self._run(call))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, call: Call) -> None:
        attempt = await self.send(call)
        self._inbox.post_threadsafe(attempt)

    def collect(self, timeout: float | None) -> list[Attempt]:
        if not self._in_flight:
            return []
        attempts: list[Attempt] = self._inbox.take(timeout)
        self._in_flight -= len(attempts)
        return attempts

    def close(self) -> None:
        """Cancel this user's tasks; the loop stops when no strategy uses it any more."""
        if self._closed:
            return
        self._closed = True
        self._inbox.close()
        self._process_loop.call_soon(self._cancel_all)
        release_loop(self._process_loop)

    def _cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
