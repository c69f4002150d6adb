"""scripts/compare.py: small real comparisons against a local DynamoDB emulator (started
by compare.py itself, once per comparison), the failure path, and bad input.

Every comparison is bounded: few records, --run-time per run, and a subprocess timeout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import PROJECT_ROOT, locust_env

import comparison as compare
from comparison import runs as compare_runs

COMPARE = PROJECT_ROOT / "scripts" / "compare.py"
PYTHON = PROJECT_ROOT / ".venv" / "bin" / "python"
if not PYTHON.exists():
    PYTHON = Path(sys.executable)
COLUMNS = ["strategy", "seconds", "records/s", "speedup", "p50 ms", "p99 ms", "CPU s/1k records", "status"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_compare(args: list[str], cwd: Path, timeout: float = 80) -> subprocess.CompletedProcess[str]:
    """compare.py in a subprocess, from a folder outside the project, with a clean AWS environment."""
    return subprocess.run(
        [str(PYTHON), str(COMPARE), "--no-progress", *args],
        cwd=cwd,
        env=locust_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def table_header(stdout: str) -> list[str]:
    """The column names of the first table printed (cells are separated by two or more spaces)."""
    for line in stdout.splitlines():
        if line.startswith("strategy"):
            return [cell for cell in line.split("  ") if cell.strip()]
    raise AssertionError(f"no table in:\n{stdout}")


def table_row(stdout: str, *first_cells: str) -> list[str]:
    for line in stdout.splitlines():
        cells = line.split()
        if cells[: len(first_cells)] == list(first_cells):
            return cells
    raise AssertionError(f"no row {first_cells} in:\n{stdout}")


def results(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "results.json").read_text())
    return data


# --------------------------------------------------------------------------- real comparisons


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_small_comparison_writes_exactly_n_records_per_strategy(tmp_path: Path) -> None:
    out = tmp_path / "report"
    records = 200
    run = run_compare(
        ["--records", str(records), "--strategies", "sequential,threaded,gevent", "--out", str(out)], cwd=tmp_path
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stderr, run.stderr

    assert table_header(run.stdout) == COLUMNS
    for strategy in ("sequential", "threaded", "gevent"):
        row = table_row(run.stdout, strategy)
        assert row[-1] == "ok", row
    assert table_row(run.stdout, "sequential")[3] == "1.0x"
    assert "DynamoDB PutItem: 200 records per run" in run.stdout

    data = results(out)
    runs = data["runs"]
    assert [r["strategy"] for r in runs] == ["sequential", "threaded", "gevent"]
    for r in runs:
        assert r["ok"], r["failure"]
        assert r["exit_code"] == 0
        assert r["acked"] == records  # exactly N, not more: --max-records
        assert r["summary"]["acked"] == records
        assert r["given_up"] == 0
        assert r["timing"]["acked"] == records  # the timing plugin saw every acknowledgement
        assert 0 < r["seconds"] < r["process_seconds"]  # start-up is outside the timed window
        assert r["records_per_s"] == pytest.approx(records / r["seconds"], rel=0.01)
        assert r["p50_ms"] is not None and r["p99_ms"] >= r["p50_ms"]
        assert r["cpu_seconds"] > 0 and r["cpu_per_1k"] == pytest.approx(r["cpu_seconds"] / records * 1000, rel=0.01)
        assert r["operation"] == f"DynamoDB PutItem [{r['strategy']}]"
        assert r["user_class"] == r["strategy"].capitalize() + "User"
    sequential = runs[0]
    assert sequential["speedup"] == 1.0
    for r in runs[1:]:
        # Rounded to 2 decimals: below 1.0x (a loaded machine, a few records) that alone is > 1 %.
        assert r["speedup"] == pytest.approx(sequential["seconds"] / r["seconds"], rel=0.01, abs=0.005)
    assert data["settings"]["records"] == records
    assert "dynalite" in data["targets"]["dynamodb"] or "moto" in data["targets"]["dynamodb"]

    png = out / "compare.png"
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 10_000
    assert (out / "table.txt").read_text().splitlines()[1].startswith("strategy")
    assert "| strategy | seconds | records/s |" in (out / "table.md").read_text()
    for r in runs:
        run_dir = Path(r["run_dir"])
        assert run_dir.parent == out / "runs"
        assert {"locust.log", "summary.json", "timing.json", "locust.json", "command.txt"} <= {
            p.name for p in run_dir.iterdir()
        }


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_keep_alive_both_through_the_latency_proxy(tmp_path: Path) -> None:
    out = tmp_path / "report"
    records = 30
    latency_ms = 20
    run = run_compare(
        [
            "--records", str(records), "--strategies", "sequential,gevent", "--keep-alive", "both",
            "--latency-ms", str(latency_ms), "--concurrency", "8", "--out", str(out),
        ],
        cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr

    assert table_header(run.stdout) == [*COLUMNS[:1], "keep-alive", *COLUMNS[1:]]
    assert f"fault_proxy {latency_ms} ms round trip" in run.stdout
    runs = results(out)["runs"]
    assert [(r["strategy"], r["keep_alive"]) for r in runs] == [
        ("sequential", True),
        ("sequential", False),
        ("gevent", True),
        ("gevent", False),
    ]
    assert all(r["ok"] and r["acked"] == records for r in runs), [r["failure"] for r in runs]
    by = {(r["strategy"], r["keep_alive"]): r for r in runs}
    assert by[("sequential", True)]["speedup"] == 1.0
    assert table_row(run.stdout, "sequential", "on")[4] == "1.0x"
    # Every call crosses the proxy: at least the round trip, and a new connection per call costs more.
    for r in runs:
        assert r["p50_ms"] >= latency_ms
    assert by[("sequential", False)]["p50_ms"] > by[("sequential", True)]["p50_ms"]
    # Sequential pays the round trip once per record.
    assert by[("sequential", True)]["seconds"] >= records * latency_ms / 1000
    assert (out / "compare.png").read_bytes()[:8] == PNG_MAGIC
    assert (out / "fault-proxy-dynamodb.log").exists()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_failed_run_is_marked_and_the_others_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One run's Locust exits non-zero (an unknown user class): that row says FAILED, the
    next run still goes, and compare.py exits 1."""
    real_command = compare.locust_command

    def broken_for_sequential(*args: Any, **kwargs: Any) -> list[str]:
        command: list[str] = real_command(*args, **kwargs)
        if command[-1] == "SequentialUser":
            command[-1] = "NoSuchUser"
        return command

    monkeypatch.setattr(compare_runs, "locust_command", broken_for_sequential)
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    out = tmp_path / "report"
    code = compare.main(["--no-progress", "--records", "50", "--strategies", "sequential,gevent", "--out", str(out)])
    captured = capsys.readouterr()

    assert code == 1, captured.out + captured.err
    sequential = table_row(captured.out, "sequential")
    assert "FAILED:" in sequential and sequential[1] == "-", sequential
    assert table_row(captured.out, "gevent")[-1] == "ok"
    assert "1 of 2 runs failed" in captured.err
    runs = results(out)["runs"]
    assert runs[0]["ok"] is False and runs[0]["exit_code"] != 0
    assert runs[1]["ok"] is True and runs[1]["acked"] == 50
    assert runs[1]["speedup"] is None  # no sequential baseline to compare with
    assert (out / "compare.png").exists()


def test_too_few_acknowledged_records_is_a_failure(tmp_path: Path) -> None:
    options = compare.parse_options(["--records", "200", "--out", str(tmp_path / "o")])
    result = compare.RunResult("dynamodb", "gevent", "GeventUser", True, 200, exit_code=0, run_dir=str(tmp_path))
    result.summary = {"acked": 150, "calls": 150, "cpu_seconds": 0.3, "rows": {}, "latency_ms": {}}
    result.timing = {"first_call_start": 100.0, "last_ack_end": 101.5, "acked": 150}
    compare.evaluate(result, options, launched_wall=99.0)
    assert not result.ok
    assert result.failure == "acked 150 of 200"
    assert result.seconds == 1.5 and result.startup_seconds == 1.0


# --------------------------------------------------------------------------- bad input

BAD_INPUT = [
    (["--services", "dynamodb,timestream"], "unknown service 'timestream'"),
    (["--strategies", "gevent,turbo"], "unknown strategy 'turbo'"),
    (["--strategies", ","], "--strategies names no strategy"),
    (["--records", "0"], "--records must be between 1"),
    (["--records", "many"], "not a whole number"),
    (["--users", "5", "--records", "3"], "--users 5 is more than --records 3"),
    (["--concurrency", "0"], "--concurrency must be between 1"),
    (["--batch", "26"], "--batch must be between 1 and 25 for dynamodb"),
    (["--keep-alive", "sometimes"], "--keep-alive must be one of both, on, off"),
    (["--latency-ms", "-5"], "--latency-ms must be between 0"),
    (["--latency-ms", "nan"], "not a finite number"),
    (["--target", "ftp://example"], "--target must be 'local', 'aws' or an http(s):// URL"),
    (["--target", "aws", "--latency-ms", "80"], "--latency-ms emulates the distance to AWS"),
    (["--region", "moon-1"], "--region 'moon-1' is not an AWS region name"),
    (["--resource", "x"], "--resource 'x' is not a valid DynamoDB table name"),
    (["--prefer", "redis"], "--prefer 'redis' serves none of: dynamodb"),
    (["--", "--max-records", "5"], "--max-records after '--' is set by compare.py itself"),
    (["--unknown-flag"], "unrecognized arguments: --unknown-flag"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code: str | int | None
    try:
        code = compare.main(["--out", str(tmp_path / "o"), *args])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("compare.py: error: ") and message in lines[0], lines[0]
    assert not (tmp_path / "o").exists()  # nothing started, nothing written


def test_out_must_be_new_or_empty(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "results.json").write_text("{}")
    (tmp_path / "a-file").write_text("x")
    for out in ("busy", "a-file"):
        run = run_compare(["--out", str(tmp_path / out)], cwd=tmp_path, timeout=30)
        assert run.returncode == 2
        assert run.stderr.count("\n") == 1 and "exists and is not an empty folder" in run.stderr, run.stderr
        assert "Traceback" not in run.stderr


def test_help_names_every_option(tmp_path: Path) -> None:
    run = run_compare(["--help"], cwd=tmp_path, timeout=30)
    assert run.returncode == 0
    for option in ("--services", "--strategies", "--records", "--target", "--users", "--concurrency",
                   "--keep-alive", "--latency-ms", "--out", "--region"):  # fmt: skip
        assert option in run.stdout
