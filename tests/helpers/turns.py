"""Taking turns under pytest-xdist, so that tests that measure time are not disturbed.

Three kinds of turn, one per test:
- "shared": an ordinary test; runs beside any other shared or timing test;
- "timing": a test that measures wall-clock time; runs beside ordinary tests (as on any
  busy machine, which such tests allow for) but never beside another timing test;
- "alone": a test that would disturb, or be disturbed by, anything beside it (a hundred
  workers on two cores, wake-up budgets); no other test runs meanwhile: it waits for the
  test the other worker is running to end, and the other worker waits for it.
"alone" is a writer-preferring readers-writer lock on flock: a turnstile keeps it from
waiting forever behind a stream of shared turns. The lock files are per test session
(xdist's run id) in the system's temporary folder. Without xdist nothing is locked: one
process runs one test at a time anyway."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Literal

Turn = Literal["shared", "timing", "alone"]


def _lock(stack: ExitStack, kind: str, how: int) -> IO[str]:
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")
    handle = stack.enter_context((Path(tempfile.gettempdir()) / f"aws-load-tests-{run}.{kind}").open("a"))
    fcntl.flock(handle, how)
    return handle


@contextmanager
def turn(kind: Turn) -> Iterator[None]:
    """Run the block in a turn of this kind; a no-op outside xdist."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    with ExitStack() as stack:  # closing a file releases its lock
        if kind == "timing":
            _lock(stack, "timing", fcntl.LOCK_EX)  # one timing test at a time
        turnstile = _lock(stack, "turnstile", fcntl.LOCK_EX)
        if kind != "alone":
            fcntl.flock(turnstile, fcntl.LOCK_UN)  # through the turnstile, then in with the others
        _lock(stack, "room", fcntl.LOCK_EX if kind == "alone" else fcntl.LOCK_SH)
        yield
