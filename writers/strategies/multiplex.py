"""Many HTTP exchanges in flight, driven from one greenlet on the gevent loop.

An exchange is a generator (http11.py) that yields `(connection, READ or WRITE)` when its
socket would block. The multiplexer starts a gevent watcher for that socket and steps the
generator again when the socket is ready. The user's own greenlet does all the work in
`start` and `collect`; the hub only wakes it. Compared with a greenlet per request, this
saves the spawn, a gevent socket wrapper, a timer and two switches per request, and one
wake-up serves every answer that arrived together.

Timeouts are per step, as a socket timeout would be: an exchange fails with TimeoutError
when its socket has not become ready for `timeout` seconds. They are checked on a ticker
(a tenth of the timeout, at most a second) rather than with a timer per wait.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

import gevent
from gevent.hub import Waiter

from writers import wake
from writers.strategies.http11 import READ, Connection, Response, Wait

Steps = Generator[Wait, None, Response]


class Exchange:
    __slots__ = ("conn", "context", "deadline", "error", "finished", "gen", "response", "started", "waiting")

    def __init__(self, gen: Steps, context: Any) -> None:
        self.gen = gen
        self.context = context  # the caller's: what this exchange is for
        self.started = self.finished = time.perf_counter()
        self.deadline = 0.0
        self.waiting = 0
        self.conn: Connection | None = None
        self.response: Response | None = None
        self.error: BaseException | None = None


class Multiplexer:
    """Exchanges in flight for one greenlet: `start` them, `collect` the finished ones."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._loop = gevent.get_hub().loop
        self._in_flight: set[Exchange] = set()
        self._done: list[Exchange] = []
        self._ready: list[tuple[Connection, int]] = []
        self._waiting: Waiter | None = None  # set while the greenlet waits in collect()
        self._waiter = Waiter()
        self._wake_due = False
        self._tick = min(1.0, timeout / 10)
        self._ticker: Any = None
        self._next_check = float("inf")  # no deadline can have passed before this
        self._precise = wake.precise_timer()  # short waits (an intended start) on time: libev's wake up to 1 ms late

    def __len__(self) -> int:
        return len(self._in_flight)

    def start(self, gen: Steps, context: Any) -> Exchange:
        exchange = Exchange(gen, context)
        self._in_flight.add(exchange)
        self._step(exchange)
        return exchange

    def collect(self, timeout: float | None) -> list[Exchange]:
        """Finished exchanges; waits until there is one, or `timeout` seconds have passed."""
        give_up_at = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._ready:
                self._step_ready()
            if self._done or not self._in_flight:
                break
            now = time.monotonic()
            if now >= self._next_check:
                self._expire(now)
                if self._done:
                    break
            wait = self._next_check - now
            if give_up_at is not None:
                if now >= give_up_at:
                    break
                wait = min(wait, give_up_at - now)
            self._wait(wait)
        done, self._done = self._done, []
        return done

    def close(self) -> None:
        """Abandon what is in flight: each exchange closes its connection."""
        for exchange in self._in_flight:
            exchange.gen.close()
        self._in_flight.clear()
        self._ready.clear()
        if self._ticker is not None:
            self._ticker.close()
            self._ticker = None

    # -- stepping ------------------------------------------------------------------------

    def _step(self, exchange: Exchange) -> None:
        try:
            conn, mode = exchange.gen.send(None)
        except StopIteration as stop:
            exchange.response = stop.value
            self._finish(exchange)
        except Exception as exc:  # refused, reset, TLS, not HTTP: the exchange's error
            exchange.error = exc
            self._finish(exchange)
        else:
            exchange.deadline = deadline = time.monotonic() + self.timeout
            if deadline < self._next_check:
                self._next_check = deadline
            self._await(exchange, conn, mode)

    def _await(self, exchange: Exchange, conn: Connection, mode: int) -> None:
        previous = exchange.conn
        if previous is not conn:
            if previous is not None:
                self._unwatch(previous)
            exchange.conn = conn
            conn.owner = exchange
        exchange.waiting = mode
        if mode == READ:
            if conn.writer is not None:
                conn.writer.stop()  # type: ignore[attr-defined]
            if conn.reader is None:
                conn.reader = self._loop.io(conn.fd, 1)
            conn.reader.start(self._on_ready, conn, READ)  # type: ignore[attr-defined]
        else:
            if conn.reader is not None:
                conn.reader.stop()  # type: ignore[attr-defined]  # an early answer must not spin the loop
            if conn.writer is None:
                conn.writer = self._loop.io(conn.fd, 2)
            conn.writer.start(self._on_ready, conn, mode)  # type: ignore[attr-defined]

    @staticmethod
    def _unwatch(conn: Connection) -> None:
        for watcher in (conn.reader, conn.writer):
            if watcher is not None:
                watcher.stop()  # type: ignore[attr-defined]

    def _finish(self, exchange: Exchange) -> None:
        exchange.finished = time.perf_counter()
        self._in_flight.discard(exchange)
        conn = exchange.conn
        if conn is not None:
            self._unwatch(conn)  # idle or closed: nobody waits on it until its next exchange
            exchange.conn = None
        self._done.append(exchange)

    def _step_ready(self) -> None:
        ready, self._ready = self._ready, []
        for conn, mode in ready:
            exchange = conn.owner
            # Only the exchange still waiting on this socket, for this: events may be stale.
            if isinstance(exchange, Exchange) and exchange.conn is conn and exchange.waiting == mode:
                self._step(exchange)

    def _expire(self, now: float) -> None:
        next_check = float("inf")
        for exchange in list(self._in_flight):
            if exchange.deadline <= now:
                exchange.gen.close()  # closes its connection
                exchange.error = TimeoutError(f"timed out: no answer within {self.timeout:g} s")
                self._finish(exchange)
            elif exchange.deadline < next_check:
                next_check = exchange.deadline
        self._next_check = next_check

    # -- waiting -------------------------------------------------------------------------

    def _on_ready(self, conn: Connection, mode: int) -> None:
        """In the hub: note the socket; wake the greenlet once the loop has run every
        callback of this turn, so that it reads all the answers that came together and
        sends the next calls in one burst (one wake-up of the server, not one per call)."""
        self._ready.append((conn, mode))
        if not self._wake_due and self._waiting is not None:
            self._wake_due = True
            self._loop.run_callback(self._wake_after_turn)

    def _wake_after_turn(self) -> None:
        self._wake_due = False
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiting
        if waiter is not None:
            self._waiting = None
            waiter.switch(None)

    def _wait(self, seconds: float) -> None:
        timer: Any = None
        if seconds < self._tick:  # an intended start, a retry's backoff, or a deadline about to pass
            precise = self._precise
            if precise is not None:
                timer = precise.call_at(time.perf_counter() + max(seconds, 0.0), self._wake)
            else:
                timer = self._loop.timer(max(seconds, 0.0))
                timer.start(self._wake)
        elif self._ticker is None:
            self._ticker = self._loop.timer(self._tick, self._tick)
            self._ticker.ref = False  # it must not keep a finished program's loop alive
            self._ticker.start(self._wake)
        self._waiting = self._waiter
        try:
            self._waiter.get()
        finally:
            self._waiting = None
            if timer is not None:
                timer.cancel() if isinstance(timer, wake.Entry) else timer.close()
