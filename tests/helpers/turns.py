"""Taking turns under pytest-xdist: a test that measures time runs alone.

Every other test holds a shared lock while it runs; a timing test holds it exclusively, so
while it runs no other worker runs a test, and it waits for the test another worker is
running to end. A turnstile keeps timing tests from waiting forever behind a stream of
shared turns (a writer-preferring readers-writer lock, on flock). One pair of lock files
per test session (xdist's run id), in the system's temporary folder. Without xdist
nothing is locked: a single process runs one test at a time anyway."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _lock_file(kind: str) -> Path:
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")
    return Path(tempfile.gettempdir()) / f"aws-load-tests-{run}.{kind}"


@contextmanager
def turn(alone: bool) -> Iterator[None]:
    """Run the block alone (`alone`) or beside other shared turns; a no-op outside xdist."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    with _lock_file("turnstile").open("a") as turnstile, _lock_file("room").open("a") as room:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        if not alone:
            fcntl.flock(turnstile, fcntl.LOCK_UN)  # through the turnstile, then in with the others
        fcntl.flock(room, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(room, fcntl.LOCK_UN)
            if alone:
                fcntl.flock(turnstile, fcntl.LOCK_UN)
