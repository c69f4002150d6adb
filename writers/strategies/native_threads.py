"""What native threads need in a gevent-patched process (Locust's).

Logging handlers made after monkey-patching carry gevent locks. A native thread (our
boto3 threads, the asyncio loop's thread) that logs — botocore does at DEBUG, urllib3
warns when a pool is full — would wait on such a lock forever: the lock belongs to the
main thread's hub. Real locks serve both: greenlets never switch inside a handler's emit.
"""

from __future__ import annotations

import logging
from typing import Any

from gevent.monkey import get_original

_NativeRLock: Any = get_original("_thread", "RLock")  # the C lock, never gevent's


def make_logging_safe_for_native_threads() -> None:
    """Give every logging handler a native lock (idempotent; call before starting threads)."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if not isinstance(handler.lock, type(_NativeRLock())):
                handler.lock = _NativeRLock()
