"""The run's target rate (rate mode), on the master or the single local process.

Where it comes from: `--rate` (constant), `--rate-steps` (a profile; the run ends after
its last step), a `RateShape` in the locustfile (aws_locust.rate: Locust's LoadTestShape, returning rates
instead of user counts), the knee finder (`--find-max`, aws_locust.knee), or the web UI
(`POST /aws/rate`, which replaces a profile for the rest of the test). The target goes
to aws_locust.shares, which divides it among the workers: a test's first target goes out
with the workers' parts when the test starts (one message each), every later one as it is set.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import gevent

from aws_locust.settings import RateSettings

if TYPE_CHECKING:
    from locust.env import Environment

    from aws_locust.shares import Distributor

logger = logging.getLogger("aws_locust")


class RateControl:
    def __init__(self, environment: Environment, distributor: Distributor) -> None:
        self.environment = environment
        self.distributor = distributor
        self.settings = RateSettings()
        self.target = 0.0
        self.source = ""
        self.changes: list[dict[str, Any]] = []  # {"t": seconds since start, "rate", "source"}
        self._started = time.monotonic()
        self._profile: gevent.Greenlet | None = None
        self.paced = False  # this test runs in rate mode

    def start(self, settings: RateSettings, paced: bool, shaped: bool = False) -> None:
        """A new test: the first target (sent by the caller with the workers' parts, not from
        here), and the profile's greenlet if there is one. A RateShape sets its first target
        just before the test starts: that one is kept."""
        self.stop()
        self.settings = settings
        self.paced = paced
        if not shaped:
            self.changes = []
            self._started = time.monotonic()
            self.target = 0.0
        if settings.steps:
            self._record(settings.steps[0][0], _step_source(1, len(settings.steps)))
            self._profile = gevent.spawn(self._follow_steps, settings.steps)
        elif settings.rate > 0 and not settings.find_max:  # per-service figures with --find-max: proportions
            self._record(settings.rate, "--rate")

    def stop(self) -> None:
        if self._profile is not None:
            self._profile.kill(block=False)
            self._profile = None

    def set_target(self, rate: float, source: str) -> None:
        if self._record(rate, source):
            self.distributor.set_rate(self.target)

    def _record(self, rate: float, source: str) -> bool:
        """The new target, kept and logged; False: it is the one already set."""
        rate = max(0.0, float(rate))
        if self.changes and rate == self.target and source == self.source:
            return False
        if not self.changes:
            self._started = time.monotonic()
        self.target, self.source = rate, source
        self.changes.append({"t": round(time.monotonic() - self._started, 1), "rate": rate, "source": source})
        logger.info("target rate: %g records/s (%s)", rate, source)
        return True

    def set_by_user(self, rate: float) -> None:
        """The web UI: a new target for the rest of the test (a profile stops here)."""
        self.stop()
        self.set_target(rate, "web UI")

    def _follow_steps(self, steps: tuple[tuple[float, float], ...]) -> None:
        for index, (rate, seconds) in enumerate(steps, 1):
            self.set_target(rate, _step_source(index, len(steps)))  # the first: set at the start already
            gevent.sleep(seconds)
        self._profile = None
        self.distributor.end_run("--rate-steps completed")


def _step_source(index: int, count: int) -> str:
    return f"--rate-steps step {index}/{count}"
