"""What tests share: servers, processes and names. A test module imports from here, never
from another test module or from conftest.py (tests/test_independent_tests.py checks it).

- project: paths, the Locust command, the region, user classes, local credentials;
- emulators: the session's shared emulators, `local_endpoint`, unique names, the sigcheck sink;
- calls: `drive()`, calls through a strategy with test-speed retries;
- locust: Locust as a subprocess (`headless_locust`, `LocustProcess`, `LocustCluster`, `run_locust`);
- fault_proxy: the fault-injecting proxy as a subprocess (`FaultProxy`);
- stubs: servers whose behaviour is known by construction (stalls, FIFO, delays, patterns);
- raw_servers: servers on plain sockets (drops, silence, HTTP/1.1 framings, a read-only bucket);
- echo_upstream: an aiohttp upstream for the fault proxy (echoes, streams, checks signatures);
- sigcheck_server: a server that re-checks every signature (run as a subprocess);
- netns: network namespaces as hosts;
- browser: Chromium's path (or a skip) and chart geometry checks in a Playwright page.
"""

from .browser import CHART_BOXES_JS, HEADLESS, legend_overlaps, require_chromium
from .calls import FAST_RETRIES, drive
from .emulators import (
    DYNAMODB_EMULATORS,
    SharedEmulators,
    local_endpoint,
    preferred_emulator,
    sigcheck_sink,
    unique_table_name,
)
from .fault_proxy import DEFAULTS, PROXY_SCRIPT, FaultProxy
from .locust import (
    MAX_RECORDS_REACHED,
    VERIFY_LINE,
    LocustCluster,
    LocustProcess,
    LocustResult,
    LocustRun,
    RunLocust,
    assert_no_traceback,
    dynamodb_run,
    headless_locust,
    locust_env,
    own_master_port,
    run_locust,
    stats_totals,
    unique,
)
from .project import (
    CREDENTIALS,
    DYNAMODB_LOCUSTFILE,
    LOCUST,
    LOCUSTFILES,
    PROJECT_ROOT,
    REGION,
    USER_CLASSES,
    locustfile,
)

__all__ = [
    "CHART_BOXES_JS",
    "CREDENTIALS",
    "DEFAULTS",
    "DYNAMODB_EMULATORS",
    "DYNAMODB_LOCUSTFILE",
    "FAST_RETRIES",
    "HEADLESS",
    "LOCUST",
    "LOCUSTFILES",
    "MAX_RECORDS_REACHED",
    "PROJECT_ROOT",
    "PROXY_SCRIPT",
    "REGION",
    "USER_CLASSES",
    "VERIFY_LINE",
    "FaultProxy",
    "LocustCluster",
    "LocustProcess",
    "LocustResult",
    "LocustRun",
    "RunLocust",
    "SharedEmulators",
    "assert_no_traceback",
    "drive",
    "dynamodb_run",
    "headless_locust",
    "legend_overlaps",
    "local_endpoint",
    "locust_env",
    "locustfile",
    "own_master_port",
    "preferred_emulator",
    "require_chromium",
    "run_locust",
    "sigcheck_sink",
    "stats_totals",
    "unique",
    "unique_table_name",
]
