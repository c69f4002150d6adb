"""The drain at a test's end, per service, on constructed users (aws_locust.drain): when each
service's last user finished, so that a service's rate is over its own time."""

from __future__ import annotations

from typing import Any

import gevent
import pytest

from aws_locust.drain import Drain, latest_ends
from aws_locust.pace import ProcessPace


def leave_after(drain: Drain, services: tuple[str, ...], seconds: float) -> None:
    gevent.sleep(seconds)
    drain.leave(services)


def test_each_service_ends_when_its_last_user_leaves() -> None:
    drain = Drain(ProcessPace())
    drain.enter(("SQS",))
    drain.enter(("DynamoDB",))
    drain.enter(("DynamoDB",))
    drain.enter(("S3",))
    drain.leave(("S3",))  # entered this test, idle when the drain begins: ends at once
    gevent.spawn(leave_after, drain, ("SQS",), 0.0)
    gevent.spawn(leave_after, drain, ("DynamoDB",), 0.1)
    gevent.spawn(leave_after, drain, ("DynamoDB",), 0.3)  # the service's last user
    assert drain.wait(5.0) == 0
    assert drain.finished["S3"] == 0.0
    assert drain.finished["SQS"] < 0.1
    assert 0.3 <= drain.finished["DynamoDB"] < 0.6, drain.finished
    # a user's task runs again after its driver returned, writing nothing: the end stays
    drain.enter(("SQS",))
    drain.leave(("SQS",))
    assert drain.finished["SQS"] < 0.1


def test_a_service_still_writing_when_the_wait_gives_up_ends_then() -> None:
    drain = Drain(ProcessPace())
    drain.enter(("Kinesis",))
    assert drain.wait(0.2) == 1
    assert 0.2 <= drain.finished["Kinesis"] < 0.5


def test_a_new_test_forgets_the_last_ones_services() -> None:
    drain = Drain(ProcessPace())
    drain.enter(("S3",))
    drain.leave(("S3",))
    drain.reset()
    drain.enter(("SQS",))
    drain.leave(("SQS",))
    drain.wait(1.0)
    assert drain.finished == {"SQS": 0.0}


@pytest.mark.parametrize(
    ("replies", "workers", "ends"),
    [
        ([{"finished": {"SQS": 0.1, "S3": 2.0}}, {"finished": {"SQS": 0.4}}], 2, {"SQS": 0.4, "S3": 2.0}),
        ([{"finished": {"SQS": 0.1}}], 2, {}),  # a worker did not answer: no end is known
        ([{"unanswered": 0}], 1, {}),  # an older worker's reply, without ends
    ],
)
def test_the_master_takes_each_services_last_end_over_its_workers(
    replies: list[dict[str, Any]], workers: int, ends: dict[str, float]
) -> None:
    assert latest_ends(replies, workers) == ends
