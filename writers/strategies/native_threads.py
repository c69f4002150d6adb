"""What native threads need in a gevent-patched process (Locust's), and how their results
get back to a greenlet.

Logging handlers made after monkey-patching carry gevent locks. A native thread (our
boto3 threads, the asyncio loop's thread) that logs — botocore does at DEBUG, urllib3
warns when a pool is full — would wait on such a lock forever: the lock belongs to the
main thread's hub. Real locks serve both: greenlets never switch inside a handler's emit.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any

import gevent
import gevent.event
from gevent.monkey import get_original

from writers import wake

_NativeRLock: Any = get_original("_thread", "RLock")  # the C lock, never gevent's


def make_logging_safe_for_native_threads() -> None:
    """Give every logging handler a native lock (idempotent; call before starting threads)."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if not isinstance(handler.lock, type(_NativeRLock())):
                handler.lock = _NativeRLock()


class Inbox:
    """Results posted from native threads, picked up by one greenlet (never set a gevent
    object from a native thread: only the hub may).

    Why no wake-up is lost: `post_threadsafe` appends the item, then sends a libev async
    watcher (thread-safe). libev clears a watcher's "sent" flag before it runs the callback,
    so every send is followed by a callback that starts after it, in the hub; the callback
    sets the event. `take` clears the event, then looks at the items, and only then waits:
    an item appended before that look is seen; one appended after it has its callback
    still to come, which sets the event after the clear and ends the wait. A stale set (for
    items already taken) only costs one more look. The watcher is referenced while the inbox
    is open, so gevent knows a wake-up may still come when nothing else is pending (outside
    Locust, the hub would otherwise give up).
    """

    def __init__(self) -> None:
        self._ready: deque[Any] = deque()  # appended on other threads: atomic under the GIL
        self._event = gevent.event.Event()
        self._watcher = gevent.get_hub().loop.async_()
        self._watcher.start(self._event.set)
        self._open = True
        # Items to come and not taken yet: its owners count what they start here, so that
        # strategies sharing one inbox (Strategy.share_collect) know what is in flight.
        self.expected = 0

    def post_threadsafe(self, item: Any) -> None:
        if self._open:  # closed: nobody will take it (a send to a closed watcher is harmless anyway)
            self._ready.append(item)
            self._watcher.send()

    def take(self, timeout: float | None) -> list[Any]:
        """What was posted; waits until something is, or `timeout` seconds have passed ([])."""
        ready, event = self._ready, self._event
        if not ready:
            end = None if timeout is None else time.monotonic() + timeout
            while True:
                event.clear()
                if ready:
                    break
                remaining = None if end is None else end - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                wake.wait(event, remaining)  # a pacer's deadline: on time to a tenth of a millisecond
        items = []
        while ready:
            items.append(ready.popleft())
        self.expected -= len(items)
        return items

    def close(self) -> None:
        if not self._open:
            return  # closed already, by another strategy sharing it
        self._open = False
        self._watcher.stop()
        self._watcher.close()
