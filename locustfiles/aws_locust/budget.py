"""--max-records: hand out records so that exactly that many get acknowledged.

Users claim records before writing them, a few at a time, for as long as their run
goes on; acknowledgements are counted as they come; records a user claimed and did not
get acknowledged (given up) return to the pool when its run ends. A user may hold no more
than an even share of what is still unacknowledged among the users of its process, so
the last records are spread over the users (and so over the strategies of a mixed run)
instead of going to whoever claims first.

Greenlets of one process share it; no lock is needed since claims never yield. The
master may raise a worker's limit during the run (a lost worker's share).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Holder:
    """One user's records: claimed during its current run, and acknowledged of those."""

    claimed: int = 0
    acked: int = 0


class RecordBudget:
    def __init__(self, limit: int | None) -> None:
        self.limit = limit  # None: no limit
        self.claimed = 0
        self.acked = 0

    def claim(self, holder: Holder, wanted: int, sharers: int = 1, unit: int = 1) -> int:
        """Up to `wanted` records, in whole `unit`s (batches) where the limit allows."""
        if self.limit is None:
            holder.claimed += wanted
            return wanted
        left = self.limit - self.claimed
        share = -(-(self.limit - self.acked) // max(1, sharers))  # rounded up: someone gets the last one
        share = -(-share // unit) * unit
        granted = max(0, min(wanted, left, share - (holder.claimed - holder.acked)))
        self.claimed += granted
        holder.claimed += granted
        return granted

    def ack(self, holder: Holder, acked: int) -> None:
        self.acked += acked
        holder.acked += acked

    def settle(self, holder: Holder) -> None:
        """A user's run ended: what it claimed and did not get acknowledged goes back."""
        if self.limit is not None:
            self.claimed -= holder.claimed - holder.acked
        holder.claimed = holder.acked = 0

    @property
    def done(self) -> bool:
        return self.limit is not None and self.acked >= self.limit


def split(limit: int, parts: int) -> list[int]:
    """`limit` records over `parts` workers, as evenly as whole records allow (the first get one more)."""
    parts = max(1, parts)
    return [limit // parts + (1 if index < limit % parts else 0) for index in range(parts)]
