"""The pacer's wake-ups (writers/wake.py): deadlines kept on a timerfd, never early, in order,
within a budget of wake-ups a second; the paced sender's alarm.

How *precise* the wake-ups are is a property of the machine (an idle virtual CPU takes
~50-100 us to wake): it is measured, not asserted, in scripts/bench/per_call.py and
scripts/bench/rate_cost.py (BENCHMARKS.md). What is asserted here holds on any machine:
no callback runs before its deadline, cancelled ones never run, and more deadlines than the
budget allows share wake-ups instead of each costing one.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from writers import wake

pytestmark = pytest.mark.skipif(wake._TIMERFD is None, reason="no timerfd on this platform")


def run_in_gevent(body: str) -> str:
    """Run `body` in a fresh interpreter patched by gevent as Locust patches it; its stdout."""
    script = "import gevent.monkey; gevent.monkey.patch_all()\n" + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_deadlines_run_in_order_never_early_and_cancelled_ones_never() -> None:
    out = run_in_gevent(
        """
        import time, gevent
        from writers import wake
        timer = wake.precise_timer()
        ran, early = [], []
        def at(name, deadline):
            def callback():
                if time.perf_counter() < deadline:
                    early.append(name)
                ran.append(name)
            return timer.call_at(deadline, callback)
        now = time.perf_counter()
        at("c", now + 0.030)
        at("a", now + 0.010)
        at("b", now + 0.020)
        at("x", now + 0.015).cancel()
        at("d", now + 0.0201)  # within the arming slack of b: served by b's wake-up, never before its time
        gevent.sleep(0.06)
        print(ran, early)
        """
    )
    assert out == "['a', 'b', 'd', 'c'] []"


def test_more_deadlines_than_the_budget_share_wake_ups() -> None:
    """200 deadlines 50 us apart (20,000 a second): at most MAX_WAKES wake-ups a second (and a
    burst) serve them all, none early, each late by less than 2/MAX_WAKES s. Three rounds: every
    round must run all, none early, within the budget; the lateness bound must hold in one of
    them, since a vCPU pause of a few ms (seen about once in 20 runs) makes any round late."""
    out = run_in_gevent(
        """
        import time, gevent
        from writers import wake
        timer = wake.precise_timer()
        wakes = [0]
        on_ready = timer._on_ready
        def counting():
            wakes[0] += 1
            on_ready()
        timer._watcher.stop(); timer._watcher.start(counting)
        for _round in range(3):
            late, early, wakes[0] = [], [0], 0
            start = time.perf_counter() + 0.005
            for i in range(200):
                deadline = start + i * 50e-6
                def callback(deadline=deadline):
                    now = time.perf_counter()
                    early[0] += now < deadline
                    late.append(now - deadline)
                timer.call_at(deadline, callback)
            gevent.sleep(0.05)
            print(len(late), early[0], wakes[0], max(late) < 2 / wake.MAX_WAKES)
        """
    )
    rounds = [line.split() for line in out.splitlines()]
    assert len(rounds) == 3, out
    for ran, early, wakes, _bounded in rounds:
        assert (ran, early) == ("200", "0"), out
        # 10 ms of deadlines: ~10 wake-ups at 1,000 a second, plus the burst; 200 without the budget
        assert int(wakes) <= 10 + wake.WAKE_BURST + 2, out
    assert any(bounded == "True" for *_, bounded in rounds), out


def test_an_alarm_sleeps_its_time_and_is_rung_awake() -> None:
    out = run_in_gevent(
        """
        import time, gevent
        from writers import wake
        alarm = wake.Alarm()
        t = time.perf_counter(); alarm.sleep(0.02); slept = time.perf_counter() - t
        gevent.spawn_later(0.05, alarm.ring)
        t = time.perf_counter(); alarm.sleep(None); rung = time.perf_counter() - t  # a rate of 0: until rung
        alarm.ring()  # rung before it sleeps: the next sleep returns at once
        t = time.perf_counter(); alarm.sleep(5.0); at_once = time.perf_counter() - t
        print(slept >= 0.02, 0.04 < rung < 1.0, at_once < 0.5)
        """
    )
    assert out == "True True True"


def test_outside_gevent_an_alarm_is_a_plain_event() -> None:
    """The driver is a library: without Locust's patching it sleeps on a threading.Event."""
    script = textwrap.dedent(
        """
        import threading, time
        from writers import wake
        alarm = wake.Alarm()
        threading.Timer(0.05, alarm.ring).start()
        t = time.perf_counter(); alarm.sleep(None); rung = time.perf_counter() - t
        t = time.perf_counter(); alarm.sleep(0.02); slept = time.perf_counter() - t
        print(alarm._gevent, 0.04 < rung < 2.0, slept >= 0.02)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False True True"
