"""--max-records bookkeeping: exactly the limit gets acknowledged, and its last records
are spread over the users instead of going to the first user to claim."""

from __future__ import annotations

import sys

import pytest
from conftest import PROJECT_ROOT

# The glue's pure parts import without Locust (see test_report): no monkey-patching here.
sys.path.insert(0, str(PROJECT_ROOT / "locustfiles"))
from aws_locust.budget import RecordBudget, share_of

pytestmark = pytest.mark.timeout(30)


def test_no_limit_grants_what_is_asked() -> None:
    budget = RecordBudget(None)
    assert budget.claim(100, sharers=8) == 100 and not budget.done


def test_a_small_limit_is_spread_over_the_users() -> None:
    budget = RecordBudget(100)
    claims = [budget.claim(100, sharers=4) for _ in range(4)]
    assert all(claim > 0 for claim in claims), claims  # every user got records
    assert claims[0] == 25  # an even share of the 100 left, not all of them


def test_shares_are_whole_batches() -> None:
    budget = RecordBudget(300)
    claims = [budget.claim(50, sharers=3, unit=25) for _ in range(8)]
    assert all(claim % 25 == 0 for claim in claims) and sum(claims) == 300, claims


def test_a_large_limit_grants_whole_tasks() -> None:
    budget = RecordBudget(1_000_000)
    assert [budget.claim(100, sharers=10) for _ in range(10)] == [100] * 10


def test_exactly_the_limit_is_handed_out_and_given_up_records_return() -> None:
    budget = RecordBudget(10)
    granted = [budget.claim(4, sharers=3) for _ in range(6)]
    assert sum(granted) == 10 and budget.claim(4, sharers=3) == 0
    budget.settle(granted[0], acked=granted[0] - 1)  # one record given up: back in the pool
    assert budget.claim(4, sharers=3) == 1
    for claimed in granted[1:]:
        budget.settle(claimed, acked=claimed)
    assert not budget.done
    budget.settle(1, acked=1)
    assert budget.done and budget.acked == 10


def test_the_limit_is_split_over_workers_to_the_record() -> None:
    shares = [share_of(10, 4, index) for index in range(4)]
    assert shares == [3, 3, 2, 2] and sum(s or 0 for s in shares) == 10
    assert share_of(0, 4, 0) is None
