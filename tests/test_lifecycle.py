"""The lifecycle's parts on constructed inputs, no Locust process: the end of a run's
decisions and its run-once sequence (aws_locust.ending), SIGTERM (aws_locust.signals),
what each process holds (aws_locust.process), and the rate's one way to the workers
(aws_locust.control -> aws_locust.shares: one message per worker, with how the test is paced).

Locust's runners are stood in for by plain objects with the few methods the code calls
(no real runner can be made without sockets and a running test, and this module does not
import Locust: its monkey-patching must come before anything imports ssl). Their methods
that send record instead; what they record is what a worker would have been sent.
"""

from __future__ import annotations

import signal
from types import SimpleNamespace
from typing import Any

import gevent
import pytest
from helpers import PROJECT_ROOT

LOCUSTFILES = str(PROJECT_ROOT / "locustfiles")


from aws_locust import outcome  # noqa: E402
from aws_locust.context import RowKey  # noqa: E402
from aws_locust.control import RateControl  # noqa: E402
from aws_locust.ending import (  # noqa: E402
    RunEnd,
    RunTargets,
    rate_summary,
    run_figures,
    target_missed,
    verify_skip_reason,
)
from aws_locust.hotkeys import HotKeys  # noqa: E402
from aws_locust.keep import ReportKeeper  # noqa: E402
from aws_locust.latency import LatencyHistograms  # noqa: E402
from aws_locust.pace import ProcessPace  # noqa: E402
from aws_locust.process import ProcessParts, parts_of  # noqa: E402
from aws_locust.provisioning import Provisioning  # noqa: E402
from aws_locust.settings import RateSettings  # noqa: E402
from aws_locust.shares import SHARE, Distributor, ProcessShare  # noqa: E402
from aws_locust.signals import Sigterm, intercept_sigterm, quit_worker  # noqa: E402
from aws_locust.tally import AwsTally  # noqa: E402
from aws_locust.verify import Verifier  # noqa: E402

ROW = RowKey("DynamoDB", "PutItem", "gevent")
OTHER = RowKey("DynamoDB", "BatchWriteItem", "aiohttp")

# ---------------------------------------------------------------------- the end: decisions


def test_verify_reads_back_unless_the_run_ended_aborted_or_refused() -> None:
    assert verify_skip_reason({}) == ""
    assert verify_skip_reason({outcome.SHORT: "x", outcome.CHECK_FAILED: "y"}) == ""
    assert "--abort-after" in verify_skip_reason({outcome.ABORTED: "x"})
    assert "client error" in verify_skip_reason({outcome.PERMANENT: "x"})
    assert "--abort-after" in verify_skip_reason({outcome.PERMANENT: "x", outcome.ABORTED: "y"})  # aborted first


@pytest.mark.parametrize(
    ("max_records", "acked", "missed"),
    [(0, 0, False), (0, 17, False), (100, 99, True), (100, 100, False), (100, 150, False), (1, 0, True)],
)
def test_the_records_target_is_missed_only_short_of_it(max_records: int, acked: int, missed: bool) -> None:
    line = target_missed(max_records, acked)
    assert (line is not None) == missed
    if line is not None:
        assert line == f"error: --max-records {max_records} not reached: {acked} acknowledged"


def _tally(rows: dict[RowKey, dict[str, int]]) -> AwsTally:
    tally = AwsTally()
    for key, counts in rows.items():
        tally.rows[key].update(counts)
    return tally


def _latency(values: dict[tuple[str, RowKey], list[float]]) -> LatencyHistograms:
    histograms = LatencyHistograms()
    for key, values_ms in values.items():
        for ms in values_ms:
            histograms.record(key, ms, histograms.pending, histograms.over_range)
    return histograms


def test_the_figures_judge_the_intended_p99_of_a_paced_run_and_count_throttles_apart() -> None:
    tally = _tally(
        {
            ROW: {"calls": 10, "acked": 8, "failed_throttled": 2, "given_up_items": 1, "cost_pusd": 3_000_000},
            OTHER: {"calls": 5, "acked": 5, "failed_server": 1, "failed_network": 1},
        }
    )
    service = [1.0] * 99 + [2.0]  # p99: 1 ms
    latency = _latency({("service", ROW): service, ("intended", ROW): [50.0] * 100, ("service", OTHER): service})
    paced = run_figures(tally, latency, paced=True, duration=10.0, hourly_usd=0.5)
    assert (paced.calls, paced.failed, paced.throttled, paced.acked, paced.given_up) == (15, 2, 2, 13, 1)
    assert paced.cost_usd == pytest.approx(3_000_000 / 1e12 + 0.5)
    p99 = {row.row: (row.kind, row.p99_ms) for row in paced.p99}
    assert p99 == {ROW.name: ("intended", 50.0), OTHER.name: ("service", 1.0)}  # no intended time: service
    closed = run_figures(tally, latency, paced=False, duration=10.0, hourly_usd=0.0)
    assert {row.row: row.kind for row in closed.p99} == {ROW.name: "service", OTHER.name: "service"}


def test_the_rate_summary_hides_a_searched_target_and_divides_by_the_duration() -> None:
    changes = [{"t": 0.0, "rate": 100.0, "source": "--rate"}]
    fixed = rate_summary(RateSettings(rate=100.0, arrival="poisson"), 100.0, changes, 950, 10.0, 3, 2)
    assert fixed == {"target": 100.0, "targets": changes, "achieved": 95.0, "late": 3, "missed": 2,
                     "arrival": "poisson"}  # fmt: skip
    searched = rate_summary(RateSettings(find_max=True), 400.0, changes, 950, 0.0, 0, 0)
    assert searched["target"] is None and searched["achieved"] == 0.0


def _run_end(stopped: list[str]) -> RunEnd:
    hot = HotKeys()
    return RunEnd(RunTargets(), AwsTally(), LatencyHistograms(), hot, Verifier(), ReportKeeper(),
                  Provisioning(hot.resources), lambda: stopped.append("services"), outcome.Verdicts())  # fmt: skip


def test_the_end_runs_once_and_a_worker_ends_only_its_own_process() -> None:
    stopped: list[str] = []
    ending = _run_end(stopped)
    environment = SimpleNamespace(runner=SimpleNamespace(state="stopped"), parsed_options=SimpleNamespace())
    tests_stopped: list[object] = []
    ending.on_quitting(environment, tests_stopped.append, worker=True)  # type: ignore[arg-type]
    ending.on_quitting(environment, tests_stopped.append, worker=True)  # type: ignore[arg-type]
    assert tests_stopped == [environment]  # Locust fires quitting more than once: the end runs once
    assert ending.ended
    assert stopped == []  # a worker neither tears down, writes the summary, nor stops the emulators


def test_a_local_end_records_a_short_run_and_stops_the_services_last() -> None:
    stopped: list[str] = []
    ending = _run_end(stopped)
    ending.targets.max_records = 100
    ending.parts.distributor = SimpleNamespace(stop=lambda: stopped.append("distributor"), acked_total=lambda: 60)  # type: ignore[assignment]
    environment = SimpleNamespace(runner=None, parsed_options=SimpleNamespace(summary_json=""), process_exit_code=None)
    ending.on_quitting(environment, lambda env: stopped.append("test"), worker=False)  # type: ignore[arg-type]
    assert stopped == ["test", "distributor", "services"]
    verdicts = ending.verdicts
    assert verdicts.lines() == {outcome.SHORT: "error: --max-records 100 not reached: 60 acknowledged"}
    assert environment.process_exit_code == verdicts.exit_code() == outcome.SHORT
    assert ending.summary()["verdicts"] == {str(outcome.SHORT): verdicts.lines()[outcome.SHORT]}
    assert _run_end([]).verdicts.lines() == {}  # another lifecycle's verdicts are its own


def test_the_worst_verdict_decides_the_exit_code_and_each_code_keeps_its_first_line() -> None:
    verdicts = outcome.Verdicts()
    assert verdicts.exit_code() is None  # no verdict: Locust decides
    for code in reversed(outcome.WORST_FIRST):  # the mildest first
        verdicts.record(code, f"first {code}")
        assert verdicts.exit_code() == code  # each one worse than the last
    verdicts.record(outcome.LOST, "second")
    assert verdicts.lines()[outcome.LOST] == "first 3" and verdicts.has(outcome.NOT_KEPT)
    # lost data, a run that could not work, one that stopped early, what is unknown, the checks, a report
    assert outcome.WORST_FIRST == (3, 2, 5, 6, 7, 8, 4, 9)
    verdicts.clear()  # a new test in the web UI
    assert verdicts.exit_code() is None and verdicts.lines() == {}


# ---------------------------------------------------------------------- SIGTERM


def test_the_first_sigterm_quits_the_master_the_usual_way_and_a_second_is_locusts_own() -> None:
    ended = False
    sigterm = Sigterm(lambda: ended)
    calls: list[str] = []
    runner = SimpleNamespace(quit=lambda: calls.append("quit"))
    environment = SimpleNamespace(runner=runner, web_ui=None)
    sigterm.on_sigterm(environment, lambda: calls.append("locust"), worker=False)  # type: ignore[arg-type]
    gevent.sleep(0.01)
    assert calls == ["quit"]
    sigterm.on_sigterm(environment, lambda: calls.append("locust"), worker=False)  # type: ignore[arg-type]
    assert calls == ["quit", "locust"]
    after_end = Sigterm(lambda: True)  # the end ran already: nothing of ours is left to stop
    after_end.on_sigterm(environment, lambda: calls.append("locust again"), worker=False)  # type: ignore[arg-type]
    gevent.sleep(0.01)
    assert calls == ["quit", "locust", "locust again"]


def test_a_worker_sends_its_last_counts_and_says_it_quits_before_it_leaves() -> None:
    calls: list[Any] = []
    runner = SimpleNamespace(
        stop=lambda: calls.append("stop"),
        _send_stats=lambda: calls.append("stats"),
        send_message=lambda kind: calls.append(("message", kind)),
        greenlet=SimpleNamespace(kill=lambda block: calls.append(("kill", block))),
    )
    quit_worker(runner)  # type: ignore[arg-type]
    assert calls == ["stop", "stats", ("message", "quit"), ("kill", True)]
    calls.clear()
    sigterm = Sigterm(lambda: False)
    environment = SimpleNamespace(runner=runner, web_ui=None)
    sigterm.on_sigterm(environment, lambda: calls.append("locust"), worker=True)  # type: ignore[arg-type]
    gevent.sleep(0.01)
    assert calls == ["stop", "stats", ("message", "quit"), ("kill", True)]  # in a greenlet: not Locust's own


def test_sigterm_is_intercepted_once_and_other_signals_pass_through() -> None:
    registered: list[tuple[int, Any]] = []

    def locust_registers(signum: int, callback: Any, *args: Any) -> str:
        registered.append((signum, callback))
        return "handle"

    hub = SimpleNamespace(signal_handler=locust_registers)
    got: list[Any] = []
    assert intercept_sigterm(got.append, hub) is True
    assert intercept_sigterm(got.append, hub) is False  # installed once

    def locust_shutdown() -> None:
        pass

    assert hub.signal_handler(signal.SIGINT, locust_shutdown) == "handle"
    assert registered[-1] == (signal.SIGINT, locust_shutdown)
    assert hub.signal_handler(signal.SIGTERM, locust_shutdown) == "handle"
    signum, installed = registered[-1]
    assert signum == signal.SIGTERM and installed is not locust_shutdown
    assert hub.signal_handler is locust_registers  # Locust's own is back for anything later
    installed()  # the signal arrives: ours runs, with Locust's shutdown as its fallback
    assert got == [locust_shutdown]


# ---------------------------------------------------------------------- what a process holds


def test_parts_live_on_the_environment_one_set_each() -> None:
    first, second = SimpleNamespace(), SimpleNamespace()
    parts = parts_of(first)
    assert parts_of(first) is parts  # bound once, found again
    assert parts_of(second) is not parts and parts_of(second).pace is not parts.pace
    assert parts.share.pace is parts.pace and parts.drain.pace is parts.pace  # one pace per process


def test_a_part_sets_the_pace_and_says_how_calls_are_paced() -> None:
    pace = ProcessPace()
    share = ProcessShare(pace)
    done: list[tuple[int, int]] = []
    share.on_done = lambda run, acked: done.append((run, acked))
    share.assign({"run": 1, "limit": 2, "rate": 40.0, "resync": False, "paced": True, "arrival": "poisson"})
    assert (share.paced, share.arrival, share.rate, pace.share, share.budget.limit) == (True, "poisson", 40.0, 40.0, 2)
    schedule = pace.join(share.arrival, batch=4)
    assert schedule.target_rate == pytest.approx(10.0)  # 40 records/s in batches of 4, one user
    share.budget.acked = 2
    share.report_done()
    share.report_done()
    assert done == [(1, 2)]  # once per run
    share.assign({"run": 2, "limit": None, "rate": 0.0, "resync": False, "paced": False, "arrival": "uniform"})
    assert (share.paced, share.budget.limit, share.done_reported) == (False, None, False)
    pace.leave(schedule)


# ---------------------------------------------------------------------- the rate, one way


class Master:
    """A master's sending side: its workers (state, users) and every message it sent."""

    def __init__(self, users: dict[str, int]) -> None:
        nodes = {worker: SimpleNamespace(state="running", user_count=count) for worker, count in users.items()}
        self.runner = SimpleNamespace(clients=SimpleNamespace(_worker_nodes=nodes), send_message=self.send)
        self.sent: list[tuple[str, dict[str, Any], str]] = []

    def join(self, worker: str) -> None:
        self.runner.clients._worker_nodes[worker] = SimpleNamespace(state="ready", user_count=0)

    def send(self, kind: str, data: dict[str, Any], client_id: str) -> None:
        self.sent.append((kind, dict(data), client_id))

    def shares(self, run: int) -> list[tuple[str, dict[str, Any]]]:
        return [(worker, data) for kind, data, worker in self.sent if kind == SHARE and data["run"] == run]


def _rate_parts(master: Master) -> tuple[Distributor, RateControl]:
    environment = SimpleNamespace(runner=master.runner, parsed_options=SimpleNamespace(headless=True))
    distributor = Distributor(environment, ProcessShare(ProcessPace()), outcome.Verdicts(), master.runner)  # type: ignore[arg-type]
    return distributor, RateControl(environment, distributor)  # type: ignore[arg-type]


def _start(distributor: Distributor, control: RateControl, settings: RateSettings, shaped: bool = False) -> None:
    """As the lifecycle starts a test."""
    control.start(settings, settings.paced or shaped, shaped)
    distributor.start(None, control.target, settings.paced or shaped, settings.arrival)


def test_each_worker_is_sent_the_rate_once_with_how_the_test_is_paced() -> None:
    master = Master({"w1": 1, "w2": 3})
    distributor, control = _rate_parts(master)
    for run, rate in ((1, 400.0), (2, 800.0)):  # a second test too: not once to the old parts and again
        before = len(master.sent)
        _start(distributor, control, RateSettings(rate=rate, arrival="poisson"))
        sent = master.sent[before:]
        assert sorted(worker for _, _, worker in sent) == ["w1", "w2"]  # one message each, every message counted
        assert all(kind == SHARE and data["run"] == run for kind, data, _ in sent)
        assert {worker: data["rate"] for _, data, worker in sent} == {"w1": rate / 4, "w2": rate * 3 / 4}
        assert all(data["paced"] and data["arrival"] == "poisson" for _, data, _ in sent)
        distributor.on_test_stop()
    control.set_target(100.0, "web UI")  # between tests: nobody to send to (the next start sends it)
    assert len(master.sent) == 4


def test_a_profile_sends_its_first_step_with_the_parts_and_later_steps_as_they_come() -> None:
    master = Master({"w1": 1, "w2": 1})
    distributor, control = _rate_parts(master)
    _start(distributor, control, RateSettings(steps=((100.0, 0.05), (300.0, 5.0))))
    gevent.sleep(0.01)  # the profile's greenlet sets its first step: the one already sent
    assert [(w, d["rate"]) for w, d in master.shares(1)] == [("w1", 50.0), ("w2", 50.0)]
    gevent.sleep(0.1)  # the second step
    control.stop()
    assert [(w, d["rate"]) for w, d in master.shares(1)] == [("w1", 50.0), ("w2", 50.0), ("w1", 150.0), ("w2", 150.0)]
    assert [change["rate"] for change in control.changes] == [100.0, 300.0]


def test_a_shapes_first_rate_waits_for_the_test_and_goes_out_once() -> None:
    master = Master({"w1": 1, "w2": 1})
    distributor, control = _rate_parts(master)
    control.set_target(200.0, "MyShape")  # Locust ticks the shape just before the test starts
    assert master.sent == []  # no test yet: nothing to send to
    _start(distributor, control, RateSettings(), shaped=True)
    assert [(w, d["rate"], d["paced"]) for w, d in master.shares(1)] == [("w1", 100.0, True), ("w2", 100.0, True)]


def test_a_closed_loop_test_sends_each_worker_its_part_once_unpaced() -> None:
    master = Master({"w1": 2})
    distributor, control = _rate_parts(master)
    _start(distributor, control, RateSettings())
    assert [(w, d["rate"], d["paced"]) for w, d in master.shares(1)] == [("w1", 0.0, False)]


def test_a_joiner_asks_for_its_part_and_is_sent_it_once() -> None:
    """A worker that joins a running test may get Locust's users before any part of ours
    (its handlers are not there yet when it connects): its users ask, and wait."""
    master = Master({"w1": 2, "w2": 2})
    distributor, control = _rate_parts(master)
    _start(distributor, control, RateSettings(rate=200.0))
    before = len(master.sent)
    master.join("w3")
    distributor.on_part_asked("w3")  # what its ASK message does on the master
    assert master.sent[before:] == [
        (SHARE, {"run": 1, "limit": None, "rate": 0.0, "resync": False, "paced": True, "arrival": "uniform"}, "w3")
    ]  # paced, at no rate until it reports users; the others' parts did not change
    distributor.on_part_asked("w1")  # a part that went missing: sent again, the same
    assert master.sent[-1] == (SHARE, master.shares(1)[0][1], "w1") and len(master.sent) == before + 2


def test_users_wait_for_their_process_part_and_ask_for_it_once() -> None:
    share = ProcessShare(ProcessPace())
    asked: list[str] = []
    share.ask = lambda: asked.append("ask")
    part = {"run": 3, "limit": 10, "rate": 5.0, "resync": False, "paced": True, "arrival": "uniform"}
    gevent.spawn_later(0.05, share.assign, part)  # the master's answer
    waiters = [gevent.spawn(share.wait_for_part, 5.0) for _ in range(3)]  # three users start
    gevent.joinall(waiters, timeout=5)
    assert [w.value for w in waiters] == [True, True, True] and asked == ["ask"]
    assert share.paced and share.budget.limit == 10
    assert share.wait_for_part(0.0) is True  # it has one: no wait, no question
    alone = ProcessShare(ProcessPace())
    assert alone.wait_for_part(0.05) is False  # none came: the users go on, unpaced (and it is logged)


def test_parts_held_by_the_lifecycle_start_empty_on_a_worker() -> None:
    parts = ProcessParts()
    assert parts.distributor is None and parts.control is None and parts.knee is None
