"""Who writes what: the run's rate and --max-records, divided among the workers.

The master (or the single local process) gives each worker a part: a records limit
(--max-records split evenly) and a rate. The rate follows the users: a worker's share is
the target times its users over every live worker's users (a worker with no users gets
none: it has no schedule to spend it on). Parts change while the run goes on:
- the target rate changes (--rate-steps, a RateShape, the knee finder, the web UI):
  every worker gets its new part of it;
- users move (a joiner gets users, a worker quits and its users go elsewhere): the
  shares follow the users each worker reports (checked every `TICK_SECONDS`);
- several services with a rate each (`--rate dynamodb=200,sqs=100`): each service's
  rate is divided the same way, in proportion to each worker's users of that service;
- a worker joins: the rate is divided again (records already split stay where they are:
  taking some back could only overshoot the limit). Its users may start before its first
  part reaches it: they ask for it (ASK) and wait, so they start paced when the test is;
- a worker is lost (missing heartbeats, or it quit): its last reported counts are kept,
  its unwritten records go to the workers still there, and the rate is divided again. A
  worker that comes back is told to forgive the starts it missed (`resync`): its share
  was carried by the others meanwhile. When every worker is missing at once, the run
  waits `LAST_WORKER_GRACE_SECONDS` for one to come back; with none back by then (or
  none left to write a lost worker's records), it ends short of its target (exit 6).

A part is all a worker learns of the rate: its records limit, its rate (and with several
services with a rate each, each one's part of it), and whether the test is paced and with
which arrivals (one message, SHARE). Workers tell the master when
their part is acknowledged; the master ends the run when every worker still there has
done so. Workers also report the starts they forgave
(aws_locust.pace): the summary's `rate.missed`. Each test run has its own number, so
that a late message of the previous test changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gevent
from gevent.event import Event

from aws_locust import outcome
from aws_locust.budget import RecordBudget, split
from aws_locust.locust_fixes import LAST_WORKER_GRACE_SECONDS
from aws_locust.mix import ALL, users_by_service
from aws_locust.outcome import Verdicts
from aws_locust.pace import ProcessPace

if TYPE_CHECKING:
    from locust.env import Environment

logger = logging.getLogger("aws_locust")

# master -> worker: {"run", "limit", "rate", "resync", "paced", "arrival"}, and "by_service" ({service as
# Locust shows it: records/s}) with several services with a rate each (without it: one rate for every user)
SHARE = "aws_share"
DONE = "aws_quota_done"  # worker -> master: {"run", "acked"}
ASK = "aws_share_please"  # worker -> master: its users start and it has no part yet
PART_WAIT_SECONDS = 10.0  # a user waits this long for its process's part before it starts without one
MISSED = "aws_missed_starts"  # in a worker's stats report: {"run", "missed"} forgiven since its last report
LOCAL = "local"
TICK_SECONDS = 1.0
LIVE_STATES = ("ready", "spawning", "running")  # Locust's STATE_INIT, _SPAWNING, _RUNNING: not missing


class ProcessShare:
    """This process's part of the run: its records budget, its rate, and how the rate is
    kept (`paced`: calls start on a schedule; `arrival`: uniform or poisson). All of it
    comes from the master (or the local process's distributor) in one place: `assign`."""

    def __init__(self, pace: ProcessPace) -> None:
        self.pace = pace
        self.run = -1
        self.budget = RecordBudget(None)
        self.rate = 0.0
        self.by_service: dict[str, float] = {}  # several services with a rate each: each one's part of `rate`
        self.paced = False
        self.arrival = "uniform"
        self.services: tuple[str, ...] = ()  # the run's services: a worker prepares only theirs
        self.done_reported = False
        self.missed_reported = 0  # of pace.missed(): what the master was told already
        self.on_done: Callable[[int, int], None] | None = None  # (run, acked): tells the master (set by attach)
        self.ask: Callable[[], None] | None = None  # a worker: asks the master for its part (set by attach)
        self.assigned = Event()  # a part has arrived
        self._asked = False

    def assign(self, part: dict[str, Any]) -> None:
        """A part from the master: {"run", "limit", "rate", "by_service", "resync", "paced", "arrival"}."""
        run, limit, rate = int(part["run"]), part["limit"], float(part["rate"])
        if run != self.run:
            self.run, self.budget, self.done_reported = run, RecordBudget(limit), False
            self.pace.reset_missed()
            self.missed_reported = 0
        elif limit != self.budget.limit:
            self.budget.limit = limit
            self.done_reported = self.budget.done and self.done_reported  # a raised limit: not done any more
        self.rate = rate
        self.by_service = {service: float(value) for service, value in (part.get("by_service") or {}).items()}
        self.paced, self.arrival = bool(part.get("paced")), str(part.get("arrival") or "uniform")
        self.services = tuple(part.get("services") or ())  # the run's services (as Locust shows them)
        self.pace.set_share(rate, bool(part.get("resync")), self.by_service)
        self.assigned.set()

    def wait_for_part(self, seconds: float = PART_WAIT_SECONDS) -> bool:
        """Users start: whether they pace their calls, and how many records they may write,
        come with the process's part. A worker has it before its first users, except one
        that joins a running test: it asks, and its users wait for it. False: none came."""
        if self.assigned.is_set():
            return True
        if self.ask is not None and not self._asked:
            self._asked = True
            self.ask()
        if self.assigned.wait(seconds):
            return True
        logger.warning("no part of the run came from the master in %g s: users start unpaced, without a limit", seconds)
        return False

    def report_done(self) -> None:
        """Called by users once this process's part of the records is acknowledged."""
        if self.done_reported:
            return
        self.done_reported = True
        if self.on_done is not None:
            self.on_done(self.run, self.budget.acked)

    def report_missed(self, client_id: str, data: dict[str, Any]) -> None:
        """A worker's stats report: the starts forgiven since the last one."""
        missed = self.pace.missed()
        if missed != self.missed_reported:
            data[MISSED] = {"run": self.run, "missed": missed - self.missed_reported}
            self.missed_reported = missed


@dataclass
class WorkerPart:
    limit: int | None
    done: bool = False
    done_acked: int = 0  # what it had acknowledged when it said it was done
    lost: bool = False
    orphaned: int = 0  # records it left unwritten when lost with no worker to take them (yet)
    resync: bool = False  # it came back: it forgives the starts it missed (its share moved meanwhile)


class Distributor:
    """Master or local process: the parts of every worker, kept in step with who is there."""

    def __init__(self, environment: Environment, process: ProcessShare, verdicts: Verdicts, master: Any = None) -> None:
        self.environment = environment
        self.process = process  # this process's own part (a local run's only one)
        self.verdicts = verdicts  # the run's (the lifecycle holds them): a run that cannot go on says so
        self._master: Any = master  # the MasterRunner (None: a local run)
        self.run = 0
        self.max_records: int | None = None
        self.rate = 0.0  # the run's target, every service together
        self.paced = False  # this test runs in rate mode: calls start on a schedule
        self.arrival = "uniform"
        # Several services with a rate each: each one's part of `rate` ({}: one rate for every user),
        # and the service of each user class (Locust counts a worker's users per class).
        self.weights: dict[str, float] = {}
        self.services: dict[str, str] = {}
        self.parts: dict[str, WorkerPart] = {}
        self.ended = True  # no test runs (none yet, or it ended): nothing changes any more
        self.missed_by_workers = 0  # starts the workers forgave (this run)
        # what each worker reported acknowledged this run (its own count: Reset Stats clears the tally's)
        self.acked_by_worker: Counter[str] = Counter()
        self.records_from: str | None = None  # a pipeline: only its last step's service acknowledges records
        self._sent: dict[str, tuple[int | None, dict[str, float]]] = {}  # worker -> (limit, rates) sent last
        self._all_lost_since: float | None = None
        self._ticker: gevent.Greenlet | None = None

    # ------------------------------------------------------------------ roles

    def _nodes(self) -> dict[str, Any]:
        """The master's workers by id (Locust's WorkerNodes copies its keys at every iteration:
        its dict, read once per check, with 100 workers every second)."""
        clients = self._master.clients
        nodes = getattr(clients, "_worker_nodes", None)
        return nodes if isinstance(nodes, dict) else dict(clients.items())

    def alive(self) -> list[str]:
        if self._master is None:
            return [LOCAL]
        return sorted(worker for worker, node in self._nodes().items() if node.state in LIVE_STATES)

    def shares(self) -> dict[str, float]:
        """Each live worker's part of the rate: in proportion to its users (evenly while none
        has reported any, at the very start of a test)."""
        return {worker: sum(rates.values()) for worker, rates in self.shares_by_service().items()}

    def shares_by_service(self) -> dict[str, dict[str, float]]:
        """Each live worker's part of the rate, per service (ALL: one rate for every user): in
        proportion to its users of that service (evenly while none has reported any)."""
        live = [w for w, p in self.parts.items() if not p.lost]
        parts: dict[str, dict[str, float]] = {worker: {} for worker in live}
        if not live:
            return parts
        nodes = self._nodes() if self._master is not None else {}
        for service, weight in (self.weights or {ALL: 1.0}).items():
            rate = self.rate * weight
            if self._master is None:
                users = dict.fromkeys(live, 1)
            elif service == ALL:
                users = {worker: nodes[worker].user_count if worker in nodes else 0 for worker in live}
            else:
                users = {
                    worker: users_by_service(nodes[worker].user_classes_count, self.services)[service]
                    if worker in nodes else 0
                    for worker in live
                }  # fmt: skip
            total = sum(users.values())
            for worker, count in users.items():
                parts[worker][service] = rate * count / total if total else rate / len(live)
        return parts

    def _send_all(self, force: bool = False) -> None:
        """Tell every worker whose part changed (or every worker, `force`)."""
        rates = self.shares_by_service()
        for worker, part in self.parts.items():
            by_service = rates.get(worker, {})
            if not force and not part.resync and self._sent.get(worker) == (part.limit, by_service):
                continue
            self._sent[worker] = (part.limit, by_service)
            resync, part.resync = part.resync, False
            data: dict[str, Any] = {
                "run": self.run, "limit": part.limit, "rate": sum(by_service.values()), "resync": resync,
                "paced": self.paced, "arrival": self.arrival,
            }  # fmt: skip
            if self.services:  # the run's services: a worker prepares only theirs
                data["services"] = sorted(set(self.services.values()))
            if self.weights:  # several services with a rate each: each one's part of this worker's rate
                data["by_service"] = by_service
            if worker == LOCAL:
                self.process.assign(data)
            else:
                self._master.send_message(SHARE, data, client_id=worker)

    # ------------------------------------------------------------------ a test run

    def start(
        self,
        max_records: int | None,
        rate: float,
        paced: bool = False,
        arrival: str = "uniform",
        weights: dict[str, float] | None = None,
        services: dict[str, str] | None = None,
        nothing: bool = False,
    ) -> None:
        """A new test: split the records and the rate over the workers there now, and send
        each its part (once: the first target of the test goes out with it). `weights`: each
        service's part of the rate (none: one rate for every user); `services`: the service
        of each user class (aws_locust.mix.classes_by_service); `nothing`: a test that could
        not start, whose users must write nothing (not even on the last test's part)."""
        self.run += 1
        self.max_records, self.rate, self.ended = max_records, rate, False
        self.paced, self.arrival = paced, arrival
        self.weights, self.services = dict(weights or {}), dict(services or {})
        workers = self.alive()
        if nothing:
            limits: list[int | None] = [0] * len(workers)
        else:
            limits = list(split(max_records, len(workers))) if max_records else [None] * len(workers)
        self.parts = {worker: WorkerPart(limit) for worker, limit in zip(workers, limits, strict=True)}
        self.missed_by_workers, self._all_lost_since = 0, None
        self.acked_by_worker.clear()
        self._send_all(force=True)
        if self._ticker is None and self._master is not None:
            self._ticker = gevent.spawn(self._tick_forever)

    def set_rate(self, rate: float) -> None:
        """A new target: sent while a test runs (the next test's start sends the one set before it)."""
        self.rate = max(0.0, rate)
        if not self.ended:
            self._send_all()

    def on_part_asked(self, worker: str) -> None:
        """A worker whose users start with no part of this test (it joined, or a part sent
        before it could take it was lost): send its part again, now if it has one already."""
        self._sent.pop(worker, None)
        self.check_workers()

    def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.kill(block=False)
            self._ticker = None

    def acked(self, worker: str) -> int:
        part = self.parts.get(worker)
        reported = self.acked_by_worker[worker] if worker != LOCAL else self.process.budget.acked
        return max(reported, part.done_acked if part is not None else 0)

    def acked_total(self) -> int:
        return sum(self.acked(worker) for worker in self.parts)

    # ------------------------------------------------------------------ changes

    def _tick_forever(self) -> None:
        while True:
            gevent.sleep(TICK_SECONDS)
            try:
                self.check_workers()
            except Exception:  # a bookkeeping error must not end the run's other greenlets
                logger.exception("checking the workers failed")

    def missed_total(self) -> int:
        """Starts forgiven in this run, by every process (aws_locust.pace)."""
        return self.process.pace.missed() if self._master is None else self.missed_by_workers

    def on_worker_report(self, client_id: str, data: dict[str, Any]) -> None:
        for service, *_, counts in data.get("aws_tally") or []:
            if self.records_from is None or service == self.records_from:
                self.acked_by_worker[client_id] += counts.get("acked", 0)
        missed = data.get(MISSED)
        if missed and int(missed.get("run", -1)) == self.run:
            self.missed_by_workers += int(missed.get("missed", 0))

    def on_test_stop(self) -> None:
        """Locust stops a test itself when no worker came back within the grace period: that
        is a loss to record, and the run to end. Any other stop ends this test's bookkeeping."""
        if self._master is not None and not self.ended and not self.alive():
            self.check_workers()
            self.verdicts.record(outcome.SHORT, "every worker was lost: the run cannot go on")
            self.end_run("no worker is left")  # Locust only stopped the test: a headless run ends now, not at -t
            return
        self.ended = True

    def on_users_spawned(self, **_: Any) -> None:
        """Every worker has reported its users: the rate follows them now, not at the next tick
        (until a worker reports, each service's rate is split evenly, and a worker with no user
        of a service leaves its part of that service's rate unused: ~0.6 s of it per test)."""
        if not self.ended:
            self._send_all()

    def check_workers(self) -> None:
        runner = self._master
        if runner is None or self.ended:
            return
        alive = set(self.alive())
        for worker, part in self.parts.items():
            if not part.lost and worker not in alive:
                self._lost(worker, part)
            elif part.lost and worker in alive:
                part.lost, part.resync = False, True
                if part.orphaned:  # nobody took its unwritten records: it writes them itself
                    part.limit, part.orphaned = (part.limit or 0) + part.orphaned, 0
                    part.done = False
                    logger.warning("worker %s is back; it writes its part (%s records)", worker, part.limit)
                elif part.limit is not None:  # its part was frozen at what it had reported
                    logger.warning("worker %s is back; it keeps the %s records it had acknowledged", worker, part.limit)
                else:
                    logger.warning("worker %s is back; it gets its share of the rate again", worker)
        for worker in sorted(alive - set(self.parts)):
            self.parts[worker] = WorkerPart(0 if self.max_records else None)
            if self.max_records:
                logger.info("worker %s joined after --max-records was split: it writes no records", worker)
        self._adopt_orphans(alive)
        self._send_all()
        if [p for p in self.parts.values() if not p.lost]:
            self._all_lost_since = None
        elif self._all_lost_since is None:
            self._all_lost_since = time.monotonic()
        elif time.monotonic() - self._all_lost_since >= LAST_WORKER_GRACE_SECONDS:
            unwritten = sum(p.orphaned for p in self.parts.values())
            left = f", {unwritten} of their records unwritten" if unwritten else ""
            self.verdicts.record(outcome.SHORT, f"every worker was lost{left}: the run cannot go on")
            self.end_run("every worker was lost")

    def _lost(self, worker: str, part: WorkerPart) -> None:
        part.lost = True
        acked = self.acked(worker)
        if part.limit is None:
            logger.warning("worker %s was lost (%d records acknowledged); the rate goes to the others", worker, acked)
            return
        unwritten = 0 if part.done else max(0, part.limit - acked)
        part.limit = acked if not part.done else part.limit
        part.orphaned = unwritten
        logger.warning(
            "worker %s was lost after %d acknowledged records (acknowledged since its last report are not counted); "
            "%d of its records are unwritten",
            worker, acked, unwritten,
        )  # fmt: skip

    def _adopt_orphans(self, alive: set[str]) -> None:
        """The unwritten records of lost workers go to the workers still there (with none
        there, they wait for one to come back within the grace period)."""
        heirs = [w for w, p in self.parts.items() if not p.lost and w in alive]
        if not heirs:
            return
        for worker, part in self.parts.items():
            if not part.orphaned or not part.lost:
                continue
            unwritten, part.orphaned = part.orphaned, 0
            for heir, extra in zip(heirs, split(unwritten, len(heirs)), strict=True):
                heir_part = self.parts[heir]
                heir_part.limit = (heir_part.limit or 0) + extra
                if extra:
                    heir_part.done = False
            logger.warning(
                "the %d unwritten records of worker %s go to %d other worker(s)", unwritten, worker, len(heirs)
            )

    def on_done(self, worker: str, run: int, acked: int) -> None:
        """A worker acknowledged its part; the run ends when every worker still there has."""
        part = self.parts.get(worker)
        if run != self.run or part is None:
            return
        part.done, part.done_acked = True, max(part.done_acked, acked)
        live = [p for p in self.parts.values() if not p.lost and p.limit]
        waiting = any(p.orphaned for p in self.parts.values())  # records of lost workers nobody took yet
        if self.max_records and all(p.done for p in live) and not waiting and not self.ended:
            self.end_run("--max-records reached")

    def end_run(self, reason: str) -> None:
        """Quit in headless mode; in the web UI, stop the test and keep the UI up."""
        if self.ended:
            return
        self.ended = True
        runner = self.environment.runner
        assert runner is not None
        headless = bool(getattr(self.environment.parsed_options, "headless", False))
        logger.info("%s: %s", reason, "quitting" if headless else "stopping the test")
        gevent.spawn(runner.quit if headless else runner.stop)


def attach(environment: Environment, process: ProcessShare, verdicts: Verdicts) -> Distributor | None:
    """Every process: the worker side (parts arrive); master or local: the distributor."""
    from locust.runners import MasterRunner, WorkerRunner

    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        worker = runner
        runner.register_message(SHARE, lambda msg, **_: process.assign(msg.data))
        environment.events.report_to_master.add_listener(process.report_missed)
        process.on_done = lambda run, acked: worker.send_message(DONE, {"run": run, "acked": acked})
        process.ask = lambda: worker.send_message(ASK, {})
        return None
    distributor = Distributor(environment, process, verdicts, runner if isinstance(runner, MasterRunner) else None)
    process.on_done = lambda run, acked: distributor.on_done(LOCAL, run, acked)
    if isinstance(runner, MasterRunner):
        runner.register_message(
            DONE, lambda msg, **_: distributor.on_done(msg.node_id, msg.data["run"], msg.data["acked"])
        )
        environment.events.worker_report.add_listener(distributor.on_worker_report)
        environment.events.spawning_complete.add_listener(distributor.on_users_spawned)
        runner.register_message(ASK, lambda msg, **_: distributor.on_part_asked(msg.node_id))
    return distributor
