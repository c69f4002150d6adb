"""`threaded`: boto3 on real OS threads, one client per thread, `concurrency` calls in flight.

Under Locust, `threading` and `concurrent.futures` are monkey-patched into greenlets,
so this uses gevent's own pool of native threads. Threads only make calls; the answer
is handed back to the caller's greenlet, which reports it (firing Locust events from a
native thread corrupts worker stats).
"""

from __future__ import annotations

import os
import time
from typing import Any

import gevent
from gevent.monkey import get_original
from gevent.threadpool import ThreadPool, _WorkerGreenlet

from writers.calls import Attempt, Call
from writers.strategies.base import Strategy, StrategyOptions
from writers.strategies.boto3_calls import call_boto3, make_client
from writers.strategies.native_threads import make_logging_safe_for_native_threads
from writers.target import Endpoint

_NativeLocal: Any = get_original("_thread", "_local")
_native_lock: Any = get_original("_thread", "allocate_lock")
_thread_state = _NativeLocal()
# Making a client from a fresh session loads botocore's JSON models again (~100 ms of
# CPU); one session per endpoint, shared under a native lock, makes later clients cheap.
# Sessions are made, and their credentials resolved, in the greenlet: resolving logs,
# and the logging lock is a gevent one that native threads must not wait on.
_session_lock = _native_lock()
_sessions: dict[tuple[int, Endpoint], Any] = {}
_live_workers = [0]  # native threads not yet finished, under _live_lock
_live_lock = _native_lock()


def process_session(endpoint: Endpoint) -> Any:
    key = (os.getpid(), endpoint)
    session = _sessions.get(key)
    if session is None:
        session = endpoint.boto3_session()
        session.get_credentials()
        _sessions[key] = session
    return session


def _close_thread_clients() -> None:
    for client in (getattr(_thread_state, "clients", None) or {}).values():
        # Close the pools' sockets here, on this thread's hub: client.close() only drops the
        # pools, and one kept alive by a reference cycle (after a network error) would be
        # closed at interpreter exit, on this thread's destroyed hub.
        manager = getattr(getattr(client._endpoint, "http_session", None), "_manager", None)
        for pool in list(getattr(getattr(manager, "pools", None), "_container", {}).values()):
            pool.close()
        client.close()
    _thread_state.clients = {}


class _ClientClosingWorker(_WorkerGreenlet):  # type: ignore[misc]
    """Closes the thread's boto3 clients while the thread's hub still exists (their
    gevent sockets cannot be closed once it is destroyed), and counts live threads so
    shutdown can wait until each has really returned."""

    def __init__(self, threadpool: Any) -> None:
        with _live_lock:
            _live_workers[0] += 1
        super().__init__(threadpool)

    def run(self) -> None:
        try:
            super().run()
        finally:
            with _live_lock:
                _live_workers[0] -= 1

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
        make_logging_safe_for_native_threads()
        _pool, _pool_pid = BotoThreadPool(0), os.getpid()
    return _pool


def _call_in_thread(endpoint: Endpoint, session: Any, options: StrategyOptions, call: Call) -> Attempt:
    clients: dict[tuple[Endpoint, bool, float], Any] = getattr(_thread_state, "clients", None) or {}
    _thread_state.clients = clients
    key = (endpoint, options.keep_alive, options.timeout)
    client = clients.get(key)
    if client is None:
        with _session_lock:  # boto3 sessions are not thread-safe; their clients are
            client = clients[key] = make_client(endpoint, options, pool_connections=2, session=session)
    return call_boto3(client, call)


def shutdown_process_pool(timeout: float = 5.0) -> bool:
    """End every native thread of the pool (closing their clients); True if all ended.

    Threads still alive when the interpreter exits crash it: their gevent hubs and
    sockets are torn down in the wrong order."""
    global _pool
    pool = _pool
    if pool is None or _pool_pid != os.getpid():
        return True
    _pool = None
    pool.kill()
    deadline = time.monotonic() + timeout
    while (pool.size or _live_workers[0]) and time.monotonic() < deadline:
        gevent.sleep(0.02)
    return not _live_workers[0]


class ThreadedStrategy(Strategy):
    name = "threaded"

    def __init__(self, endpoint: Endpoint, options: StrategyOptions) -> None:
        super().__init__(endpoint, options)
        self._session = process_session(endpoint)
        self._pool = process_pool()
        # Each user brings its own threads, so `concurrency` really are in flight.
        self._pool.maxsize += self.concurrency
        self._in_flight: set[Any] = set()
        self._closed = False

    def start(self, call: Call) -> None:
        self._in_flight.add(self._pool.spawn(_call_in_thread, self.endpoint, self._session, self.options, call))

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
