"""`threaded`: boto3 on real OS threads, one client per thread, `concurrency` calls in flight.

Under Locust, `threading` and `concurrent.futures` are monkey-patched into greenlets, so
the threads here are started with the original `_thread`. Threads only make calls; each
answer is handed back to the caller's greenlet through an Inbox (native_threads.py),
and the greenlet reports it (firing Locust events from a native thread corrupts worker
stats).

Why not gevent's ThreadPool (used before): each strategy raised its `maxsize` when made
and lowered it when closed. Lowering queues stop requests for the surplus threads;
raising it again before they have taken them (the next user's strategy, made at once)
starts no thread, because the departing threads still count, and a thread asked to stop
is not replaced. A call queued then never ran, and its greenlet waited forever.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import gevent
from gevent._hub_local import get_hub_if_exists
from gevent.monkey import get_original

from writers.calls import Attempt, Call
from writers.per_process import PerProcess
from writers.strategies.base import Strategy, StrategyOptions
from writers.strategies.boto3_calls import call_boto3, make_client
from writers.strategies.native_threads import Inbox, make_logging_safe_for_native_threads
from writers.target import Endpoint

logger = logging.getLogger("writers.threaded")

_NativeLocal: Any = get_original("_thread", "_local")
_native_lock: Any = get_original("_thread", "allocate_lock")
_start_native_thread: Any = get_original("_thread", "start_new_thread")
_NativeQueue: Any = get_original("queue", "SimpleQueue")  # C: blocks a native thread, not the hub
_thread_state = _NativeLocal()
# Making a client from a fresh session loads botocore's JSON models again (~100 ms of
# CPU); one session per endpoint, shared under a native lock, makes later clients cheap.
# Sessions are made, and their credentials resolved, in the greenlet: resolving logs,
# and the logging lock is a gevent one that native threads must not wait on.
_session_lock = _native_lock()
_sessions: PerProcess[Endpoint, Any] = PerProcess()


def process_session(endpoint: Endpoint) -> Any:
    def make() -> Any:
        session = endpoint.boto3_session()
        session.get_credentials()
        return session

    return _sessions.get(endpoint, make)


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


def _call_in_thread(endpoint: Endpoint, session: Any, options: StrategyOptions, call: Call) -> Attempt:
    clients: dict[tuple[Endpoint, bool, float], Any] = getattr(_thread_state, "clients", None) or {}
    _thread_state.clients = clients
    key = (endpoint, options.keep_alive, options.timeout)
    client = clients.get(key)
    if client is None:
        with _session_lock:  # boto3 sessions are not thread-safe; their clients are
            client = clients[key] = make_client(endpoint, options, pool_connections=2, session=session)
    return call_boto3(client, call)


class NativeThreads:
    """Native threads that run work for every threaded strategy of the process; each
    thread keeps its boto3 clients for its whole life.

    Why a queued piece of work always runs: under `_lock`, `threads >= pending`, where
    `pending` counts work submitted and not yet finished: a submit that makes pending
    exceed threads starts a thread, and a thread ends only on a stop request, which only
    `shutdown` sends. So while work waits in the queue, fewer pieces are running than
    there are threads: some thread is free, blocked in `get` or on its way back to it,
    and takes it. The pool grows to the most work ever in flight at once and keeps its
    threads (and their clients) for the next users until the process shuts down.
    """

    def __init__(self) -> None:
        self._queue = _NativeQueue()
        self._lock = _native_lock()
        self.threads = 0
        self._pending = 0
        self._stopping = False

    def submit(self, work: Callable[[Any], object], arg: Any) -> None:
        """Run work(arg) on a native thread; from the greenlet. `work` must not raise.
        Once the threads are shut down, work is dropped (see `shutdown`)."""
        with self._lock:
            if self._stopping:
                return
            self._pending += 1
            grow = self._pending > self.threads
            if grow:
                self.threads += 1
        if grow:
            try:
                _start_native_thread(self._run, ())
            except BaseException:
                with self._lock:
                    self.threads -= 1
                    self._pending -= 1
                raise
        self._queue.put((work, arg))

    def _run(self) -> None:
        try:
            while (task := self._queue.get()) is not None:
                work, arg = task
                try:
                    work(arg)
                except BaseException:  # work reports its own errors; a thread must not die of one
                    logger.exception("unexpected error on a native thread")
                finally:
                    with self._lock:
                        self._pending -= 1
        finally:
            try:
                _close_thread_clients()
                hub = get_hub_if_exists()  # made by the gevent sockets boto3 used on this thread
                if hub is not None:
                    hub.destroy(destroy_loop=True)
            finally:
                with self._lock:
                    self.threads -= 1

    def shutdown(self, timeout: float) -> bool:
        """End every thread once it has finished what it is doing (closing its clients);
        waits cooperatively, at most `timeout` seconds. True if all ended: threads alive at
        interpreter exit crash it (their gevent hubs and sockets are torn down in the wrong
        order). This is the end of the process: work submitted afterwards is never run, and
        its greenlet waits until it is killed. Locust fires `quitting` (where this is called)
        before it stops the users on SIGTERM, then kills them: they must neither write on
        nor fail with a traceback meanwhile. (gevent's ThreadPool.kill waited here, without
        a bound, for its thread count to reach 0, while those users kept adding threads.)"""
        with self._lock:
            self._stopping = True
            threads = self.threads
        for _ in range(threads):
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        while self.threads and time.monotonic() < deadline:
            gevent.sleep(0.02)
        return not self.threads


_pool: PerProcess[None, NativeThreads] = PerProcess()


def _new_pool() -> NativeThreads:
    make_logging_safe_for_native_threads()
    return NativeThreads()


def process_pool() -> NativeThreads:
    """One set of native threads per process, made after a fork."""
    return _pool.get(None, _new_pool)


def shutdown_process_pool(timeout: float = 5.0) -> bool:
    """End every native thread of the process (closing their clients); True if all ended."""
    pool = _pool.pop(None)
    if pool is None:
        return True
    return pool.shutdown(timeout)


class ThreadedStrategy(Strategy):
    name = "threaded"

    def __init__(self, endpoint: Endpoint, options: StrategyOptions) -> None:
        super().__init__(endpoint, options)
        self._session = process_session(endpoint)
        self._threads = process_pool()
        self._inbox = Inbox()
        self._closed = False

    def start(self, call: Call) -> None:
        self._threads.submit(self._run, call)
        self._inbox.expected += 1

    def _run(self, call: Call) -> None:
        """On a native thread."""
        if self._closed:
            return  # the user stopped: a call not yet begun is never made
        result: Attempt | BaseException
        try:
            result = _call_in_thread(self.endpoint, self._session, self.options, call)
        except BaseException as exc:  # not an AWS or network error (those are attempts): a bug
            result = exc
        self._inbox.post_threadsafe(result)

    def collect(self, timeout: float | None) -> list[Attempt]:
        if not self._inbox.expected:
            return []
        results = self._inbox.take(timeout)
        for result in results:
            if isinstance(result, BaseException):
                raise result  # in the user's greenlet, as a failed task
        return results

    def share_collect(self, other: Strategy) -> bool:
        """`other` (another threaded strategy) posts its answers to this one's inbox: one wait for both."""
        if not isinstance(other, ThreadedStrategy) or self._inbox.expected or other._inbox.expected:
            return False
        other._inbox.close()
        other._inbox = self._inbox
        return True

    def close(self) -> None:
        # Native threads cannot be interrupted mid-call; their answers are dropped, and
        # calls not yet begun are skipped.
        if not self._closed:
            self._closed = True
            self._inbox.close()
