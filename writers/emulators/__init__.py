"""Local stand-ins for AWS: start and stop the emulators the services name.

Each service names its emulators, preferred first (its Workload's ``emulators``: dynalite
for DynamoDB, SeaweedFS for S3, ... and moto server as everyone's fallback), and how to
launch each. This package starts them: each runs as its own server process bound to
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

One module per job: `common` (credentials, addresses, the error), `launch` (what a
service names: an Emulator and its Launch; moto), `discovery` (npm packages and node),
`ports` (listen addresses and free ports), `running` (a running server and stopping
it), `starting` (starting the best of the emulators given).

Services are not looked up here (a service imports this package for its Emulator and
Launch): the registry, writers.services, knows which emulators each service has and
starts them by service name (`start_emulator`, `start_emulators`, `banner`, ...).

No Locust import here: usable from any Python program.
"""

from __future__ import annotations

from writers.emulators.common import (
    BIND_ENV,
    BIND_PRELOAD,
    EMULATORS_DIR_ENV,
    LOCAL_ACCESS_KEY,
    LOCAL_SECRET_KEY,
    LOOPBACK,
    PROJECT_ROOT,
    SCRIPTS_DIR,
    EmulatorError,
)
from writers.emulators.discovery import (
    node_launch,
    node_modules_dir,
    npm_emulator,
    npm_package,
    npm_unavailable,
    package_bin,
)
from writers.emulators.launch import MOTO, Emulator, Launch, with_moto
from writers.emulators.ports import (
    accepts,
    api_port,
    check_bind,
    check_port,
    connect_host,
    ensure_free,
    free_ports,
    which,
)
from writers.emulators.running import RunningEmulator
from writers.emulators.starting import _start_time, _sweep_stale_workdirs, start_one_of

__all__ = [
    "BIND_ENV",
    "BIND_PRELOAD",
    "EMULATORS_DIR_ENV",
    "LOCAL_ACCESS_KEY",
    "LOCAL_SECRET_KEY",
    "LOOPBACK",
    "MOTO",
    "PROJECT_ROOT",
    "SCRIPTS_DIR",
    "Emulator",
    "EmulatorError",
    "Launch",
    "RunningEmulator",
    "_start_time",  # the tests check the stale-workdir sweep through these two
    "_sweep_stale_workdirs",
    "accepts",
    "api_port",
    "check_bind",
    "check_port",
    "connect_host",
    "ensure_free",
    "free_ports",
    "node_launch",
    "node_modules_dir",
    "npm_emulator",
    "npm_package",
    "npm_unavailable",
    "package_bin",
    "start_one_of",
    "which",
    "with_moto",
]
