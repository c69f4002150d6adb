"""Compare the writer strategies on the same fixed number of records, like the write-ups.

    .venv/bin/python scripts/compare.py [--services dynamodb,s3,sqs] [--strategies all]
        [--records 2000] [--target local|aws|URL] [--latency-ms 80] [--keep-alive both|on|off]
        [--users 1] [--concurrency 32] [--batch 1] [--out DIR] [-- extra Locust flags]

For each service and each strategy (and each keep-alive setting), one headless Locust
run writes exactly ``--records`` records through that strategy's user class
(``locust -f locustfiles/<service>.py --headless -u U -r U --max-records N ... GeventUser``),
one run after another. With ``--target local`` one emulator per service serves the
whole comparison; ``--latency-ms`` puts ``scripts/fault_proxy.py`` in front of it to
emulate the distance to AWS (the round trip is split over the two directions).

Printed at the end, per service: strategy, seconds, records/s, speedup over sequential,
p50/p99 latency per call, and load-generator CPU seconds per 1,000 records. ``--out``
(default ``reports/compare-<timestamp>/`` in the project) gets ``results.json`` (every raw
figure), ``compare.png`` (records/s and CPU per 1,000 records), ``table.txt``,
``table.md`` and ``runs/`` (each run's Locust log, AWS summary, Locust stats, timing).

How "seconds" is measured: inside the Locust process, a small plugin locustfile listens to
the request events of our clients. Each event fires right after its call; its start is
the event time minus the call's response time. seconds = end of the last call that
acknowledged records - start of the first call. Locust start-up, the emulator,
provisioning and per-user client creation (``on_start``) are outside that window.

One module per job: ``options`` (flags and their checks), ``targets`` (emulators, the
fault proxy, AWS), ``runs`` (one Locust run and its figures), ``report`` (table, chart,
results.json), ``cli`` (the whole comparison); ``locustfile/compare_timing.py`` is the
timing plugin. scripts/compare.py is the command-line entry.

Exit codes: 0 every run wrote exactly ``--records`` records; 1 a run failed (exited
non-zero, or acknowledged fewer records than asked; it is marked in the table and the
other runs still go); 2 bad input (one line on stderr); 130 interrupted.
"""

from comparison.cli import main
from comparison.options import (
    DEFAULT_CONCURRENCY,
    DEFAULT_RECORDS,
    KEEP_ALIVE_CHOICES,
    OWNED_FLAGS,
    PROG,
    REGION_PATTERN,
    ROOT,
    BadInput,
    Options,
    build_parser,
    default_run_time,
    parse_options,
)
from comparison.report import (
    FOOTNOTE,
    SECONDS_HOW,
    heading,
    machine_facts,
    markdown_table,
    plain_table,
    report,
    table_rows,
    write_chart,
    write_outputs,
)
from comparison.runs import (
    LOCUSTFILES,
    POLL_SECONDS,
    QUIT_GRACE_SECONDS,
    RUN_TOKEN,
    TIMING_ENV,
    TIMING_LOCUSTFILE,
    Interrupted,
    ProgressBar,
    RunResult,
    RunSpec,
    add_speedups,
    evaluate,
    last_error_line,
    locust_command,
    plan,
    run_env,
    run_one,
)
from comparison.targets import FAULT_PROXY, PROXY_BANNER, Targets

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_RECORDS",
    "FAULT_PROXY",
    "FOOTNOTE",
    "KEEP_ALIVE_CHOICES",
    "LOCUSTFILES",
    "OWNED_FLAGS",
    "POLL_SECONDS",
    "PROG",
    "PROXY_BANNER",
    "QUIT_GRACE_SECONDS",
    "REGION_PATTERN",
    "ROOT",
    "RUN_TOKEN",
    "SECONDS_HOW",
    "TIMING_ENV",
    "TIMING_LOCUSTFILE",
    "BadInput",
    "Interrupted",
    "Options",
    "ProgressBar",
    "RunResult",
    "RunSpec",
    "Targets",
    "add_speedups",
    "build_parser",
    "default_run_time",
    "evaluate",
    "heading",
    "last_error_line",
    "locust_command",
    "machine_facts",
    "main",
    "markdown_table",
    "parse_options",
    "plain_table",
    "plan",
    "report",
    "run_env",
    "run_one",
    "table_rows",
    "write_chart",
    "write_outputs",
]
