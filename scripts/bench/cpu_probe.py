"""A locustfile plug-in for benchmarks: load it beside any locustfile
(`-f locustfiles/dynamodb.py,scripts/bench/cpu_probe.py`) and it writes, to the file in
$CPU_PROBE_JSON at the end, how many request events this process fired and how much CPU
(all threads) it used between test start and test stop. Startup costs are left out."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from locust import events

_state = {"requests": 0, "failures": 0, "cpu_start": 0.0, "wall_start": 0.0, "cpu": 0.0, "wall": 0.0}


@events.request.add_listener
def _count(exception: Any = None, **_: Any) -> None:
    _state["requests"] += 1
    if exception is not None:
        _state["failures"] += 1


@events.test_start.add_listener
def _start(**_: Any) -> None:
    _state.update(requests=0, failures=0, cpu_start=time.process_time(), wall_start=time.monotonic())


@events.test_stop.add_listener
def _stop(**_: Any) -> None:
    _state["cpu"] = time.process_time() - _state["cpu_start"]
    _state["wall"] = time.monotonic() - _state["wall_start"]
    path = os.environ.get("CPU_PROBE_JSON")
    if path:
        with open(path, "w") as out:
            json.dump({k: _state[k] for k in ("requests", "failures", "cpu", "wall")}, out)
