"""When calls are meant to start: the open model's schedule of one sender.

A closed loop sends the next call when an answer comes back, so a slow service slows
the sender down and its stalls vanish from the percentiles (coordinated omission). An
open model starts calls on a schedule, whatever the answers do. The driver takes the
next call when its intended start has come; a call that finds no free slot starts late,
as soon as one frees, and keeps its intended start, so its latency counts from when it
was meant to begin (wrk2, YCSB's intended mode and k6's arrival-rate executors do so).

`uniform` arrivals are evenly spaced; `poisson` arrivals have exponential gaps with the
same mean (independent arrivals, as many real clients make). Each schedule starts at a
random phase, so that many senders at the same rate do not fire in step.

A rate change is asked for from anywhere (`set_rate`) and applied by the sender at its
next look (`apply`): calls already due at the old rate are still owed (nothing is
skipped), later ones follow the new rate.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

ARRIVALS = ("uniform", "poisson")
NEVER = math.inf


class Schedule:
    """Intended start times (on `clock`) of one sender's calls at `calls_per_second`."""

    __slots__ = ("_arrival", "_clock", "_pending", "_rng", "_switch", "_wake", "next_time", "rate")

    def __init__(
        self,
        calls_per_second: float = 0.0,
        arrival: str = "uniform",
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if arrival not in ARRIVALS:
            raise ValueError(f"arrival must be one of {', '.join(ARRIVALS)}, not {arrival!r}")
        self._arrival = arrival
        self._rng = rng or random.Random()
        self._clock = clock
        self.rate = 0.0  # calls per second now
        self.next_time = NEVER  # intended start of the next call
        self._pending: float | None = None  # a rate asked for, not yet applied
        self._switch: tuple[float, float] | None = None  # (when, rate): the old rate's backlog ends then
        self._wake: Callable[[], None] | None = None
        if calls_per_second > 0:
            self._change(clock(), calls_per_second)

    # ------------------------------------------------------------------ rate changes

    def set_rate(self, calls_per_second: float) -> None:
        """Ask for a new rate; the sender applies it at its next look (and is woken for it)."""
        self._pending = max(0.0, float(calls_per_second))
        if self._wake is not None:
            self._wake()

    def on_change(self, wake: Callable[[], None] | None) -> None:
        """Called by set_rate: lets an idle sender wake up for a new rate."""
        self._wake = wake

    @property
    def target_rate(self) -> float:
        """The rate asked for last (applied or not)."""
        return self._pending if self._pending is not None else self.rate

    def owes(self, now: float) -> bool:
        """A call is due and not started (a backlog, or the next call's time has come)."""
        return self.next_time <= now

    def apply(self, now: float) -> None:
        """Apply a rate asked for since the last look (cheap when there is none)."""
        pending = self._pending
        if pending is not None:
            self._pending = None
            self._change(now, pending)

    def _change(self, now: float, new: float) -> None:
        old = self.rate
        if self.next_time < now:  # a backlog at the old rate: still owed, then the new rate
            self._switch = (self._switch[0] if self._switch else now, new)
            return
        self._switch = None
        self.rate = new
        if new <= 0:
            self.next_time = NEVER
        elif old > 0 and self.next_time != NEVER and self._arrival == "uniform":
            self.next_time = now + (self.next_time - now) * old / new  # the same share of a gap
        else:
            self.next_time = now + self._first_gap(new)

    def _first_gap(self, rate: float) -> float:
        if self._arrival == "poisson":
            return self._rng.expovariate(rate)  # memoryless: any moment is a fresh start
        return self._rng.random() / rate  # a random phase: senders at one rate do not fire together

    # ------------------------------------------------------------------ the schedule

    def take(self) -> float:
        """The next intended start, consumed; the one after it is computed."""
        intended = self.next_time
        rate = self.rate
        if self._arrival == "poisson":
            following = intended + self._rng.expovariate(rate)
        else:
            following = intended + 1.0 / rate
        switch = self._switch
        if switch is not None and following >= switch[0]:  # the old rate's backlog is done
            when, new = switch
            self._switch = None
            self.rate = new
            following = when + self._first_gap(new) if new > 0 else NEVER
        self.next_time = following
        return intended
