"""Waking greenlets on time: a pacer's deadlines kept to a tenth of a millisecond.

gevent's timers are libev's, and libev waits in epoll_wait, whose timeout is in whole
milliseconds: libev rounds a wait up to the next millisecond and never waits less than one,
so a greenlet asleep until its next intended start woke ~0.85 ms late on average (start
lag p50 0.85 ms, p99 1.8 ms at --rate 100). A timerfd (Linux) armed for the deadline on
CLOCK_MONOTONIC, the clock `time.perf_counter` reads, becomes readable at that moment; the
gevent loop watches it like any socket, so epoll returns then, whatever its own timeout.

One timerfd per process serves every deadline of its hub: a heap of (deadline, callback),
the timer armed for the earliest. `call_at` costs a heap push, and a `timerfd_settime`
(through ctypes, ~1.5 us) only when the deadline is the new earliest. Where there is no
timerfd (not Linux) or `perf_counter` is on another clock, `precise_timer()` is None and
callers keep gevent's own timers.

Even a timerfd wakes an idle virtual machine late: ~50-100 us here (the vCPU is halted
and must be woken; measured p50 63 us, p90 129 us for a bare timerfd and epoll). So the
timer is armed `lead` seconds early and the hub spins the rest of the way: `lead` follows
the median of how late the wake-ups came (a stochastic median estimate, bounded by
`MAX_LEAD`), so about half the wake-ups spin (for tens of microseconds, counted as the load
generator's CPU like all it does) and the other half come a little late.
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.monkey
from gevent.hub import Waiter

CLOCK_MONOTONIC = 1
TFD_TIMER_ABSTIME = 1
DUE_WITHIN = 2e-6  # seconds: a deadline this close is run now
MAX_LEAD = 200e-6  # seconds: the most the timer is armed early (and the most the hub spins)
LEAD_STEP = 2e-6  # seconds: how far each wake-up moves the lead towards the median lateness
MAX_WAKES = 1000  # wake-ups a second, at most (each costs an idle virtual CPU ~30 us of CPU)
WAKE_BURST = 4  # wake-ups that may come closer together than 1/MAX_WAKES, after a quiet spell
SPIN_SHARE = 0.01  # the share of each second the hub may spin for a deadline, at most
ARM_SLACK = 10e-6  # seconds: a deadline this much earlier than the armed one does not re-arm it


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc_timerfd() -> tuple[Any, Any] | None:
    """libc's timerfd_create and timerfd_settime, if this platform has them and
    `perf_counter` reads CLOCK_MONOTONIC (the clock the deadlines are on)."""
    if not sys.platform.startswith("linux"):
        return None
    if "CLOCK_MONOTONIC" not in time.get_clock_info("perf_counter").implementation:
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        create, settime = libc.timerfd_create, libc.timerfd_settime
    except (OSError, AttributeError):
        return None
    create.argtypes, create.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    settime.restype = ctypes.c_int
    return create, settime


_TIMERFD = _libc_timerfd()


class Entry:
    """One deadline; `cancel` leaves it in the heap, skipped when it comes up."""

    __slots__ = ("callback", "cancelled", "deadline")

    def __init__(self, deadline: float, callback: Callable[[], object]) -> None:
        self.deadline = deadline
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class PreciseTimer:
    """Deadlines on `time.perf_counter`'s clock, run in the gevent hub of the thread that made it.

    Two budgets keep its cost bounded, since each wake-up of an idle virtual CPU costs ~30 us
    of CPU here (measured: a timerfd or an epoll timeout alike):
    - wake-ups: at most `MAX_WAKES` a second (a token bucket). Up to that many deadlines a
      second each get their own wake-up; beyond it, deadlines that fall between two wake-ups
      are run together at the later one, late by at most 1/MAX_WAKES s (the pacer's start
      lag shows it). Deadlines met while the hub is awake anyway cost nothing;
    - spinning: at most `SPIN_SHARE` of the time.
    """

    def __init__(self) -> None:
        assert _TIMERFD is not None
        create, self._settime = _TIMERFD
        self.fd = create(CLOCK_MONOTONIC, os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self._spec = _Itimerspec()
        self._value = self._spec.it_value  # a view into _spec: set per arming
        self._spec_address = ctypes.addressof(self._spec)
        self._heap: list[tuple[float, int, Entry]] = []
        self._order = itertools.count()
        self._armed = math.inf  # the earliest deadline the timerfd is set for
        self._fires_at = math.inf  # when it fires: `lead` earlier, or when the wake-up budget allows
        self.lead = 50e-6  # seconds early the timer is armed: the median lateness of its wake-ups
        self._next_wake = 0.0  # the wake-up budget: no wake-up before this
        self._spin_window = 0.0  # the spin budget: the second it counts in, and what was spun in it
        self._spun = 0.0
        self._watcher: Any = gevent.get_hub().loop.io(self.fd, 1)
        self._watcher.start(self._on_ready)
        self._watcher.ref = False  # it keeps a loop alive only while a deadline waits

    def call_at(self, deadline: float, callback: Callable[[], object]) -> Entry:
        """Run `callback()` in the hub at `deadline` (perf_counter seconds), within ~0.1 ms
        (within 1/MAX_WAKES s when more deadlines than that come a second)."""
        entry = Entry(deadline, callback)
        heapq.heappush(self._heap, (deadline, next(self._order), entry))
        if deadline < self._armed - ARM_SLACK:  # within the slack: the armed wake-up serves it (and spins)
            self._arm(deadline)
        return entry

    def _arm(self, deadline: float) -> None:
        fires_at = max(deadline - self.lead, self._next_wake)
        self._set(fires_at)
        self._armed, self._fires_at = deadline, fires_at
        self._watcher.ref = True

    def _set(self, fires_at: float) -> None:
        """Arm the timerfd for `fires_at` (0: disarm); either way it is not readable any more."""
        seconds = int(fires_at)
        value = self._value
        value.tv_sec = seconds
        value.tv_nsec = int((fires_at - seconds) * 1e9)
        if self._settime(self.fd, TFD_TIMER_ABSTIME, self._spec_address, None) != 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")

    def _on_ready(self) -> None:
        clock = time.perf_counter
        now = clock()
        if now < self._fires_at:
            return  # re-armed since this wake-up was reported: its own is still to come
        # How late the wake-up came: the lead moves a step towards the median of that.
        late = now - self._fires_at
        self.lead = min(MAX_LEAD, max(0.0, self.lead + (LEAD_STEP if late > self.lead else -LEAD_STEP)))
        self._next_wake = max(self._next_wake, now - WAKE_BURST / MAX_WAKES) + 1 / MAX_WAKES
        self._armed = self._fires_at = math.inf
        heap = self._heap
        while heap:
            deadline, _, entry = heap[0]
            if entry.cancelled:
                heapq.heappop(heap)
                continue
            if deadline > now + DUE_WITHIN:
                if deadline - now > self.lead or not self._may_spin(now, deadline - now):
                    break  # not yet: armed for it below
                while clock() < deadline:  # the last stretch, spun: a wake-up cannot be that exact
                    pass
            heapq.heappop(heap)
            entry.callback()  # may switch to the greenlet it wakes, and add deadlines
            now = clock()
        if heap:
            if heap[0][0] < self._armed:
                self._arm(heap[0][0])
        elif self._armed == math.inf:
            self._set(0.0)  # disarmed: quiet until the next deadline
            self._watcher.ref = False

    def _may_spin(self, now: float, seconds: float) -> bool:
        if now - self._spin_window >= 1.0:
            self._spin_window, self._spun = now, 0.0
        if self._spun + seconds > SPIN_SHARE:
            return False
        self._spun += seconds
        return True

    def close(self) -> None:
        self._watcher.stop()
        self._watcher.close()
        os.close(self.fd)


_timers: dict[tuple[int, int], PreciseTimer] = {}


def precise_timer() -> PreciseTimer | None:
    """This process's and thread's timer (made on first use, again after a fork), or None
    where deadlines cannot be kept more precisely than gevent's own timers keep them."""
    if _TIMERFD is None:
        return None
    key = (os.getpid(), threading.get_ident())
    timer = _timers.get(key)
    if timer is None:
        try:
            timer = _timers[key] = PreciseTimer()
        except OSError:
            return None
    return timer


class Alarm:
    """Sleep until a deadline or until rung (from another greenlet: a new rate, say). Under
    Locust (gevent-patched), the deadline switches straight to the sleeper within ~0.1 ms; an
    Event's wake-up would take another turn of the loop (~35 us more). Elsewhere, a plain
    `threading.Event`."""

    __slots__ = ("_event", "_gevent", "_rung", "_timer", "_waiter")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._gevent = gevent.monkey.is_module_patched("threading")
        self._waiter: Any = None
        self._rung = False
        self._timer = precise_timer() if self._gevent else None

    def ring(self) -> None:
        """End the current sleep, or the next one before it starts."""
        if not self._gevent:
            self._event.set()
        elif self._waiter is not None:
            gevent.get_hub().loop.run_callback(self._wake)  # from a greenlet: the hub switches
        else:
            self._rung = True

    def sleep(self, seconds: float | None) -> None:
        """Until `seconds` have passed (None: until rung), or the alarm is rung."""
        if not self._gevent:
            self._event.wait(seconds)
            self._event.clear()
            return
        if self._rung:
            self._rung = False
            return
        waiter = self._waiter = Waiter()
        timer = self._timer if seconds is not None and seconds < math.inf else None
        entry: Any = None
        if timer is not None:
            entry = timer.call_at(time.perf_counter() + seconds, self._wake)  # type: ignore[operator]
        elif seconds is not None and seconds < math.inf:  # no timerfd: gevent's own timer
            entry = gevent.get_hub().loop.timer(seconds)
            entry.start(self._wake)
        try:
            waiter.get()
        finally:
            self._waiter = None
            self._rung = False
            if entry is not None:
                entry.cancel() if isinstance(entry, Entry) else entry.close()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            waiter.switch(None)


def wait(event: Any, seconds: float | None) -> None:
    """Wait until `event` is set or `seconds` have passed; under gevent, woken at the deadline
    within ~0.1 ms (`event.wait(seconds)` would wake up to a millisecond late). The deadline
    sets the event: callers clear it and look again at what they wait for."""
    timer = precise_timer() if seconds is not None and seconds < math.inf and _under_gevent(event) else None
    if timer is None or seconds is None:
        event.wait(seconds)
        return
    entry = timer.call_at(time.perf_counter() + seconds, event.set)
    try:
        event.wait()
    finally:
        entry.cancel()


def _under_gevent(event: Any) -> bool:
    return type(event).__module__.startswith("gevent")
