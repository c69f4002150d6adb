"""The young-generation GC threshold: raised while anyone holds it, put back by the last."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from writers import young_gc


@pytest.fixture(autouse=True)
def default_threshold() -> Iterator[tuple[int, ...]]:
    before = gc.get_threshold()
    gc.set_threshold(700, *before[1:])
    yield gc.get_threshold()
    gc.set_threshold(*before)


def test_raised_while_held_and_put_back_by_the_last_holder(default_threshold: tuple[int, ...]) -> None:
    young_gc.hold()
    young_gc.hold()
    assert gc.get_threshold() == (young_gc.GEN0_THRESHOLD, *default_threshold[1:])
    young_gc.release()
    assert gc.get_threshold()[0] == young_gc.GEN0_THRESHOLD  # one holder left
    young_gc.release()
    assert gc.get_threshold() == default_threshold
    young_gc.release()  # one release too many changes nothing
    assert gc.get_threshold() == default_threshold


def test_a_threshold_changed_meanwhile_is_left_alone(default_threshold: tuple[int, ...]) -> None:
    young_gc.hold()
    gc.set_threshold(5_000, *default_threshold[1:])  # someone else's choice, made while held
    young_gc.release()
    assert gc.get_threshold()[0] == 5_000


def test_a_higher_threshold_is_not_lowered(default_threshold: tuple[int, ...]) -> None:
    gc.set_threshold(50_000, *default_threshold[1:])
    young_gc.hold()
    assert gc.get_threshold()[0] == 50_000
    young_gc.release()
    assert gc.get_threshold()[0] == 50_000
