#!/usr/bin/env python3
"""Run local AWS stand-ins until Ctrl-C or SIGTERM.

    python scripts/emulators.py [service ...] [--prefer moto] [--bind ADDR] [--port-base N]

Prints which emulator serves which service, then ``export`` lines (endpoints and the
fake credentials the emulators accept) to paste into another shell. Every server
binds 127.0.0.1 only unless ``--bind`` names another IPv4 address (0.0.0.0: every
interface, for a container such as the k8s local overlay's emulators pod; the
endpoints printed then name 127.0.0.1). Ports are free picks unless ``--port-base N``
puts each service on N + its offset (DynamoDB on N, S3 on N+1, ...: each service
module says). All servers are stopped cleanly on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import NoReturn

try:
    from writers import emulators
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from writers import emulators
from writers import services as registry
from writers.services import workload_class

DEFAULT_REGION = "us-east-1"


class _OneLineParser(argparse.ArgumentParser):
    """Bad input: one line on stderr and exit 2, no usage block, no traceback."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


class _Interrupted(BaseException):
    """Raised from the signal handler: stop everything and exit 0."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    # A second Ctrl-C must not interrupt the clean-up of the first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Interrupted(signal.Signals(signum).name)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    known = registry.SERVICES
    names = tuple(registry.all_emulators())
    offsets = registry.port_offsets()
    shown = ", ".join(f"{registry.display_name(s)} on N+{offsets[s]}" for s in sorted(known, key=offsets.__getitem__))
    parser = _OneLineParser(
        prog="emulators.py",
        description=f"Start local {' / '.join(map(registry.display_name, known))} emulators on 127.0.0.1 "
        "(or --bind) until Ctrl-C.",
    )
    parser.add_argument("services", nargs="*", metavar="service", help=f"any of {', '.join(known)} (default: all)")
    parser.add_argument(
        "--prefer",
        metavar="NAME",
        help=f"use this emulator wherever it serves the service, e.g. moto (one of {', '.join(names)})",
    )
    parser.add_argument(
        "--bind",
        metavar="ADDR",
        default=emulators.LOOPBACK,
        help="IPv4 address every server listens on (default 127.0.0.1; 0.0.0.0 = every interface, "
        "for a container only)",
    )
    parser.add_argument(
        "--port-base",
        metavar="N",
        help=f"fixed ports: {shown} (1..{registry.max_port_base()}; default: free ports)",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each server (default 30)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each start and stop")
    args = parser.parse_args(argv)

    services: list[str] = []
    for raw in args.services or list(known):
        service = raw.lower()
        if service not in known:
            parser.error(f"unknown service {raw!r}; choose from {', '.join(known)}")
        if service not in services:
            services.append(service)
    args.services = services

    if args.prefer is not None:
        args.prefer = args.prefer.lower()
        if args.prefer not in names:
            parser.error(f"unknown emulator {args.prefer!r}; choose from {', '.join(names)}")
        if not any(args.prefer in registry.emulator_names(s) for s in services):
            parser.error(f"{args.prefer} serves none of: {', '.join(services)}")
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    try:
        args.bind = emulators.check_bind(args.bind, "--bind")
        if args.port_base is not None:
            try:
                base: object = int(args.port_base.strip())
            except ValueError:
                base = args.port_base
            args.port_base = registry.check_port_base(base, "--port-base")
    except emulators.EmulatorError as error:
        parser.error(str(error))
    return args


def _exports(running: list[emulators.RunningEmulator]) -> list[str]:
    lines = [f"export AWS_ENDPOINT_URL_{workload_class(e.service).service.endpoint_env}={e.endpoint}" for e in running]
    lines += [
        f"export AWS_ACCESS_KEY_ID={emulators.LOCAL_ACCESS_KEY}",
        f"export AWS_SECRET_ACCESS_KEY={emulators.LOCAL_SECRET_KEY}",
        f"export AWS_DEFAULT_REGION={DEFAULT_REGION}",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)

    running: list[emulators.RunningEmulator] = []
    code = 0
    try:
        for service in args.services:
            prefer = args.prefer if args.prefer in registry.emulator_names(service) else None
            port = None if args.port_base is None else args.port_base + registry.port_offsets()[service]
            running.append(
                registry.start_emulator(service, prefer=prefer, timeout=args.timeout, bind=args.bind, port=port)
            )
        print(registry.banner(running))
        if args.bind != emulators.LOOPBACK:
            print(f"# every server listens on {args.bind}")
        print()
        print("\n".join(_exports(running)))
        print("# Ctrl-C to stop", flush=True)
        while True:
            dead = [e for e in running if not e.alive()]
            if dead:
                print(f"emulators.py: error: {dead[0].name} ({dead[0].service}) exited unexpectedly", file=sys.stderr)
                code = 1
                break
            time.sleep(0.5)
    except _Interrupted:
        code = 0
    except emulators.EmulatorError as error:
        print(f"emulators.py: error: {error}", file=sys.stderr)
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for emulator in reversed(running):
            emulator.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
