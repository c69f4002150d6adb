"""Work-arounds for races in Locust itself that would end our runs with a traceback.

Locust 2.47's shutdown closes the CSV stats files while the greenlet that rewrites them
every few seconds is still alive; its own atexit handlers then yield, the greenlet wakes
and fails with "I/O operation on closed file". Here closing the files first stops that
greenlet (tests/test_locust_races.py shows the race and the fix).
"""

from __future__ import annotations

from typing import Any

import gevent
from locust import stats

_installed = False


def install() -> None:
    """Make StatsCSVFileWriter.close_files stop the writing greenlet first (once per process)."""
    global _installed
    if _installed:
        return
    _installed = True
    writer_class: Any = stats.StatsCSVFileWriter
    write, close = writer_class.stats_writer, writer_class.close_files

    def stats_writer(self: Any) -> None:
        self._aws_writing_greenlet = gevent.getcurrent()
        write(self)

    def close_files(self: Any) -> None:
        writing = getattr(self, "_aws_writing_greenlet", None)
        if writing is not None and writing is not gevent.getcurrent():
            writing.kill(block=True, timeout=5)  # it may finish one last write while the files are open
        close(self)

    writer_class.stats_writer = stats_writer
    writer_class.close_files = close_files
