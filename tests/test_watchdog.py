"""--abort-after (aws_locust/watchdog.py) on constructed inputs, without Locust: counts
set by the test, a clock the test moves, and the verdict each situation must give."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

from aws_locust import outcome
from aws_locust.context import RowKey
from aws_locust.watchdog import Watchdog

ROW = RowKey("DynamoDB", "PutItem", "gevent")
KINDS = ("throttled", "client", "server", "network")


class Rows:
    """The tally's one field the watchdog reads: per row, the counts of its calls."""

    def __init__(self) -> None:
        self.rows: dict[RowKey, Counter[str]] = {ROW: Counter(calls=0, **{f"failed_{k}": 0 for k in KINDS})}

    def add(self, ok: int = 0, **failed: int) -> None:
        row = self.rows[ROW]
        row["calls"] += ok + sum(failed.values())
        for kind, n in failed.items():
            row[f"failed_{kind}"] += n


def watchdog(abort_after: float) -> tuple[Watchdog, Rows, list[str]]:
    rows, ended = Rows(), list[str]()
    environment = SimpleNamespace(runner=None)
    dog = Watchdog(environment, rows, ended.append, outcome.Verdicts())  # type: ignore[arg-type]
    dog.abort_after = abort_after  # as start() sets it, without its greenlet
    return dog, rows, ended


def test_failures_for_less_than_abort_after_do_not_end_the_run() -> None:
    dog, rows, ended = watchdog(10)
    rows.add(ok=5)
    assert not dog.check(100.0)  # the last success, at 100 s
    rows.add(server=50)
    assert not dog.check(109.9)
    rows.add(ok=1)  # one success: the clock starts again
    assert not dog.check(115.0)
    rows.add(server=50)
    assert not dog.check(124.9)
    assert ended == [] and dog.verdicts.exit_code() is None


def test_every_call_failing_for_abort_after_ends_the_run_with_exit_5() -> None:
    dog, rows, ended = watchdog(10)
    rows.add(ok=5)
    dog.check(100.0)
    rows.add(server=3, network=2)
    assert dog.check(110.0)
    assert ended == ["--abort-after"]
    assert dog.verdicts.exit_code() == outcome.ABORTED
    assert "every call failed for 10 s (network 2, server 3; no error recorded): stopping" in dog.verdicts.lines()[5]


def test_client_errors_alone_end_the_run_with_exit_2() -> None:
    dog, rows, ended = watchdog(2.5)
    dog.check(0.0)
    rows.add(client=7)
    assert dog.check(2.5)
    assert ended == ["--abort-after"]
    assert dog.verdicts.exit_code() == outcome.PERMANENT
    assert "client error for 2.5 s" in dog.verdicts.lines()[2] and "retrying cannot help" in dog.verdicts.lines()[2]


def test_no_calls_at_all_is_not_a_failure() -> None:
    dog, _, ended = watchdog(1)
    dog.check(0.0)
    assert not dog.check(1000.0)  # nothing failed: an idle run (rate 0, no users) goes on
    assert ended == []


def test_off_starts_nothing() -> None:
    dog, _, _ = watchdog(0)
    dog.start(0)
    assert dog._greenlet is None
