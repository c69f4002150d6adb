"""--max-records: hand out records so that exactly that many get acknowledged."""

from __future__ import annotations


class RecordBudget:
    """Users claim records before writing them; given-up records return to the pool.

    Greenlets of one process share it; no lock is needed since claims never yield.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit  # None: no limit
        self.claimed = 0
        self.acked = 0

    def claim(self, wanted: int) -> int:
        if self.limit is None:
            return wanted
        granted = max(0, min(wanted, self.limit - self.claimed))
        self.claimed += granted
        return granted

    def settle(self, claimed: int, acked: int) -> None:
        self.acked += acked
        if self.limit is not None:
            self.claimed -= claimed - acked  # given up: someone may write others instead

    @property
    def done(self) -> bool:
        return self.limit is not None and self.acked >= self.limit


def share_of(limit: int, workers: int, index: int) -> int | None:
    """This worker's part of a --max-records limit (0: none) split over `workers`."""
    if not limit:
        return None
    workers = max(1, workers)
    return limit // workers + (1 if index % workers < limit % workers else 0)
