"""Who writes what (aws_locust/shares.py), on constructed inputs without Locust: the
master's Distributor in front of workers whose state and users the test sets, recording
what it sends them. The right parts follow from the inputs; the same bookkeeping under
real workers that pause, die and join is in tests/test_workers_at_scale.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import gevent

from aws_locust import outcome
from aws_locust.pace import ProcessPace
from aws_locust.shares import SHARE, Distributor, ProcessShare


@dataclass
class Node:
    state: str = "running"
    user_count: int = 0


@dataclass
class Master:
    """What the Distributor reads from Locust's MasterRunner: its workers, and a way to send."""

    clients: dict[str, Node]
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    quits: int = 0

    def send_message(self, kind: str, data: dict[str, Any], client_id: str) -> None:
        assert kind == SHARE
        self.sent.append((client_id, data))

    def quit(self) -> None:
        self.quits += 1

    def last(self) -> dict[str, dict[str, Any]]:
        """The last part each worker was sent."""
        return {worker: data for worker, data in self.sent}


def distributor(**nodes: Node) -> tuple[Distributor, Master]:
    master = Master(dict(nodes))
    environment = SimpleNamespace(runner=master, parsed_options=SimpleNamespace(headless=True))
    distributor = Distributor(environment, ProcessShare(ProcessPace()), outcome.Verdicts(), master=master)  # type: ignore[arg-type]
    return distributor, master


def test_max_records_and_the_rate_are_split_over_the_workers_there() -> None:
    shares, master = distributor(a=Node(), b=Node(), c=Node())
    shares.start(max_records=10, rate=90.0)
    sent = master.last()
    assert {w: d["limit"] for w, d in sent.items()} == {"a": 4, "b": 3, "c": 3}  # every record once
    assert {w: d["rate"] for w, d in sent.items()} == {"a": 30.0, "b": 30.0, "c": 30.0}  # no users yet: evenly
    assert {d["run"] for d in sent.values()} == {1}
    shares.stop()


def test_the_rate_follows_the_users_and_only_changes_are_sent() -> None:
    shares, master = distributor(a=Node(user_count=1), b=Node(user_count=3), idle=Node(user_count=0))
    shares.start(max_records=None, rate=100.0)
    assert {w: d["rate"] for w, d in master.last().items()} == {"a": 25.0, "b": 75.0, "idle": 0.0}
    assert all(d["limit"] is None for d in master.last().values())
    before = len(master.sent)
    shares.check_workers()  # nothing changed: nothing sent
    assert len(master.sent) == before
    shares.set_rate(200.0)
    assert master.sent[before:] == [
        ("a", {"run": 1, "limit": None, "rate": 50.0, "resync": False, "paced": False, "arrival": "uniform"}),
        ("b", {"run": 1, "limit": None, "rate": 150.0, "resync": False, "paced": False, "arrival": "uniform"}),
    ]  # idle had 0 and still has 0: not sent again
    shares.stop()


def test_a_lost_worker_keeps_what_it_acknowledged_and_its_unwritten_records_go_to_the_others() -> None:
    shares, master = distributor(a=Node(user_count=1), b=Node(user_count=1), c=Node(user_count=1))
    shares.start(max_records=300, rate=30.0)
    shares.on_worker_report("c", {"aws_tally": [["DynamoDB", "PutItem", "gevent", {"acked": 40}]]})
    master.clients["c"].state = "missing"
    shares.check_workers()
    assert shares.parts["c"].lost and shares.parts["c"].limit == 40  # frozen at what it reported
    sent = master.last()
    assert (sent["a"]["limit"], sent["b"]["limit"]) == (130, 130)  # 100 each + 60 unwritten split
    assert (sent["a"]["rate"], sent["b"]["rate"]) == (15.0, 15.0)  # the rate divided again
    assert sent["a"]["limit"] + sent["b"]["limit"] + shares.parts["c"].limit == 300  # none twice, none dropped
    master.clients["c"].state = "running"  # it comes back: it forgives the starts it missed
    shares.check_workers()
    assert master.last()["c"] == {
        "run": 1, "limit": 40, "rate": 10.0, "resync": True, "paced": False, "arrival": "uniform",
    }  # fmt: skip
    shares.stop()


def test_a_worker_joining_after_the_split_writes_no_records_but_gets_its_rate() -> None:
    shares, master = distributor(a=Node(user_count=1))
    shares.start(max_records=50, rate=20.0)
    master.clients["late"] = Node(user_count=1)
    shares.check_workers()
    assert master.last()["late"]["limit"] == 0 and master.last()["late"]["rate"] == 10.0
    assert master.last()["a"]["limit"] == 50
    shares.stop()


def test_the_run_ends_when_every_worker_still_there_is_done_and_not_before() -> None:
    shares, master = distributor(a=Node(user_count=1), b=Node(user_count=1))
    shares.start(max_records=20, rate=0.0)
    shares.on_done("a", run=1, acked=10)
    shares.on_done("b", run=0, acked=10)  # a message of the previous test: ignored
    assert not shares.ended
    shares.on_done("b", run=1, acked=10)
    assert shares.ended and shares.acked_total() == 20
    gevent.sleep(0)  # the quit runs in its own greenlet
    assert master.quits == 1
    assert shares.verdicts.exit_code() is None  # the target was met: no verdict against the run
    shares.stop()


def test_records_left_by_a_lost_worker_with_nobody_to_take_them_are_written_when_it_returns() -> None:
    shares, master = distributor(a=Node(user_count=1))
    shares.start(max_records=10, rate=0.0)
    master.clients["a"].state = "missing"
    shares.check_workers()
    assert shares.parts["a"].orphaned == 10 and not shares.ended  # waiting for a worker (the grace period)
    master.clients["a"].state = "running"
    shares.check_workers()
    assert master.last()["a"]["limit"] == 10 and shares.parts["a"].orphaned == 0
    shares.on_done("a", run=1, acked=10)
    assert shares.ended
    shares.stop()
