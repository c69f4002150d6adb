"""--max-records bookkeeping: exactly the limit gets acknowledged, and its last records
are spread over the users instead of going to the first user to claim."""

from __future__ import annotations

import pytest

# The glue's pure parts import without Locust (see test_report): no monkey-patching here.
from aws_locust.budget import Holder, RecordBudget, split

pytestmark = pytest.mark.timeout(30)


def test_no_limit_grants_what_is_asked() -> None:
    budget = RecordBudget(None)
    assert budget.claim(Holder(), 100, sharers=8) == 100 and not budget.done


def test_a_small_limit_is_spread_over_the_users() -> None:
    budget = RecordBudget(100)
    users = [Holder() for _ in range(4)]
    claims = [budget.claim(user, 100, sharers=4) for user in users]
    assert claims == [25, 25, 25, 25]  # an even share each, not all of them to the first
    assert budget.claim(users[0], 100, sharers=4) == 0  # nothing more until records are acknowledged


def test_a_user_holds_at_most_its_share_of_what_is_unacknowledged() -> None:
    """A user that claims again and again (its calls go out fast) cannot take the others' share."""
    budget, first = RecordBudget(300), Holder()
    granted = [budget.claim(first, 20, sharers=5) for _ in range(10)]
    assert sum(granted) == 60  # 300 / 5 users
    budget.ack(first, 60)
    assert budget.claim(first, 20, sharers=5) == 20  # its records were written: 240 left, 48 each


def test_shares_are_whole_batches() -> None:
    budget = RecordBudget(300)
    users = [Holder() for _ in range(3)]
    claims = [budget.claim(users[i % 3], 50, sharers=3, unit=25) for i in range(8)]
    assert all(claim % 25 == 0 for claim in claims) and sum(claims) == 300, claims


def test_a_large_limit_grants_whole_tasks() -> None:
    budget = RecordBudget(1_000_000)
    assert [budget.claim(Holder(), 100, sharers=10) for _ in range(10)] == [100] * 10


def test_exactly_the_limit_is_handed_out_and_given_up_records_return() -> None:
    budget = RecordBudget(10)
    users = [Holder() for _ in range(3)]
    granted = [budget.claim(user, 4, sharers=3) for user in users]
    assert sum(granted) == 10 and budget.claim(users[0], 4, sharers=3) == 0
    budget.ack(users[0], granted[0] - 1)  # one record given up...
    budget.settle(users[0])  # ...goes back in the pool when its run ends
    assert budget.claim(users[0], 4, sharers=3) == 1
    for user, claimed in zip(users[1:], granted[1:], strict=True):
        budget.ack(user, claimed)
    assert not budget.done
    budget.ack(users[0], 1)
    assert budget.done and budget.acked == 10


def test_the_limit_is_split_over_workers_to_the_record() -> None:
    assert split(10, 4) == [3, 3, 2, 2]
    assert split(2, 4) == [1, 1, 0, 0] and split(0, 3) == [0, 0, 0]


def test_a_raised_limit_lets_claims_go_on() -> None:
    """A lost worker's records go to the others: their limits grow while they run."""
    budget, user = RecordBudget(4), Holder()
    assert budget.claim(user, 10) == 4 and budget.claim(user, 10) == 0
    budget.ack(user, 4)
    assert budget.done
    budget.limit = 7
    assert not budget.done and budget.claim(user, 10) == 3
