"""The base of asyncio strategies: calls are run by worker tasks on the process loop."""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections import deque

import aiohttp

from writers.calls import Attempt, Call
from writers.strategies.aioloop import Inbox, ProcessLoop, acquire_loop, release_loop
from writers.strategies.base import Strategy, StrategyOptions
from writers.target import Endpoint


def without_silent_retries(session: aiohttp.ClientSession) -> aiohttp.ClientSession:
    """Turn off aiohttp's own second try of an idempotent request (PUT, DELETE, GET...)
    whose connection was closed or reset: a request the server read and dropped may have
    been done, and each attempt must be seen, so the driver retries it visibly instead.
    aiohttp (3.14) has no public switch; its test client clears this same attribute."""
    if not hasattr(session, "_retry_connection"):
        raise RuntimeError(f"aiohttp {aiohttp.__version__}: no ClientSession._retry_connection to turn off")
    session._retry_connection = False
    return session


class AsyncStrategy(Strategy):
    """`concurrency` asyncio tasks in flight per user; the user's greenlet reports them.

    Up to `concurrency` long-lived worker tasks per user take calls from a queue: a task
    made, scheduled and discarded per call cost more than waking an idle worker.
    """

    def __init__(self, endpoint: Endpoint, options: StrategyOptions) -> None:
        super().__init__(endpoint, options)
        self._process_loop: ProcessLoop = acquire_loop()
        self._inbox = Inbox()
        # Touched on the loop's thread only:
        self._queue: deque[Call] = deque()
        self._idle: list[asyncio.Future[None]] = []  # one per worker waiting for a call
        self._workers: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def process_loop(self) -> ProcessLoop:
        return self._process_loop

    @abstractmethod
    async def send(self, call: Call) -> Attempt:
        """Make one call on the loop; never raises for AWS or network errors."""

    def start(self, call: Call) -> None:
        self._inbox.expected += 1
        self._process_loop.submit(self._enqueue, call)

    def _enqueue(self, call: Call) -> None:
        self._queue.append(call)
        if self._idle:
            self._idle.pop().set_result(None)
        elif len(self._workers) < self.options.concurrency:
            # No more workers than calls in flight: the driver never starts more than `concurrency`.
            task = self._process_loop.loop.create_task(self._work())
            self._workers.add(task)
            task.add_done_callback(self._workers.discard)
        # else every worker is busy and takes the call when its own one is done

    async def _work(self) -> None:
        queue, idle, post = self._queue, self._idle, self._inbox.post_threadsafe
        loop = self._process_loop.loop
        while True:
            while queue:
                post(await self.send(queue.popleft()))
            waiter: asyncio.Future[None] = loop.create_future()
            idle.append(waiter)
            await waiter

    def collect(self, timeout: float | None) -> list[Attempt]:
        if not self._inbox.expected:
            return []
        attempts: list[Attempt] = self._inbox.take(timeout)
        return attempts

    def share_collect(self, other: Strategy) -> bool:
        """`other` (another asyncio strategy, on the same process loop) posts its answers to this
        one's inbox: one wait for both."""
        if not isinstance(other, AsyncStrategy) or other._process_loop is not self._process_loop:
            return False
        if self._inbox.expected or other._inbox.expected or other._workers:
            return False
        other._inbox.close()
        other._inbox = self._inbox
        return True

    def close(self) -> None:
        """Cancel this user's calls; the loop stops when no strategy uses it any more."""
        if self._closed:
            return
        self._closed = True
        self._inbox.close()
        self._process_loop.submit(self._cancel_all, None)  # in order: after this user's last start
        release_loop(self._process_loop)

    def _cancel_all(self, _: None) -> None:
        self._queue.clear()
        for task in list(self._workers):
            task.cancel()
