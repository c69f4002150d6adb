"""PerProcess: one value per process and key, never inherited across a fork."""

from __future__ import annotations

import os
import threading

from writers.per_process import PerProcess


def test_a_value_is_made_once_per_key() -> None:
    made: list[str] = []
    cache: PerProcess[str, list[str]] = PerProcess()

    def make(key: str) -> list[str]:
        made.append(key)
        return [key]

    first = cache.get("a", lambda: make("a"))
    assert cache.get("a", lambda: make("a")) is first
    assert cache.get("b", lambda: make("b")) == ["b"]
    assert made == ["a", "b"]
    assert cache.peek("c") is None and made == ["a", "b"]  # peek never makes one
    assert cache.pop("a") is first and cache.peek("a") is None


def test_threads_asking_at_once_get_the_same_value() -> None:
    cache: PerProcess[str, object] = PerProcess()
    started = threading.Barrier(8)
    results: list[object] = []

    def ask() -> None:
        started.wait()
        results.append(cache.get("k", object))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(results) == 8 and len({id(r) for r in results}) == 1


def test_a_forked_child_makes_its_own_and_is_not_blocked_by_the_parents_lock() -> None:
    cache: PerProcess[str, int] = PerProcess()
    assert cache.get("pid", os.getpid) == os.getpid()
    read, write = os.pipe()
    lock = cache._lock
    assert lock is not None
    with lock:  # the parent forks while holding the lock
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the child
            os.close(read)
            value = cache.get("pid", os.getpid)  # the parent's value is not seen, its lock not waited on
            os.write(write, str(value).encode())
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        answer = pipe.read()
    os.waitpid(child, 0)
    assert answer == str(child)
    assert cache.get("pid", os.getpid) == os.getpid()  # the parent keeps its own
