"""What one load-generator process holds for the run, on its Locust environment.

Every process: its pace (the schedules of its paced users), its part of the run (records
budget, rate, how calls are paced), its meter for the knee finder's steps, and its drain
(the end of a test). The master (or the single local process) also holds the run's rate
control, the distributor of the parts and the knee finder.

The lifecycle makes them at Locust's init event (after `--processes` forks) and keeps them
on the environment; code that runs per user or per call binds what it needs once, when
the user starts, never per call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aws_locust.drain import Drain, Drainer
from aws_locust.knee import StepMeter
from aws_locust.pace import ProcessPace
from aws_locust.shares import ProcessShare

if TYPE_CHECKING:
    from aws_locust.control import RateControl
    from aws_locust.knee import KneeFinder
    from aws_locust.shares import Distributor

_ATTRIBUTE = "aws_process"  # the environment's attribute that holds them


@dataclass
class ProcessParts:
    pace: ProcessPace = field(default_factory=ProcessPace)
    meter: StepMeter = field(default_factory=StepMeter)
    share: ProcessShare = field(init=False)
    drain: Drain = field(init=False)
    drainer: Drainer | None = None  # this process's end of a test (each service's last user, after it)
    # master or local process only (None on a worker)
    distributor: Distributor | None = None
    control: RateControl | None = None
    knee: KneeFinder | None = None

    def __post_init__(self) -> None:
        self.share = ProcessShare(self.pace)
        self.drain = Drain(self.pace)


def hold(environment: Any, parts: ProcessParts) -> None:
    setattr(environment, _ATTRIBUTE, parts)


def parts_of(environment: Any) -> ProcessParts:
    """The process's parts held on `environment` (an environment made without our init
    event, in a test or a benchmark, gets parts of its own the first time it asks)."""
    parts = getattr(environment, _ATTRIBUTE, None)
    if parts is None:
        parts = ProcessParts()
        hold(environment, parts)
    return parts
