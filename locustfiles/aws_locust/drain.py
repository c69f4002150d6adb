"""The end of a test: the writes in flight are answered before the users stop.

Locust stops a user by killing its greenlet, whatever it was doing: calls in flight are
abandoned, and a write the service applied is never acknowledged. For `--verify` with
keys written again, the stored version is then newer than the last acknowledged one
and looks lost. So when a test stops (-t, SIGTERM, --find-max done, the web UI's stop),
before Locust kills anyone, every process that runs users drains: its users take no new
records, and it waits until each has its answers (at most `--timeout` + 1 s: a call in
flight is answered or times out by then; retries of failed calls go on meanwhile). The
master asks its workers to drain and waits for their last counts before it goes on.

Users still waiting when the drain gives up (a stalled service) are counted: their
writes' outcome is unknown, and `--verify` says so (aws_locust.verify) instead of
calling a newer version lost.

Each service's users may finish at different times (one service retrying throttled calls,
another answered at once): the drain notes, per service, how long after it began the
service's last user finished (`Drainer.service_ends`). A service's achieved rate is over
its own time, not the time another service took to finish.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import gevent

from aws_locust.pace import ProcessPace

logger = logging.getLogger("aws_locust")

DRAIN = "aws_drain"  # master -> workers: {"run": n}
DRAINED = "aws_drained"  # worker -> master: {"run": n, "unanswered": users still waiting}
POLL_SECONDS = 0.02
MASTER_MARGIN_SECONDS = 3.0  # the workers' answers travel; their last stats go first
MAX_WAIT_SECONDS = 30.0


class Drain:
    """This process's users: how many are inside a driver run, and whether to take new records."""

    def __init__(self, pace: ProcessPace) -> None:
        self.pace = pace
        self.active = False
        self.writing = 0  # users inside a driver run (calls in flight, or about to be)
        self.by_service: Counter[str] = Counter()  # the same, per service they write (as Locust shows it)
        self.entered: set[str] = set()  # the services this test's users wrote
        self.began = 0.0  # monotonic: when the drain began
        self.finished: dict[str, float] = {}  # service -> seconds after `began` its last user finished

    def reset(self) -> None:
        self.active = False
        self.finished = {}
        self.entered = set()

    def enter(self, services: tuple[str, ...]) -> None:
        """A user starts a driver run, writing to these services."""
        self.writing += 1
        self.entered.update(services)
        for service in services:
            self.by_service[service] += 1

    def leave(self, services: tuple[str, ...]) -> None:
        self.writing -= 1
        for service in services:
            self.by_service[service] -= 1
            if self.active and not self.by_service[service]:  # the first time only: a user runs its
                self.finished.setdefault(service, time.monotonic() - self.began)  # task again, writing nothing

    def wait(self, seconds: float) -> int:
        """Take no new records; wait until no user writes (or `seconds`). Users still writing."""
        self.active = True
        self.began = time.monotonic()
        self.finished = {service: 0.0 for service in self.entered if not self.by_service[service]}
        self.pace.look_now()  # a paced user waiting for its next start (or at rate 0, for a new rate) sees it now
        deadline = time.monotonic() + seconds
        while self.writing and time.monotonic() < deadline:
            gevent.sleep(POLL_SECONDS)
        for service, users in self.by_service.items():  # still writing when the wait gave up: until now
            if users:
                self.finished.setdefault(service, time.monotonic() - self.began)
        return self.writing


def drain_seconds(options: Any) -> float:
    """A call in flight is answered or times out within --timeout."""
    try:
        timeout = float(getattr(options, "timeout", 10.0))
    except (TypeError, ValueError):
        timeout = 10.0
    return min(MAX_WAIT_SECONDS, timeout if timeout == timeout else 10.0) + 1.0


class Drainer:
    """Every process: drain at test_stopping. The master drains its workers instead."""

    def __init__(self, environment: Any, drain: Drain, on_unanswered: Callable[[int], None]) -> None:
        from locust.runners import MasterRunner, WorkerRunner

        self.environment = environment
        self.drain = drain
        self.on_unanswered = on_unanswered
        self.run = 0
        self._replies: list[dict[str, Any]] = []
        self.began: float | None = None  # monotonic: when this test's drain began (here, or sent to the workers)
        self.finished: dict[str, float] = {}  # service -> seconds after `began` its last user finished
        runner = environment.runner
        self.master = runner if isinstance(runner, MasterRunner) else None
        environment.events.test_start.add_listener(self.on_test_start)
        environment.events.test_stopping.add_listener(self.on_test_stopping)
        if self.master is not None:
            self.master.register_message(DRAINED, self.on_drained_message)
        elif isinstance(runner, WorkerRunner):
            runner.register_message(DRAIN, self.on_drain_message, concurrent=True)

    def on_test_start(self, **_: Any) -> None:
        self.run += 1
        self.drain.reset()
        self.began, self.finished = None, {}

    def service_ends(self) -> dict[str, float]:
        """Service (as Locust shows it) -> when (monotonic) its last user finished after the
        drain; a service missing ended with the test (it has no figure of its own)."""
        if self.began is None:
            return {}
        return {service: self.began + seconds for service, seconds in self.finished.items()}

    def on_test_stopping(self, **_: Any) -> None:
        seconds = drain_seconds(self.environment.parsed_options)
        if self.master is not None:
            self._drain_workers(seconds)
            return
        self._drain_here(seconds)

    def _drain_here(self, seconds: float) -> int:
        if self.drain.active and not self.drain.writing:
            return 0  # drained already (the master asked before its stop message)
        started = time.monotonic()
        left = self.drain.wait(seconds)
        self.began, self.finished = self.drain.began, dict(self.drain.finished)
        if left:
            logger.warning(
                "%d user(s) still waited for answers %.0f s after the test stopped: their writes' outcome is unknown",
                left, time.monotonic() - started,
            )  # fmt: skip
            self.on_unanswered(left)
        return left

    def on_drain_message(self, msg: Any, **_: Any) -> None:
        """A worker: drain, send the last counts, then say so."""
        runner = self.environment.runner
        left = self._drain_here(drain_seconds(self.environment.parsed_options))
        runner._send_stats()  # what the drained calls acknowledged, before the master goes on
        runner.send_message(DRAINED, {"run": msg.data.get("run"), "unanswered": left, "finished": self.finished})

    def on_drained_message(self, msg: Any, **_: Any) -> None:
        if msg.data.get("run") == self.run:  # not a late answer to an earlier test's drain
            self._replies.append(msg.data)

    def _drain_workers(self, seconds: float) -> None:
        master = self.master
        assert master is not None
        workers = [*master.clients.ready, *master.clients.spawning, *master.clients.running]
        if not workers:
            return
        self._replies = []
        self.began = time.monotonic()
        for worker in workers:
            master.send_message(DRAIN, {"run": self.run}, client_id=worker.id)
        deadline = time.monotonic() + seconds + MASTER_MARGIN_SECONDS
        while len(self._replies) < len(workers) and time.monotonic() < deadline:
            gevent.sleep(POLL_SECONDS)
        self.finished = latest_ends(self._replies, len(workers))
        if len(self._replies) < len(workers):
            logger.warning(
                "%d of %d workers did not confirm their drain", len(workers) - len(self._replies), len(workers)
            )


def latest_ends(replies: list[dict[str, Any]], workers: int) -> dict[str, float]:
    """Each service's last user over the workers' DRAINED replies (seconds after each worker's
    own DRAIN: no clocks compared); {} when a worker did not answer: no service's end is known,
    each has the whole test's time."""
    if len(replies) < workers:
        return {}
    ends: dict[str, float] = {}
    for reply in replies:
        for service, after in (reply.get("finished") or {}).items():
            ends[service] = max(ends.get(service, 0.0), float(after))
    return ends
