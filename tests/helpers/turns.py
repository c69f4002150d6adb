"""Taking turns under pytest-xdist, so that tests that measure time are not disturbed.

Three kinds of turn, one per test:
- "shared": an ordinary test; runs beside any other shared or timing test;
- "timing": a test that measures wall-clock time; runs beside ordinary tests (as on any
  busy machine, which such tests allow for) but never beside another timing test;
- "alone": a test that would disturb, or be disturbed by, anything beside it (a hundred
  workers on two cores, wake-up budgets); no other test runs meanwhile: it waits for the
  test the other worker is running to end, and the other worker waits for it.
"alone" is a writer-preferring readers-writer lock on flock: a turnstile keeps it from
waiting forever behind a stream of shared turns. The lock files live in the folder the
workers share (the session's base temporary folder, which pytest rotates). Without xdist
nothing is locked: one process runs one test at a time anyway."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Literal

Turn = Literal["shared", "timing", "alone"]


def _lock(stack: ExitStack, folder: Path, kind: str, how: int) -> IO[str]:
    handle = stack.enter_context((folder / f"turns.{kind}").open("a"))
    fcntl.flock(handle, how)
    return handle


@contextmanager
def turn(kind: Turn, folder: Path | None) -> Iterator[None]:
    """Run the block in a turn of this kind, the workers' locks in `folder`; no folder (not
    under xdist): nothing to lock."""
    if folder is None:
        yield
        return
    with ExitStack() as stack:  # closing a file releases its lock
        if kind == "timing":
            _lock(stack, folder, "timing", fcntl.LOCK_EX)  # one timing test at a time
        turnstile = _lock(stack, folder, "turnstile", fcntl.LOCK_EX)
        if kind != "alone":
            fcntl.flock(turnstile, fcntl.LOCK_UN)  # through the turnstile, then in with the others
        _lock(stack, folder, "room", fcntl.LOCK_EX if kind == "alone" else fcntl.LOCK_SH)
        yield
