"""Things made once per process: clients, signers, sessions, the asyncio loop, a thread pool.

Locust's ``--processes`` forks after the locustfile is imported, so anything made before
the fork (a client with its sockets, a loop with its thread) must not be used by the
children. `PerProcess` keeps its values with the pid that made them: a forked child
finds the cache empty (and its lock free) and makes its own.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable
from contextlib import AbstractContextManager
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class PerProcess(Generic[K, V]):
    """A cache of values by key, each made once in the process that uses it.

    `get` makes a missing value under a lock, so two greenlets (or threads) asking at
    once get the same one. The lock is made per process too: one held by the parent
    when it forked never blocks the child. `lock` makes it (`threading.Lock`, which
    Locust's monkey-patching turns into a gevent lock; pass a gevent Semaphore where
    making a value yields to other greenlets outside Locust too).
    """

    def __init__(self, lock: Callable[[], AbstractContextManager[object]] = threading.Lock) -> None:
        self._new_lock = lock
        self._pid = 0
        self._values: dict[K, V] = {}
        self._lock: AbstractContextManager[object] | None = None

    def _mine(self) -> dict[K, V]:
        pid = os.getpid()
        if self._pid != pid:  # first use, or a child of the process that filled it
            self._pid, self._values, self._lock = pid, {}, self._new_lock()
        return self._values

    def get(self, key: K, make: Callable[[], V]) -> V:
        """This process's value for `key`, made now if it has none."""
        values = self._mine()
        value = values.get(key)
        if value is None:
            assert self._lock is not None
            with self._lock:
                value = values.get(key)
                if value is None:
                    value = values[key] = make()
        return value

    def peek(self, key: K) -> V | None:
        """This process's value for `key`, or None; never makes one."""
        return self._mine().get(key)

    def pop(self, key: K) -> V | None:
        """Forget this process's value for `key` (to close or replace it); None if it had none."""
        return self._mine().pop(key, None)

    def clear(self) -> None:
        """Forget every value of this process."""
        self._mine().clear()
