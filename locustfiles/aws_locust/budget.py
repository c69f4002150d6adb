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

    def claim(self, wanted: int, sharers: int = 1, unit: int = 1) -> int:
        """Up to `wanted` records, and no more than an even share of what is left among
        `sharers` users, rounded up to whole `unit`s (batches): the last records are spread
        over the users (and so over the strategies of a mixed run) instead of going to
        whoever claims first, without cutting batches short."""
        if self.limit is None:
            return wanted
        left = self.limit - self.claimed
        share = -(-left // max(1, sharers))  # rounded up: someone always gets the last one
        share = -(-share // unit) * unit
        granted = max(0, min(wanted, share, left))
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
