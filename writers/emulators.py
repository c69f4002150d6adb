"""Local stand-ins for AWS: start and stop the emulators the services name.

Each service names its emulators, preferred first (its Workload's ``emulators``: dynalite
for DynamoDB, SeaweedFS for S3, ... and moto server as everyone's fallback), and how to
launch each. This module starts them: each runs as its own server process bound to
127.0.0.1 on free ports (``bind`` and ``port`` / ``port_base`` change that, e.g. for a
container).

The npm packages are looked up in ``$AWS_LOAD_EMULATORS_DIR`` if set, else in
``<project root>/emulators/node_modules``.

Every server is started in its own session (process group) with
``PR_SET_PDEATHSIG`` = SIGTERM, so a parent that dies, even by SIGKILL, never leaves
an orphan server behind; its temp dir (data, log) is removed by the next start in any
process, which also kills a server that ignored the death signal. Caveat: Linux sends
the death signal when the *thread* that started the server exits, so start emulators
from a thread that outlives them (the main thread is the safe choice).

Listen address: ``bind`` (default 127.0.0.1, an IPv4 address) is where every server
of an emulator listens. A wildcard (0.0.0.0) listens on every interface and is meant
for a container only; its endpoint still names 127.0.0.1, a connectable address.
Servers with no host option of their own are started through a Node preload
(emulator_scripts/bind_loopback.cjs) that binds their wildcard listens to ``bind``.
Ports: ``port`` fixes the client-facing (AWS API) port of one emulator, and
``port_base`` N puts each service on N + its ``local_port_offset``; an emulator's
internal ports stay free-port picks.

No Locust import here: usable from any Python program.
"""

from __future__ import annotations

import atexit
import ctypes
import errno
import functools
import http.client
import importlib.util
import ipaddress
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from writers.services.base import Workload

__all__ = [
    "LOCAL_ACCESS_KEY",
    "LOCAL_SECRET_KEY",
    "MOTO",
    "Emulator",
    "EmulatorError",
    "Launch",
    "RunningEmulator",
    "available_emulators",
    "banner",
    "check_bind",
    "check_port",
    "check_port_base",
    "connect_host",
    "emulator_names",
    "start_emulator",
    "start_emulators",
    "why_unavailable",
]

log = logging.getLogger("writers.emulators")

#: Fake credentials every emulator here accepts. SeaweedFS is given an identities
#: file with exactly this pair and checks SigV4 signatures against it.
LOCAL_ACCESS_KEY = "AKIALOCALEMULATOR000"
LOCAL_SECRET_KEY = "local-emulator-secret-key-not-for-aws"

LOOPBACK = "127.0.0.1"
#: The bind preload (emulator_scripts/bind_loopback.cjs) makes wildcard listens use this address.
BIND_ENV = "AWS_LOAD_EMULATOR_BIND"

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCRIPTS_DIR = Path(__file__).resolve().parent / "emulator_scripts"
BIND_PRELOAD = SCRIPTS_DIR / "bind_loopback.cjs"
EMULATORS_DIR_ENV = "AWS_LOAD_EMULATORS_DIR"

_STOP_GRACE_SECONDS = 10.0
_PORT_RETRIES = 3
_PR_SET_PDEATHSIG = 1


class EmulatorError(Exception):
    """An emulator could not be found, started or reached. The message is one line."""


# --------------------------------------------------------------------------- running


@dataclass(eq=False)
class RunningEmulator:
    """One emulator server process, owned by this Python process."""

    service: str
    name: str
    endpoint: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    ports: tuple[int, ...] = field(default=(), repr=False)
    log_path: Path | None = field(default=None, repr=False)
    workdir: Path | None = field(default=None, repr=False)
    extra_paths: tuple[Path, ...] = field(default=(), repr=False)
    bind: str = field(default=LOOPBACK, repr=False)  # the listen address of its servers
    stop_grace: float = field(default=_STOP_GRACE_SECONDS, repr=False)  # SIGTERM -> SIGKILL
    _log_file: IO[bytes] | None = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def port(self) -> int:
        """The port of ``endpoint``."""
        return int(self.endpoint.rsplit(":", 1)[1])

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Stop the server's whole process group and remove its temp files. Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            if self.process is not None:
                _terminate_group(self.process, self.stop_grace)
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None
            for path in self.extra_paths:
                path.unlink(missing_ok=True)
            if self.workdir is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)
            _RUNNING.discard(self)
        if self.process is not None:
            log.info("stopped %s (%s) at %s", self.name, display_name(self.service), self.endpoint)


_RUNNING: set[RunningEmulator] = set()


@atexit.register
def _stop_all_at_exit() -> None:
    for emulator in list(_RUNNING):
        emulator.stop()


def _terminate_group(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the process group led by ``process``, wait, then SIGKILL what is left.

    The leader is reaped only at the end: while it is an unreaped zombie its pid, and
    so its process-group id, cannot be reused, so the group signals never hit a
    stranger.
    """
    pgid = process.pid  # started with start_new_session: it leads its own group
    if process.returncode is None:
        _signal_group(pgid, signal.SIGTERM)
        if not _exited_unreaped(process, grace):
            log.warning("%s ignored SIGTERM for %g s; killing it", _describe(process), grace)
            _signal_group(pgid, signal.SIGKILL)
            _exited_unreaped(process, 5.0)
        if process.returncode is None:
            _signal_group(pgid, signal.SIGKILL)  # anything else left in the group
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        log.warning("%s did not exit even after SIGKILL", _describe(process))


def _exited_unreaped(process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait until the process has exited, without reaping it. True if it has."""
    deadline = time.monotonic() + timeout
    while True:
        if process.returncode is not None:
            return True
        try:
            if os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None:
                return True
        except ChildProcessError:  # reaped elsewhere (Popen.poll from another thread)
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def _describe(process: subprocess.Popen[bytes]) -> str:
    args = process.args
    program = Path(str(args[0] if isinstance(args, list | tuple) else args)).name
    return f"{program} (pid {process.pid})"


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


# --------------------------------------------------------------------------- discovery


def node_modules_dir() -> Path:
    """Where the npm emulators are installed."""
    configured = os.environ.get(EMULATORS_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return PROJECT_ROOT / "emulators" / "node_modules"


@functools.lru_cache(maxsize=8)
def _node_major(node: str) -> int | None:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10, check=False).stdout
        return int(out.strip().lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def npm_package(package: str) -> tuple[Path | None, str | None]:
    """(package dir, reason it is unusable) for an npm emulator."""
    node = shutil.which("node")
    if node is None:
        return None, "node is not on PATH"
    package_dir = node_modules_dir() / package
    manifest = package_dir / "package.json"
    if not manifest.is_file():
        return None, f"npm package {package} not found in {node_modules_dir()} (run `npm ci` in emulators/)"
    try:
        meta = json.loads(manifest.read_text())
    except (OSError, ValueError) as exc:
        return None, f"cannot read {manifest}: {exc}"
    wanted = str(meta.get("engines", {}).get("node", "")).strip()
    if wanted.startswith(">="):
        try:
            minimum = int(wanted[2:].strip().split(".")[0])
        except ValueError:
            minimum = 0
        major = _node_major(node)
        if major is not None and major < minimum:
            return None, f"{package} {meta.get('version', '?')} needs Node {wanted}, found Node {major}"
    return package_dir, None


def npm_unavailable(package: str) -> Callable[[], str | None]:
    """Why the npm emulator ``package`` cannot run here (None if it can), asked when needed."""
    return lambda: npm_package(package)[1]


def node_launch(
    package: str, bind: str, port: int | None, args: Callable[[Path, int], list[str]], *, preload: bool = False
) -> Launch:
    """Run an npm emulator: ``node`` and ``args(package dir, port)``. With ``preload`` it runs
    through bind_loopback.cjs, which binds the wildcard listens of a server that has no host
    option (it would listen on every interface) to ``bind``, set here whatever the environment says."""
    package_dir, reason = npm_package(package)
    if package_dir is None:
        raise EmulatorError(f"{package} unavailable: {reason}")
    port = api_port(bind, port)
    node = [which("node"), "--require", str(BIND_PRELOAD)] if preload else [which("node")]
    return Launch([*node, *args(package_dir, port)], port, (port,), env={BIND_ENV: bind} if preload else {})


def package_bin(package_dir: Path, name: str) -> Path:
    """The script an npm package names as its command ``name`` (package.json "bin")."""
    meta = json.loads((package_dir / "package.json").read_text())
    bin_field = meta.get("bin", "cli.js")
    return package_dir / (bin_field if isinstance(bin_field, str) else bin_field.get(name, "cli.js"))


# --------------------------------------------------------------------------- the services' emulators


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


def _workloads() -> dict[str, type[Workload]]:
    """The registered services by name (imported here when first asked: the services import this module)."""
    from writers.services import SERVICES, workload_class

    return {name: workload_class(name) for name in SERVICES}


def _workload(service: str) -> type[Workload]:
    workloads = _workloads()
    workload = workloads.get(str(service).lower())
    if workload is None:
        raise EmulatorError(f"unknown service {service!r}; choose from {', '.join(workloads)}")
    return workload


def service_names() -> tuple[str, ...]:
    """The services there are emulators for (every registered one)."""
    return tuple(_workloads())


def emulators_for(service: str) -> tuple[Emulator, ...]:
    """The emulators of ``service``, most preferred first."""
    return _workload(service).emulators


def emulator_names(service: str) -> tuple[str, ...]:
    return tuple(emulator.name for emulator in emulators_for(service))


def all_emulators() -> dict[str, Emulator]:
    """Every emulator any service names, by name."""
    return {e.name: e for workload in _workloads().values() for e in workload.emulators}


def find_emulator(name: str) -> Emulator:
    emulators = all_emulators()
    emulator = emulators.get(name)
    if emulator is None:
        raise EmulatorError(f"unknown emulator {name!r}; choose from {', '.join(emulators)}")
    return emulator


def display_name(service: str) -> str:
    """The service as Locust shows it ("DynamoDB")."""
    workload = _workloads().get(service)
    return workload.service.name if workload is not None else service


def port_offsets() -> dict[str, int]:
    """With ``port_base`` N, each service's client-facing port is N + its offset."""
    return {name: workload.local_port_offset for name, workload in _workloads().items()}


def max_port_base() -> int:
    return 65535 - max(port_offsets().values())


def why_unavailable(name: str) -> str | None:
    """None if emulator ``name`` can run on this machine, else why not."""
    return find_emulator(name).unavailable()


def available_emulators(service: str) -> list[str]:
    """Emulators that can run here for ``service``, most preferred first."""
    return [e.name for e in emulators_for(service) if e.unavailable() is None]


# --------------------------------------------------------------------------- addresses and ports


def check_bind(bind: object, what: str = "bind") -> str:
    """``bind`` as a normalised IPv4 address string; EmulatorError (one line) if it is not one."""
    try:
        return str(ipaddress.IPv4Address(str(bind).strip()))
    except ValueError:
        raise EmulatorError(f"{what} must be an IPv4 address such as 127.0.0.1 or 0.0.0.0, got {bind!r}") from None


def connect_host(bind: str) -> str:
    """Where a client on this machine reaches a server listening on ``bind``."""
    return LOOPBACK if ipaddress.IPv4Address(bind).is_unspecified else bind


def _check_int(value: object, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise EmulatorError(f"{what} must be an integer from {low} to {high}, got {value!r}")
    return value


def check_port(port: object, what: str = "port") -> int:
    """A TCP port, 1..65535."""
    return _check_int(port, 1, 65535, what)


def check_port_base(port_base: object, what: str = "port_base") -> int:
    """A port base: each service on it + its offset (`port_offsets`), all within 1..65535."""
    return _check_int(port_base, 1, max_port_base(), what)


def ensure_free(host: str, port: int) -> int:
    """``port`` if a server could listen on host:port now, else EmulatorError.

    SO_REUSEADDR, as the servers set it: connections in TIME_WAIT do not count.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise EmulatorError(f"cannot listen on {host}:{port}: that port is in use") from None
            raise EmulatorError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return port


def api_port(host: str, port: int | None) -> int:
    """The client-facing port: ``port`` if given (and free), else a free pick on ``host``."""
    return free_ports(1, host)[0] if port is None else ensure_free(host, port)


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """``count`` distinct free TCP ports on ``host`` (bound to port 0, then released)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def which(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise EmulatorError(f"{program} is not on PATH")
    return found


def accepts(host: str, port: int) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- starting


def _load_prctl() -> Callable[..., int] | None:
    """libc's prctl, looked up in the parent (no dlopen between fork and exec)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


_PRCTL = _load_prctl()


def _child_setup(parent_pid: int) -> None:
    """Runs in the child between fork and exec: die with the parent."""
    if _PRCTL is None:
        return  # not Linux: rely on stop() and atexit
    _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _last_log_line(path: Path | None) -> str:
    if path is None or not path.exists():
        return "(no log)"
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 8192))
            tail = handle.read().decode("utf-8", "replace")
    except OSError:
        return "(log unreadable)"
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    if not lines:
        return "(empty log)"
    line = " ".join(lines[-1].split())
    return line if len(line) <= 300 else line[:297] + "..."


def _answers_http(host: str, port: int) -> bool:
    """True if something on host:port gives any HTTP response to GET /."""
    connection = http.client.HTTPConnection(host, port, timeout=1.0)
    try:
        connection.request("GET", "/")
        connection.getresponse().read()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


_WORKDIR_PREFIX = "aws-load-emulator-"
_OWNER_FILE = "owner.json"


def _start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (to tell a process from a later one with its pid)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])


def _write_owner_file(emulator: RunningEmulator) -> None:
    assert emulator.workdir is not None
    server = emulator.process.pid if emulator.process is not None else None
    record = {
        "owner": os.getpid(),
        "server": server,
        "server_start": _start_time(server) if server is not None else None,
        "extra_paths": [str(path) for path in emulator.extra_paths],
    }
    (emulator.workdir / _OWNER_FILE).write_text(json.dumps(record))


def _sweep_stale_workdirs() -> None:
    """Clean up after owners that were killed before they could stop their servers.

    Their servers normally died with them (PR_SET_PDEATHSIG); one that did not (seen:
    ``weed mini`` stuck half-way through its SIGTERM shutdown) is killed here, but only
    if its pid still names the very process we started.
    """
    for workdir in Path(tempfile.gettempdir()).glob(f"{_WORKDIR_PREFIX}*"):
        try:
            record = json.loads((workdir / _OWNER_FILE).read_text())
            owner = int(record["owner"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if owner == os.getpid() or _start_time(owner) is not None:
            continue  # owner alive: not ours to touch
        server, started = record.get("server"), record.get("server_start")
        if isinstance(server, int) and started is not None and _start_time(server) == started:
            log.warning("killing orphaned emulator server pid %d (owner %d is gone)", server, owner)
            _signal_group(server, signal.SIGKILL)
        for path in record.get("extra_paths", []):
            Path(path).unlink(missing_ok=True)
        shutil.rmtree(workdir, ignore_errors=True)


def _spawn(
    service: str, chosen: Emulator, timeout: float, bind: str = LOOPBACK, port: int | None = None
) -> RunningEmulator:
    """One attempt to start ``chosen``; raises EmulatorError (after cleaning up)."""
    name = chosen.name
    _sweep_stale_workdirs()
    workdir = Path(tempfile.mkdtemp(prefix=f"{_WORKDIR_PREFIX}{name}-"))
    log_path = workdir / "server.log"
    emulator = RunningEmulator(service=service, name=name, endpoint="", workdir=workdir, bind=bind)
    try:
        try:
            launch = chosen.launch(workdir, bind, port)
        except OSError as exc:  # a free-port probe could not bind: not an address of this host
            raise EmulatorError(f"cannot listen on {bind}: {exc.strerror or exc}") from None
        emulator.endpoint = f"http://{connect_host(bind)}:{launch.port}"
        emulator.ports = launch.ports
        emulator.extra_paths = launch.extra_paths
        emulator.log_path = log_path
        emulator._log_file = log_path.open("wb")
        log.debug("starting %s: %s", name, " ".join(launch.argv))
        emulator.process = subprocess.Popen(
            launch.argv,
            stdin=subprocess.DEVNULL,
            stdout=emulator._log_file,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env={**os.environ, **launch.env},
            start_new_session=True,
            preexec_fn=functools.partial(_child_setup, os.getpid()),
        )
        _RUNNING.add(emulator)
        _write_owner_file(emulator)
        _wait_until_ready(emulator, launch, timeout)
    except BaseException:
        emulator.stop()
        raise
    return emulator


def _wait_until_ready(emulator: RunningEmulator, launch: Launch, timeout: float) -> None:
    assert emulator.process is not None
    port = launch.port
    host = connect_host(emulator.bind)
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        code = emulator.process.poll()
        if code is not None:
            raise EmulatorError(
                f"{emulator.name} exited with code {code} before answering on port {port}: "
                f"{_last_log_line(emulator.log_path)}"
            )
        if _answers_http(host, port) and (launch.ready is None or launch.ready()):
            return
        if time.monotonic() >= deadline:
            raise EmulatorError(
                f"{emulator.name} did not answer on {emulator.endpoint} within {timeout:g} s: "
                f"{_last_log_line(emulator.log_path)}"
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


def _port_clash(error: EmulatorError) -> bool:
    text = str(error).lower()
    return any(clue in text for clue in ("address already in use", "eaddrinuse", "port allocation failed"))


def _choose(service: str, prefer: str | None) -> Emulator:
    choices = emulators_for(service)
    if prefer is not None:
        name = prefer.lower()
        preferred = next((e for e in choices if e.name == name), None)
        if preferred is None:
            names = ", ".join(e.name for e in choices)
            raise EmulatorError(f"unknown emulator {prefer!r} for {service}; choose from {names}")
        reason = preferred.unavailable()
        if reason is not None:
            raise EmulatorError(f"{name} cannot run for {service}: {reason}")
        return preferred
    reasons: list[str] = []
    for emulator in choices:
        reason = emulator.unavailable()
        if reason is None:
            if reasons:
                log.warning(
                    "%s: falling back to %s because %s",
                    display_name(service), emulator.name, "; ".join(reasons),
                )  # fmt: skip
            return emulator
        reasons.append(f"{emulator.name} is unavailable ({reason})")
    raise EmulatorError(f"no emulator can run for {service}: {'; '.join(reasons)}")


def start_emulator(
    service: str,
    *,
    prefer: str | None = None,
    timeout: float = 30.0,
    bind: str = LOOPBACK,
    port: int | None = None,
) -> RunningEmulator:
    """Start the best available emulator for ``service`` and wait until it answers.

    ``prefer`` names one emulator for that service (``"moto"`` forces moto); without
    it the fast one is used, falling back to moto, with a warning, when missing.
    ``bind`` is the IPv4 address every server of the emulator listens on (default
    127.0.0.1; 0.0.0.0 means every interface, for a container only: the endpoint
    then names 127.0.0.1). ``port`` fixes the client-facing port (default: a free
    one); an emulator's internal ports are free picks either way.
    """
    key = str(service).lower()
    _workload(key)
    bind = check_bind(bind)
    if port is not None:
        port = check_port(port)
    chosen = _choose(key, prefer)
    shown = display_name(key)
    if chosen.warning:
        log.warning("%s: %s", shown, chosen.warning)
    for attempt in range(1, _PORT_RETRIES + 1):
        try:
            emulator = _spawn(key, chosen, timeout, bind, port)
        except EmulatorError as error:
            if attempt < _PORT_RETRIES and _port_clash(error):
                log.info("%s: port taken between choosing and binding, retrying", chosen.name)
                continue
            raise
        if bind == LOOPBACK:
            log.info("%s -> %s at %s", shown, chosen.name, emulator.endpoint)
        else:
            log.info("%s -> %s at %s (listening on %s)", shown, chosen.name, emulator.endpoint, bind)
        return emulator
    raise AssertionError("unreachable")


def start_emulators(
    services: Sequence[str],
    *,
    prefer: str | None = None,
    timeout: float = 30.0,
    bind: str = LOOPBACK,
    port_base: int | None = None,
) -> list[RunningEmulator]:
    """Start one emulator per service; on any failure stop those already started.

    With ``port_base`` N, each service listens on N + its offset (``port_offsets``:
    DynamoDB on N, S3 on N + 1, ...), whichever of them are asked for.
    """
    keys = [str(service).lower() for service in services]
    for key in keys:
        _workload(key)  # an unknown service: before anything starts
    bind = check_bind(bind)
    if port_base is not None:
        port_base = check_port_base(port_base)
    offsets = port_offsets()
    started: list[RunningEmulator] = []
    try:
        for key in keys:
            port = None if port_base is None else port_base + offsets[key]
            started.append(start_emulator(key, prefer=prefer, timeout=timeout, bind=bind, port=port))
    except BaseException:
        for emulator in started:
            emulator.stop()
        raise
    return started


def banner(emulators: Iterable[RunningEmulator]) -> str:
    """One line per emulator: ``DynamoDB -> dynalite at http://127.0.0.1:45123``."""
    return "\n".join(f"{display_name(e.service)} -> {e.name} at {e.endpoint}" for e in emulators)
