"""`--verify` at the end of a run (issue 22): exact, and bounded by the keys.

- A fault-free run of hot keys (`--key-space`) stopped by -t, with 40 ms between the
  service applying a write and its answer reaching the client (the fault proxy's
  latency): dozens of writes are applied but unanswered when the users stop. Before,
  every run was exit 3 ("stale" keys); now the users' calls are answered before they stop,
  and every key holds its last acknowledged version.
- What --verify keeps of writes to keys written again is per key: a million writes over
  100 keys keep 100 rows, and the same versions are accepted as from every write kept
  (in any order, split over workers and merged).
"""

from __future__ import annotations

import random
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import FaultProxy, SharedEmulators, assert_no_traceback, run_locust, unique

from writers.services.base import KeyVersions

Write = tuple[str, str, float, float]


def every_write_kept(writes: list[Write]) -> dict[str, frozenset[str]]:
    """The rule over every write, as --verify applied it when it kept them all."""
    last_sent: dict[str, float] = {}
    for key, _, sent, _ in writes:
        last_sent[key] = max(sent, last_sent.get(key, float("-inf")))
    accepted: dict[str, set[str]] = {}
    for key, version, _, acked in writes:
        if acked >= last_sent[key]:
            accepted.setdefault(key, set()).add(version)
    return {key: frozenset(versions) for key, versions in accepted.items()}


def overlapping_writes(rng: random.Random, count: int, keys: int) -> list[Write]:
    """Writes sent over time, up to 8 of a key in flight together, answered 1-50 ms later."""
    return [
        (f"k{rng.randrange(keys)}", f"v{i}", sent := i * 0.001 + rng.random() * 0.008, sent + rng.uniform(0.001, 0.05))
        for i in range(count)
    ]


def test_kept_per_key_the_same_versions_are_accepted_as_from_every_write() -> None:
    rng = random.Random(22)
    writes = overlapping_writes(rng, 20_000, 50)
    rng.shuffle(writes)  # answers reported in any order
    workers = [KeyVersions() for _ in range(3)]
    for write in writes:
        rng.choice(workers).add(*write)
    master = KeyVersions()
    for worker in workers:  # each worker's rows travel as a message, merged on the master
        master.merge_message(worker.to_message())
    assert master.acceptable() == every_write_kept(writes)


def test_what_verify_keeps_is_bounded_by_the_keys_not_the_writes() -> None:
    rng = random.Random(7)
    log = KeyVersions()
    tracemalloc.start()
    try:
        for write in overlapping_writes(rng, 20_000, 100):
            log.add(*write)
        after_20k = tracemalloc.get_traced_memory()[0]
        for write in overlapping_writes(rng, 200_000, 100):
            log.add(write[0], write[1], write[2] + 20.0, write[3] + 20.0)
        after_220k = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(log) == 100
    assert max(len(kept) for _, kept in log.rows.values()) <= 10  # only writes in flight together
    # 200,000 more writes cost nothing lasting (was ~250 B each: 50 MB more here); what is kept is a few
    # KB per key at most (the versions of writes in flight together, which vary from moment to moment)
    assert (after_220k - after_20k) / 200_000 < 5, (after_20k, after_220k)
    assert after_220k < 100 * 5_000, after_220k


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_timed_run_of_hot_keys_verifies_exactly(
    local: SharedEmulators, tmp_path: Path, fault_proxy: Callable[..., FaultProxy]
) -> None:
    proxy = fault_proxy(local.get("dynamodb", "dynalite").endpoint, "--latency-ms", "20")
    args = ["-u", "4", "-r", "4", "-t", "6s", "--concurrency", "8", "--key-space", "20", "--key-distribution",
            "uniform", "--target", proxy.url, "--table", unique("hot-verify"), "--verify", "GeventUser"]  # fmt: skip
    result = run_locust("dynamodb", args, tmp_path, timeout=90)

    assert_no_traceback(result)
    verified = result.verify_lines()["DynamoDB"]
    assert verified == {"acknowledged": 20, "lost": 0, "corrupt": 0, "duplicates": 0}, result.tail()
    assert "uncertain" not in result.output, result.tail()  # every call was answered before the users stopped
    assert result.summary["acked"] > 500  # ~32 writes in flight at any time, for 6 s
    assert result.returncode == 0, result.tail()
