"""One asyncio loop per process, on a native OS thread, bridged to gevent.

Measured on these machines (DESIGN.md): asyncio inside Locust works only on its own
native thread (uvloop, else the original epoll selector); greenlets hand work over with
`call_soon_threadsafe`, and results come back through the gevent hub's
`run_callback_threadsafe`, so that Locust events are fired from the user's greenlet and
never from the loop's thread. The loop and its thread are made on first use after a
fork and end, closing every session and client, when the last strategy lets go.
"""

from __future__ import annotations

import asyncio
import logging
import selectors
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import gevent
from gevent.monkey import get_original

from writers import young_gc
from writers.per_process import PerProcess
from writers.strategies.native_threads import Inbox, make_logging_safe_for_native_threads

logger = logging.getLogger("writers.aioloop")

__all__ = ["Inbox", "ProcessLoop", "acquire_loop", "release_loop", "shutdown_process_loop"]


_start_native_thread: Any = get_original("_thread", "start_new_thread")
_native_lock: Any = get_original("_thread", "allocate_lock")


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:
        # gevent may have patched `select`; asyncio must use the real epoll.
        class NativeEpollSelector(selectors.EpollSelector):
            _selector_cls = get_original("select", "epoll")

        return asyncio.SelectorEventLoop(NativeEpollSelector())


class InlineExecutor(ThreadPoolExecutor):
    """The loop's default executor: runs what is handed to it at once, on the loop's thread.

    aiobotocore 3 builds each client's SSL contexts (and runs some credential providers)
    with `asyncio.to_thread`. A real executor would start its workers with the patched
    `threading` of Locust's process: greenlets of the loop thread's own gevent hub, which
    the interpreter then joins at exit from the main thread, forever (seen: every run with
    an Aioboto3User hung after "Shutting down"). That work is brief and rare (once per
    client), and aiobotocore 2 did it on the loop too. Name resolution does not come here:
    uvloop resolves in libuv's own threads. (A ThreadPoolExecutor subclass because asyncio
    accepts no other kind; no thread is ever started.)
    """

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the awaiting coroutine, as an executor does
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        pass  # no thread to end


class ProcessLoop:
    """The loop, its thread, and the shared sessions/clients living on it."""

    def __init__(self) -> None:
        make_logging_safe_for_native_threads()
        self.loop = new_event_loop()
        self.loop.set_default_executor(InlineExecutor())
        self.users = 0
        self._resources: dict[Any, asyncio.Future[Any]] = {}
        self._closers: list[Callable[[], Awaitable[Any]]] = []
        # Work handed over from greenlets, run in order on the loop's thread. One
        # call_soon_threadsafe (a handle and an eventfd write) wakes the loop per burst, not per call.
        self._submitted: deque[tuple[Callable[[Any], Any], Any]] = deque()
        self._kicked = False  # a drain is due: set by greenlets, cleared by the loop before it drains
        young_gc.hold()  # aiohttp calls in flight keep many young objects alive (young_gc.py)
        self.finished = _native_lock()
        self.finished.acquire()
        _start_native_thread(self._run, ())

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
            self.loop.run_until_complete(self._close_resources())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()
            young_gc.release()
            self.finished.release()

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run fn(*args) on the loop's thread; safe from any thread or greenlet."""
        self.loop.call_soon_threadsafe(fn, *args)

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> None:
        """Run fn(arg) on the loop's thread, after everything submitted before; from greenlets."""
        self._submitted.append((fn, arg))
        if not self._kicked:
            self._kicked = True
            self.loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        # Cleared before draining: whatever is appended after this is either drained below or
        # finds the flag down and schedules another drain (the GIL orders both sides).
        self._kicked = False
        submitted = self._submitted
        while submitted:
            fn, arg = submitted.popleft()
            fn(arg)

    async def resource(
        self, key: Any, make: Callable[[], Awaitable[Any]], close: Callable[[Any], Awaitable[Any]]
    ) -> Any:
        """A session or client shared by every task of the process: made once, closed at the end."""
        future = self._resources.get(key)
        if future is None:
            future = self._resources[key] = self.loop.create_future()
            try:
                value = await make()
            except BaseException as exc:
                del self._resources[key]
                future.set_exception(exc)
                future.exception()  # retrieved: the caller re-raises it below
                raise
            future.set_result(value)
            self._closers.append(lambda: close(value))
        return await asyncio.shield(future)

    async def _close_resources(self) -> None:
        for closer in reversed(self._closers):
            try:
                await closer()
            except Exception as exc:  # closing must go on for the others
                logger.debug("closing a loop resource failed: %s", exc)
        self._closers.clear()
        self._resources.clear()

    def stop(self) -> None:
        self.call_soon(self.loop.stop)

    def join(self, timeout: float = 10.0) -> bool:
        """Wait cooperatively until the loop's thread has finished."""
        deadline = gevent.get_hub().loop.now() + timeout
        while not self.finished.acquire(False):
            if gevent.get_hub().loop.now() > deadline:
                return False
            gevent.sleep(0.01)
        self.finished.release()
        return True


_current: PerProcess[None, ProcessLoop] = PerProcess()


def acquire_loop() -> ProcessLoop:
    process_loop = _current.get(None, ProcessLoop)
    process_loop.users += 1
    return process_loop


def release_loop(process_loop: ProcessLoop) -> None:
    """The last strategy to let go stops the loop; sessions and sockets are closed."""
    process_loop.users -= 1
    if process_loop.users <= 0:
        if _current.peek(None) is process_loop:
            _current.pop(None)
        process_loop.stop()


def shutdown_process_loop(timeout: float = 5.0) -> bool:
    """Stop the process loop even if strategies still hold it; True if its thread ended."""
    current = _current.pop(None)
    if current is None:
        return True
    current.stop()
    return current.join(timeout)
