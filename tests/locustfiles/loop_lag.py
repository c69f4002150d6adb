"""A test-only plugin: how long a worker's gevent loop was kept from running, from the
master's first spawn message on (its handling included), printed at exit.

A greenlet asks to wake every 10 ms. How late it wakes is the wall time something else
held the loop, plus, on a busy machine, the time the OS did not run the process; the CPU
time the loop's thread spent between two of its wakes is what the process itself did
meanwhile, whatever the machine's load (a native thread's work, e.g. a thread pool's, is
not in it). Wakes before the first spawn message (the process starting up) are not
counted."""

from __future__ import annotations

import atexit
import os
import sys
import time
from typing import Any

import gevent
from locust import events

TICK = 0.01
state = {"spawned": False, "worst_ms": 0.0, "worst_cpu_ms": 0.0}


def _measure() -> None:
    while True:
        before, cpu = time.perf_counter(), time.thread_time()
        gevent.sleep(TICK)
        if state["spawned"]:
            state["worst_ms"] = max(state["worst_ms"], (time.perf_counter() - before - TICK) * 1000)
            state["worst_cpu_ms"] = max(state["worst_cpu_ms"], (time.thread_time() - cpu) * 1000)


@events.init.add_listener
def on_init(environment: Any, **_: Any) -> None:
    from locust.runners import WorkerRunner

    runner = environment.runner
    if not isinstance(runner, WorkerRunner):
        return
    handle = runner.handle_message

    def handle_message(msg: Any) -> None:
        if msg.type == "spawn":
            state["spawned"] = True
        handle(msg)

    runner.handle_message = handle_message  # type: ignore[method-assign]
    gevent.spawn(_measure)

    @atexit.register
    def report() -> None:
        print(
            f"loop-lag: pid {os.getpid()} max {state['worst_ms']:.1f} ms late, "
            f"max {state['worst_cpu_ms']:.1f} ms of CPU between wakes, since the first spawn message",
            file=sys.stderr,
        )
