"""Work-arounds for Locust 2.47 behaviour that breaks distributed runs at scale.

Each is installed once per process (`install()`, from the init event) and is tested in
tests/test_workers_at_scale.py with the situation that shows it.

1. A worker handling a spawn message keeps only the options Locust itself does not
   define, asking `default_args_dict()` once per option key: each call builds and parses
   Locust's whole argument parser again (~2 ms of CPU). We send ~100 keys, so every spawn
   message held the worker's gevent loop ~0.25 s of CPU; with 100 workers sharing two
   cores that is seconds of wall time, past the master's heartbeat liveness: workers were
   marked missing at spawn. Locust's own defaults never change within a process, so the
   answer is computed once.

2. `UsersDispatcher` stays "dispatch in progress" for ever after a dispatch that only
   rebalanced (its generator returns early without clearing the flag). The master then
   ignores every later joiner or healed worker ("if not dispatch_in_progress: start()"):
   a worker that joined after another healed got no users. The flag is cleared whenever
   a dispatch ends, however it ends.

3. The master stops the test the moment its last worker goes missing. A moment with
   every worker missing (a stalled machine, a network blip) is not the end while they
   come back: the stop waits `LAST_WORKER_GRACE_SECONDS` for one of them to heal, and
   stops only if none did (a worker that quit or was removed ends the test as before).

4. When a worker heals, joins or quits during a test, the master redistributes users by
   calling `start()` inside its message handler; `start()` then waits up to
   LOCUST_WAIT_FOR_WORKERS_REPORT_AFTER_RAMP_UP for the workers' spawn reports, which that
   same handler would have to receive: no message (no heartbeat) is read meanwhile, and
   with a wait of a few seconds every worker was marked missing. Those calls now run in a
   greenlet of their own, one at a time, and only if the test is still running then.

5. A worker that joins while the master is still spawning (or right after) is skipped:
   the master redistributes only from the "running" state. A watcher gives users to a
   live worker that has had none for two checks in a row, when there are enough users
   for every worker to have one.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Generator
from typing import Any

import gevent
from gevent.lock import Semaphore

logger = logging.getLogger("aws_locust")

LAST_WORKER_GRACE_SECONDS = 30.0
IDLE_WORKER_CHECK_SECONDS = 1.0
_installed = False


def install(environment: Any) -> None:
    global _installed
    from locust.runners import MasterRunner

    if not _installed:
        _installed = True
        _cache_default_args()
        _clear_dispatch_flag()
        _grace_when_every_worker_is_missing()
        _redistribute_off_the_message_handler()
    if isinstance(environment.runner, MasterRunner):
        gevent.spawn(_give_idle_workers_users, environment.runner)


def _caller() -> str:
    """The name of the function that called the caller ("" at the top of a greenlet)."""
    try:
        return sys._getframe(2).f_code.co_name
    except ValueError:
        return ""


def _cache_default_args() -> None:
    from locust import argument_parser

    original = argument_parser.default_args_dict
    cached: dict[str, Any] = {}

    def default_args_dict() -> dict[str, Any]:
        if not cached:
            cached.update(original())
        return dict(cached)  # a copy: a caller may change what it gets

    argument_parser.default_args_dict = default_args_dict


def _clear_dispatch_flag() -> None:
    from locust.dispatch import UsersDispatcher

    original = UsersDispatcher._dispatcher

    def _dispatcher(self: Any) -> Generator[dict[str, dict[str, int]]]:
        def run() -> Generator[dict[str, dict[str, int]]]:
            try:
                yield from original(self)
            finally:
                if self._dispatcher_generator is this[0]:  # not a dispatch replaced by a newer one
                    self._dispatch_in_progress = False

        this = [run()]
        return this[0]

    UsersDispatcher._dispatcher = _dispatcher  # type: ignore[method-assign]


def _in_grace(runner: Any) -> bool:
    """A running test whose every worker is missing (none quit): they may come back."""
    from locust.runners import STATE_MISSING, STATE_RUNNING, STATE_SPAWNING

    return (
        runner.state in (STATE_RUNNING, STATE_SPAWNING)
        and runner.worker_count <= 0
        and any(client.state == STATE_MISSING for client in runner.clients.values())
    )


def _grace_when_every_worker_is_missing() -> None:
    from locust.runners import STATE_INIT, STATE_RUNNING, STATE_SPAWNING, MasterRunner

    original_stop, original_check_stopped = MasterRunner.stop, MasterRunner.check_stopped

    def stop(self: Any, send_stop_to_client: bool = True) -> None:
        # Locust's heartbeat_worker: "The last worker went missing, stopping test."
        if _caller() == "heartbeat_worker" and _in_grace(self):
            grace = getattr(self, "_aws_grace", None)
            if grace is not None:
                grace.kill(block=False)
            logger.warning(
                "every worker is missing: the test goes on if one comes back within %g s", LAST_WORKER_GRACE_SECONDS
            )
            self._aws_grace = gevent.spawn_later(LAST_WORKER_GRACE_SECONDS, end_of_grace, self)
            return
        original_stop(self, send_stop_to_client)

    def end_of_grace(runner: Any) -> None:
        runner._aws_grace = None
        if _in_grace(runner):
            logger.warning("no worker came back within %g s: stopping the test", LAST_WORKER_GRACE_SECONDS)
            original_stop(runner)

    def check_stopped(self: Any) -> None:
        # With every worker missing Locust marks the test stopped (nothing else stops it): not in the grace period.
        # Called for every message the master reads. A running test with a worker alive has nothing to stop
        # (both of Locust's conditions are false): one look at the workers, not Locust's copy of them all.
        if self.state in (STATE_RUNNING, STATE_SPAWNING):
            alive = (STATE_INIT, STATE_RUNNING, STATE_SPAWNING)
            nodes = self.clients._worker_nodes.values()  # the dict itself: WorkerNodes copies its keys to iterate
            if any(client.state in alive for client in nodes) or _in_grace(self):
                return
        original_check_stopped(self)

    MasterRunner.stop = stop  # type: ignore[method-assign]
    MasterRunner.check_stopped = check_stopped  # type: ignore[method-assign]


def _redistribute_off_the_message_handler() -> None:
    from locust.runners import STATE_RUNNING, STATE_SPAWNING, MasterRunner

    original_start = MasterRunner.start
    one_at_a_time = Semaphore()

    def start(self: Any, user_count: int, spawn_rate: float, wait: bool = False, user_classes: Any = None) -> None:
        if _caller() in ("handle_message", "heartbeat_worker"):
            gevent.spawn(redistribute, self, user_count, spawn_rate)
            return
        with one_at_a_time:
            original_start(self, user_count, spawn_rate, wait, user_classes)

    def redistribute(runner: Any, user_count: int, spawn_rate: float) -> None:
        with one_at_a_time:
            if runner.state in (STATE_RUNNING, STATE_SPAWNING):  # not a test that stopped meanwhile
                original_start(runner, user_count, spawn_rate)

    MasterRunner.start = start  # type: ignore[method-assign]


def _give_idle_workers_users(runner: Any) -> None:
    from locust.runners import STATE_INIT, STATE_RUNNING, STATE_SPAWNING

    idle_before: set[str] = set()
    while True:
        gevent.sleep(IDLE_WORKER_CHECK_SECONDS)
        nodes = runner.clients._worker_nodes.values()  # the dict itself: WorkerNodes copies its keys to iterate
        live = [client for client in nodes if client.state in (STATE_INIT, STATE_SPAWNING, STATE_RUNNING)]
        idle = {client.id for client in live if not client.user_classes_count or client.user_count == 0}
        dispatcher = runner._users_dispatcher
        if (
            idle & idle_before
            and runner.state == STATE_RUNNING
            and dispatcher is not None
            and not dispatcher.dispatch_in_progress
            and runner.target_user_count >= len(live)
        ):
            logger.info("%d worker(s) without users: redistributing the users", len(idle & idle_before))
            gevent.spawn(runner.start, runner.target_user_count, runner.spawn_rate)
            idle = set()
        idle_before = idle
