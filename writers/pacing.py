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
next look (`apply`): calls due at the old rate within the last second are still owed,
later ones follow the new rate. Starts owed for longer than that are forgiven and
counted (`missed`): a backlog at a rate nobody asks for any more is not a load anyone
wants (after `--rate 1e6` then `0`, minutes of owed calls). A sender whose share moved
away while it could not run (its process paused) forgives every start it missed
(`keep_backlog=0`), so it does not send them all at once when it resumes.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

ARRIVALS = ("uniform", "poisson")
NEVER = math.inf
KEEP_BACKLOG_SECONDS = 1.0  # at a rate change: owed starts older than this are forgiven


class Schedule:
    """Intended start times (on `clock`) of one sender's calls at `calls_per_second`."""

    __slots__ = (
        "_arrival", "_clock", "_look_now", "_pending", "_rng", "_switch", "_wake", "missed", "next_time", "rate",
    )  # fmt: skip

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
        self.missed = 0  # owed starts forgiven (never sent)
        self._pending: tuple[float, float] | None = None  # (rate, backlog kept) asked for, not yet applied
        self._switch: tuple[float, float] | None = None  # (when, rate): the old rate's backlog ends then
        self._wake: Callable[[], None] | None = None
        self._look_now = False
        if calls_per_second > 0:
            self._change(clock(), calls_per_second, KEEP_BACKLOG_SECONDS)

    # ------------------------------------------------------------------ rate changes

    def set_rate(self, calls_per_second: float, keep_backlog: float = KEEP_BACKLOG_SECONDS) -> None:
        """Ask for a new rate; the sender applies it at its next look (and is woken for it).
        Starts owed for more than `keep_backlog` seconds by then are forgiven."""
        pending = self._pending
        if pending is not None:
            keep_backlog = min(keep_backlog, pending[1])  # two changes before a look: the stricter forgiveness
        self._pending = (max(0.0, float(calls_per_second)), keep_backlog)
        if self._wake is not None:
            self._wake()

    def look_now(self) -> None:
        """Make the sender look for its next call at once, whatever the rate (even 0, where it
        would wait for a new rate): its caller stopped feeding it (the test ends), so it finds
        none and returns instead of waiting."""
        self._look_now = True
        self.set_rate(self.target_rate)

    def on_change(self, wake: Callable[[], None] | None) -> None:
        """Called by set_rate: lets an idle sender wake up for a new rate."""
        self._wake = wake

    @property
    def target_rate(self) -> float:
        """The rate asked for last (applied or not)."""
        return self._pending[0] if self._pending is not None else self._switch[1] if self._switch else self.rate

    def owes(self, now: float) -> bool:
        """A call is due and not started (a backlog, or the next call's time has come)."""
        return self.next_time <= now

    def apply(self, now: float) -> None:
        """Apply a rate asked for since the last look (cheap when there is none)."""
        pending = self._pending
        if pending is not None:
            self._pending = None
            self._change(now, *pending)

    def _change(self, now: float, new: float, keep_backlog: float) -> None:
        if self.next_time < now - keep_backlog:
            self._forgive(now - keep_backlog)
        self._switch_rate(now, new)
        if self._look_now:
            self._look_now = False
            self.next_time = min(self.next_time, now)

    def _switch_rate(self, now: float, new: float) -> None:
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

    def _forgive(self, until: float) -> None:
        """Drop every start owed before `until`, counting them (the schedule goes on from there)."""
        while self.next_time < until:
            switch = self._switch
            end = min(until, switch[0]) if switch is not None else until
            if self.next_time < end:
                owed = (end - self.next_time) * self.rate
                if self._arrival == "uniform":
                    skipped = math.ceil(owed - 1e-9)
                    self.next_time += skipped / self.rate
                else:  # memoryless: the expected count, and a fresh start from `end`
                    skipped = round(owed)
                    self.next_time = end + self._rng.expovariate(self.rate)
                self.missed += skipped
            if switch is not None and self.next_time >= switch[0]:  # the old rate's part is done: the new one's
                when, new = switch
                self._switch = None
                self.rate = new
                self.next_time = when + self._first_gap(new) if new > 0 else NEVER
            elif switch is None:
                break

    def _first_gap(self, rate: float) -> float:
        if self._arrival == "poisson":
            return self._rng.expovariate(rate)  # memoryless: any moment is a fresh start
        return self._rng.random() / rate  # a random phase: senders at one rate do not fire together

    # ------------------------------------------------------------------ the schedule

    def take(self) -> float:
        """The next intended start, consumed; the one after it is computed."""
        intended = self.next_time
        rate = self.rate
        try:  # free unless raised
            if self._arrival == "poisson":
                following = intended + self._rng.expovariate(rate)
            else:
                following = intended + 1.0 / rate
        except ZeroDivisionError:  # rate 0, asked to look now (look_now): no start after this one
            following = NEVER
        switch = self._switch
        if switch is not None and following >= switch[0]:  # the old rate's backlog is done
            when, new = switch
            self._switch = None
            self.rate = new
            following = when + self._first_gap(new) if new > 0 else NEVER
        self.next_time = following
        return intended
