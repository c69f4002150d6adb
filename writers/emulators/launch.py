"""How a service names its emulators: a Launch (command, ports, files) and an Emulator; moto for all."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from writers.emulators.common import EmulatorError
from writers.emulators.ports import api_port


@dataclass
class Launch:
    """How to run one emulator: the command, its ports and the files it owns.

    Every ``ready`` check and health check connects to ``connect_host(bind)``.
    """

    argv: list[str]
    port: int  # the AWS API port
    ports: tuple[int, ...]
    extra_paths: tuple[Path, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    ready: Callable[[], bool] | None = None  # extra readiness check after HTTP answers


@dataclass(frozen=True)
class Emulator:
    """A local stand-in a service names: how to launch it, and why it cannot run here (if so)."""

    name: str
    launch: Callable[[Path, str, int | None], Launch]  # (work dir, bind address, fixed port or None)
    unavailable: Callable[[], str | None]  # None if it can run on this machine, else why not
    warning: str = ""  # said whenever it is started (e.g. for numbers it cannot give)


def _moto_unavailable() -> str | None:
    missing = [m for m in ("moto", "flask", "werkzeug") if importlib.util.find_spec(m) is None]
    return f"python module(s) {', '.join(missing)} missing (pip install 'moto[server]')" if missing else None


def _moto_launch(workdir: Path, bind: str, port: int | None) -> Launch:
    reason = _moto_unavailable()
    if reason is not None:
        raise EmulatorError(f"moto unavailable: {reason}")
    port = api_port(bind, port)
    argv = [sys.executable, "-m", "moto.server", "-H", bind, "-p", str(port)]
    return Launch(argv, port, (port,), env={"PYTHONUNBUFFERED": "1"})


#: moto server: every service's fallback (one server answers them all).
MOTO = Emulator("moto", _moto_launch, _moto_unavailable)


def with_moto(preferred: Emulator, moto_warning: str = "") -> tuple[Emulator, Emulator]:
    """A service's emulators: its own stand-in first, moto as the fallback; `moto_warning`,
    what moto cannot give for this service, said whenever it is started."""
    return preferred, replace(MOTO, warning=moto_warning) if moto_warning else MOTO
