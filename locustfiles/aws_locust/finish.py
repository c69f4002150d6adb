"""Ending a run when --max-records is reached, alone or with workers."""

from __future__ import annotations

import logging
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

logger = logging.getLogger("aws_locust")

QUOTA_DONE = "aws_quota_done"
_ended: set[int] = set()  # id(environment) of runs this process has already ended
_workers_done: set[str] = set()


def _end_run(environment: Environment) -> None:
    """Quit in headless mode; in the web UI, stop the test and keep the UI up."""
    runner = environment.runner
    assert runner is not None
    headless = bool(getattr(environment.parsed_options, "headless", False))
    logger.info("--max-records reached: %s", "quitting" if headless else "stopping the test")
    gevent.spawn(runner.quit if headless else runner.stop)


def quota_reached(environment: Environment) -> None:
    """Called by users once this process's share of records is acknowledged."""
    if id(environment) in _ended:
        return
    _ended.add(id(environment))
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        runner.send_message(QUOTA_DONE, {"worker": runner.client_id})
    else:
        _end_run(environment)


def on_quota_done(environment: Environment, msg: Any, **_: Any) -> None:
    """Master: end the run when every worker has written its share."""
    runner = environment.runner
    assert isinstance(runner, MasterRunner)
    _workers_done.add(str(msg.data["worker"]))
    if len(_workers_done) >= runner.worker_count and id(environment) not in _ended:
        _ended.add(id(environment))
        _end_run(environment)


def reset() -> None:
    """A new test starts: every process may end it again."""
    _ended.clear()
    _workers_done.clear()
