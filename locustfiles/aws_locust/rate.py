"""The run's target rate (rate mode), on the master or the single local process.

Where it comes from: `--rate` (constant), `--rate-steps` (a profile; the run ends after
its last step), a `RateShape` in the locustfile (Locust's LoadTestShape, returning rates
instead of user counts), the knee finder (`--find-max`, aws_locust.knee), or the web UI
(`POST /aws/rate`, which replaces a profile for the rest of the test). The target goes
to aws_locust.shares, which divides it among the workers.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import gevent
from locust import LoadTestShape

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
        """A new test: the first target, and the profile's greenlet if there is one. A
        RateShape sets its first target just before the test starts: that one is kept."""
        self.stop()
        self.settings = settings
        self.paced = paced
        if not shaped:
            self.changes = []
            self._started = time.monotonic()
            self.target = 0.0
        if settings.steps:
            self._profile = gevent.spawn(self._follow_steps, settings.steps)
        elif settings.rate > 0 and not settings.find_max:  # per-service figures with --find-max: proportions
            self.set_target(settings.rate, "--rate")

    def stop(self) -> None:
        if self._profile is not None:
            self._profile.kill(block=False)
            self._profile = None

    def set_target(self, rate: float, source: str) -> None:
        rate = max(0.0, float(rate))
        if self.changes and rate == self.target and source == self.source:
            return
        if not self.changes:
            self._started = time.monotonic()
        self.target, self.source = rate, source
        self.changes.append({"t": round(time.monotonic() - self._started, 1), "rate": rate, "source": source})
        logger.info("target rate: %g records/s (%s)", rate, source)
        self.distributor.set_rate(rate)

    def set_by_user(self, rate: float) -> None:
        """The web UI: a new target for the rest of the test (a profile stops here)."""
        self.stop()
        self.set_target(rate, "web UI")

    def _follow_steps(self, steps: tuple[tuple[float, float], ...]) -> None:
        for index, (rate, seconds) in enumerate(steps, 1):
            self.set_target(rate, f"--rate-steps step {index}/{len(steps)}")
            gevent.sleep(seconds)
        self._profile = None
        self.distributor.end_run("--rate-steps completed")


CONTROL: RateControl | None = None  # master or local process, set by the lifecycle


class RateShape(LoadTestShape):
    """A load shape that returns rates: subclass it in a locustfile passed with the
    service's (`locust -f locustfiles/dynamodb.py,my_shape.py`) and override `rate()`.

        class Ramp(RateShape):
            def rate(self):
                t = self.get_run_time()
                return None if t > 120 else 200 + 10 * t   # records/s; None ends the test

    The number of users stays what `-u`/`--users` says (their rate follows the shape).
    """

    abstract = True

    def rate(self) -> float | None:
        raise NotImplementedError

    def tick(self) -> tuple[int, float] | None:
        rate = self.rate()
        if rate is None:
            return None
        if CONTROL is not None:
            CONTROL.set_target(rate, type(self).__name__)
        options = self.runner.environment.parsed_options if self.runner is not None else None
        users = int(getattr(options, "num_users", None) or 1)
        return users, float(getattr(options, "spawn_rate", None) or users)
