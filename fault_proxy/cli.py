"""The command line: flags, their checks (one line on stderr, exit 2), serving until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from typing import Any, NoReturn
from urllib.parse import urlsplit

from fault_proxy.classification import SERVICE_FAULTS
from fault_proxy.config import CHECKS, ERROR_STATUSES, FaultConfig
from fault_proxy.resign import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY
from fault_proxy.server import FaultProxy


class _OneLineParser(argparse.ArgumentParser):
    """Bad input: one line on stderr and exit 2, no usage block, no traceback."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _listen_address(raw: str) -> tuple[str, int]:
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"--listen must be HOST:PORT (port 0 picks a free one), not {raw!r}")
    return host.strip("[]"), int(port)


def _upstream_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"--upstream must be an http(s)://host:port URL, not {raw!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(f"--upstream must not have a path or query, got {raw!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise argparse.ArgumentTypeError(f"--upstream has a bad port: {raw!r}") from None
    return f"{parts.scheme}://{parts.netloc}"


def _checked(name: str) -> Any:
    """An argparse type that runs FaultConfig's own check for option ``name``."""

    def convert(raw: str) -> Any:
        value: Any = raw
        if name == "seed":
            value = raw.strip()
        try:
            return CHECKS[name](f"--{name.replace('_', '-')}", value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = name  # argparse names the type in its messages
    return convert


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _OneLineParser(
        prog="fault_proxy.py",
        description="Fault-injecting proxy for AWS-compatible endpoints "
        f"({', '.join(sorted(faults.service for faults in SERVICE_FAULTS))}).",
    )
    add = parser.add_argument
    add("--upstream", required=True, type=_upstream_url, metavar="URL", help="endpoint to forward to: http://host:port")
    add("--listen", default="127.0.0.1:0", type=_listen_address, metavar="HOST:PORT", help="default 127.0.0.1:0")
    add("--latency-ms", type=_checked("latency_ms"), default=0.0, metavar="MS", help="added per direction")
    add("--connect-latency-ms", type=_checked("connect_latency_ms"), default=0.0, metavar="MS", help="per connection")
    add("--jitter-ms", type=_checked("jitter_ms"), default=0.0, metavar="MS", help="uniform +- on every added delay")
    add("--capacity", type=_checked("capacity"), metavar="N", help="units/s per table, bucket, queue")
    add("--burst", type=_checked("burst"), metavar="N", help="units a resource can save up (default: capacity)")
    add("--throttle-rate", type=_checked("throttle_rate"), default=0.0, metavar="P", help="share throttled at random")
    add("--error-rate", type=_checked("error_rate"), default=0.0, metavar="P", help="share answered 500/503")
    add("--error-status", type=_checked("error_status"), default=ERROR_STATUSES, metavar="CODES", help="500,503")
    add("--drop-rate", type=_checked("drop_rate"), default=0.0, metavar="P", help="share whose connection is dropped")
    add("--lose-rate", type=_checked("lose_rate"), default=0.0, metavar="P", help="share of writes acked, not stored")
    add("--partial-batches", action="store_true", help="cut BatchWriteItem to what fits; rest in UnprocessedItems")
    add("--resign-with-access-key", default=DEFAULT_ACCESS_KEY, metavar="KEY", help="re-signs cut batches")
    # The secret comes from the environment only: a command line is visible to every user in `ps`.
    add("--seed", type=_checked("seed"), metavar="N", help="seed for reproducible fault decisions")
    add("--partitions", type=_checked("partitions"), default=0, metavar="P", help="partitions per table, by key hash")
    add("--partition-write-units", type=_checked("partition_write_units"), metavar="N",
        help="write units/s per partition (default: the service's own limit)")  # fmt: skip
    add("--partition-read-units", type=_checked("partition_read_units"), metavar="N",
        help="read units/s per partition (default: the service's own limit)")  # fmt: skip
    add("-v", "--verbose", action="store_true", help="log configuration changes")
    args = parser.parse_args(argv)
    if args.burst is not None and args.capacity is None:
        parser.error("--burst needs --capacity")
    return args


def config_from_args(args: argparse.Namespace) -> FaultConfig:
    return FaultConfig(
        latency_ms=args.latency_ms,
        connect_latency_ms=args.connect_latency_ms,
        jitter_ms=args.jitter_ms,
        capacity=args.capacity,
        burst=args.burst,
        throttle_rate=args.throttle_rate,
        error_rate=args.error_rate,
        error_status=tuple(args.error_status),
        drop_rate=args.drop_rate,
        lose_rate=args.lose_rate,
        partial_batches=args.partial_batches,
        seed=args.seed,
        partitions=args.partitions,
        partition_write_units=args.partition_write_units,
        partition_read_units=args.partition_read_units,
    )


async def serve(args: argparse.Namespace) -> int:
    proxy = FaultProxy(
        args.upstream,
        config_from_args(args),
        (args.resign_with_access_key, os.environ.get("FAULT_PROXY_RESIGN_SECRET_KEY", DEFAULT_SECRET_KEY)),
    )
    host, port = args.listen
    try:
        runner, bound = await proxy.start(host, port)
    except OSError as exc:
        await proxy.close()
        print(f"fault_proxy.py: error: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    shown_host = f"[{host}]" if ":" in host else host
    print(f"fault-proxy listening on http://{shown_host}:{bound} -> {args.upstream}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await proxy.close()
    return 0


def _loop_factory() -> Any:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="fault-proxy: %(message)s", stream=sys.stderr
    )
    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(serve(args))
    return 0
