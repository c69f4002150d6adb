"""How a run ended, as an exit code that never says success when the target was missed.

Parts of the glue record verdicts as they find them (one line each, logged as an error)
in the run's `Verdicts`: the process's Lifecycle holds one and hands it to each part that
records (the end of the run, --verify, the watchdog, the distributor, the report and its
upload). At the end the master (or the single local process) exits with the worst one.
Without any verdict, Locust decides: 0, or `--exit-code-on-error` (1) if requests failed.

| code | verdict |
|---|---|
| 2 | bad input, a setup error, or an error every call hit that retrying cannot help |
| 3 | records acknowledged, then not found or not as written (--verify) |
| 4 | a --check-* threshold failed |
| 5 | aborted: every call failed for --abort-after seconds |
| 6 | short of the target: --max-records not reached (run time, SIGTERM, a lost worker) |
| 7 | --verify failed: the read-back itself failed, so nothing is known |
| 8 | not verifiable: some acknowledged records cannot be checked |
| 9 | the summary or a report was not kept: not written (an older file is left whole), or not uploaded |

When several apply, the first in `WORST_FIRST` wins: lost data is the worst news, then
a run that could not work at all, then one that stopped early, then what is unknown; a
report that was not kept comes last (the run's own result was printed all the same).
"""

from __future__ import annotations

import logging

logger = logging.getLogger("aws_locust")

PERMANENT = 2
LOST = 3
CHECK_FAILED = 4
ABORTED = 5
SHORT = 6
VERIFY_FAILED = 7
NOT_VERIFIABLE = 8
NOT_KEPT = 9
WORST_FIRST = (LOST, PERMANENT, ABORTED, SHORT, VERIFY_FAILED, NOT_VERIFIABLE, CHECK_FAILED, NOT_KEPT)


class Verdicts:
    """The verdicts of one run, each code with the first line that gave it. One per process
    (its Lifecycle holds it); recorded rarely, never per call."""

    def __init__(self) -> None:
        self._lines: dict[int, str] = {}  # code -> the first line that gave it

    def record(self, code: int, line: str) -> None:
        """A verdict of this run, logged as an error line."""
        self._lines.setdefault(code, line)
        logger.error("%s", line)

    def has(self, code: int) -> bool:
        return code in self._lines

    def exit_code(self) -> int | None:
        """The worst verdict's code, or None when nothing went wrong (Locust decides then)."""
        return next((code for code in WORST_FIRST if code in self._lines), None)

    def lines(self) -> dict[int, str]:
        """Code -> the first line that gave it (a copy)."""
        return dict(self._lines)

    def clear(self) -> None:
        """A new test run in the web UI starts with a clean slate."""
        self._lines.clear()
