"""Loaded by scripts/compare.py next to the service's locustfile in every run (-f a.py,b.py):
when the first call started, when the last record was acknowledged, written to $COMPARE_TIMING_FILE."""

import json
import os
import time
from typing import Any

from locust import events

_path = os.environ.get("COMPARE_TIMING_FILE", "")
_state: dict[str, Any] = {
    "test_start": None,
    "first_call_start": None,
    "last_ack_end": None,
    "last_call_end": None,
    "calls": 0,
    "acked": 0,
}
_next_write = [0.0]


def _write() -> None:
    if _path:
        with open(_path + ".tmp", "w") as out:
            json.dump(_state, out)
        os.replace(_path + ".tmp", _path)


@events.test_start.add_listener
def _on_test_start(**_: Any) -> None:
    _state["test_start"] = time.time()


@events.request.add_listener
def _on_request(response_time: float | None, context: dict[str, Any] | None = None, **_: Any) -> None:
    if not context or "acked" not in context:
        return  # not one of the project's AWS calls
    now = time.time()
    start = now - (response_time or 0) / 1000.0
    if _state["first_call_start"] is None or start < _state["first_call_start"]:
        _state["first_call_start"] = start
    _state["last_call_end"] = now
    _state["calls"] += 1
    if context["acked"]:
        _state["acked"] += context["acked"]
        _state["last_ack_end"] = now
    if now >= _next_write[0]:  # progress for compare.py, four times a second at most
        _next_write[0] = now + 0.25
        _write()


@events.quitting.add_listener
def _on_quitting(**_: Any) -> None:
    _write()
