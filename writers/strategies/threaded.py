"""`threaded`: boto3 on real OS threads, one client per thread, `concurrency` calls in flight.

Under Locust, `threading` and `concurrent.futures` are monkey-patched into greenlets,
so this uses gevent's own pool of native threads. Threads only make calls; the answer
is handed back to the caller's greenlet, which reports it (firing Locust events from a
native thread corrupts worker stats).
"""

from __future__ import annotations

import os
from typing import Any

import gevent
from gevent.monkey import get_original
from gevent.threadpool import ThreadPool, _WorkerGreenlet

from writers.calls import Attempt, Call
from writers.strategies.base import Strategy, StrategyOptions
from writers.strategies.boto3_calls import call_boto3, make_client
from writers.target import Endpoint

_NativeLocal: Any = get_original("_thread", "_local")
_thread_state = _NativeLocal()


def _close_thread_clients() -> None:
    for client in (getattr(_thread_state, "clients", None) or {}).values():
        client.close()
    _thread_state.clients = {}


class _ClientClosingWorker(_WorkerGreenlet):  # type: ignore[misc]
    """Closes the thread's boto3 clients while the thread's hub still exists: their
    gevent sockets cannot be closed once the worker thread has destroyed its hub."""

    def cleanup(self, hub_of_worker: Any) -> None:
        _close_thread_clients()
        super().cleanup(hub_of_worker)


class BotoThreadPool(ThreadPool):  # type: ignore[misc]
    _WorkerGreenlet = _ClientClosingWorker


_pool: ThreadPool | None = None
_pool_pid = 0


def process_pool() -> ThreadPool:
    """One pool of native threads per process, made after a fork."""
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        _pool, _pool_pid = BotoThreadPool(0), os.getpid()
    return _pool


def _call_in_thread(endpoint: Endpoint, options: StrategyOptions, call: Call) -> Attempt:
    clients: dict[tuple[Endpoint, bool, float], Any] = getattr(_thread_state, "clients", None) or {}
    _thread_state.clients = clients
    key = (endpoint, options.keep_alive, options.timeout)
    client = clients.get(key)
    if client is None:
        # A session per thread: boto3 sessions are not safe to share while making clients.
        client = clients[key] = make_client(endpoint, options, pool_connections=2)
    return call_boto3(client, call)


class ThreadedStrategy(Strategy):
    name = "threaded"

    def __init__(self, endpoint: Endpoint, options: StrategyOptions) -> None:
        super().__init__(endpoint, options)
        self._pool = process_pool()
        # Each user brings its own threads, so `concurrency` really are in flight.
        self._pool.maxsize += self.concurrency
        self._in_flight: set[Any] = set()
        self._closed = False

    def start(self, call: Call) -> None:
        self._in_flight.add(self._pool.spawn(_call_in_thread, self.endpoint, self.options, call))

    def collect(self, timeout: float | None) -> list[Attempt]:
        if not self._in_flight:
            return []
        done = gevent.wait(list(self._in_flight), timeout=timeout, count=1)
        attempts = []
        for result in done:
            self._in_flight.discard(result)
            attempts.append(result.get())
        return attempts

    def close(self) -> None:
        # Native threads cannot be interrupted mid-call; their answers are dropped.
        if not self._closed:
            self._closed = True
            self._in_flight.clear()
            self._pool.maxsize = max(0, self._pool.maxsize - self.concurrency)
