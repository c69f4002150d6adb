"""Ending a run that cannot work: every call has failed for --abort-after seconds.

On the master (or the single local process), from the tally (the workers' counts arrive
with their stats reports). When no call has succeeded for that long while calls were
being made, the run stops with one line naming the most frequent error: exit 2 if every
failure was a client error (retrying cannot help: a wrong key schema, a missing table,
no permission), else exit 5 (an endpoint that is down, refuses, or never answers).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

import gevent

from aws_locust import outcome
from aws_locust.outcome import Verdicts

if TYPE_CHECKING:
    from locust.env import Environment

    from aws_locust.tally import AwsTally

logger = logging.getLogger("aws_locust")
CHECK_SECONDS = 1.0
KINDS = ("throttled", "client", "server", "network")


class Watchdog:
    def __init__(
        self, environment: Environment, tally: AwsTally, end_run: Callable[[str], None], verdicts: Verdicts
    ) -> None:
        self.environment = environment
        self.tally = tally
        self.end_run = end_run
        self.verdicts = verdicts  # the run's (the lifecycle holds them)
        self.abort_after = 0.0
        self._greenlet: gevent.Greenlet | None = None
        self._last_ok = 0.0
        self._ok_seen = 0
        self._at_last_ok: Counter[str] = Counter()

    def start(self, abort_after: float) -> None:
        self.stop()
        self.abort_after = abort_after
        self._last_ok = time.monotonic()
        self._ok_seen = 0
        self._at_last_ok = Counter()
        if abort_after > 0:
            self._greenlet = gevent.spawn(self._watch)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None

    def _counts(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for row in self.tally.rows.values():
            counts["calls"] += row["calls"]
            for kind in KINDS:
                counts[kind] += row[f"failed_{kind}"]
        return counts

    def _watch(self) -> None:
        while True:
            gevent.sleep(CHECK_SECONDS)
            if self.check(time.monotonic()):
                return

    def check(self, now: float) -> bool:
        """True when it ended the run."""
        counts = self._counts()
        ok = counts["calls"] - sum(counts[kind] for kind in KINDS)
        if ok > self._ok_seen:
            self._ok_seen, self._last_ok, self._at_last_ok = ok, now, counts
            return False
        failed = Counter({kind: counts[kind] - self._at_last_ok[kind] for kind in KINDS})
        failed = +failed  # only kinds that happened
        if not failed or now - self._last_ok < self.abort_after:
            return False
        seconds = f"{self.abort_after:g} s"
        cause = self._most_frequent_error()
        if set(failed) == {"client"}:
            self.verdicts.record(
                outcome.PERMANENT,
                f"error: every call failed with a client error for {seconds} ({cause}); retrying cannot help: stopping",
            )
        else:
            kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(failed.items()))
            self.verdicts.record(
                outcome.ABORTED, f"error: every call failed for {seconds} ({kinds}; {cause}): stopping"
            )
        self.end_run("--abort-after")
        return True

    def _most_frequent_error(self) -> str:
        runner = self.environment.runner
        errors = list(runner.stats.errors.values()) if runner is not None else []
        if not errors:
            return "no error recorded"
        top = max(errors, key=lambda e: e.occurrences)
        return f"{top.method} {top.name}: {top.parse_error(top.error)}"
