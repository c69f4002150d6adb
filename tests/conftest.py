"""Shared fixtures: real local servers for every service, started once per session and
shared by every test module (`local`, `dynalite_server`, `moto_server`, ...), a fault
proxy per test, unique table names, and a headless run of the DynamoDB locustfile.

Fixtures only: what tests import (helpers, servers, process wrappers) lives in
tests/helpers/, and no test module imports another or this one.
Tests start and stop their servers themselves; nothing here depends on a server
started by hand, and every server binds 127.0.0.1. Service and strategy lists come
from the registries (writers.services, writers.strategies).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest
from helpers import (
    DYNAMODB_EMULATORS,
    FaultProxy,
    RunLocust,
    SharedEmulators,
    dynamodb_run,
    local_endpoint,
    unique_table_name,
)
from helpers.turns import Turn, turn

from writers.emulators import RunningEmulator
from writers.target import Endpoint

# --------------------------------------------------------------------------- running in parallel

# Tests that measure wall-clock time against servers of known behaviour (rates, stalls,
# latencies): under pytest-xdist one at a time, beside ordinary tests (helpers/turns.py).
# Tests that must have the machine to themselves run `alone`. "*": the whole module. A
# test elsewhere can say the same with @pytest.mark.timing or @pytest.mark.alone.
TIMING_TESTS: dict[str, frozenset[str]] = {
    "test_rate_mode": frozenset(
        {  # all but the bad flags' runs, which end before any rate is measured
            "test_a_closed_loop_hides_a_stall_that_the_rate_mode_shows",
            "test_no_stall_no_invented_delay",
            "test_rate_steps_follow_the_profile_and_end_the_run",
            "test_master_and_two_workers_hold_one_global_rate",
            "test_the_knee_of_a_fifo_server_under_a_p99_objective",
            "test_the_knee_of_a_token_bucket_under_a_throttle_objective",
            "test_a_rate_shape_in_a_locustfile_sets_the_rate",
            "test_the_rate_changes_from_the_web_ui_during_a_test",
            "test_three_identical_knee_searches_agree_through_a_spike",
            "test_sigterm_during_the_search_reports_the_best_step_that_passed",
        }
    ),
    "test_delay_sink": frozenset({"*"}),
    "test_mixed": frozenset(
        {  # each service's rate and objective measured
            "test_two_services_distributed_each_at_its_own_rate",
            "test_a_slow_service_misses_its_rate_and_its_check_the_other_keeps_both",
            "test_find_max_raises_both_rates_in_proportion_and_names_the_service_that_breaks",
            "test_one_global_rate_is_shared_by_every_user_whatever_its_service",
        }
    ),
    "test_pipeline": frozenset(
        {"test_find_max_names_the_throttled_step_at_its_rate", "test_record_latency_is_the_sum_of_the_steps"}
    ),
    "test_workers_at_scale": frozenset(
        {  # a master and two or three workers at a measured rate: a few processes, as in test_rate_mode
            "test_the_rate_stays_true_across_a_pause_a_kill_and_a_join",
            "test_a_moment_with_every_worker_missing_is_not_the_end",
        }
    ),
}
ALONE_TESTS: dict[str, frozenset[str]] = {
    "test_workers_at_scale": frozenset(
        {"test_a_hundred_workers_start_and_run_with_none_missing"}  # a hundred workers on two cores
    ),
    "test_wake": frozenset({"*"}),  # wake-ups within a budget a second
}


# Beyond the tests marked `slow` where they are: tests that start processes (Locust,
# compare.py, emulators, a CLI) or wait out a production timeout, kept out of the fast
# tier (-m "not slow") here so that their modules stay as they are. "*": the whole module.
SLOW_TESTS: dict[str, frozenset[str]] = {
    "test_admin_client": frozenset({"*"}),  # waits out the admin client's real timeouts (~25 s)
    "test_bad_input": frozenset(
        {"test_bad_flag_is_rejected_before_the_swarm", "test_nan_from_the_environment_or_a_config_file_is_one_line"}
    ),
    "test_bench_sink": frozenset({"test_bench_script_end_to_end", "test_aiohttp_parts_script_measures_each_mode"}),
    "test_compare": frozenset({"*"}),
    "test_dropped_requests": frozenset({"*"}),
    "test_dynamodb_key_spaces_and_partitions": frozenset(
        {"test_versions_are_ordered_by_when_answers_came_not_when_reported"}
    ),
    "test_emulators": frozenset(
        {
            "test_start_call_stop",
            "test_seaweedfs_checks_signatures",
            "test_fauxqs_is_not_listening_on_all_interfaces",
            "test_bind_listens_on_that_address_only",
            "test_port_base_puts_dynamodb_s3_sqs_on_n_n1_n2",
            "test_fixed_port_in_use_is_a_one_line_error_without_retries",
            "test_fallback_starts_moto_with_warnings",
            "test_atexit_stops_a_forgotten_emulator",
            "test_next_start_sweeps_up_after_a_killed_owner",
            "test_cli_prints_banner_and_stops_everything_on_sigterm",
            "test_cli_children_die_with_a_killed_parent",
            "test_cli_bad_input_is_one_line_and_exit_2",
            "test_cli_bind_and_port_base",
        }
    ),
    "test_fault_proxy": frozenset({"test_bad_flags_exit_2_with_one_line"}),
    "test_k8s": frozenset({"*"}),
    "test_locust_races": frozenset({"*"}),
    "test_mixed": frozenset(
        {  # Locust runs (all but the parsing and the SHARE part's unit tests)
            "test_every_service_and_strategy_has_its_class",
            "test_a_pipeline_takes_one_rate_only",
            "test_bad_input_is_one_line_and_exit_2_before_the_swarm",
            "test_two_services_distributed_each_at_its_own_rate",
            "test_four_services_in_one_run_every_record_read_back",
            "test_a_slow_service_misses_its_rate_and_its_check_the_other_keeps_both",
            "test_find_max_raises_both_rates_in_proportion_and_names_the_service_that_breaks",
            "test_one_global_rate_is_shared_by_every_user_whatever_its_service",
            "test_the_aws_tab_shows_each_service_and_keeps_the_parts_when_the_rate_changes",
        }
    ),
    "test_pipeline": frozenset(
        {  # Locust runs end to end
            "test_web_ui_start_refuses_a_bad_pipeline_and_takes_a_new_one",
            "test_default_pipeline_on_the_local_emulators_with_verify",
            "test_default_pipeline_distributed_master_and_two_workers",
            "test_a_failing_step_is_retried_alone",
            "test_a_record_given_up_at_a_step_is_counted_at_that_step",
            "test_record_latency_is_the_sum_of_the_steps",
            "test_find_max_names_the_throttled_step_at_its_rate",
        }
    ),
    "test_report": frozenset({"test_a_missing_report_bucket_is_one_line_before_the_swarm"}),
}


# Under xdist --dist loadscope a module is one unit of work, taken by whichever worker is free; the
# modules listed above, and test_ci_checks_and_metrics (its timing tests are marked in place), are one unit
# between them, so one worker runs their timing and alone tests in turn while the other keeps to ordinary
# tests, never waiting for a timing turn the first holds (only for an alone test). In a full run with that
# module outside the unit, its worker idled 72 s waiting for the churn tests' timing turns.
TURN_MODULES = frozenset({*TIMING_TESTS, *ALONE_TESTS, "test_ci_checks_and_metrics"})


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """loadscope, with the TURN_MODULES one scope (the others: a module each, as before)."""
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class TurnModulesTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = str(super()._split_scope(nodeid))
            return "turn modules" if Path(nodeid.split("::")[0]).stem in TURN_MODULES else scope

    return TurnModulesTogether(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks `timing`, `alone` and `slow` as the lists above say. (Under xdist --dist loadscope, a
    module's tests stay on one worker: its module-scoped servers start once.)"""
    checked: set[str] = set()
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        module = item.module.__name__
        if module not in checked:  # a renamed test must not lose its mark silently
            checked.add(module)
            lists = (SLOW_TESTS, TIMING_TESTS, ALONE_TESTS)
            listed = frozenset().union(*(names.get(module, frozenset()) for names in lists)) - {"*"}
            missing = sorted(name for name in listed if not callable(getattr(item.module, name, None)))
            if missing:
                raise pytest.UsageError(f"tests/conftest.py lists tests that {module} does not have: {missing}")
        for names, mark in ((TIMING_TESTS, pytest.mark.timing), (ALONE_TESTS, pytest.mark.alone)):
            if {"*", item.originalname} & names.get(module, frozenset()):
                item.add_marker(mark)
        slow = SLOW_TESTS.get(module, frozenset())
        if "*" in slow or item.originalname in slow:
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, object, object]:
    """Outermost, so the wait for a turn is not counted in the test's --timeout."""
    kind: Turn = "shared"
    if item.get_closest_marker("alone") is not None:
        kind = "alone"
    elif item.get_closest_marker("timing") is not None:
        kind = "timing"
    worker = hasattr(item.config, "workerinput")  # under xdist: its basetemp is popen-gwN in the shared folder
    with turn(kind, Path(item.config.option.basetemp).parent if worker else None):
        return (yield)


@pytest.fixture(scope="session")
def local() -> Iterator[SharedEmulators]:
    """`local.get(service, name)`: a server shared by every test of the session."""
    shared = SharedEmulators()
    yield shared
    shared.stop()


@pytest.fixture
def fault_proxy(tmp_path: Path) -> Iterator[Callable[..., FaultProxy]]:
    """`fault_proxy(upstream, *flags) -> FaultProxy`, stopped after the test."""
    started: list[FaultProxy] = []

    def start(upstream: str, *flags: str) -> FaultProxy:
        proxy = FaultProxy(upstream, *flags, tmp_dir=tmp_path)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


@pytest.fixture(scope="session")
def dynalite_server(local: SharedEmulators) -> RunningEmulator:
    return local.get("dynamodb", "dynalite")


@pytest.fixture(scope="session")
def moto_server(local: SharedEmulators) -> RunningEmulator:
    return local.get("dynamodb", "moto")


@pytest.fixture(scope="session", params=DYNAMODB_EMULATORS)
def dynamodb_emulator(request: pytest.FixtureRequest, local: SharedEmulators) -> RunningEmulator:
    """Each DynamoDB emulator in turn (started once per session)."""
    return local.get("dynamodb", request.param)


@pytest.fixture(scope="session")
def dynamodb_endpoint(dynamodb_emulator: RunningEmulator) -> Endpoint:
    """An Endpoint at dynalite, then at moto: tests using it run against both."""
    return local_endpoint(dynamodb_emulator)


@pytest.fixture(scope="session")
def moto_endpoint(moto_server: RunningEmulator) -> Endpoint:
    return local_endpoint(moto_server)


@pytest.fixture
def table_name(request: pytest.FixtureRequest) -> str:
    """A unique table name derived from the test's name."""
    return unique_table_name(request.node.name)


@pytest.fixture
def run_locust(tmp_path: Path) -> RunLocust:
    """`run_locust(args, timeout, env=None) -> LocustRun` of the DynamoDB locustfile."""
    return dynamodb_run(tmp_path)
