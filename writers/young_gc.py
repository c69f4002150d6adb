"""A higher young-generation GC threshold while load runs, put back when the last holder lets go.

Every call keeps dozens of container objects alive while it is in flight, so with a hundred
calls in flight CPython's default (700) collects every few calls and promotes in-flight
objects to the older generations, whose collections then walk the whole heap. Nearly
everything is freed by reference counting anyway. Measured inside Locust (BENCHMARKS.md):
aiohttp ~37 us of CPU per call in the cyclic GC at 700 (0.85x -> 0.98x FastHttpUser when
raised); gevent ~8 % of its CPU (12 full collections of ~40 ms in 10 s), none at 20,000.
"""

from __future__ import annotations

import gc

from gevent.monkey import get_original

GEN0_THRESHOLD = 20_000

# Held from greenlets and from the asyncio loop's native thread: a real lock either way.
_lock = get_original("_thread", "allocate_lock")()
_holders = 0
_saved: tuple[int, ...] | None = None


def hold() -> None:
    """Raise the threshold (if lower) until every hold() is matched by a release()."""
    global _holders, _saved
    with _lock:
        _holders += 1
        if _holders == 1:
            _saved = gc.get_threshold()
            if _saved[0] < GEN0_THRESHOLD:
                gc.set_threshold(GEN0_THRESHOLD, *_saved[1:])


def release() -> None:
    """The last holder puts the threshold back, unless someone else has changed it since."""
    global _holders, _saved
    with _lock:
        if _holders == 0:
            return
        _holders -= 1
        if _holders == 0 and _saved is not None:
            if gc.get_threshold()[0] == GEN0_THRESHOLD:  # ours, not changed since
                gc.set_threshold(*_saved)
            _saved = None
