"""SIGTERM: Locust's own handler shuts down at once, while users still write, and its
shutdown can then run twice. Ours stops the users and lets Locust's main flow end the
usual way (aws_locust.ending); a second SIGTERM, or one after the end, still gets
Locust's immediate shutdown.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gevent

if TYPE_CHECKING:
    from locust.env import Environment
    from locust.runners import WorkerRunner

logger = logging.getLogger("aws_locust")

WEB_UI_STOP_DELAY_SECONDS = 0.5  # the web UI answers its last requests (the final stats) first


class Sigterm:
    def __init__(self, ended: Callable[[], bool]) -> None:
        self.ended = ended  # the run's end has run already
        self.received = False

    def on_sigterm(self, environment: Environment, fallback: Callable[[], None], worker: bool) -> None:
        """`fallback`: Locust's own handler; `worker`: this process is a worker."""
        if self.ended() or self.received:
            fallback()  # a second SIGTERM: Locust's own shutdown, now
            return
        self.received = True
        logger.info("Got SIGTERM: stopping the users, then ending the run")
        runner = environment.runner
        assert runner is not None
        if worker:
            gevent.spawn(quit_worker, runner)
            return
        gevent.spawn(runner.quit)
        if environment.web_ui is not None:
            gevent.spawn_later(WEB_UI_STOP_DELAY_SECONDS, environment.web_ui.stop)


def quit_worker(runner: WorkerRunner) -> None:
    """Stop, send the last counts, and tell the master before leaving (Locust's own quit
    on a worker does neither: the master would wait for missing heartbeats)."""
    runner.stop()
    runner._send_stats()
    runner.send_message("quit")
    runner.greenlet.kill(block=True)


def intercept_sigterm(handler: Callable[[Callable[[], None]], None], hub: Any = gevent) -> bool:
    """Make Locust's SIGTERM handler (installed after the init event, with `hub.signal_handler`)
    call `handler`, which gets Locust's own as a fallback. Once per process (False: already)."""
    if getattr(hub.signal_handler, "intercepts_sigterm", False):
        return False
    original = hub.signal_handler

    def signal_handler(signum: int, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if signum == signal.SIGTERM:
            hub.signal_handler = original
            return original(signum, lambda: handler(callback))
        return original(signum, callback, *args, **kwargs)

    signal_handler.intercepts_sigterm = True  # type: ignore[attr-defined]
    hub.signal_handler = signal_handler
    return True
